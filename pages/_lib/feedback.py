"""How work and failures reach the user: errors as messages in the page, progress bars with rate and ETA."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Iterator

import streamlit as st

from monitor.errors import MonitorError
from pages._lib import text as _text

log = logging.getLogger("monitor.app")


@contextlib.contextmanager
def guard(what: str = "This step") -> Iterator[None]:
    """Turn any failure inside into a message in the page (user errors as given, bugs summarised).

    Streamlit's own control flow (``st.stop``, ``st.rerun``) derives from ``BaseException`` and
    passes through untouched.
    """
    try:
        yield
    except MonitorError as e:
        st.error(_text.md(e), icon=":material/error:")
    except Exception as e:  # a bug: log the traceback for the developer, keep the page usable
        log.exception("%s failed", what)
        st.error(
            f"{_text.md(what)} failed unexpectedly ({type(e).__name__}: {_text.md(e)}). This is a bug in the tool; "
            "the details are in the server log.",
            icon=":material/bug_report:",
        )


class ProgressBar:
    """A ``progress(done, total, message)`` callback drawing a Streamlit progress bar with rate and time left."""

    def __init__(self, label: str):
        self.label = label
        self.bar = st.progress(0.0, text=f"{label}: starting…")
        self.t0 = time.monotonic()

    def __call__(self, done: int, total: int, message: str = "") -> None:
        from pages._lib.jobs import progress_text

        frac = 0.0 if total <= 0 else min(1.0, done / total)
        self.bar.progress(frac, text=progress_text(self.label, done, total, time.monotonic() - self.t0, message))

    def done(self) -> None:
        self.bar.empty()
