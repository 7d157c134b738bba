"""A view's state: in the URL (so a copied link reopens the same view) and remembered per page for
the session (so returning to a page, by the sidebar or the browser's Back, restores its last view);
form inputs kept across page switches; the router check every page runs first; reading a sentence
from a chart selection.

One state model: a page's URL parameters *are* its view. ``enter_page`` (called by the router
before each page runs) restores a page's last parameters when it is opened without any, and
``remember_view`` (after each run) records them. Widgets read their value from the URL when they
have no state of their own (``url_choice``, ``bind="query-params"``), so restoring the URL is all
it takes to restore the view.

One history entry per user action. Streamlit pushes a browser-history entry for every change of
``st.query_params`` and carries some of the last page's parameters to the next one, so opening
Scores from Curves used to leave three entries (``scores?prompt=…&rollout=8``, ``scores?prompt=…``,
``scores``) and Back needed four presses. So a page's URL holds only its own parameters
(:data:`PAGE_PARAMS`), entering a page rewrites it once (:func:`enter_page`), and
:data:`HISTORY_SCRIPT` makes a URL change that no user input caused (normalising after a page
change, a link or Back) replace the current entry instead of pushing a new one.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from pages._lib.open_run import ROOT


_MISSING = object()
_VIEWS = "_view_state.views"
"""Session key: {page url path: {URL parameter: [values]}}, each page's last view."""
_PAGE = "_view_state.page"
"""Session key: the url path of the page the previous run showed."""
KEPT_PREFIX = "_view_state.kept."
"""Prefix of the session keys holding form inputs across page switches (see :func:`kept`)."""
SESSION_PARAMS = ("run",)
"""URL parameters that belong to the session, not to one page's view."""
PAGE_PARAMS: dict[str, tuple[str, ...]] = {
    "": (),  # Home (the default page's url path is "")
    "home": (),
    "curves": ("prompt", "rollout", "phrases", "sentence", "log", "phrase", "group_by", "group_x"),
    "scores": ("phrase", "method", "first_n", "task", "avk"),
    "phrases": ("task", "corr", "joint", "joint_how"),
    "search": ("q", "flag", "labels", "phrase", "lp_min", "lp_max"),
    "compare": ("run_b", "phrase"),
    "prompts": ("draft",),
    "run": ("draft",),
    "workbench": (),
    "share": ("phrase",),
}
"""Each page's own URL parameters (its view), by url path. Anything else in a page's URL (a parameter
another page left behind) is dropped when the page opens, so a page that reads a new parameter must
add it here or lose it on the next page change (``tests/app/test_app_view_state.py`` opens every
page with foreign parameters and checks that only these remain)."""


def own_params(url_path: str) -> tuple[str, ...]:
    """The URL parameters that belong to a page's view (unknown pages: none)."""
    return PAGE_PARAMS.get(url_path, ())


def _page_params(url_path: str | None = None) -> dict[str, list[str]]:
    own = own_params(url_path) if url_path is not None else None
    return {k: st.query_params.get_all(k) for k in st.query_params
            if k not in SESSION_PARAMS and (own is None or k in own)}


def enter_page(url_path: str) -> None:
    """Before a page runs: when it is a different page than the last run's, restore its view.

    Widgets of URL-state keys are forgotten on a page change (two pages may use the same key, e.g.
    ``phrase``), so each page reads its view from the URL; a page opened with no parameters of its
    own (sidebar link, Back to a bare URL) gets the parameters it had when last shown.
    """
    views: dict[str, dict[str, list[str]]] = st.session_state.setdefault(_VIEWS, {})
    last = st.session_state.get(_PAGE)
    st.session_state[_PAGE] = url_path
    if last == url_path:
        return
    for k in {k for v in views.values() for k in v}:
        if k in st.session_state:
            del st.session_state[k]
    current = {k: st.query_params.get_all(k) for k in st.query_params}
    view = _page_params(url_path)  # parameters of the page before: not this page's view
    saved = views.get(url_path)
    if saved and not view:
        view = dict(saved)
    want = {**{k: v for k, v in current.items() if k in SESSION_PARAMS}, **view}
    if want != current:  # one write (one history entry at most) for the whole view, not one per parameter
        st.query_params.from_dict({k: v if len(v) > 1 else v[0] for k, v in want.items()})
    remember_view(url_path)


def remember_view(url_path: str) -> None:
    """Record the page's URL parameters as its view (restored by :func:`enter_page`).

    Called on entering a page, whenever :func:`url_choice` moves the URL, and after the page ran: a
    run cut short by the next click (the user rarely waits for the end) still leaves its view."""
    if st.session_state.get(_PAGE) == url_path:
        st.session_state.setdefault(_VIEWS, {})[url_path] = _page_params(url_path)


def current_page() -> str:
    """The url path of the page this run shows (set by :func:`enter_page`)."""
    return str(st.session_state.get(_PAGE, ""))


def saved_view(url_path: str) -> dict[str, list[str]]:
    """The URL parameters a page had when last shown in this session (empty when never shown)."""
    return dict(st.session_state.get(_VIEWS, {}).get(url_path) or {})


def kept(key: str, default: Any) -> Any:
    """The value to give a form widget as its default: what the user last entered this session, else ``default``.

    Streamlit forgets a widget's value when its page is not shown; pair with :func:`keep` after the
    widget so the Run page's k, the phrases table and the like survive a visit to another page.
    The value is fixed while the widget lives (changing a data editor's data would reset its edits).
    """
    if key not in st.session_state:
        st.session_state[KEPT_PREFIX + key + ".base"] = st.session_state.get(KEPT_PREFIX + key, default)
    return st.session_state.get(KEPT_PREFIX + key + ".base", default)


def keep(key: str, value: Any) -> Any:
    """Record a form widget's current value for :func:`kept`; returns the value."""
    st.session_state[KEPT_PREFIX + key] = value
    return value


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
    elif st.query_params.get_all(key) != [str(value)]:  # only a real change reaches the browser
        st.query_params[key] = str(value)
    remember_view(st.session_state.get(_PAGE, ""))
    return value


HISTORY_SCRIPT = """<script>(function () {
  // Installed once per tab. Streamlit pushes a history entry for every query-string change; a
  // change that no user input caused (a page normalising its URL after a page change, a link, a
  // reload or Back) should replace the entry the navigation made, or Back walks through the
  // intermediate URLs.
  var w = window;
  if (w.__evalawareHistory) { return; }
  w.__evalawareHistory = true;
  var h = w.history, push = h.pushState.bind(h), replace = h.replaceState.bind(h);
  var acted = false;  // a user input happened since the current history entry was made
  // only the person's own input counts: components dispatch synthetic events of their own
  ["pointerdown", "keydown"].forEach(function (t) {
    w.document.addEventListener(t, function (e) { if (e.isTrusted) { acted = true; } }, true);
  });
  w.addEventListener("popstate", function () { acted = false; }, true);
  // The first push after an input is the action's entry; later pushes before the next input replace
  // it. Not a test of the path: the new page's URL parameters may reach the browser before the
  // page change does (pushing "/old-page?new-params", then "/new-page?new-params").
  h.pushState = function (state, title, url) {
    if (!acted) { return replace(state, title, url); }
    acted = false;
    return push(state, title, url);
  };
})();</script>"""
"""The browser side of "one history entry per user action" (see the module docstring)."""


def install_history_script() -> None:
    """Put :data:`HISTORY_SCRIPT` on the page (it installs itself once per browser tab)."""
    st.html(HISTORY_SCRIPT, unsafe_allow_javascript=True)


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
