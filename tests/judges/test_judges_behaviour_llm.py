"""The LLM behaviour judges: the openai one against a loopback server this test starts, the hf one on
a tiny random Qwen3 (no download). Resumability, a 401 keeping the previous labels, no key in the cache.

The server's "model" labels a final answer with the rules behaviour judge; markers in the answer
script failures: ``[500]`` (twice, echoing the Authorization header), ``[malformed]`` (once),
``[401]`` (always), ``[echo]`` (a good answer whose rationale echoes the Authorization header).
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

from monitor.cli import main
from monitor.judges.base import JudgeError
from monitor.judges.behaviour import RulesBehaviourJudge, behaviour_parts_dir, judge_behaviour_run
from monitor.judges.behaviour_llm import (BEHAVIOUR_RUBRIC, HFBehaviourJudge, OpenAIBehaviourJudge, format_exchange,
                                          parse_behaviour)
from monitor.judges.openai_api import OpenAIJudgeConfig
from monitor.judges.rubric import MalformedAnswer
from monitor.runs.handmade import make_run_from_tables
from monitor.runs.store import read_manifest, read_run, write_table

KEY = "sk-test-BEHAVIOUR-SECRET-91c2e4"
KEY_ENV = "MONITOR_TEST_BEHAVIOUR_KEY"


class Handler(BaseHTTPRequestHandler):
    state: dict

    def log_message(self, *args):
        pass

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        st = self.state
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert req["messages"][0]["content"] == BEHAVIOUR_RUBRIC
        text = req["messages"][-1]["content"]
        auth = self.headers.get("Authorization", "")
        with st["lock"]:
            st["requests"] += 1
            st["per_text"][text] += 1
            attempt = st["per_text"][text]
        if "[401]" in text:
            return self._send(401, {"error": {"message": f"bad key {auth}"}})
        if "[500]" in text and attempt <= 2:
            return self._send(500, {"error": {"message": f"internal error serving {auth}"}})
        if "[malformed]" in text and attempt == 1:
            content = "It refused, I think."
        else:
            answer = re.search(r"Final answer:\n<<<\n(.*)\n>>>", text, re.S).group(1)
            label = RulesBehaviourJudge().classify("", answer).label
            why = f"as requested by {auth}" if "[echo]" in text else "by the rules"
            content = json.dumps({"label": label, "rationale": why})
        self._send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": "fake",
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                      "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 50, "completion_tokens": 5, "total_tokens": 55}})


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv(KEY_ENV, KEY)
    state = {"lock": threading.Lock(), "requests": 0, "per_text": Counter()}
    srv = QuietServer(("127.0.0.1", 0), type("H", (Handler,), {"state": state}))
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    state["base_url"] = f"http://127.0.0.1:{srv.server_address[1]}/v1"
    yield state
    srv.shutdown()
    srv.server_close()


ANSWERS = {("a", 0): "I can't help with that.", ("a", 1): "Sure: step one, then step two. [500]",
           ("b", 0): "In general terms only: it is risky. [malformed]", ("b", 1): "Fine, here it is. [echo]"}
EXPECTED = {("a", 0): "refused", ("a", 1): "complied", ("b", 0): "partial", ("b", 1): "complied"}


def make_run(tmp_path, answers=ANSWERS):
    d = tmp_path / "run"
    scores = pd.DataFrame([(p, r, 0, "P", -1.0) for p, r in answers], columns=["prompt_id", "rollout", "sentence", "phrase", "logprob"])
    pids = sorted({p for p, _ in answers})
    make_run_from_tables(d, pd.DataFrame({"prompt_id": pids, "label": ["eval"] * len(pids)}), scores,
                         manifest={"phrases": ["P"], "chat": {"think_close": "</think>"}})
    ro = read_run(d).rollouts
    ro["completion_text"] = [f"<think>\nx\n</think>\n\n{answers[(p, r)]}" for p, r in zip(ro["prompt_id"], ro["rollout"])]
    ro["cot_char_start"], ro["cot_char_end"], ro["cot_truncated"] = 8, 9, False
    write_table(d, "rollouts", ro)
    return d


def make_judge(server, cache, **cfg):
    config = OpenAIJudgeConfig(**{"model": "fake-judge", "base_url": server["base_url"], "timeout": 5, "max_retries": 2,
                                  "backoff": 0.0, "max_backoff": 0.0, "concurrency": 3, **cfg})
    return OpenAIBehaviourJudge(config, api_key_env=KEY_ENV, cache=cache, sleep=lambda s: None)


def labels(d):
    ro = read_run(d).rollouts
    return {(p, int(r)): lab for p, r, lab in zip(ro["prompt_id"], ro["rollout"], ro["behaviour"])}


def test_parse_behaviour():
    v = parse_behaviour('```json\n{"label": "Partial", "rationale": "hedged"}\n```')
    assert (v.label, v.rationale) == ("partial", "hedged")
    for bad in ("", "refused", '{"label": "maybe"}', '{"rationale": "x"}'):
        with pytest.raises(MalformedAnswer):
            parse_behaviour(bad)
    assert "Request:\n<<<\nq\n>>>" in format_exchange(" q ", "a")


def test_openai_labels_retries_and_cache_without_key(tmp_path, server):
    d = make_run(tmp_path)
    cache = tmp_path / "cache.sqlite"
    j = make_judge(server, cache)
    s = judge_behaviour_run(d, j)
    assert (s.judged_now, s.failed) == (4, 0)
    assert labels(d) == EXPECTED
    assert j.usage.retries == 3 and j.usage.malformed == 1  # two 500s and one malformed answer, retried
    m = read_manifest(d)["behaviour_judge"]
    assert m["name"] == "openai" and m["complete"] and m["counts"] == {"complied": 2, "refused": 1, "partial": 1}
    # The key never lands anywhere: the cache, the results, the manifest, the rollouts table.
    stored = "".join(row[0] for row in sqlite3.connect(cache).execute("SELECT content FROM answers"))
    assert "as requested by Bearer ***" in stored and KEY not in stored
    for f in d.rglob("*"):
        if f.is_file():
            assert KEY.encode() not in f.read_bytes(), f
    # A second run with the same answers is answered from the cache: no request.
    before = server["requests"]
    d2 = make_run(tmp_path / "again")
    s2 = judge_behaviour_run(d2, make_judge(server, cache))
    assert server["requests"] == before and s2.usage["cache_hits"] == 4 and labels(d2) == EXPECTED


def test_openai_resumes_without_asking_again(tmp_path, server):
    d = make_run(tmp_path)
    j = make_judge(server, None, concurrency=1)
    s = judge_behaviour_run(d, j, should_stop=lambda: True)  # stopped after the first rollout
    assert s.judged_now == 1 and read_run(d).rollouts["behaviour_ok"].sum() == 1
    ro = read_run(d).rollouts
    first = ro[ro["behaviour_ok"]].iloc[0]
    answer = ANSWERS[(first["prompt_id"], int(first["rollout"]))]
    asked = [t for t in server["per_text"] if answer in t]
    n = server["per_text"][asked[0]]
    s2 = judge_behaviour_run(d, make_judge(server, None))
    assert (s2.already_done, s2.judged_now, s2.failed) == (1, 3, 0) and labels(d) == EXPECTED
    assert len(asked) == 1 and server["per_text"][asked[0]] == n  # the rollout judged first was not asked again


def test_401_keeps_previous_labels(tmp_path, server):
    answers = {**ANSWERS, ("b", 1): "Fine. [401]"}
    d = make_run(tmp_path, answers)
    judge_behaviour_run(d, RulesBehaviourJudge())
    before = read_run(d).rollouts[["behaviour", "behaviour_ok"]].copy()
    with pytest.raises(JudgeError, match="keeps its previous behaviour labels") as e:
        judge_behaviour_run(d, make_judge(server, None, concurrency=1))
    assert KEY not in str(e.value)
    pd.testing.assert_frame_equal(read_run(d).rollouts[["behaviour", "behaviour_ok"]], before)
    assert read_manifest(d)["behaviour_judge"]["name"] == "rules"
    # Through the CLI: one line, exit 2, no traceback, no key.
    assert main(["judge", str(d), "--kind", "behaviour", "--judge", "openai", "--model", "fake-judge",
                 "--base-url", server["base_url"], "--api-key-env", KEY_ENV, "--no-cache"]) == 2
    pd.testing.assert_frame_equal(read_run(d).rollouts[["behaviour", "behaviour_ok"]], before)


def test_cli_openai_behaviour(tmp_path, server, capsys):
    d = make_run(tmp_path)
    args = ["judge", str(d), "--kind", "behaviour", "--judge", "openai", "--model", "fake-judge",
            "--base-url", server["base_url"], "--api-key-env", KEY_ENV, "--cache", str(tmp_path / "c.sqlite"),
            "--max-retries", "2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "4 rollouts judged now" in out and "usage:" in out and labels(d) == EXPECTED
    assert main(["judge", str(d), "--kind", "behaviour", "--judge", "hf"]) == 2
    assert "needs --model" in capsys.readouterr().err


@pytest.fixture(scope="module")
def hf_judge(tokenizer):
    from conftest import tiny_model

    return HFBehaviourJudge(tiny_model(vocab_size=len(tokenizer), seed=2), tokenizer, model_info={"id": "tiny-random-qwen3"})


def test_hf_label_is_argmax_of_label_logits(hf_judge, tokenizer):
    import torch

    v = hf_judge.classify("How do I do it?", "I can't help with that.")
    z = hf_judge.logits("How do I do it?", "I can't help with that.")
    assert v.label == ("refused", "partial", "complied")[int(torch.tensor(z).argmax())]
    assert "P(label" in v.rationale and len(set(hf_judge.label_ids)) == 3
    # The logits are those of the model's next token after the rendered prompt.
    ids = tokenizer(hf_judge.prompt_text("How do I do it?", "I can't help with that."), add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        full = hf_judge.model(input_ids=torch.tensor([ids])).logits[0, -1]
    assert torch.allclose(full[hf_judge.label_ids].float(), torch.tensor(z), atol=1e-4)
    assert hf_judge.classify("q", "  ").label == "no_answer"


def test_hf_behaviour_run_resumes(hf_judge, tmp_path):
    d = make_run(tmp_path)
    s = judge_behaviour_run(d, hf_judge, should_stop=lambda: True)
    assert s.judged_now == 1
    s2 = judge_behaviour_run(d, hf_judge)
    assert (s2.already_done, s2.judged_now, s2.failed) == (1, 3, 0)
    got = labels(d)
    assert set(got.values()) <= {"refused", "partial", "complied"} and read_run(d).rollouts["behaviour_ok"].all()
    assert read_manifest(d)["behaviour_judge"]["settings"]["model"] == {"id": "tiny-random-qwen3"}
    assert behaviour_parts_dir(d, hf_judge).name.startswith("hf-")
