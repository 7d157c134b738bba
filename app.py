"""Streamlit entry point: ``streamlit run app.py`` opens the dashboard on the bundled demo run.

This file is the router and the frame around every page: it fixes the open run for the session
(``?run=`` in a shared link, else ``$MONITOR_RUN``, else ``data/demo_run``), shows it in the
sidebar, and runs the page the user picked. Pages live in ``pages/``; the app-side helpers they
share are the ``pages/_lib`` package.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # so pages can import their helpers (pages._lib) however we are started
    sys.path.insert(0, str(ROOT))

from pages._lib import cache, charts, feedback, open_run, view_state  # noqa: E402
from pages._lib import jobs as _jobs  # noqa: E402
from pages._lib import text as _text  # noqa: E402

st.set_page_config(page_title="Eval-awareness logit monitor", page_icon=":material/monitoring:", layout="wide")

PAGES = {
    "Explore": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", url_path="home", default=True),
        st.Page("pages/curves.py", title="Curves", icon=":material/show_chart:", url_path="curves"),
        st.Page("pages/scores.py", title="Scores & ROC", icon=":material/leaderboard:", url_path="scores"),
        st.Page("pages/phrases.py", title="Phrases", icon=":material/text_fields:", url_path="phrases"),
        st.Page("pages/search.py", title="Search", icon=":material/search:", url_path="search"),
        st.Page("pages/compare.py", title="Compare runs", icon=":material/compare:", url_path="compare"),
    ],
    "Make": [
        st.Page("pages/prompts.py", title="Prompts", icon=":material/edit_note:", url_path="prompts"),
        st.Page("pages/run.py", title="Run the monitor", icon=":material/play_circle:", url_path="run"),
        st.Page("pages/workbench.py", title="Prompt workbench", icon=":material/science:", url_path="workbench"),
    ],
    "Share": [
        st.Page("pages/share.py", title="Share & export", icon=":material/share:", url_path="share"),
    ],
}

page = st.navigation(PAGES)
view_state.enter_page(page.url_path)
open_run.init_run_path()
open_run.sync_run_to_url()

with st.sidebar:
    path = st.session_state["run_path"]
    st.caption("Open run")
    st.markdown(_text.code(path))
    try:
        run = open_run.load_run(open_run.current_key())
        n_phrases = len(cache.index(open_run.current_key()).phrases)
        st.caption(f"{_text.md(run.status)} · {len(run.prompts)} prompts · {len(run.rollouts)} rollouts · {n_phrases} phrases")
        if open_run.is_demo(run):
            st.caption(":material/science: synthetic organism, not a real model")
    except Exception:  # the page itself explains what is wrong with the run
        st.caption("not loaded (see the page)")

    _jobs.sidebar_indicator()
    charts.export_format_picker()
    view_state.install_history_script()  # Back and Forward walk the views a person visited, once each

try:
    with feedback.guard(f"The {page.title} page"):
        page.run()
finally:  # also when the page stops early (st.stop) or reruns: its URL is its view
    view_state.remember_view(page.url_path)
