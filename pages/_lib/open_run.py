"""Which run the session has open: its path (URL ``?run=``, ``$MONITOR_RUN``, the demo), its cache key,
loading it once per on-disk version, and the labels every page shows for it (demo banner, model id).

Nothing here computes an analysis; it decides when the run is read again (its key changes with
any write) and how an unusable run reaches the user (a message in the page, never a traceback).
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from monitor import runs
from monitor.errors import MonitorError
from monitor.ingest.provenance import provenance_line
from pages._lib import shared as _shared
from pages._lib import text as _text

ROOT = Path(__file__).resolve().parents[2]
DEMO_RUN = ROOT / "data" / "demo_run"
DEMO_MODEL = ROOT / "data" / "demo_model"
RUN_ENV = "MONITOR_RUN"
"""Environment variable naming the run the app opens first (tests, shared deployments)."""
RUNS_DIR_ENV = "MONITOR_RUNS_DIR"
"""Environment variable naming where new, imported and listed runs live (default ``runs/``)."""

RunKey = tuple[str, tuple]
"""(resolved run path, on-disk signature): the cache key of everything derived from a run."""


def runs_dir() -> Path:
    """Where the Run page writes new runs and the Home page unpacks uploaded bundles."""
    base = _shared.root()
    return Path(os.environ.get(RUNS_DIR_ENV) or (base or ROOT) / "runs")


def resolve_path(path: str | Path, *, what: str = "path", write: bool = False) -> Path:
    """A user-typed path: absolute as given, relative to the repository root otherwise.

    In shared mode (:mod:`pages._lib.shared`) a relative path is relative to the shared root (the
    bundled ``data/`` excepted) and a path outside the root raises :class:`InputError`.
    """
    p = Path(str(path).strip()).expanduser()
    if not p.is_absolute():
        base = _shared.root()
        p = ROOT / p if base is None or (not write and (ROOT / p).resolve().is_relative_to(ROOT / "data")) else base / p
    return _shared.confine(p, what=what, write=write)


def default_run_path() -> str:
    """The run the app opens on first load: ``$MONITOR_RUN``, else the bundled demo run."""
    return os.environ.get(RUN_ENV) or str(DEMO_RUN.relative_to(ROOT))


def init_run_path() -> None:
    """Pick the session's run once: the URL's ``run`` parameter wins (a shared link), then the default."""
    if "run_path" not in st.session_state:
        st.session_state["run_path"] = st.query_params.get("run") or default_run_path()


def set_run_path(path: str | Path) -> None:
    """Switch the open run (the next rerun loads it; the URL follows)."""
    st.session_state["run_path"] = str(path)


def sync_run_to_url() -> None:
    """Keep ``?run=`` in the URL so a copied link reopens the same run (omitted for the default)."""
    path = st.session_state.get("run_path")
    if path and path != default_run_path():
        st.query_params["run"] = path
    elif "run" in st.query_params:
        del st.query_params["run"]


def _signature(path: Path) -> tuple:
    # mtimes + sizes of the files a reader uses, and the number of finished units of a run still
    # going: any write (rescore, judge, annotations, a new unit) changes it and so refreshes caches.
    sig: list[tuple] = []
    for name in ("manifest.json", *(f"{t}.parquet" for t in (*runs.TABLES, "annotations"))):
        try:
            s = (path / name).stat()
            sig.append((name, s.st_mtime_ns, s.st_size))
        except OSError:
            pass
    parts = path / "parts"
    if parts.is_dir():
        sig.append(("parts", len(os.listdir(parts))))
    return tuple(sig)


def run_key(path: str | Path) -> RunKey:
    """The cache key of a run directory as it is on disk now."""
    p = resolve_path(path)
    return (str(p), _signature(p))


# Runs are held as shared read-only objects (cache_resource, not cache_data): a 10k-rollout run
# holds ~1M score rows, and copying that on every rerun would cost more than the page itself.
@st.cache_resource(max_entries=6, show_spinner="Loading the run…")
def _load_run(path: str, signature: tuple) -> runs.Run:
    return runs.read_run(path)


def load_run(key: RunKey) -> runs.Run:
    """The run for a cache key (raises :class:`MonitorError` subclasses for unusable directories)."""
    return _load_run(*key)


def current_key() -> RunKey:
    """Cache key of the session's open run."""
    init_run_path()
    return run_key(st.session_state["run_path"])


def require_run() -> tuple[runs.Run, RunKey]:
    """The open run, or a message in the page and a stop (the rest of the page needs a run)."""
    init_run_path()
    path = st.session_state["run_path"]
    try:
        key = run_key(path)
        return load_run(key), key
    except MonitorError as e:
        if str(path) == default_run_path() and Path(ROOT / path) == DEMO_RUN and not DEMO_RUN.exists():
            st.warning(
                "The bundled demo run (`data/demo_run`) is not in this checkout. Open a run on the "
                "**Home** page (a run directory or an uploaded bundle), or make one on the **Run** page."
            )
        else:
            st.error(f"Cannot open the run {_text.code(path)}: {_text.md(e)}")
        st.page_link("pages/home.py", label="Choose a run on the Home page", icon=":material/home:")
        st.stop()
    raise AssertionError("unreachable")


def is_demo(run: runs.Run) -> bool:
    """True for the bundled demo run or any synthetic run (shown with a 'synthetic organism' label)."""
    m = run.manifest
    model = m.get("model") or {}
    model_id = str(model.get("id", "")) if isinstance(model, dict) else str(model)
    return bool(m.get("synthetic") or m.get("demo")) or "demo_model" in model_id or Path(run.path).resolve() == DEMO_RUN.resolve()


def writes_to_bundled_demo(run: runs.Run) -> None:
    """A caption before an action that writes into the run directory, when that is the shipped demo run."""
    if Path(run.path).resolve() == DEMO_RUN.resolve():
        st.caption(":material/info: This writes into the bundled demo run (`data/demo_run`). To keep it as shipped, "
                   "export a bundle on **Share & export** and work on the imported copy.")


def demo_banner(run: runs.Run) -> None:
    """Label results from the demo model / synthetic runs so nobody reads them as a real model's, and
    imported runs with who generated their rollouts and which model scored them."""
    imported = provenance_line(run.manifest)
    if imported:
        rest = imported.removeprefix("Imported rollouts ")
        st.info(f"**Imported rollouts** {_text.md(rest)}", icon=":material/input:")
    if is_demo(run):
        what = "synthetic run (numbers drawn from a documented generating process)" if run.manifest.get("synthetic") else "demo model"
        st.info(
            f"**Synthetic organism.** This is a {what}, built to exercise the monitor where the ground "
            "truth is known. It says nothing about any real model's behaviour.",
            icon=":material/science:",
        )
    run_warnings(run)


def run_warnings(run: runs.Run) -> None:
    """The run's recorded warnings (e.g. think markers that never appeared), on every run page."""
    for w in run.manifest.get("warnings") or []:
        st.warning(str(w), icon=":material/warning:")


def phrase_label(phrase: str, run: runs.Run, phrases: list[str] | None = None) -> str:
    """A phrase as shown in selectors (marks the primary and control phrase).

    Pass the run's ``phrases`` when known: ``run.phrases`` scans the score table each time."""
    phrases = run.phrases if phrases is None else phrases
    tags = []
    if phrases and phrase == phrases[0]:
        tags.append("primary")
    if phrase == run.manifest.get("control_phrase"):
        tags.append("control")
    return f"{phrase}  ({', '.join(tags)})" if tags else phrase


def has_judge(run: runs.Run) -> bool:
    """Whether the run's sentences carry judge flags (the verbalization monitor needs them)."""
    return "judge_flag" in run.sentences.columns


def model_id(run: runs.Run) -> str:
    """The run's model id as recorded in the manifest ('' when unknown)."""
    model = run.manifest.get("model") or {}
    return str(model.get("id", "")) if isinstance(model, dict) else str(model)
