"""Scores & ROC page: prompt scores, drill-down, ROC of both monitors, AUROC vs k, controls, flagged sentences."""

from __future__ import annotations

import numpy as np
import pytest

from monitor import analysis
from monitor.runs.store import read_run

from app_helpers import app_env, app_run, assert_clean, charts, frame_with, open_page, texts  # noqa: F401  (fixtures)


def test_scores_roc_controls_and_flags(app_env):
    run = read_run(app_env)
    at = open_page("scores")
    assert len(charts(at)) == 2  # score distribution, ROC
    table = frame_with(at, "prompt_id", "label", "score", "probability")
    want = analysis.prompt_scores(run, run.phrases[0])
    assert len(table) == len(want)
    assert table["score"].tolist() == sorted(want["score"].tolist(), reverse=True)  # sorted, highest first
    aurocs = frame_with(at, "monitor", "auroc", "lo", "hi")
    assert set(aurocs["monitor"]) == {f"logit: {run.phrases[0]}", "verbalization (judge)"}
    y = analysis.task_labels(run, "eval_vs_deploy")
    s = want.set_index("prompt_id")["score"].reindex(y.index)
    assert aurocs.set_index("monitor").loc[f"logit: {run.phrases[0]}", "auroc"] == pytest.approx(analysis.auroc(y, s))
    controls = frame_with(at, "control", "auroc")
    assert "prompt length alone (baseline)" in set(controls["control"])
    flagged = frame_with(at, "prompt_id", "judge_quote")
    assert len(flagged) == int(run.sentences["judge_flag"].sum())


def test_method_task_and_auroc_vs_k(app_env):
    at = open_page("scores", query={"method": "k0"})
    assert at.selectbox(key="method").value == "k0"
    assert at.number_input(key="first_n").disabled
    at.selectbox(key="method").select("first_n").run()
    assert_clean(at)
    assert not at.number_input(key="first_n").disabled
    at.number_input(key="first_n").set_value(2).run()
    assert_clean(at)
    at.selectbox(key="task").select("verbalizing_eval").run()
    assert_clean(at)
    assert set(frame_with(at, "monitor", "auroc")["monitor"]) == {f"logit: {read_run(app_env).phrases[0]}"}
    n = len(charts(at))
    at.toggle(key="avk").set_value(True).run()
    assert_clean(at)
    assert len(charts(at)) == n + 1
    assert "AUROC" in charts(at)[-1].proto.spec


def test_drill_into_a_prompt(app_env):
    run = read_run(app_env)
    at = open_page("scores")
    table = frame_with(at, "prompt_id", "label", "score", "probability")
    at.session_state["score_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert_clean(at)
    top = table["prompt_id"].iloc[0]
    assert f"**{top}**" in texts(at)
    rollouts = frame_with(at, "rollout", "max_logprob", "peak_sentence")
    assert len(rollouts) == int((run.rollouts["prompt_id"] == top).sum())
    assert np.isclose(rollouts["max_logprob"].max(), table["score"].iloc[0])  # max over rollouts = the prompt score
    link = next(p.proto for p in at.get("page_link") if "Curves" in p.proto.label)
    best = int(rollouts.sort_values("max_logprob", ascending=False)["rollout"].iloc[0])
    assert link.page == "curves" and link.query_string.startswith(f"prompt={top}&rollout={best}&")


def test_run_without_judge(app_env, tmp_path, monkeypatch):
    from monitor.runs.synthetic import make_synthetic_run

    d = make_synthetic_run(tmp_path / "nojudge", n_prompts=10, rollouts=2, sentences=(2, 5), with_judge=False)
    monkeypatch.setenv("MONITOR_RUN", str(d))
    at = open_page("scores")
    assert "no judge flags" in texts(at)
    assert at.selectbox(key="task").options == ["eval vs deploy prompts"]
