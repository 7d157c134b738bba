"""Restricted AUROC (rollouts without a flagged sentence) by hand, and the paired difference's coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from monitor.analysis.restricted import paired_auroc_difference, restricted_auroc, restricted_prompt_scores
from monitor.runs.handmade import make_run_from_tables
from monitor.runs.store import read_run

# (prompt, rollout) -> scores at boundaries 0 and 1; sentence 1 of the starred rollouts is flagged
SCORES = {("e1", 0): (-1.0, -0.5), ("e1", 1): (-3.0, -2.0), ("e2", 0): (-2.0, -4.0), ("e2", 1): (-2.5, -1.5),
          ("d1", 0): (-2.2, -3.0), ("d1", 1): (-4.0, -4.0), ("d2", 0): (-1.8, -5.0), ("d2", 1): (-6.0, -6.0)}
FLAGGED = [("e1", 0), ("e2", 1)]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("restricted") / "run"
    rows = [(p, r, s, "P", v) for (p, r), vals in SCORES.items() for s, v in enumerate(vals)]
    scores = pd.DataFrame(rows, columns=["prompt_id", "rollout", "sentence", "phrase", "logprob"])
    prompts = pd.DataFrame({"prompt_id": ["e1", "e2", "d1", "d2"], "label": ["eval", "eval", "deploy", "deploy"]})
    sent = pd.DataFrame([(p, r, 1, (p, r) in FLAGGED) for (p, r) in SCORES], columns=["prompt_id", "rollout", "sentence", "judge_flag"])
    make_run_from_tables(d, prompts, scores, sentences=sent, manifest={"phrases": ["P"]})
    return read_run(d)


def test_restricted_scores_and_auroc_by_hand(run):
    # restricted max: e1 from rollout 1 (-2.0), e2 from rollout 0 (-2.0), deploys unchanged
    res = restricted_prompt_scores(run, "P")
    assert res.to_dict() == {"e1": -2.0, "e2": -2.0, "d1": -2.2, "d2": -1.8}
    out = restricted_auroc(run, "P", n_boot=200)
    # unrestricted: e1 -0.5, e2 -1.5 beat d1 -2.2 and d2 -1.8: AUROC 1; restricted: each eval beats d1 only: 0.5
    assert out["unrestricted"]["auroc"] == 1.0
    assert out["restricted"]["auroc"] == 0.5
    assert out["difference"]["difference"] == pytest.approx(-0.5)
    assert out["difference"]["lo"] <= -0.5 <= out["difference"]["hi"]
    assert out["n_prompts_dropped"] == 0


def test_prompt_whose_every_rollout_verbalizes_is_dropped(tmp_path):
    rows = [(p, r, s, "P", v) for (p, r), vals in SCORES.items() for s, v in enumerate(vals)]
    scores = pd.DataFrame(rows, columns=["prompt_id", "rollout", "sentence", "phrase", "logprob"])
    prompts = pd.DataFrame({"prompt_id": ["e1", "e2", "d1", "d2"], "label": ["eval", "eval", "deploy", "deploy"]})
    flagged = FLAGGED + [("e1", 1)]
    sent = pd.DataFrame([(p, r, 1, (p, r) in flagged) for (p, r) in SCORES], columns=["prompt_id", "rollout", "sentence", "judge_flag"])
    make_run_from_tables(tmp_path / "r", prompts, scores, sentences=sent, manifest={"phrases": ["P"]})
    out = restricted_auroc(read_run(tmp_path / "r"), "P", n_boot=0)
    assert out["n_prompts_dropped"] == 1 and out["n_prompts_restricted"] == 3
    assert out["restricted"]["auroc"] == 0.5  # e2 (-2.0) vs d1 (-2.2) win, vs d2 (-1.8) loss
    assert out["difference"]["difference"] == pytest.approx(-0.5)  # on e2, d1, d2: unrestricted 1.0


def test_paired_difference_by_hand_and_nan_units_left_out():
    y = np.array([1, 1, 0, 0, 1])
    a = np.array([3.0, 2.0, 1.0, 0.0, np.nan])
    b = np.array([0.5, 2.0, 1.0, 0.0, 9.0])
    d = paired_auroc_difference(y, a, b, n_boot=0)
    assert d["difference"] == pytest.approx(0.75 - 1.0) and d["n_pos"] == 2


@pytest.mark.slow
def test_paired_difference_interval_coverage():
    """s_a and s_b share noise (rho 0.5); AUROCs Phi(d/sqrt 2) for d = 1 and 0.5: truth -0.1160.

    400 data sets of 80 + 80; nominal coverage is Binomial(400, .95): we accept 0.917..0.983 (+- 3 SD).
    """
    truth = norm.cdf(0.5 / np.sqrt(2)) - norm.cdf(1 / np.sqrt(2))
    rng = np.random.default_rng(11)
    n, reps = 80, 400
    y = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    cov = [[1, 0.5], [0.5, 1]]
    covered = 0
    for i in range(reps):
        e = rng.multivariate_normal([0, 0], cov, size=2 * n)
        d = paired_auroc_difference(y, y * 1.0 + e[:, 0], y * 0.5 + e[:, 1], n_boot=500, seed=i)
        covered += d["lo"] <= truth <= d["hi"]
    assert 0.917 <= covered / reps <= 0.983, covered / reps
