"""Matched pairs: which member is positive, within-pair difference and win rate by hand, coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from monitor.analysis.pairs import has_pairs, pair_members, paired_analysis, paired_comparison
from monitor.runs.handmade import make_run_from_tables
from monitor.runs.store import read_run

PROMPTS = pd.DataFrame({
    "prompt_id": ["xe", "xd", "ye", "yd", "ze", "zd", "we", "fa", "fb"],
    "label": ["eval", "deploy", "eval", "deploy", "eval", "deploy", "eval", "eval", "eval"],
    "pair_id": ["x", "x", "y", "y", "z", "z", "w", "f", "f"],
    "variant": [None] * 7 + ["adversarial", "benign"],
})


def test_pair_members_by_label_then_by_variant():
    m = pair_members(PROMPTS)
    assert m.set_index("prompt_id")["positive"].to_dict() == {
        "xe": True, "xd": False, "ye": True, "yd": False, "ze": True, "zd": False, "fa": True, "fb": False}
    assert set(m.loc[m["pair_id"] == "f", "by"]) == {"variant"} and set(m.loc[m["pair_id"] == "x", "by"]) == {"label"}
    assert "we" not in set(m["prompt_id"])  # a pair of one


def test_paired_comparison_by_hand():
    m = pair_members(PROMPTS[PROMPTS["pair_id"] != "f"])
    scores = pd.Series({"xe": 2.0, "xd": 1.0, "ye": 0.5, "yd": 1.5, "ze": 3.0, "zd": 0.0, "we": 9.0})
    out = paired_comparison(m, scores, n_boot=200)
    assert out["n_pairs"] == 3
    assert out["mean_difference"]["estimate"] == pytest.approx((1 - 1 + 3) / 3)
    assert out["win_rate"]["estimate"] == pytest.approx(2 / 3)
    # pooled: positives 2, .5, 3 against negatives 1, 1.5, 0: 3 + 1 + 3 wins of 9
    assert out["auroc_pooled"]["auroc"] == pytest.approx(7 / 9)
    assert out["mean_difference"]["lo"] <= 1.0 <= out["mean_difference"]["hi"]


def test_ties_count_half_and_missing_scores_drop_the_pair():
    m = pair_members(PROMPTS[PROMPTS["pair_id"].isin(["x", "y"])])
    out = paired_comparison(m, pd.Series({"xe": 1.0, "xd": 1.0, "ye": 2.0}), n_boot=0)
    assert out["n_pairs"] == 1 and out["win_rate"]["estimate"] == 0.5 and out["mean_difference"]["estimate"] == 0.0


def test_run_level_paired_analysis(tmp_path):
    scores = pd.DataFrame([(p, 0, 0, "P", v) for p, v in {"xe": 2.0, "xd": 1.0, "ye": 0.5, "yd": 1.5, "ze": 3.0,
                                                          "zd": 0.0, "we": 9.0, "fa": 1.0, "fb": 0.0}.items()],
                          columns=["prompt_id", "rollout", "sentence", "phrase", "logprob"])
    make_run_from_tables(tmp_path / "r", PROMPTS, scores, manifest={"phrases": ["P"]})
    run = read_run(tmp_path / "r")
    assert has_pairs(run)
    out = paired_analysis(run, "P", n_boot=100)
    assert out["n_pairs"] == 4 and out["by"] == ["label", "variant"]
    assert out["win_rate"]["estimate"] == pytest.approx(3 / 4)


@pytest.mark.slow
def test_pair_interval_coverage():
    """Pairs with positive = 0.8 + e1, negative = e2 (unit normals): mean difference 0.8, win rate
    Phi(0.8 / sqrt 2) = 0.7142. 400 data sets of 60 pairs; accept 0.917..0.983 for each (+- 3 SD)."""
    rng = np.random.default_rng(3)
    n, reps = 60, 400
    pid = np.repeat(np.arange(n).astype(str), 2)
    members = pd.DataFrame({"prompt_id": [f"{p}-{k}" for p, k in zip(pid, [0, 1] * n)], "pair_id": pid,
                            "positive": [True, False] * n, "by": "label"})
    cov = {"mean_difference": 0, "win_rate": 0}
    truth = {"mean_difference": 0.8, "win_rate": norm.cdf(0.8 / np.sqrt(2))}
    for i in range(reps):
        s = rng.normal(size=2 * n) + np.tile([0.8, 0.0], n)
        out = paired_comparison(members, pd.Series(s, index=members["prompt_id"]), n_boot=500, seed=i)
        for k in cov:
            cov[k] += out[k]["lo"] <= truth[k] <= out[k]["hi"]
    for k, c in cov.items():
        assert 0.917 <= c / reps <= 0.983, (k, c / reps)
