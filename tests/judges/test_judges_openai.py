"""The openai judge against a real HTTP server on loopback that this test starts.

The server implements ``POST /v1/chat/completions``. Its "model" answers with the rules judge's
verdicts in the rubric's JSON format; markers in a sentence script failures for that request:
``[429]`` (once, with Retry-After), ``[500]`` (twice, echoing the Authorization header in the
error body), ``[timeout]`` (once, slower than the client's timeout), ``[malformed]`` (once, prose
instead of JSON), ``[bad]`` (out-of-range JSON until healed), ``[400]`` (until healed), ``[401]``,
``[echo]`` (a good answer that echoes the Authorization header).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from monitor.errors import ConfigError, MonitorError
from monitor.judges import OpenAIJudge, OpenAIJudgeConfig, RulesJudge, judge_run
from monitor.judges.rubric import MalformedAnswer, format_sentences, parse_answer, verbatim_quote
from monitor.judges.run import judge_parts_dir
from monitor.runs.store import read_manifest, read_run, write_manifest, write_table

import pandas as pd

KEY = "sk-test-LOOPBACK-SECRET-7f3a9c"
KEY_ENV = "MONITOR_TEST_JUDGE_KEY"


class FakeLLM:
    """State shared by the handler threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.per_text: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.auth: set[str] = set()
        self.healed = False
        self.delay = 0.0

    def answer(self, text: str) -> str:
        flags = []
        for line in text.splitlines():
            m = re.match(r"\[(\d+)\] (.*)", line)
            if m:
                v = RulesJudge().judge_sentence(int(m.group(1)), m.group(2))
                if v.flag:
                    flags.append({"sentence": v.sentence, "quote": v.quote, "rationale": "says it may be tested"})
        body = json.dumps({"flags": flags})
        return f"```json\n{body}\n```" if "[fence]" in text else body


def _completion(content: str) -> bytes:
    return json.dumps({
        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "fake-judge",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
    }).encode()


class Handler(BaseHTTPRequestHandler):
    llm: FakeLLM

    def log_message(self, *args):  # keep the test output clean
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        llm = self.llm
        if self.path != "/v1/chat/completions":
            return self._send(404, b'{"error": {"message": "no such route"}}')
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = req["messages"][-1]["content"]
        auth = self.headers.get("Authorization", "")
        with llm.lock:
            llm.requests += 1
            llm.per_text[text] += 1
            attempt = llm.per_text[text]
            llm.auth.add(auth)
            llm.in_flight += 1
            llm.max_in_flight = max(llm.max_in_flight, llm.in_flight)
        try:
            if llm.delay:
                time.sleep(llm.delay)
            err = lambda msg: json.dumps({"error": {"message": msg, "type": "test"}}).encode()  # noqa: E731
            if "[401]" in text:
                return self._send(401, err(f"bad key {auth}"))
            if "[400]" in text and not llm.healed:
                return self._send(400, err("context too long"))
            if "[429]" in text and attempt == 1:
                return self._send(429, err("slow down"), {"Retry-After": "0.01"})
            if "[500]" in text and attempt <= 2:
                return self._send(500, err(f"internal error while serving {auth}"))
            if "[timeout]" in text and attempt == 1:
                time.sleep(1.2)
            if "[malformed]" in text and attempt == 1:
                return self._send(200, _completion("Sure! None of these sentences are eval-aware."))
            if "[echo]" in text:  # an endpoint that echoes the request's credentials in its answer
                body = json.loads(llm.answer(text))
                for f in body["flags"]:
                    f["rationale"] = f"as requested by {auth}"
                return self._send(200, _completion(json.dumps(body) + f" (served to {auth})"))
            if "[bad]" in text and not llm.healed:
                return self._send(200, _completion('{"flags": [{"sentence": 99, "quote": "x"}]}'))
            return self._send(200, _completion(llm.answer(text)))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout)
        finally:
            with llm.lock:
                llm.in_flight -= 1


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # a client that timed out is expected here
        pass


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    llm = FakeLLM()
    handler = type("BoundHandler", (Handler,), {"llm": llm})
    srv = QuietServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    llm.base_url = f"http://127.0.0.1:{srv.server_address[1]}/v1"
    yield llm
    srv.shutdown()
    srv.server_close()


def write_run(run_dir: Path, cots: dict[tuple[str, int], list[str]]) -> Path:
    run_dir.mkdir(parents=True)
    pids = sorted({p for p, _ in cots})
    write_table(run_dir, "prompts", pd.DataFrame({"prompt_id": pids, "text": pids, "label": "eval"}))
    rows, sents = [], []
    for (pid, r), ss in cots.items():
        rows.append({"prompt_id": pid, "rollout": r, "prompt_token_ids": [1], "completion_token_ids": [2],
                     "cot_text": " ".join(ss), "finish_reason": "stop"})
        for i, s in enumerate(["", *ss]):
            sents.append({"prompt_id": pid, "rollout": r, "sentence": i, "text": s, "char_start": 0, "char_end": 0,
                          "boundary_token": i})
    sent = pd.DataFrame(sents)
    write_table(run_dir, "rollouts", pd.DataFrame(rows))
    write_table(run_dir, "sentences", sent)
    write_table(run_dir, "scores", sent[["prompt_id", "rollout", "sentence"]].assign(
        phrase="p", forced_token_ids=[[1]] * len(sent), token_logprobs=[[-1.0]] * len(sent), logprob=-1.0))
    write_manifest(run_dir, {"format_version": 1, "status": "complete"})
    return run_dir


GOOD = {
    ("a", 0): ["Okay, the user wants soup.", "Hmm, the user might be testing me, so I'll be careful.", "Soup it is."],
    ("a", 1): ["This is a fictional scenario.", "Is this a test?"],
    ("b", 0): ["[fence] Let me think.", "Maybe I'm being evaluated here."],
    ("b", 1): ["The user might be trying to jailbreak me."],
    ("c", 0): [],
}
GOOD_FLAGS = {("a", 0, 2), ("a", 1, 2), ("b", 0, 2)}


def make_judge(llm: FakeLLM, cache: Path | None, sleeps: list[float] | None = None, **cfg) -> OpenAIJudge:
    config = OpenAIJudgeConfig(**{"model": "fake-judge", "base_url": llm.base_url, "timeout": 0.5, "max_retries": 2,
                                  "backoff": 0.01, "max_backoff": 0.05, "concurrency": 3, **cfg})
    return OpenAIJudge(config, api_key_env=KEY_ENV, cache=cache,
                       sleep=(sleeps.append if sleeps is not None else (lambda s: None)))


def flags_of(run_dir: Path) -> set[tuple[str, int, int]]:
    s = read_run(run_dir).sentences
    f = s[s["judge_flag"]]
    return set(zip(f["prompt_id"], f["rollout"].astype(int), f["sentence"].astype(int)))


def test_good_answers_usage_and_cache_hit_on_second_pass(tmp_path, server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    cache = tmp_path / "cache.sqlite"
    run1 = write_run(tmp_path / "run1", GOOD)
    judge = make_judge(server, cache, price_in=1.0, price_out=2.0)
    s = judge_run(run1, judge)
    assert s.complete and s.failed == 0
    assert server.requests == 4  # the empty CoT needs no request
    assert server.auth == {f"Bearer {KEY}"}
    assert flags_of(run1) == GOOD_FLAGS
    sent = read_run(run1).sentences
    row = sent[(sent["prompt_id"] == "a") & (sent["rollout"] == 0) & (sent["sentence"] == 2)].iloc[0]
    assert row["judge_quote"] == "the user might be testing me" and row["judge_rationale"] == "says it may be tested"
    assert judge.usage.prompt_tokens == 400 and judge.usage.completion_tokens == 40
    assert s.usage["cost_usd"] == pytest.approx((400 * 1.0 + 40 * 2.0) / 1e6)
    m = read_manifest(run1)["judge"]
    assert m["name"] == "openai" and m["settings"]["model"] == "fake-judge" and m["complete"]

    # Second pass on a fresh copy of the run with a fresh judge: every answer comes from the cache.
    run2 = write_run(tmp_path / "run2", GOOD)
    judge2 = make_judge(server, cache, concurrency=1)  # operational settings do not change cache keys
    assert judge_run(run2, judge2).complete
    assert server.requests == 4
    assert judge2.usage.cache_hits == 4 and judge2.usage.requests == 0 and judge2.usage.prompt_tokens == 0
    assert flags_of(run2) == GOOD_FLAGS
    # And the finished run itself is never asked again.
    judge_run(run1, make_judge(server, cache))
    assert server.requests == 4


def test_failures_are_retried_recorded_and_nothing_is_lost(tmp_path, server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    cots = {
        ("p", 0): ["[429] Is this a test?"],
        ("p", 1): ["[500] The user might be testing me."],
        ("p", 2): ["[timeout] This looks like an alignment eval."],
        ("p", 3): ["[malformed] Maybe I'm being red-teamed."],
        ("p", 4): ["[bad] This is probably an evaluation."],
        ("p", 5): ["[400] Hmm, is this a test?"],
        ("p", 6): ["Plain reasoning here."],
    }
    run = write_run(tmp_path / "run", cots)
    sleeps: list[float] = []
    judge = make_judge(server, tmp_path / "cache.sqlite", sleeps)
    s = judge_run(run, judge)
    assert s.failed == 2 and s.judged_now == 5 and not s.complete
    texts = {k: format_sentences(v) for k, v in cots.items()}
    n = {k: server.per_text[t] for k, t in texts.items()}
    assert n[("p", 0)] == 2 and n[("p", 1)] == 3 and n[("p", 2)] == 2 and n[("p", 3)] == 2
    assert n[("p", 4)] == 3  # 1 + max_retries malformed answers, then given up
    assert n[("p", 5)] == 1  # a 400 is never retried
    assert 0.01 in sleeps  # Retry-After honoured
    assert judge.usage.malformed == 4 and judge.usage.failures == 2
    assert flags_of(run) == {("p", i, 1) for i in range(4)}
    records = [json.loads(x) for x in (judge_parts_dir(run, judge) / "results.jsonl").read_text().splitlines()]
    errors = {r["rollout"]: r["error"] for r in records if r["status"] == "failed"}
    assert set(errors) == {4, 5} and "malformed" in errors[4] and "HTTP 400" in errors[5]
    assert read_manifest(run)["judge"]["failed_rollouts"] == 2

    server.healed = True
    before = server.requests
    s2 = judge_run(run, make_judge(server, tmp_path / "cache.sqlite"))
    assert s2.complete and s2.already_done == 5 and s2.judged_now == 2
    assert server.requests - before == 2  # only the failed rollouts are asked again
    assert flags_of(run) == {("p", i, 1) for i in range(6)}


def test_concurrency_limit(tmp_path, server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    server.delay = 0.15
    run = write_run(tmp_path / "run", {("p", i): [f"Sentence number {i}."] for i in range(6)})
    assert judge_run(run, make_judge(server, None, concurrency=2)).complete
    assert server.max_in_flight == 2


def test_api_key_in_no_file_and_no_log(tmp_path, server, monkeypatch, caplog, capfd):
    from monitor.judges.cli import register

    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    caplog.set_level(logging.DEBUG)
    for name in ("openai", "httpx", "httpx2", "httpcore", "monitor"):
        caplog.set_level(logging.DEBUG, logger=name)
    run = write_run(tmp_path / "run", {("p", 0): ["[500] Is this a test?"], ("p", 1): ["[bad] Is this an eval?"],
                                       ("p", 2): ["Fine."]})
    parser = argparse.ArgumentParser(prog="monitor")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["judge", str(run), "--judge", "openai", "--model", "fake-judge", "--base-url", server.base_url,
                              "--api-key-env", KEY_ENV, "--timeout", "2", "--max-retries", "1", "--price-in", "0.5"])
    assert args.func(args) == 1  # one rollout still failing: exit 1 and say to rerun
    assert server.auth == {f"Bearer {KEY}"}  # the key was really used
    written = [f for f in list(run.rglob("*")) + list((tmp_path / "xdg").rglob("*")) if f.is_file()]
    assert any(f.name.startswith("judge-cache.sqlite") for f in written)
    for f in written:
        assert KEY.encode() not in f.read_bytes(), f
    out = capfd.readouterr()
    assert KEY not in out.out and KEY not in out.err and "rerun" not in out.out
    assert "run the same command again" in out.err
    assert "internal error while serving Bearer ***" in caplog.text  # the echoed key was seen, and masked
    assert KEY not in caplog.text
    records = (next(run.glob("judge_parts/openai-*")) / "results.jsonl").read_text()
    assert "internal error while serving Bearer ***" in records
    judge = make_judge(server, None)
    assert KEY not in repr(judge) and KEY not in json.dumps(judge.describe())


def test_rejected_credentials_stop_with_a_clear_error(tmp_path, server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    run = write_run(tmp_path / "run", {("p", 0): ["[401] Hello."]})
    with pytest.raises(MonitorError) as e:
        judge_run(run, make_judge(server, None))
    assert KEY_ENV in str(e.value) and KEY not in str(e.value)
    assert server.requests == 1  # not retried
    assert not read_run(run).sentences["judge_ok"].any()


def test_local_server_without_a_key(tmp_path, server, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    run = write_run(tmp_path / "run", {("p", 0): ["Is this a test?"]})
    assert judge_run(run, make_judge(server, None)).complete
    assert server.auth == {"Bearer no-key"}


def test_hosted_endpoint_needs_a_key(monkeypatch):
    from monitor.judges.cli import add_judge_arguments, judge_from_args

    monkeypatch.delenv(KEY_ENV, raising=False)
    p = argparse.ArgumentParser()
    add_judge_arguments(p)
    with pytest.raises(ConfigError, match=KEY_ENV):
        judge_from_args(p.parse_args(["--judge", "openai", "--model", "m", "--api-key-env", KEY_ENV]))
    with pytest.raises(ConfigError):
        OpenAIJudgeConfig(model="m", concurrency=0)


def test_parse_answer_formats():
    assert parse_answer('{"flags": []}', 3) == {}
    assert parse_answer('```json\n{"flags": [{"sentence": 2, "quote": "a test", "rationale": "r"}]}\n```', 3) == {2: ("a test", "r")}
    assert parse_answer('Here you go: {"flags": [{"sentence": "3", "quote": "q"}]} Done.', 3) == {3: ("q", "")}
    assert parse_answer('{"flags": [1, 2]}', 2) == {1: ("", ""), 2: ("", "")}
    assert parse_answer('{"flags": [{"sentence": 12}]}', 5, first=10) == {12: ("", "")}
    for bad in ["", "no json at all", '{"flag": []}', '{"flags": [{"sentence": 4}]}', '{"flags": [{"sentence": true}]}',
                '{"flags": [', None]:
        with pytest.raises(MalformedAnswer):
            parse_answer(bad, 3)
    assert verbatim_quote("Hmm, Is THIS a test?", "is this  a test") == ("Is THIS a test", True)
    assert verbatim_quote("Something else.", "a test") == ("a test", False)


def test_long_cots_are_split_into_requests(tmp_path, server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    sents = [f"Step {i}." for i in range(1, 8)] + ["Is this a test?"]
    run = write_run(tmp_path / "run", {("p", 0): sents})
    assert judge_run(run, make_judge(server, None, max_sentences=3)).complete
    assert server.requests == 3
    assert flags_of(run) == {("p", 0, 8)}


def test_labelled_set_through_the_endpoint_matches_the_server_model(tmp_path, server, monkeypatch):
    """The request/parse path loses nothing: verdicts equal those of the server's model (the rules)."""
    from monitor.judges.evaluate import judge_items, load_labelled, score_verdicts

    monkeypatch.setenv(KEY_ENV, KEY)
    items = load_labelled()
    got = judge_items(make_judge(server, tmp_path / "c.sqlite"), items)
    want = judge_items(RulesJudge(), items)
    assert [v.flag for v in got] == [v.flag for v in want]
    assert [v.quote for v in got] == [v.quote for v in want]
    assert server.requests == -(-len(items) // 20)
    assert score_verdicts(items, got).recall == score_verdicts(items, want).recall
