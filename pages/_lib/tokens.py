"""Token ids as the text they stand for (hover text and token tables show ``' user'``, not ``id 361``).

A run stores forced token *ids*; their strings need the run's tokenizer. It is read from a local
model directory (or the local Hugging Face cache, never the network) once per process; when it is
not available here the pages fall back to ids.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable, Sequence

import streamlit as st

from pages._lib import open_run

Decode = Callable[[Sequence[int]], list[str]]


@st.cache_resource(max_entries=4, show_spinner=False)
def _decoder(model_id: str) -> Decode | None:
    path = open_run.resolve_path(model_id)
    local = path.is_dir()
    if not local and model_id.count("/") != 1:  # neither a directory here nor a hub id that could be cached
        return None
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(path) if local else model_id, local_files_only=True)
    except Exception:  # no tokenizer here: ids it is
        return None

    @lru_cache(maxsize=65536)
    def one(tid: int) -> str:
        return tok.decode([tid])

    return lambda ids: [one(int(i)) for i in ids]


def decoder(run) -> Decode | None:
    """A function from token ids to their strings for ``run``'s model, or None when its tokenizer is not here."""
    model_id = open_run.model_id(run)
    return _decoder(model_id) if model_id else None


def show(token: str) -> str:
    """A token string made visible: quoted, with newlines and tabs escaped (``' user'``, ``'\\n'``)."""
    return "'" + token.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t") + "'"
