"""The summary cached in the run (summary.json): written by writers, used only while current."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.analysis import summarize
from monitor.analysis.cached import cached_summary, load_summary, refresh_summary
from monitor.runs.bundle import export_bundle, import_bundle
from monitor.runs.store import SUMMARY, RunWriter, read_run, write_table
from monitor.runs.synthetic import make_synthetic_run

ROOT = Path(__file__).resolve().parents[2]
DEMO_RUN = ROOT / "data" / "demo_run"


@pytest.fixture()
def run_dir(tmp_path) -> Path:
    return make_synthetic_run(tmp_path / "run", n_prompts=12, rollouts=3, sentences=(3, 6), seed=2)


def _norm(s: dict) -> dict:
    return json.loads(json.dumps({**s, "run": {**s["run"], "path": None}}))


def test_refresh_stores_the_summary_and_readers_use_it(run_dir):
    assert cached_summary(run_dir) is None  # nothing cached yet: a miss, and the reader computes
    assert not (run_dir / SUMMARY).exists()
    stored = refresh_summary(run_dir)
    assert (run_dir / SUMMARY).is_file()
    hit = cached_summary(run_dir)
    assert hit is not None and _norm(hit) == _norm(stored) == _norm(summarize(read_run(run_dir)))
    assert hit["run"]["path"] == str(run_dir)


def test_a_changed_table_or_manifest_invalidates_the_cache(run_dir):
    refresh_summary(run_dir)
    run = read_run(run_dir)
    write_table(run_dir, "scores", run.scores.iloc[: len(run.scores) // 2])
    assert cached_summary(run_dir) is None
    fresh = load_summary(read_run(run_dir))  # a miss computes from the tables as they are now
    assert fresh["run"]["n_score_rows"] == len(run.scores) // 2
    refresh_summary(run_dir)
    assert cached_summary(run_dir) is not None
    m = json.loads((run_dir / "manifest.json").read_text())
    (run_dir / "manifest.json").write_text(json.dumps({**m, "note": "edited"}))
    assert cached_summary(run_dir) is None


def test_a_forged_or_corrupt_cache_is_a_miss(run_dir):
    refresh_summary(run_dir)
    data = json.loads((run_dir / SUMMARY).read_text())
    (run_dir / SUMMARY).write_text(json.dumps({**data, "key": "0" * 64}))
    assert cached_summary(run_dir) is None
    (run_dir / SUMMARY).write_text("{not json")
    assert cached_summary(run_dir) is None


def test_viewing_never_writes(run_dir):
    before = sorted(p.name for p in run_dir.iterdir())
    load_summary(read_run(run_dir))
    assert sorted(p.name for p in run_dir.iterdir()) == before


def test_finalize_caches_the_summary(run_dir, tmp_path):
    src = read_run(run_dir)
    out = tmp_path / "written"
    w = RunWriter.create(out, {**src.manifest, "status": "running"}, src.prompts)
    w.write_unit("u0", {"rollouts": src.rollouts, "sentences": src.sentences, "scores": src.scores})
    assert cached_summary(out) is None  # parts exist: never served for a run still going
    w.finalize()
    hit = cached_summary(out)
    assert hit is not None and hit["run"]["status"] == "complete"
    assert _norm(hit) == _norm(summarize(read_run(out)))


def test_bundle_carries_the_summary(run_dir, tmp_path):
    refresh_summary(run_dir)
    dest = import_bundle(export_bundle(run_dir, tmp_path / "r.zip"), tmp_path / "imported")
    assert (dest / SUMMARY).is_file()
    hit = cached_summary(dest)
    assert hit is not None and hit["run"]["path"] == str(dest)


def test_analyze_cli_writes_and_reuses_the_cache(run_dir, capsys):
    from monitor.cli import main

    assert main(["analyze", str(run_dir)]) == 0
    assert cached_summary(run_dir) is not None
    first = capsys.readouterr().out
    assert main(["analyze", str(run_dir)]) == 0
    assert capsys.readouterr().out == first
    (run_dir / SUMMARY).unlink()
    assert main(["analyze", str(run_dir), "--n-boot", "50"]) == 0  # other arguments: not the cached default
    assert not (run_dir / SUMMARY).exists()


@pytest.mark.skipif(not (DEMO_RUN / "manifest.json").is_file(), reason="no bundled demo run")
def test_the_demo_run_ships_a_current_summary():
    assert cached_summary(DEMO_RUN) is not None, (
        "data/demo_run/summary.json is missing or stale (the demo's tables or monitor/analysis changed): "
        "regenerate it with `python -m monitor analyze data/demo_run` and commit it.")
