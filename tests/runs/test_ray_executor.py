"""Ray executor on a local CPU cluster with the demo model: equals a single-process run, and a
worker killed mid-run loses and duplicates nothing."""

import os
import signal
from pathlib import Path

import pytest

from monitor.config import RunConfig
from monitor.engine.models import load_model
from monitor.prompts.input import load_prompts
from monitor.runs.pipeline import run_monitor

from test_pipeline import assert_same_run_tables

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DEMO = str(ROOT / "data" / "demo_model")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    loaded = load_model(DEMO, device="cpu", dtype="float32")
    prompts = load_prompts(ROOT / "data" / "prompts" / "demo_heldout.jsonl")[::20]  # 8 prompts
    cfg = RunConfig(("The user might be testing",), rollouts=2, max_new_tokens=48, batch_size=2, seed=11)
    ref = run_monitor(loaded, prompts, cfg, tmp_path_factory.mktemp("ref") / "run")
    yield loaded, prompts, cfg, ref
    if ray.is_initialized():
        ray.shutdown()


def test_two_workers_equal_single_process_and_survive_a_killed_worker(setup, tmp_path, caplog):
    from monitor.runs.ray_executor import RayExecutor

    loaded, prompts, cfg, ref = setup
    ex = RayExecutor(loaded.spec, workers=2, init_kwargs={"num_cpus": 2})
    calls = {"n": 0, "killed": None}

    def kill_one_worker_after_the_first_unit(done, total, message):
        calls["n"] += 1
        if calls["n"] == 2:  # the first call is the "starting" one
            pid = ex.worker_pids()[0]
            os.kill(pid, signal.SIGKILL)
            calls["killed"] = pid

    try:
        with caplog.at_level("WARNING", logger="monitor.runs.ray_executor"):
            run = run_monitor(loaded, prompts, cfg, tmp_path / "ray", executor=ex, progress=kill_one_worker_after_the_first_unit)
        # The killed worker was running a unit, or got the next one: either way a unit was re-queued.
        assert "re-queued" in caplog.text
        assert calls["killed"] is not None and calls["killed"] not in ex.worker_pids()  # restarted in a new process
    finally:
        ex.shutdown()
    assert run.status == "complete" and len(run.rollouts) == len(prompts) * 2
    assert not run.rollouts.duplicated(["prompt_id", "rollout"]).any()
    assert not run.scores.duplicated(["prompt_id", "rollout", "sentence", "phrase"]).any()
    assert_same_run_tables(ref, run)


def test_cli_ray_workers_equal_single_process(setup, tmp_path):
    import json
    import subprocess
    import sys

    _, prompts, cfg, ref = setup
    f = tmp_path / "p.jsonl"
    f.write_text("".join(json.dumps({"id": p.prompt_id, "text": p.text, "label": p.label}) + "\n" for p in prompts))
    res = subprocess.run(
        [sys.executable, "-m", "monitor", "run", "--model", DEMO, "--prompts", str(f), "--phrase", cfg.phrases[0], "--rollouts", "2",
         "--max-new-tokens", "48", "--batch-size", "2", "--seed", "11", "--device", "cpu", "--ray", "--workers", "2", "--out", str(tmp_path / "cli")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    from monitor.runs.store import read_run

    assert_same_run_tables(ref, read_run(tmp_path / "cli"))
