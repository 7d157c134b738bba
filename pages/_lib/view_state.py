"""A view's state in the URL (so a copied link reopens the same view), the router check every
page runs first, and reading a sentence from a chart selection.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from pages._lib.open_run import ROOT


_MISSING = object()


def url_choice(widget: Any, label: str, options: Any, *, key: str, default: Any = None, **kwargs: Any) -> Any:
    """A single-choice widget (selectbox, segmented control, radio) whose value lives in ``?<key>=``.

    Streamlit's own ``bind="query-params"`` writes the *displayed label* into the URL, which is long
    and breaks when labels change (a prompt's text, a phrase marked "primary"); this keeps the raw
    option (a prompt id, a sentence number) in the URL and any ``format_func`` for display. The URL
    seeds the widget when the page opens; afterwards the widget wins and the URL follows it.
    """
    opts = list(options)
    by_str = {str(o): o for o in opts}
    if default is not None and default not in opts:
        default = opts[0] if opts else None
    current = st.session_state.get(key, _MISSING)
    if current is _MISSING or (current is not None and current not in opts):
        raw = st.query_params.get(key)
        st.session_state[key] = by_str.get(raw, default) if raw is not None else default
    value = widget(label, opts, key=key, **kwargs)
    if value is None or value == default:
        if key in st.query_params:
            del st.query_params[key]
    else:
        st.query_params[key] = str(value)
    return value


def ensure_router() -> None:
    """Make sure this page runs inside ``app.py``'s router, not Streamlit's legacy ``pages/`` mode.

    Streamlit runs a script in legacy mode when a ``pages/`` folder sits next to the entry point and
    ``st.navigation`` has not been called yet (a fresh server's first run; every ``AppTest`` run). A
    deep link (a shared ``/curves?prompt=…`` URL) then runs the page file alone: no router, no
    sidebar, no page config. Each page calls this first; in legacy mode it switches Streamlit to
    ``st.navigation`` mode (as ``st.navigation`` itself does), runs ``app.py`` in place (which
    routes to this same page: page ids derive from the URL path) and stops the legacy run. Running
    in place rather than rerunning keeps the widget events of this run (a click is not lost).
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without the legacy mode
        return
    if PagesManager.uses_pages_directory:
        import runpy

        PagesManager.uses_pages_directory = False
        runpy.run_path(str(ROOT / "app.py"), run_name="__main__")
        st.stop()


def sentence_from_selection(event: Any) -> int | None:
    """The sentence index of the first point picked on a rollout curve (x is the sentence), if any."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return None
    for p in points or []:
        x = p.get("x") if isinstance(p, dict) else None
        if isinstance(x, (int, float)):
            return int(round(x))
    return None
