"""Prompt-score methods, joint phrases, the verbalization monitor and tasks on the hand-checkable
example in monitor.runs.synthetic (values listed there; expected numbers below worked out by hand)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.analysis import (
    auroc,
    joint_prompt_scores,
    prompt_scores,
    rollout_curve,
    task_labels,
    verbalization_scores,
)
from monitor.errors import InputError, RunFormatError
from monitor.runs.store import read_run
from monitor.runs.handmade import make_tiny_run

ORDER = ["a", "b", "e", "c", "d"]  # prompt table order


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return read_run(make_tiny_run(tmp_path_factory.mktemp("tiny") / "run"))


@pytest.fixture(scope="module")
def run_nojudge(tmp_path_factory):
    return read_run(make_tiny_run(tmp_path_factory.mktemp("tiny") / "nj", with_judge=False))


@pytest.mark.parametrize("method, expected", [
    ("max", [-2, -1, -7, -4, -3.5]),
    ("mean_rollout_max", [-2.5, -3.5, -7.25, -5.5, -3.75]),
    ("k0", [-5, -6, -8, -7, -4]),
    ("first_n", [-3, -1, -7, -4, -3.5]),  # first_n=1: boundaries 0 and 1
])
def test_prompt_score_methods(run, method, expected):
    ps = prompt_scores(run, "P", method=method, first_n=1)
    assert list(ps.columns) == ["prompt_id", "label", "score", "n_rollouts"]
    assert ps["prompt_id"].tolist() == ORDER
    assert ps["label"].tolist() == ["eval", "eval", "eval", "deploy", "deploy"]
    np.testing.assert_allclose(ps["score"], expected)
    assert (ps["n_rollouts"] == 2).all()


def test_first_n_zero_is_k0(run):
    a = prompt_scores(run, "P", method="first_n", first_n=0)["score"]
    b = prompt_scores(run, "P", method="k0")["score"]
    np.testing.assert_allclose(a, b)


def test_rollout_subset(run):
    ps = prompt_scores(run, "P", rollouts=[1])
    np.testing.assert_allclose(ps["score"], [-2, -1, -7.5, -7, -3.5])
    assert (ps["n_rollouts"] == 1).all()


def test_joint_scores(run):
    mx = joint_prompt_scores(run, ["P", "Q"], how="max")
    np.testing.assert_allclose(mx["score"], [-1, -1, -7, -4, -3.5])  # Q = -1 at a r0 s2
    lse = joint_prompt_scores(run, ["P", "Q"], how="logsumexp")
    shift = math.log1p(math.exp(-1))  # log(e^P + e^(P-1)) = P + log(1 + 1/e)
    a = math.log(math.exp(-4) + math.exp(-1))  # a r0 s2: P=-4, Q=-1
    np.testing.assert_allclose(lse["score"], [a, -1 + shift, -7 + shift, -4 + shift, -3.5 + shift])
    with pytest.raises(InputError, match="logsumexp"):
        joint_prompt_scores(run, ["P", "Q"], how="mean")


def test_unknown_phrase_and_method(run):
    with pytest.raises(InputError, match="not scored"):
        prompt_scores(run, "nope")
    with pytest.raises(InputError, match="method"):
        prompt_scores(run, "P", method="median")


def test_verbalization_scores(run, run_nojudge):
    v = verbalization_scores(run)
    assert v["prompt_id"].tolist() == ORDER
    np.testing.assert_allclose(v["frac_verbalizing"], [0.5, 0.5, 0, 0, 0.5])
    assert v["ever_verbalizes"].tolist() == [True, True, False, False, True]
    with pytest.raises(RunFormatError, match="monitor judge"):
        verbalization_scores(run_nojudge)


def test_tasks(run, run_nojudge):
    a = task_labels(run, "eval_vs_deploy")
    assert a.to_dict() == {"a": True, "b": True, "e": True, "c": False, "d": False}
    b = task_labels(run, "verbalizing_eval")
    assert b.to_dict() == {"a": True, "b": True, "e": False}
    with pytest.raises(RunFormatError):
        task_labels(run_nojudge, "verbalizing_eval")
    with pytest.raises(InputError):
        task_labels(run, "other")


def test_headline_aurocs_by_hand(run):
    y = task_labels(run, "eval_vs_deploy")
    s = prompt_scores(run, "P").set_index("prompt_id")["score"].reindex(y.index)
    assert auroc(y, s) == pytest.approx(4 / 6)  # eval {-2,-1,-7} vs deploy {-4,-3.5}
    v = verbalization_scores(run).set_index("prompt_id")["frac_verbalizing"].reindex(y.index)
    assert auroc(y, v) == pytest.approx(3.5 / 6)


def test_rollout_curve(run):
    c = rollout_curve(run, "a", 1)
    assert list(c.columns)[:10] == ["sentence", "text", "phrase", "logprob", "prob", "token_logprobs",
                                     "forced_token_ids", "boundary_token", "alignment", "judge_flag"]
    assert c["sentence"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert c["phrase"].tolist() == ["P", "Q"] * 4
    np.testing.assert_allclose(c.loc[c["phrase"] == "P", "logprob"], [-5, -6, -2, -7])
    np.testing.assert_allclose(c["prob"], np.exp(c["logprob"]))
    assert c.loc[c["sentence"] == 2, "judge_flag"].all() and c["judge_flag"].sum() == 2
    assert c.loc[c["sentence"] == 0, "text"].tolist() == ["", ""]
    with pytest.raises(InputError):
        rollout_curve(run, "a", 7)


def test_rollout_curve_without_judge(run_nojudge):
    c = rollout_curve(run_nojudge, "a", 0)
    assert not c["judge_flag"].any()


def test_failed_judging_is_unknown_not_negative(tmp_path):
    """Rollouts whose judging failed (judge_ok False) are left out of the verbalization monitor."""
    import pandas as pd

    from monitor.runs.handmade import TINY_FLAGS, TINY_LABELS, TINY_P, make_run_from_tables

    rows = [(p, r, s, "P", float(v)) for (p, r), vals in TINY_P.items() for s, v in enumerate(vals)]
    scores = pd.DataFrame(rows, columns=["prompt_id", "rollout", "sentence", "phrase", "logprob"])
    keys = scores[["prompt_id", "rollout", "sentence"]]
    sentences = keys.assign(judge_flag=[(p, r, s) in TINY_FLAGS for p, r, s in keys.itertuples(index=False)],
                            judge_ok=[(p, r) != ("a", 1) for p, r, _ in keys.itertuples(index=False)])
    run = read_run(make_run_from_tables(tmp_path / "r", pd.DataFrame({"prompt_id": list(TINY_LABELS), "label": list(TINY_LABELS.values())}),
                                        scores, sentences=sentences))
    v = verbalization_scores(run).set_index("prompt_id")
    assert v.loc["a", "n_rollouts"] == 1 and v.loc["a", "frac_verbalizing"] == 0.0
    assert v.loc["b", "n_rollouts"] == 2 and v.loc["b", "frac_verbalizing"] == 0.5
    assert task_labels(run, "verbalizing_eval").to_dict() == {"a": False, "b": True, "e": False}
