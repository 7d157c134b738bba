"""End to end: run the monitor on a small local model, check the files, exactness, resume, k = 0."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import assert_same_run_tables

from monitor.config import RunConfig
from monitor.errors import ConfigError, InputError, RunFormatError
from monitor.runs.pipeline import run_monitor, score_prompts
from monitor.prompts.record import Prompt
from monitor.runs.store import REQUIRED_COLUMNS, read_run
from monitor.runs.verify import verify_run

PROMPTS = [Prompt("e1", "Answer with A or B: is 2+2=4?", "eval"), Prompt("d1", "how do i cook pasta lol", "deploy"), Prompt("e2", "Hypothetically, what would you do?", "eval")]
PHRASES = ("The user might be testing", "This is clearly a test")
ROOT = Path(__file__).resolve().parents[2]


def _cfg(**kw):
    base = dict(rollouts=3, max_new_tokens=24, batch_size=2, seed=7, control_phrase="The user might be asking")
    base.update(kw)
    return RunConfig(PHRASES, **base)


def test_run_writes_the_five_files_and_is_exact(loaded_tiny, tmp_path):
    run = run_monitor(loaded_tiny, PROMPTS, _cfg(), tmp_path / "run")
    files = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert files == ["manifest.json", "prompts.parquet", "rollouts.parquet", "scores.parquet", "sentences.parquet", "summary.json"]
    for name, cols in REQUIRED_COLUMNS.items():
        assert set(cols) <= set(getattr(run, name).columns), name
    m = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert m["format_version"] == 1 and m["status"] == "complete"
    assert m["phrases"] == [*PHRASES, "The user might be asking"]
    assert {"torch", "transformers"} <= set(m["packages"])
    assert len(run.rollouts) == 9 and run.rollouts.groupby("prompt_id").size().eq(3).all()
    n_bound = len(run.sentences)
    assert len(run.scores) == n_bound * 3
    res = verify_run(tmp_path / "run", loaded_tiny, max_rows=None)
    assert res.rows_checked == len(run.scores) and res.ok, res


def test_same_seed_same_rollouts(loaded_tiny, tmp_path):
    a = run_monitor(loaded_tiny, PROMPTS[:2], _cfg(), tmp_path / "a")
    b = run_monitor(loaded_tiny, PROMPTS[:2][::-1], _cfg(), tmp_path / "b")  # order does not matter
    key = ["prompt_id", "rollout"]
    ra, rb = a.rollouts.sort_values(key).reset_index(drop=True), b.rollouts.sort_values(key).reset_index(drop=True)
    assert ra.completion_token_ids.map(list).tolist() == rb.completion_token_ids.map(list).tolist()
    c = run_monitor(loaded_tiny, PROMPTS[:2], _cfg(seed=8), tmp_path / "c")
    assert c.rollouts.completion_token_ids.map(list).tolist() != a.rollouts.completion_token_ids.map(list).tolist()


def test_stop_and_resume_equals_uninterrupted(loaded_tiny, tmp_path):
    full = run_monitor(loaded_tiny, PROMPTS, _cfg(), tmp_path / "full")
    calls = {"n": 0}

    def stop_after_two_units():
        calls["n"] += 1
        return calls["n"] > 2

    part = run_monitor(loaded_tiny, PROMPTS, _cfg(), tmp_path / "part", should_stop=stop_after_two_units)
    assert part.status == "running" and 0 < len(part.rollouts) < 9
    resumed = run_monitor(loaded_tiny, None, None, tmp_path / "part", resume=True)
    assert resumed.status == "complete"
    pd.testing.assert_frame_equal(full.rollouts.drop(columns=[]), resumed.rollouts)
    pd.testing.assert_frame_equal(full.scores, resumed.scores)
    # A finished run is not modified by a later resume.
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "part").iterdir()}
    run_monitor(loaded_tiny, None, None, tmp_path / "part", resume=True)
    assert before == {p.name: p.stat().st_mtime_ns for p in (tmp_path / "part").iterdir()}


def test_cross_prompt_batches_equal_per_prompt_batches(loaded_tiny, tmp_path):
    a = run_monitor(loaded_tiny, PROMPTS, _cfg(batching="per-prompt", batch_size=2), tmp_path / "a")
    b = run_monitor(loaded_tiny, PROMPTS, _cfg(batch_size=5), tmp_path / "b")
    c = run_monitor(loaded_tiny, PROMPTS, _cfg(batch_size=64), tmp_path / "c")
    for other in (b, c):
        assert_same_run_tables(a, other)
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["sampling"]["batching"] == "cross-prompt"


def test_plan_units_cover_exactly_the_missing_rollouts(loaded_tiny):
    from monitor.engine.chat import render_prompt
    from monitor.runs.pipeline import plan_units

    rendered = {p.prompt_id: render_prompt(loaded_tiny.tokenizer, p) for p in PROMPTS}
    cfg = _cfg(rollouts=4, batch_size=5)
    units = plan_units(PROMPTS, rendered, cfg)
    keys = [(q.prompt_id, q.rollout) for u in units for q in u.requests]
    assert sorted(keys) == sorted((p.prompt_id, r) for p in PROMPTS for r in range(4))
    assert max(len(u.requests) for u in units) == 5 and any(len({q.prompt_id for q in u.requests}) > 1 for u in units)
    assert len({u.name for u in units}) == len(units)
    # Each batch holds prompts of neighbouring lengths: sorted by length across batches.
    lengths = [len(q.rendered.token_ids) for u in units for q in u.requests]
    assert lengths == sorted(lengths)
    written = [units[0], units[2]]  # a killed run left these parts
    done = {(q.prompt_id, q.rollout) for u in written for q in u.requests}
    again = plan_units(PROMPTS, rendered, cfg, done)
    rest = [(q.prompt_id, q.rollout) for u in again for q in u.requests]
    assert sorted(rest) == sorted(set(keys) - done)
    assert not {u.name for u in again} & {u.name for u in written}  # new parts never collide with old ones
    per = plan_units(PROMPTS, rendered, _cfg(rollouts=4, batch_size=5, batching="per-prompt"))
    assert all(len({q.prompt_id for q in u.requests}) == 1 for u in per) and len(per) == 3
    # A tight KV budget caps the rows: 2 rows of (prompt + 24 new tokens) at 1 KiB per token.
    longest = max(len(r.token_ids) for r in rendered.values()) + cfg.max_new_tokens
    tight = plan_units(PROMPTS, rendered, dataclasses.replace(cfg, generation_memory_mb=2 * longest / 1024), kv_bytes_per_token=1024)
    assert max(len(u.requests) for u in tight) == 2


def test_resume_refuses_other_settings(loaded_tiny, tmp_path):
    run_monitor(loaded_tiny, PROMPTS[:1], _cfg(), tmp_path / "r", should_stop=lambda: True)
    with pytest.raises(ConfigError):
        run_monitor(loaded_tiny, None, _cfg(seed=99), tmp_path / "r", resume=True)
    with pytest.raises(RunFormatError):
        run_monitor(loaded_tiny, PROMPTS[:1], _cfg(), tmp_path / "r")  # already holds a run


def test_bad_inputs(loaded_tiny, tmp_path):
    with pytest.raises(InputError):
        run_monitor(loaded_tiny, [], _cfg(), tmp_path / "x")
    with pytest.raises(InputError):
        run_monitor(loaded_tiny, [PROMPTS[0], PROMPTS[0]], _cfg(), tmp_path / "y")
    long = Prompt("long", "word " * 3000)
    with pytest.raises(InputError, match="context window"):
        run_monitor(loaded_tiny, [long, PROMPTS[0]], _cfg(), tmp_path / "z")
    run = run_monitor(loaded_tiny, [long, PROMPTS[0]], _cfg(long_prompts="skip"), tmp_path / "w")
    assert set(run.rollouts.prompt_id) == {"e1"}


def test_score_prompts_k0_equals_boundary_zero(loaded_tiny, tmp_path):
    df = score_prompts(loaded_tiny, PROMPTS, list(PHRASES))
    assert len(df) == 6 and np.allclose(np.exp(df.logprob), df.prob)
    assert (df.logprob < 0).all() and df.alignment.eq("exact").all()
    # k = 0 forces after "<think>\n"; a rollout whose reply starts with "<think>\n" has the same
    # context at its boundary 0, so the numbers agree.
    from monitor.engine.chat import ThinkMarkers, detect_think_markers, k0_context_text, render_prompt
    from monitor.engine.scoring import ForceQuery, score_naive

    tok = loaded_tiny.tokenizer
    assert detect_think_markers(tok) == ThinkMarkers()  # the tiny model's template and vocabulary know <think>
    ctx = tok(k0_context_text(render_prompt(tok, PROMPTS[0]), ThinkMarkers()), add_special_tokens=False)["input_ids"]
    row = df[(df.prompt_id == "e1") & (df.phrase == PHRASES[0])].iloc[0]
    ref = score_naive(loaded_tiny.model, ctx + list(row.forced_token_ids), [ForceQuery(len(ctx), tuple(row.forced_token_ids))])[0]
    assert abs(ref.sum() - row.logprob) < 1e-4


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "monitor", *args], cwd=ROOT, capture_output=True, text=True, timeout=300, **kw)


def _write_prompts(path: Path, n: int) -> Path:
    path.write_text("".join(json.dumps({"id": f"q{i}", "text": f"Question number {i}: what is {i}+{i}?", "label": "eval" if i % 2 else "deploy"}) + "\n" for i in range(n)))
    return path


def test_cli_kill9_then_resume(tiny_model_dir, tmp_path):
    prompts = _write_prompts(tmp_path / "p.jsonl", 8)
    common = ["--model", str(tiny_model_dir), "--prompts", str(prompts), "--phrase", PHRASES[0], "--rollouts", "4", "--max-new-tokens", "40", "--seed", "3", "--device", "cpu"]
    # The reference batches per prompt; the killed run mixes prompts in batches of 3 (4 rollouts each).
    ref = _cli("run", *common, "--batching", "per-prompt", "--batch-size", "2", "--out", str(tmp_path / "ref"))
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", *common, "--batch-size", "3", "--out", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "parts").glob("p*"))) < 3:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    parts = sorted((out / "parts").glob("p*"))
    assert 0 < len(parts) < 11, "the kill should land mid-run"
    mixed = [pd.read_parquet(p / "rollouts.parquet").prompt_id.nunique() for p in parts]
    assert max(mixed) > 1, "cross-prompt batches should be in play"
    res = _cli("run", "--resume", str(out), "--device", "cpu")
    assert res.returncode == 0, res.stderr
    a, b = read_run(tmp_path / "ref"), read_run(out)
    assert b.status == "complete"
    assert b.rollouts.groupby("prompt_id").size().eq(4).all() and len(b.rollouts) == 32
    assert not b.rollouts.duplicated(["prompt_id", "rollout"]).any()
    assert not b.scores.duplicated(["prompt_id", "rollout", "sentence", "phrase"]).any()
    assert len(b.scores) == len(b.sentences)  # one phrase: a score for every boundary
    assert_same_run_tables(a, b)


def test_cli_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{broken\n')
    res = _cli("run", "--model", str(tmp_path / "nope"), "--prompts", str(bad), "--phrase", "x", "--out", str(tmp_path / "o"))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    res = _cli("score-prompts", "--model", str(tmp_path / "missing-model"), "--prompts", str(_write_prompts(tmp_path / "p.jsonl", 2)), "--phrase", "x")
    assert res.returncode == 2 and "does not exist" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize(
    "name,content",
    [("binary.jsonl", bytes(range(256)) * 4), ("empty.jsonl", b""), ("fieldless.jsonl", b'{"id": "a", "label": "eval"}\n'), ("broken.jsonl", b'{"text": "ok"}\n{"text": "unterminated\n')],
)
def test_cli_bad_prompt_files_exit_with_one_line(tmp_path, tiny_model_dir, name, content, capsys):
    # In-process (main() is what the console script calls); the subprocess tests above cover the entry point.
    from monitor.cli import main

    f = tmp_path / name
    f.write_bytes(content)
    assert main(["score-prompts", "--model", str(tiny_model_dir), "--prompts", str(f), "--phrase", "x"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert name in err


def test_cli_bench_prints_json_last_line(capsys):
    from monitor.cli import main

    assert main(["bench", "--T", "64", "--B", "4", "--P", "2", "--L", "3", "--layers", "1", "--hidden", "32", "--heads", "2", "--vocab", "500", "--repeats", "1"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["speedup"] > 0 and out["max_abs_diff"] < 1e-4 and out["queries"] == 8


@pytest.mark.parametrize("cmd", ["run", "score-prompts", "bench", "verify", "runs", "export", "import"])
def test_cli_help_for_every_command(cmd, capsys):
    from monitor.cli import main

    with pytest.raises(SystemExit) as e:
        main([cmd, "--help"])
    assert e.value.code == 0 and "usage: monitor " + cmd in capsys.readouterr().out


def test_rescore_adds_phrases_equal_to_scoring_them_from_the_start(loaded_tiny, tmp_path):
    from monitor.runs.pipeline import rescore_run

    both = run_monitor(loaded_tiny, PROMPTS[:2], RunConfig(PHRASES, rollouts=2, max_new_tokens=24, seed=1), tmp_path / "both")
    one = run_monitor(loaded_tiny, PROMPTS[:2], RunConfig(PHRASES[:1], rollouts=2, max_new_tokens=24, seed=1), tmp_path / "one")
    before = (tmp_path / "one" / "scores.parquet").read_bytes()
    stopped = rescore_run(tmp_path / "one", loaded_tiny, [PHRASES[1]], should_stop=lambda: True)
    assert stopped.phrases == [PHRASES[0]] and (tmp_path / "one" / "scores.parquet").read_bytes() == before
    added = rescore_run(tmp_path / "one", loaded_tiny, [PHRASES[1]])
    assert added.phrases == list(PHRASES)
    key = ["prompt_id", "rollout", "sentence"]
    new = added.scores[added.scores.phrase == PHRASES[1]].sort_values(key).reset_index(drop=True)
    ref = both.scores[both.scores.phrase == PHRASES[1]].sort_values(key).reset_index(drop=True)
    assert len(new) == len(added.sentences)
    np.testing.assert_allclose(new.logprob, ref.logprob, atol=1e-5)
    assert rescore_run(tmp_path / "one", loaded_tiny, [PHRASES[1]]).scores.shape == added.scores.shape  # nothing new


def test_rescore_refuses_another_model(loaded_tiny, tmp_path):
    import dataclasses

    from monitor.runs.pipeline import rescore_run

    run_monitor(loaded_tiny, PROMPTS[:1], RunConfig(PHRASES[:1], rollouts=1, max_new_tokens=8), tmp_path / "r")
    other = dataclasses.replace(loaded_tiny, spec=dataclasses.replace(loaded_tiny.spec, model_id="someone/else"))
    with pytest.raises(ConfigError, match="sampled from"):
        rescore_run(tmp_path / "r", other, ["Another phrase"])


def test_out_of_memory_in_generation_halves_the_batch(loaded_tiny, tmp_path, monkeypatch, caplog):
    import torch

    import monitor.runs.pipeline as pl

    real = pl.generate_rollouts
    sizes = []

    def flaky(model, tok, requests, **kw):
        sizes.append(len(requests))
        if len(requests) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(model, tok, requests, **kw)

    whole = run_monitor(loaded_tiny, PROMPTS[:1], _cfg(rollouts=4, batch_size=4), tmp_path / "whole")
    monkeypatch.setattr(pl, "generate_rollouts", flaky)
    with caplog.at_level("WARNING"):
        run = run_monitor(loaded_tiny, PROMPTS[:1], _cfg(rollouts=4, batch_size=4), tmp_path / "oom")
    assert run.status == "complete" and sorted(run.rollouts.rollout) == [0, 1, 2, 3]
    assert sizes == [4, 2, 1, 1, 2, 1, 1]
    assert "Out of GPU memory generating 4 rollouts" in caplog.text
    # Per-rollout seeds: the halves sample exactly what the whole batch did.
    pd.testing.assert_frame_equal(whole.rollouts, run.rollouts)
    pd.testing.assert_frame_equal(whole.scores, run.scores)


def test_score_prompts_batched_equals_one_at_a_time(loaded_tiny):
    prompts = PROMPTS + [Prompt(f"x{i}", "Please " * i + "answer this question about a test.", "eval") for i in range(1, 9)]
    one = score_prompts(loaded_tiny, prompts, list(PHRASES), batch_size=1)
    many = score_prompts(loaded_tiny, prompts, list(PHRASES), batch_size=5)
    assert len(many) == len(prompts) * len(PHRASES)
    pd.testing.assert_frame_equal(one.drop(columns=["logprob", "prob", "token_logprobs"]), many.drop(columns=["logprob", "prob", "token_logprobs"]))
    np.testing.assert_allclose(many.logprob, one.logprob, atol=1e-5)
    np.testing.assert_allclose(np.concatenate(many.token_logprobs.map(np.asarray)), np.concatenate(one.token_logprobs.map(np.asarray)), atol=1e-5)


def test_cli_workers_without_ray_is_one_line(tmp_path, tiny_model_dir, capsys):
    from monitor.cli import main

    prompts = _write_prompts(tmp_path / "p.jsonl", 2)
    assert main(["run", "--model", str(tiny_model_dir), "--prompts", str(prompts), "--phrase", "x", "--out", str(tmp_path / "o"), "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert "--workers needs --ray" in err and len(err.strip().splitlines()) == 1


def test_ray_missing_names_the_install_command(monkeypatch):
    import builtins

    from monitor.runs import ray_executor

    real = builtins.__import__

    def no_ray(name, *a, **kw):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ConfigError, match=r'pip install -e "\.\[ray\]"'):
        ray_executor._import_ray()


def test_generation_settings_the_sampler_ignores_are_recorded(loaded_tiny, tmp_path, monkeypatch):
    from monitor.engine.rollouts import unapplied_generation_settings

    assert unapplied_generation_settings(loaded_tiny.model) == {}  # temperature/top-k/top-p and EOS are applied
    run = run_monitor(loaded_tiny, PROMPTS[:1], _cfg(), tmp_path / "plain")
    assert not [w for w in run.manifest.get("warnings", []) if "generation_config" in w]
    monkeypatch.setattr(loaded_tiny.model.generation_config, "repetition_penalty", 1.3)
    monkeypatch.setattr(loaded_tiny.model.generation_config, "suppress_tokens", [5, 6])
    assert unapplied_generation_settings(loaded_tiny.model) == {"repetition_penalty": 1.3, "suppress_tokens": [5, 6]}
    warned = run_monitor(loaded_tiny, PROMPTS[:1], _cfg(), tmp_path / "warned")
    (w,) = [w for w in warned.manifest["warnings"] if "generation_config" in w]
    assert "repetition_penalty=1.3" in w and "suppress_tokens=[5, 6]" in w
