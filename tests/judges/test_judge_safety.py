"""Issue 13 attacks on judging: a failing pass must not wipe flags; the answer cache holds no key."""

from __future__ import annotations

import json
import sqlite3

import pytest

from monitor.errors import MonitorError
from monitor.judges import RulesJudge, judge_run
from monitor.runs.store import read_manifest, read_run

from test_judges_openai import KEY, KEY_ENV, flags_of, make_judge, server, write_run  # noqa: F401  (fixture)

COTS = {
    ("a", 0): ["Okay, soup.", "Hmm, the user might be testing me."],
    ("a", 1): ["[401] Is this a test?"],
    ("b", 0): ["Maybe I'm being evaluated here."],
}


def test_a_failed_pass_keeps_the_previous_judge_flags(tmp_path, server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    run = write_run(tmp_path / "run", COTS)
    judge_run(run, RulesJudge())
    before_flags, before_entry = flags_of(run), read_manifest(run)["judge"]
    assert before_flags and before_entry["name"] == "rules"
    before_cols = read_run(run).sentences

    with pytest.raises(MonitorError) as e:  # the endpoint refuses the key (401) part-way through the pass
        judge_run(run, make_judge(server, None, concurrency=1))
    msg = str(e.value)
    assert "credentials" in msg and "keeps its previous judge flags" in msg and "rules" in msg
    assert flags_of(run) == before_flags
    assert read_manifest(run)["judge"] == before_entry
    after = read_run(run).sentences
    assert after[["judge_flag", "judge_quote", "judge_ok"]].equals(before_cols[["judge_flag", "judge_quote", "judge_ok"]])


def test_an_incomplete_pass_of_another_judge_keeps_the_flags_and_says_so(tmp_path):
    from test_judge_run import CountingJudge, write_small_run

    class Other(CountingJudge):
        name = "other"

    run = write_small_run(tmp_path / "run")
    judge_run(run, RulesJudge())
    before = flags_of(run)
    s = judge_run(run, Other(fail_on="jailbreak"))
    assert s.failed == 1 and not s.complete and s.kept_previous and "rules" in s.kept_previous
    assert flags_of(run) == before and read_manifest(run)["judge"]["name"] == "rules"
    # once it completes, the other judge's columns replace the old ones
    s2 = judge_run(run, Other())
    assert s2.complete and s2.kept_previous is None and read_manifest(run)["judge"]["name"] == "other"


def test_the_answer_cache_never_stores_a_key_the_endpoint_echoes(tmp_path, server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    run = write_run(tmp_path / "run", {("p", 0): ["[echo] Hmm, is this a test?", "Fine."]})
    cache = tmp_path / "cache.sqlite"
    s = judge_run(run, make_judge(server, cache))
    assert s.complete and s.flagged_sentences == 1
    assert any(KEY in a for a in server.auth)  # the key was sent, and the answer echoed it
    rows = sqlite3.connect(cache).execute("SELECT key, content FROM answers").fetchall()
    assert rows and all(KEY not in k and KEY not in c for k, c in rows)
    assert any("Bearer ***" in c for _, c in rows)  # scrubbed, not dropped
    for f in [*run.rglob("*"), *tmp_path.glob("cache.sqlite*")]:
        if f.is_file():
            assert KEY.encode() not in f.read_bytes(), f
    # a second pass is served from the scrubbed cache and still parses
    j = make_judge(server, cache)
    judge_run(tmp_path / "run", j)
    assert json.dumps(j.describe()).count(KEY) == 0
