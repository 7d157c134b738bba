"""The run directory format: minimal foreign runs, versions, units, bundles, listing."""

import json

import pandas as pd
import pytest

from monitor.errors import RunFormatError
from monitor.runs.bundle import export_bundle, import_bundle, list_runs
from monitor.runs.store import RunWriter, read_run, write_manifest


def _tables(pid="a", r=0):
    return {
        "rollouts": pd.DataFrame([{"prompt_id": pid, "rollout": r, "prompt_token_ids": [1, 2], "completion_token_ids": [3, 4], "cot_text": "Hi.", "finish_reason": "stop"}]),
        "sentences": pd.DataFrame([{"prompt_id": pid, "rollout": r, "sentence": s, "text": t, "char_start": 0, "char_end": len(t), "boundary_token": s} for s, t in [(0, ""), (1, "Hi.")]]),
        "scores": pd.DataFrame([{"prompt_id": pid, "rollout": r, "sentence": s, "phrase": "P", "forced_token_ids": [5], "token_logprobs": [-1.0], "logprob": -1.0} for s in (0, 1)]),
    }


def _prompts():
    return pd.DataFrame({"prompt_id": ["a", "b"], "text": ["x", "y"], "label": ["eval", "deploy"]})


def test_minimal_foreign_run_loads(tmp_path):
    (tmp_path / "manifest.json").write_text('{"format_version": 1}')
    _prompts().to_parquet(tmp_path / "prompts.parquet")
    for name, df in _tables().items():
        df.to_parquet(tmp_path / f"{name}.parquet")
    run = read_run(tmp_path)
    assert run.status == "unknown" and run.phrases == ["P"] and len(run.scores) == 2


def test_unknown_version_and_missing_files(tmp_path):
    write_manifest(tmp_path, {"format_version": 99})
    with pytest.raises(RunFormatError, match="format_version 99"):
        read_run(tmp_path)
    write_manifest(tmp_path, {"format_version": 1})
    with pytest.raises(RunFormatError, match="prompts.parquet"):
        read_run(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(RunFormatError, match="not valid JSON"):
        read_run(tmp_path)
    with pytest.raises(RunFormatError, match="not a directory"):
        read_run(tmp_path / "nothing")


def test_wrong_columns_are_named(tmp_path):
    (tmp_path / "manifest.json").write_text('{"format_version": 1}')
    pd.DataFrame({"id": ["a"]}).to_parquet(tmp_path / "prompts.parquet")
    with pytest.raises(RunFormatError, match="prompt_id"):
        read_run(tmp_path)


def test_units_are_atomic_ordered_and_finalized(tmp_path):
    w = RunWriter.create(tmp_path / "r", {"phrases": ["P"]}, _prompts())
    w.write_unit("p000001-r00000", _tables("b"))
    w.write_unit("p000000-r00000", _tables("a"))
    with pytest.raises(RunFormatError):
        w.write_unit("p000000-r00000", _tables("a"))
    # A half-written unit (temporary dir left by a kill) is invisible.
    (tmp_path / "r" / "parts" / ".p000002-r00000.tmp").mkdir()
    running = read_run(tmp_path / "r")
    assert running.status == "running" and running.rollouts.prompt_id.tolist() == ["a", "b"]
    assert w.done_units() == {"p000000-r00000", "p000001-r00000"}
    run = w.finalize()
    assert run.status == "complete" and not (tmp_path / "r" / "parts").exists()
    assert run.scores.prompt_id.tolist() == ["a", "a", "b", "b"]
    with pytest.raises(RunFormatError, match="complete"):
        w.write_unit("p000003-r00000", _tables("a"))


def test_bundle_roundtrip_and_listing(tmp_path):
    w = RunWriter.create(tmp_path / "runs" / "one", {"model": {"id": "m"}}, _prompts())
    w.write_unit("p000000-r00000", _tables())
    w.finalize()
    bundle = export_bundle(tmp_path / "runs" / "one", tmp_path / "one.zip")
    dest = import_bundle(bundle, tmp_path / "copy")
    pd.testing.assert_frame_equal(read_run(dest).scores, read_run(tmp_path / "runs" / "one").scores)
    with pytest.raises(RunFormatError):
        import_bundle(bundle, tmp_path / "copy")
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(RunFormatError, match="not a run bundle"):
        import_bundle(tmp_path / "junk.zip", tmp_path / "x")
    listing = list_runs(tmp_path / "runs")
    assert listing.to_dict("records")[0]["status"] == "complete"
    assert listing.to_dict("records")[0]["rollouts"] == 1 and listing.to_dict("records")[0]["model"] == "m"


def test_bundle_entries_cannot_escape(tmp_path):
    import zipfile

    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("manifest.json", json.dumps({"format_version": 1}))
        zf.writestr("../escape.txt", "x")
    with pytest.raises(RunFormatError, match="escape"):
        import_bundle(z, tmp_path / "d")
    assert not (tmp_path / "escape.txt").exists()
