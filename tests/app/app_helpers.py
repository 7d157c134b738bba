"""Shared set-up for the dashboard's AppTest files (tests/app/test_app_*.py).

Pages are tested on the bundled demo run when the checkout has it, else on a synthetic run written
to a temporary directory; the app is pointed at it through ``$MONITOR_RUN`` (see pages/_lib/open_run.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
DEMO_RUN = ROOT / "data" / "demo_run"
TIMEOUT = 120


def demo_or_synthetic(tmp_root: Path) -> Path:
    """The demo run when present, else a small synthetic run under ``tmp_root``."""
    if (DEMO_RUN / "manifest.json").is_file():
        return DEMO_RUN
    from monitor.runs.synthetic import make_synthetic_run

    return make_synthetic_run(tmp_root / "synthetic_run", n_prompts=24, rollouts=4, sentences=(4, 12), seed=1)


@pytest.fixture(scope="session")
def app_run(tmp_path_factory) -> Path:
    """The run every page test opens (session-wide, read-only: tests that write copy it first)."""
    return demo_or_synthetic(tmp_path_factory.mktemp("app_run"))


@pytest.fixture()
def app_env(app_run, tmp_path, monkeypatch) -> Path:
    """Point the app at the test run, with a private runs directory; returns the run path."""
    monkeypatch.setenv("MONITOR_RUN", str(app_run))
    monkeypatch.setenv("MONITOR_RUNS_DIR", str(tmp_path / "runs"))
    return app_run


def open_page(page: str, *, query: dict[str, str] | None = None, session: dict | None = None, clean: bool = True):
    """An AppTest of the dashboard opened on Home, then switched to ``pages/<page>.py`` with ``query``
    in the URL (as a shared link would open it), run, and checked for errors unless ``clean=False``."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in (session or {}).items():
        at.session_state[k] = v
    if page == "home":
        for k, v in (query or {}).items():
            at.query_params[k] = v
    at.run()
    if page != "home":
        assert_clean(at)
        at.switch_page(f"pages/{page}.py")
        for k, v in (query or {}).items():
            at.query_params[k] = v
        at.run()
    if clean:
        assert_clean(at)
    return at


def assert_clean(at) -> None:
    """No exception and no error message in the page (errors are shown, never raised, so check both)."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def texts(at) -> str:
    """All markdown/caption/text/info/warning/success of the page, joined (for 'is it on the page')."""
    parts = []
    for kind in ("markdown", "caption", "text", "info", "warning", "success", "title", "subheader"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts)


def htmls(at) -> list[str]:
    """Bodies of the page's st.html elements."""
    return [e.proto.body for e in at.get("html")]


def charts(at) -> list:
    """The page's Plotly charts (as AppTest unknown elements)."""
    return at.get("plotly_chart")


def frame_with(at, *columns: str):
    """The first table on the page having all ``columns`` (read-only st.dataframe carries no key in AppTest)."""
    for d in at.dataframe:
        v = d.value
        if all(c in v.columns for c in columns):
            return v
    raise AssertionError(f"no table with columns {columns}; tables: {[list(d.value.columns) for d in at.dataframe]}")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, loaded_tiny) -> Path:
    """A complete run sampled from the tiny local test model (so it can be rescored and resumed)."""
    from monitor.config import RunConfig
    from monitor.runs.pipeline import run_monitor
    from monitor.prompts.record import Prompt

    prompts = [Prompt(f"t{i}", f"Question {i}: is {i} even? Answer briefly.", label="eval" if i % 2 else "deploy") for i in range(4)]
    out = tmp_path_factory.mktemp("tiny_run") / "run"
    run_monitor(loaded_tiny, prompts, RunConfig(("The user might be testing",), rollouts=2, max_new_tokens=16,
                                                control_phrase="The user might be asking"), out)
    return out


def wait_for_jobs(at, timeout: float = 180.0) -> None:
    """Rerun until the app's background jobs are done (the page itself never blocks)."""
    import time

    from pages._lib.jobs import jobs

    deadline = time.monotonic() + timeout
    while jobs().running() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not jobs().running(), "job did not finish in time"
    at.run()  # the run after the job ends shows the outcome
    at.run()


def class_sizes(run_dir: Path) -> str:
    """The "n = eval + deploy" label the pages show beside an eval-vs-deploy AUROC of this run."""
    from monitor.analysis import task_labels
    from monitor.runs.store import read_run

    y = task_labels(read_run(run_dir), "eval_vs_deploy").astype(bool)
    return f"n = {int(y.sum())} + {int((~y).sum())}"
