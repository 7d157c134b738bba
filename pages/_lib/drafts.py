"""Drafts: what a person typed on the Prompts and Run pages, kept on the server so a reload (F5, a
new tab from the same link) or a server restart brings it back.

A browser reload starts a new Streamlit session, and ``st.session_state`` dies with the old one.
So the pasted text, the loaded prompt set with its edited labels, and the Run form are written to
``<drafts dir>/<id>.json``, and the draft's id lives in the page's URL (``?draft=<id>``): reloading
that URL reads the file back. The id is random (64 bits), so one person's draft is not found by
guessing; anyone given the URL gets the draft, as with any shared link.

Never in a draft: API keys (the judge's key widget is not a kept input) and anything not listed in
:data:`KEPT_KEYS` / :data:`SESSION_KEYS`.

Saving happens in the page's own script, right after its widgets (:func:`save`), and before any
``st.stop()`` the page may reach. An earlier, uncommitted attempt saved from the router's
``finally`` after ``page.run()``: it passed AppTest and wrote nothing under ``streamlit run``.
Under the server that ``finally`` is not reached on a fresh server's first run (the legacy-mode
pass that ``view_state.ensure_router`` turns into a routed one), which AppTest never shows; the page
itself always sees its widgets' values. The browser test types, reloads (F5) and restarts a real
``streamlit run`` server to check it.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from pages._lib import open_run, view_state

DRAFT_PARAM = "draft"
"""The URL parameter holding the draft id (a view parameter of the Prompts and Run pages)."""
DRAFTS_ENV = "MONITOR_DRAFTS_DIR"
"""Environment variable naming the drafts folder (default: ``.drafts`` in the runs directory)."""
FORMAT_VERSION = 1
KEPT_KEYS: tuple[str, ...] = (
    "prompts.paste", "prompts.append",
    "run.model", "run.phrases", "run.control", "run.k", "run.max_new", "run.temperature", "run.top_p", "run.top_k",
    "run.seed", "run.batch", "run.skip_long", "run.ray", "run.workers", "run.out",
)
"""Form inputs kept by ``view_state.kept``/``keep`` that a draft carries."""
FRAME_KEYS: tuple[str, ...] = ("prompts.base", "prompts.ready")
"""Session keys holding the prompt set (a table): as loaded, and with the label edits applied."""
SESSION_KEYS: tuple[str, ...] = ("prompts.origin", "prompts.report")
"""Other session keys a draft carries (plain JSON values)."""
_ID = re.compile(r"^[0-9a-f]{16}$")
_SESSION_ID = "_drafts.id"
_RESTORED = "_drafts.restored"
_SAVED = "_drafts.saved"
_BASELINE = "_drafts.baseline"


def drafts_dir() -> Path:
    """Where drafts are written: ``$MONITOR_DRAFTS_DIR``, else ``<runs dir>/.drafts`` (inside the shared root in shared mode)."""
    env = os.environ.get(DRAFTS_ENV)
    return Path(env) if env else open_run.runs_dir() / ".drafts"


def draft_path(draft_id: str) -> Path | None:
    """The file of a draft id, or None for an id that is not one of ours (the id comes from the URL: never a path)."""
    return drafts_dir() / f"{draft_id}.json" if isinstance(draft_id, str) and _ID.match(draft_id) else None


def _encode(v: Any) -> Any:
    if isinstance(v, pd.DataFrame):
        return {"__frame__": json.loads(v.to_json(orient="split", index=False, date_format="iso"))}
    if hasattr(v, "item") and not isinstance(v, (list, dict, str)):  # numpy scalars
        return v.item()
    return v


def _decode(v: Any) -> Any:
    if isinstance(v, dict) and "__frame__" in v:
        # dtype=False: an id such as "007" stays a string
        return pd.read_json(io.StringIO(json.dumps(v["__frame__"])), orient="split", dtype=False, convert_dates=False)
    return v


def read_draft(draft_id: str) -> dict[str, Any] | None:
    """A draft's saved values (decoded), or None when there is no such draft or its file is unreadable."""
    path = draft_path(draft_id)
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a torn or foreign file: start from an empty form rather than fail the page
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        return None
    return {k: _decode(v) for k, v in (data.get("values") or {}).items()}


def write_draft(draft_id: str, values: dict[str, Any]) -> Path:
    """Write a draft atomically (a crash never leaves half a file); returns its path."""
    path = draft_path(draft_id)
    if path is None:
        raise ValueError(f"{draft_id!r} is not a draft id (16 hex digits).")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"format": FORMAT_VERSION, "values": {k: _encode(v) for k, v in values.items()}},
                              ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, path)
    return path


def current_id() -> str:
    """This tab's draft id: the URL's, else the session's, else a new one; put in the URL when missing.

    Call at the top of the page (a rewrite while the page opens replaces the history entry)."""
    url_id = st.query_params.get(DRAFT_PARAM)
    if url_id and draft_path(url_id) is not None:
        draft_id = url_id
    else:
        draft_id = st.session_state.get(_SESSION_ID) or secrets.token_hex(8)
    st.session_state[_SESSION_ID] = draft_id
    if url_id != draft_id:
        st.query_params[DRAFT_PARAM] = draft_id
        view_state.remember_view(view_state.current_page())
    return draft_id


def restore() -> str:
    """Bring back this tab's draft once per session (after a reload or a restart); returns the draft id.

    Values the session already has win: the draft only fills what a fresh session lacks."""
    draft_id = current_id()
    if st.session_state.get(_RESTORED) == draft_id:
        return draft_id
    st.session_state[_RESTORED] = draft_id
    values = read_draft(draft_id) or {}
    fresh = "prompts.base" not in st.session_state
    for k, v in values.items():
        if k in KEPT_KEYS:
            if k not in st.session_state and view_state.KEPT_PREFIX + k not in st.session_state:
                st.session_state[view_state.KEPT_PREFIX + k] = v
        elif (k in FRAME_KEYS or k in SESSION_KEYS) and k not in st.session_state:
            st.session_state[k] = v
    if fresh and isinstance(values.get("prompts.ready"), pd.DataFrame):
        # the label edits were applied to the ready set: the editor starts from it, not from the set as loaded
        st.session_state["prompts.base"] = values["prompts.ready"]
    st.session_state[_SAVED] = _fingerprint(values)
    return draft_id


def _values() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in KEPT_KEYS:
        if view_state.KEPT_PREFIX + k in st.session_state:
            out[k] = st.session_state[view_state.KEPT_PREFIX + k]
    for k in (*FRAME_KEYS, *SESSION_KEYS):
        if st.session_state.get(k) is not None:
            out[k] = st.session_state[k]
    return out


def _fingerprint(values: dict[str, Any]) -> str:
    return json.dumps({k: _encode(v) for k, v in values.items()}, sort_keys=True, ensure_ascii=False, default=str)


def save() -> None:
    """Write this tab's draft when what it holds changed since the last write (call after the page's widgets)."""
    draft_id = st.session_state.get(_SESSION_ID) or current_id()
    values = _values()
    fp = _fingerprint(values)
    if st.session_state.get(_SAVED) == fp:
        return
    path = draft_path(draft_id)
    if path is not None and not path.is_file():
        # no file for a page that was only looked at: the first values seen are the form's defaults
        baseline = st.session_state.setdefault(_BASELINE, fp)
        if fp == baseline:
            return
    try:
        write_draft(draft_id, values)
    except OSError as e:  # a read-only or full disk: the page still works, the draft just won't survive a reload
        st.caption(f":material/warning: The draft could not be saved to {drafts_dir()} ({e}); "
                   f"a reload will lose what was typed. Set ${DRAFTS_ENV} to a writable folder.")
        return
    st.session_state[_SAVED] = fp
