"""Token ids as the strings they stand for, from a tokenizer already on this machine.

A run stores forced token *ids*; hover text reads better as ``' user'`` than ``id 361``. The
tokenizer is read from a local model directory or the local Hugging Face cache, never the network
(``local_files_only``); when it is not here, callers fall back to ids. The app wraps this with its
own cache and path rules (``pages/_lib/tokens.py``); the report and the CLI use it directly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

__all__ = ["Decode", "local_token_text", "run_token_text"]

Decode = Callable[[Sequence[int]], list[str]]


def local_token_text(model: str | Path, *, hub_only: bool = False) -> Decode | None:
    """Ids -> strings with ``model``'s tokenizer (a local directory, or a hub id already in the local
    cache), or ``None`` when it is not available here. Never downloads. ``hub_only`` never reads a
    directory of that name (a caller that has already resolved and confined paths itself)."""
    path = Path(str(model)).expanduser()
    local = not hub_only and path.is_dir()
    if not local and str(model).count("/") != 1:  # neither a directory here nor a hub id that could be cached
        return None
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(path) if local else str(model), local_files_only=True)
    except Exception:  # no tokenizer here (or transformers not installed): ids it is
        return None

    @lru_cache(maxsize=65536)
    def one(tid: int) -> str:
        return tok.decode([tid])

    return lambda ids: [one(int(i)) for i in ids]


def run_token_text(manifest: dict) -> Decode | None:
    """:func:`local_token_text` for the model a run's manifest names (relative paths from the
    current directory, as the CLI takes them), or ``None``."""
    model = manifest.get("model") or {}
    model_id = str(model.get("id", "")) if isinstance(model, dict) else str(model)
    return local_token_text(model_id) if model_id else None
