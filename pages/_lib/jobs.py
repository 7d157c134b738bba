"""Long engine calls off the script thread, and the model cache they share with the pages.

A :class:`Job` runs one engine call (a monitor run, a rescore, a judge pass) in a daemon thread and
holds its progress, so the page only *reads* state and never blocks: a fragment re-renders the
progress bar every second, the Cancel button sets a flag the engine polls between units, and a
cancelled or crashed run keeps every finished unit on disk for a resume. Jobs live in a
process-wide registry (``st.cache_resource``) so a browser reload finds its job again; the session
keeps only the job id.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import streamlit as st

from monitor.errors import MonitorError
from pages._lib import text as _text

log = logging.getLogger("monitor.app")

JobState = Literal["running", "done", "cancelled", "failed"]
ProgressFn = Callable[[int, int, str], None]
StopFn = Callable[[], bool]


def fmt_duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``."""
    s = int(round(max(0.0, seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def progress_text(label: str, done: int, total: int, elapsed: float, message: str = "") -> str:
    """One line for a progress bar: count, percentage, rate and estimated time left."""
    parts = [f"{label}: {done}/{total}" if total > 0 else f"{label}: {done}"]
    if total > 0:
        parts[0] += f" ({100 * done / total:.0f}%)"
    if done > 0 and elapsed > 0:
        rate = done / elapsed
        parts.append(f"{rate:.2f}/s" if rate < 10 else f"{rate:.0f}/s")
        if total > done:
            parts.append(f"about {fmt_duration((total - done) / rate)} left")
    parts.append(f"elapsed {fmt_duration(elapsed)}")
    if message:
        parts.append(message)
    return " · ".join(parts)


@dataclass
class Job:
    """One background engine call and what the page shows about it."""

    id: str
    """Registry key (kept in ``st.session_state``)."""
    label: str
    """What is running, e.g. ``Monitor run → runs/2025-…``."""
    kind: str = ""
    """Which panel shows it (the page's session key, e.g. ``run.job``)."""
    state: JobState = "running"
    """``running`` until the thread ends."""
    done: int = 0
    """Units finished (as reported by the engine's progress callback)."""
    total: int = 0
    """Units in all (0 while unknown)."""
    message: str = ""
    """The engine's latest progress message."""
    started: float = field(default_factory=time.monotonic)
    """Monotonic start time (for rate and time left)."""
    finished: float | None = None
    """Monotonic end time, once ended."""
    error: str = ""
    """User-facing error message when ``failed``."""
    result: Any = None
    """The engine call's return value when ``done``."""
    stop_event: threading.Event = field(default_factory=threading.Event, repr=False)
    """Set by Cancel; the engine polls it through ``should_stop``."""
    thread: threading.Thread | None = field(default=None, repr=False)
    """The worker thread."""

    def progress(self, done: int, total: int, message: str = "") -> None:
        """The engine's progress callback (called from the worker thread)."""
        self.done, self.total, self.message = int(done), int(total), str(message)

    def should_stop(self) -> bool:
        """The engine's cancellation poll."""
        return self.stop_event.is_set()

    def cancel(self) -> None:
        """Ask the engine to stop after the unit in flight (finished units stay on disk)."""
        self.stop_event.set()

    @property
    def elapsed(self) -> float:
        """Seconds since start (until the end, once ended)."""
        return (self.finished or time.monotonic()) - self.started

    def status_line(self) -> str:
        """The progress-bar text."""
        return progress_text(self.label, self.done, self.total, self.elapsed, self.message)

    @property
    def fraction(self) -> float:
        """Progress in [0, 1]."""
        return 0.0 if self.total <= 0 else min(1.0, self.done / self.total)


class JobRegistry:
    """Process-wide jobs by id; threads start here and report into their :class:`Job`."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, label: str, fn: Callable[[Job], Any], *, kind: str = "") -> Job:
        """Run ``fn(job)`` in a daemon thread; ``fn`` passes ``job.progress``/``job.should_stop`` to the engine."""
        job = Job(id=uuid.uuid4().hex[:12], label=label, kind=kind)

        def work() -> None:
            try:
                job.result = fn(job)
                job.state = "cancelled" if job.stop_event.is_set() else "done"
            except MonitorError as e:
                job.error, job.state = str(e), "failed"
            except Exception as e:  # a bug: keep the traceback in the log, a summary in the page
                log.error("job %s failed:\n%s", label, traceback.format_exc())
                job.error, job.state = f"{type(e).__name__}: {e} (a bug; details in the server log)", "failed"
            finally:
                job.finished = time.monotonic()

        job.thread = threading.Thread(target=work, name=f"job-{job.id}", daemon=True)
        with self._lock:
            self._jobs[job.id] = job
        job.thread.start()
        return job

    def get(self, job_id: str | None) -> Job | None:
        """The job with this id, if any."""
        if not job_id:
            return None
        with self._lock:
            return self._jobs.get(job_id)

    def running(self, kind: str | None = None) -> list[Job]:
        """Jobs still going (of one kind when given), oldest first."""
        with self._lock:
            return [j for j in self._jobs.values() if j.state == "running" and (kind is None or j.kind == kind)]


@st.cache_resource
def jobs() -> JobRegistry:
    """The process-wide job registry."""
    return JobRegistry()


class ModelCache:
    """Loaded models by spec, shared by every session and job thread; each model loads once.

    Lives in ``st.cache_resource`` (see :func:`models`) so reruns never reload weights; a per-key
    lock makes a page and a job asking for the same model at once wait for a single load.
    """

    def __init__(self) -> None:
        self._models: dict[tuple, Any] = {}
        self._locks: dict[tuple, threading.Lock] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key_of(model_id: str, device: str, dtype: str, trust_remote_code: bool, chat_template: str | None,
               backend: str = "transformers", base_url: str = "") -> tuple:
        """The cache key of these settings (a transformers model keeps the key it always had)."""
        key = (model_id, device, dtype, trust_remote_code, chat_template)
        return key if backend == "transformers" else (*key, backend, base_url)

    def get(self, model_id: str, *, device: str = "auto", dtype: str = "auto", trust_remote_code: bool = False,
            chat_template: str | None = None, backend: str = "transformers", base_url: str = "") -> Any:
        """The :class:`monitor.engine.models.LoadedModel` for these settings (loading it on first use),
        or for another ``backend`` its :class:`monitor.engine.backends.ServedModel`."""
        from monitor.engine import ModelSpec, load_model

        key = self.key_of(model_id, device, dtype, trust_remote_code, chat_template, backend, base_url)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._models:
                spec = ModelSpec(model_id, device=device, dtype=dtype, trust_remote_code=trust_remote_code, chat_template=chat_template)
                if backend == "transformers":
                    self._models[key] = load_model(spec)
                else:
                    import os

                    from monitor.engine.backends import open_backend

                    self._models[key] = open_backend(backend, spec, base_url=base_url or None,
                                                     api_key_env="VLLM_API_KEY" if os.environ.get("VLLM_API_KEY") else None)
            return self._models[key]

    def loaded(self) -> list[tuple]:
        """Keys of the models in memory."""
        with self._lock:
            return list(self._models)


@st.cache_resource
def models() -> ModelCache:
    """The process-wide model cache."""
    return ModelCache()


def job_panel(session_key: str, *, cancellable: bool = True, on_done: Callable[[Job], None] | None = None) -> Job | None:
    """Progress bar with rate and time left, and Cancel, for the job whose id is in ``session_key``.

    Runs as a fragment refreshing every second while the job is going, so the rest of the page stays
    interactive. ``cancellable=False`` for engine calls that take no ``should_stop``. Returns the job
    (or None).
    """
    job = jobs().get(st.session_state.get(session_key))
    if job is None:
        # a reloaded browser tab is a new session: pick up the job of this kind that is still going
        going = jobs().running(kind=session_key)
        if not going:
            return None
        job = going[-1]
        st.session_state[session_key] = job.id

    @st.fragment(run_every=1.0 if job.state == "running" else None)
    def panel() -> None:
        if job.state == "running":
            st.progress(job.fraction, text=job.status_line())
            if cancellable and st.button("Cancel", key=f"{session_key}.cancel", icon=":material/stop:", disabled=job.stop_event.is_set()):
                job.cancel()
                st.toast("Cancelling after the unit in flight; finished units are kept.")
            if job.stop_event.is_set():
                st.caption("Cancelling… the engine stops after the unit in flight.")
        else:
            # one full rerun when the job ends, so pages re-read the run it wrote
            if not st.session_state.get(f"{session_key}.seen") == job.id:
                st.session_state[f"{session_key}.seen"] = job.id
                st.rerun()
            if job.state == "done":
                st.success(f"Finished: {_text.md(job.label)} ({fmt_duration(job.elapsed)}).", icon=":material/check_circle:")
            elif job.state == "cancelled":
                st.warning(f"Cancelled: {_text.md(job.label)} after {job.done}/{job.total}. Finished units are kept; resume to continue.")
            else:
                st.error(f"Failed: {_text.md(job.label)}: {_text.md(job.error)}")
            if on_done is not None:
                on_done(job)

    panel()
    return job


def start_button(label: str, start: Callable[[], str | None], **button_kwargs) -> None:
    """A button that starts a background job: ``start()`` returns an error to show, or None to rerun.

    It acts in the script pass (not in an on_click callback) so ``start`` sees the inputs just committed.
    """
    if st.button(label, **button_kwargs):
        err = start()
        if err:
            st.error(err)
        else:
            st.rerun()


def sidebar_indicator() -> None:
    """The run indicator every page shows in the sidebar: the session's background job (or one still going
    after a reload) with its progress and a link to its page; once a monitor run has finished, the run
    it wrote is offered as the open run, wherever the user is."""
    job = jobs().get(st.session_state.get("run.job"))
    if job is None:
        going = jobs().running()
        job = going[-1] if going else None
    if job is None:
        return

    @st.fragment(run_every=1.0 if job.state == "running" else None)
    def indicator() -> None:
        if job.state == "running":
            st.caption(":material/hourglass_top: **Running**")
            st.progress(job.fraction, text=job.status_line())
            st.page_link("pages/run.py", label="Go to the run", icon=":material/play_circle:")
            return
        if st.session_state.get("sidebar.job.seen") != job.id:
            # one full rerun when the job ends, so the page re-reads the run it wrote
            st.session_state["sidebar.job.seen"] = job.id
            st.rerun()
        icon = {"done": ":material/check_circle:", "cancelled": ":material/pause_circle:"}.get(job.state, ":material/error:")
        st.caption(f"{icon} **{job.state.capitalize()}**: {_text.md(job.label)} ({fmt_duration(job.elapsed)})")
        out = st.session_state.get("run.job_out")
        if out and job.state in ("done", "cancelled") and job.kind == "run.job":
            from pages._lib import open_run

            if open_run.resolve_path(st.session_state.get("run_path", "")) != open_run.resolve_path(out):
                if st.button("Open this run", key="sidebar.open_result", icon=":material/open_in_new:", type="primary"):
                    open_run.set_run_path(out)
                    st.rerun()
            else:
                st.caption("It is the open run.")

    indicator()
