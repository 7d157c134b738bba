"""The frame of every page that shows the open run."""

from __future__ import annotations

import streamlit as st

from pages._lib.cache import index
from pages._lib.open_run import demo_banner, require_run
from pages._lib.view_state import ensure_router


def run_page(title: str, *, need_scores: bool = False):
    """The frame of every page that shows the open run: router, title, run, index, demo banner.

    Returns ``(run, key, index)``; with ``need_scores`` a run without scores ends the page with a note.
    """
    ensure_router()
    st.title(title)
    run, key = require_run()
    ix = index(key)  # phrases, labels and row positions without rescanning big tables
    demo_banner(run)
    if need_scores and not len(run.scores):
        st.info("This run has no scores yet.")
        st.stop()
    return run, key, ix
