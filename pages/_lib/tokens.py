"""Token ids as the text they stand for (hover text and token tables show ``' user'``, not ``id 361``).

A run stores forced token *ids*; their strings need the run's tokenizer. It is read from a local
model directory (or the local Hugging Face cache, never the network) once per process; when it is
not available here the pages fall back to ids.
"""

from __future__ import annotations

import streamlit as st

from monitor.report.tokens import Decode
from pages._lib import open_run


@st.cache_resource(max_entries=4, show_spinner=False)
def _decoder(model_id: str) -> Decode | None:
    from monitor.report.tokens import local_token_text

    path = open_run.resolve_path(model_id)  # relative to the repository (or the shared root), confined
    return local_token_text(path) if path.is_dir() else local_token_text(model_id, hub_only=True)


def decoder(run) -> Decode | None:
    """A function from token ids to their strings for ``run``'s model, or None when its tokenizer is not here."""
    model_id = open_run.model_id(run)
    return _decoder(model_id) if model_id else None


def show(token: str) -> str:
    """A token string made visible: quoted, with newlines and tabs escaped (``' user'``, ``'\\n'``)."""
    return "'" + token.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t") + "'"
