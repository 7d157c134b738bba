"""Scores & ROC page: prompt scores, drill-down, ROC of both monitors, AUROC vs k, controls, flagged sentences."""

from __future__ import annotations

import numpy as np
import pytest

from monitor import analysis
from monitor.runs.store import read_run

from app_helpers import class_sizes, app_env, app_run, assert_clean, charts, frame_with, open_page, texts  # noqa: F401  (fixtures)


def test_scores_roc_controls_and_flags(app_env):
    run = read_run(app_env)
    at = open_page("scores")
    # score distribution, ROC; plus the refusal-vs-score chart when the run has behaviour labels and the
    # within-pair difference when it has pairs
    assert len(charts(at)) == 2 + analysis.has_behaviour(run) + analysis.has_pairs(run)
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
    avk = [c for c in charts(at) if c.proto.id.endswith("-avk_chart")]  # the new chart, wherever it sits on the page
    assert len(avk) == 1 and "AUROC" in avk[0].proto.spec


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


@pytest.fixture()
def reviewer_run(app_run, tmp_path, monkeypatch):
    """A copy of the test run with behaviour labels and matched pairs (eval-i with deploy-i)."""
    import shutil

    from monitor.judges.behaviour import RulesBehaviourJudge, judge_behaviour_run
    from monitor.runs.store import write_table

    d = tmp_path / "rev"
    shutil.copytree(app_run, d)
    run = read_run(d)
    if "completion_text" in run.rollouts and run.rollouts["completion_text"].notna().all():
        judge_behaviour_run(d, RulesBehaviourJudge())
    else:  # a synthetic run has no answers: label them by hand
        ro = run.rollouts.assign(behaviour=np.where(run.rollouts["rollout"] % 2 == 0, "refused", "complied"), behaviour_ok=True)
        write_table(d, "rollouts", ro)
    p = run.prompts.copy()
    rank = p.groupby("label").cumcount()
    p["pair_id"] = np.where(p["label"].isin(["eval", "deploy"]), "pair-" + rank.astype(str), None)
    write_table(d, "prompts", p)
    monkeypatch.setenv("MONITOR_RUN", str(d))
    monkeypatch.setenv("MONITOR_RUNS_DIR", str(tmp_path / "runs"))
    return d


def test_reviewer_sections_restricted_pairs_refusals_low_fpr(reviewer_run):
    run = read_run(reviewer_run)
    at = open_page("scores")
    aurocs = frame_with(at, "monitor", "auroc", "TPR@1%FPR", "TPR@5%FPR")
    y = analysis.task_labels(run, "eval_vs_deploy")
    s = analysis.prompt_scores(run, run.phrases[0]).set_index("prompt_id")["score"].reindex(y.index)
    low = analysis.bootstrap_tpr_at_fpr(y.to_numpy(), s.to_numpy(), n_boot=0)
    assert aurocs.set_index("monitor").loc[f"logit: {run.phrases[0]}", "TPR@5%FPR"].startswith(f"{low[1]['tpr']:.2f}")
    want = analysis.restricted_auroc(run, run.phrases[0], n_boot=0)
    restricted = frame_with(at, "quantity", "estimate").set_index("quantity")
    assert restricted.loc["all rollouts", "estimate"] == pytest.approx(want["unrestricted"]["auroc"])
    assert restricted.loc["rollouts with no flagged sentence", "estimate"] == pytest.approx(want["restricted"]["auroc"])
    found = set()
    for el in at.dataframe:
        df = el.value
        if "quantity" in df.columns:
            found |= set(df["quantity"])
    assert "win rate (AUROC within pairs)" in found
    assert "refusal rate, verbalizing rollouts" in found
    assert "AUROC of the prompt's score for a rollout's refusal" in found
    assert any("Refusal rate" in c.proto.spec for c in charts(at))


def test_chart_downloads_follow_the_sidebar_format(app_env):
    import json

    at = open_page("scores")
    opts = [json.loads(c.proto.config)["toImageButtonOptions"] for c in charts(at)]
    assert opts and all(o["format"] == "png" and o["scale"] == 3 for o in opts)
    at.session_state["charts.export_format"] = "svg"
    at.run()
    assert_clean(at)
    opts = [json.loads(c.proto.config)["toImageButtonOptions"] for c in charts(at)]
    assert opts and all(o["format"] == "svg" and "scale" not in o for o in opts)
    assert {o["filename"] for o in opts} >= {"prompt-scores", "roc"}


def test_every_auroc_on_scores_shows_its_class_sizes(app_env):
    want = class_sizes(app_env)
    at = open_page("scores")
    assert set(frame_with(at, "monitor", "auroc", "n")["n"]) == {want}
    assert set(frame_with(at, "control", "auroc", "n")["n"]) == {want}
