"""Shared mode: the app served to a team (``--server.address 0.0.0.0``) touches only one folder.

Set ``MONITOR_SHARED_ROOT=/srv/monitor`` before ``streamlit run app.py``. Then every path a user
types or a link carries (the run to open, a run's output folder, a prompt file, ``petri:DIR``,
a model directory) must lie under that root once symlinks are resolved; the bundled demo data
(``data/``) stays readable. A path outside is refused with the same message whether or not it
exists, so the app reveals nothing about the rest of the disk. New and imported runs go to
``ROOT/runs`` unless ``MONITOR_RUNS_DIR`` names a folder under the root. The "trust remote code"
box is hidden (remote code is never run) and model ids that are not local folders must look like
Hugging Face ids (``org/name``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from monitor.errors import InputError

__all__ = ["SHARED_ENV", "root", "enabled", "confine", "check_model_id", "prompt_source"]

SHARED_ENV = "MONITOR_SHARED_ROOT"
"""Environment variable that turns shared mode on and names the only folder the app may use."""

_REPO = Path(__file__).resolve().parents[2]
_BUNDLED = _REPO / "data"
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")


def root() -> Path | None:
    """The shared root (resolved), or None when the app runs for one user on localhost."""
    raw = os.environ.get(SHARED_ENV, "").strip()
    return Path(raw).expanduser().resolve() if raw else None


def enabled() -> bool:
    """Whether shared mode is on."""
    return root() is not None


def _inside(p: Path, base: Path) -> bool:
    return p == base or base in p.parents


def confine(path: Path, *, what: str = "path", write: bool = False) -> Path:
    """``path`` unchanged when allowed; in shared mode it must resolve under the root.

    Reads may also use the bundled ``data/`` folder (demo run, demo model, sample prompts).
    """
    base = root()
    if base is None:
        return path
    real = Path(os.path.realpath(path))
    if _inside(real, base) or (not write and _inside(real, _BUNDLED.resolve())):
        return path
    raise InputError(f"The {what} {str(path)!r} is outside the folder this shared app may use; "
                     "in shared mode only paths under its configured root (MONITOR_SHARED_ROOT) can be used.")


def check_model_id(model_id: str, local: Path) -> None:
    """In shared mode a model is a folder under the root (or the demo model) or a hub id, nothing else."""
    if root() is None:
        return
    if local.exists():
        confine(local, what="model directory")
    elif not _HUB_ID.match(model_id) or ".." in model_id:
        raise InputError(f"The model {model_id!r} is neither a folder under the shared root nor a Hugging Face id (org/name).")


def prompt_source(source: str, resolve) -> str:
    """The prompt source to load: a file path resolved with ``resolve`` (which confines it in shared
    mode), or a dataset spec whose local folder, if it names one, is resolved the same way."""
    scheme, sep, rest = source.partition(":")
    if sep and scheme in ("hf", "fortress", "wildchat", "petri") and not resolve(source).exists():
        if scheme == "petri":
            return f"petri:{resolve(rest, what='Petri folder')}" if root() is not None else source
        name, colon, tail = rest.partition(":") if scheme == "hf" else (rest, "", "")
        if root() is not None and name and (name.startswith(("/", "~", ".")) or resolve(name).exists()):
            return f"{scheme}:{resolve(name, what='dataset folder')}{colon}{tail}"
        if root() is not None and name and not _HUB_ID.match(name):
            raise InputError(f"{name!r} is neither a folder under the shared root nor a Hugging Face dataset name (org/name).")
        return source
    path = resolve(source, what="prompt file")
    return str(path) if path.exists() or root() is not None else source
