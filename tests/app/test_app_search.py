"""Search page: CoT sentences across a run by text, judge flag, label and score range; links to Curves."""

from __future__ import annotations

from monitor.runs.store import read_run

from app_helpers import app_env, app_run, assert_clean, frame_with, open_page, texts  # noqa: F401  (fixtures)


def _results(at):
    return frame_with(at, "prompt_id", "label", "rollout", "sentence", "text", "judge_flag", "logprob")


def test_search_filters(app_env):
    run = read_run(app_env)
    n_all = int((run.sentences["sentence"] > 0).sum())
    at = open_page("search")
    assert f"of {n_all:,} sentences match" in texts(at)
    at.text_input(key="q").input("TEST").run()
    assert_clean(at)
    hits = _results(at)
    assert len(hits) and hits["text"].str.lower().str.contains("test").all()
    at.segmented_control(key="flag").set_value("flagged").run()
    assert _results(at)["judge_flag"].all()
    at.multiselect(key="labels").set_value(["eval"]).run()
    assert (_results(at)["label"] == "eval").all()
    at.number_input(key="lp_min").set_value(-5.0).run()
    res = _results(at)
    assert (res["logprob"] >= -5.0).all()
    assert res["logprob"].is_monotonic_decreasing  # highest score first


def test_permalinked_filters_and_drill_to_curves(app_env):
    at = open_page("search", query={"q": "test", "flag": "flagged"})
    assert at.text_input(key="q").value == "test" and at.segmented_control(key="flag").value == "flagged"
    res = _results(at)
    at.session_state["search_results"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert_clean(at)
    link = next(p.proto for p in at.get("page_link") if "on Curves" in p.proto.label)
    r = res.iloc[0]
    assert link.page == "curves" and link.query_string.startswith(
        f"prompt={r['prompt_id']}&rollout={int(r['rollout'])}&sentence={int(r['sentence'])}")


def test_empty_range_and_no_match_messages(app_env):
    at = open_page("search")
    at.number_input(key="lp_min").set_value(-1.0)
    at.number_input(key="lp_max").set_value(-3.0).run()
    assert not at.exception
    assert any("score range is empty" in e.value for e in at.error)
    at = open_page("search")
    at.text_input(key="q").input("zqxj no sentence says this").run()
    assert_clean(at)
    assert "**0** of" in texts(at)
