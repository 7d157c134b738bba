"""AUROC against rollouts per prompt k, on the hand-checkable example and a synthetic run."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from monitor.analysis import auroc_vs_k
from monitor.analysis.kcurve import default_ks
from monitor.errors import InputError
from monitor.runs.store import read_run
from monitor.runs.handmade import TINY_P, make_tiny_run
from monitor.runs.synthetic import make_synthetic_run

EVAL, DEPLOY = ["a", "b", "e"], ["c", "d"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return read_run(make_tiny_run(tmp_path_factory.mktemp("tiny") / "run"))


def test_k0_and_full_k_are_exact(run):
    df = auroc_vs_k(run, "P", n_boot=300, n_resamples=10)
    assert list(df.columns) == ["monitor", "k", "auroc", "lo", "hi", "n_pos", "n_neg"]
    logit = df[df["monitor"] == "logit"].set_index("k")
    assert logit.index.tolist() == [0, 1, 2]
    assert logit.loc[0, "auroc"] == pytest.approx(2 / 6)  # k0: eval {-5,-6,-8} vs deploy {-7,-4}
    assert logit.loc[2, "auroc"] == pytest.approx(4 / 6)  # all rollouts = the max score
    verb = df[df["monitor"] == "verbalization"].set_index("k")
    assert verb.index.tolist() == [1, 2]
    assert verb.loc[2, "auroc"] == pytest.approx(3.5 / 6)
    assert (df["lo"] <= df["auroc"] + 1e-12).all() and (df["auroc"] <= df["hi"] + 1e-12).all()
    assert (df["n_pos"] == 3).all() and (df["n_neg"] == 2).all()


def test_k1_point_estimate_is_the_mean_over_subsets(run):
    # exact expectation over every choice of one rollout per prompt (2^5 choices, equally likely)
    maxima = {pid: [max(TINY_P[(pid, r)]) for r in (0, 1)] for pid in EVAL + DEPLOY}
    y = [1] * 3 + [0] * 2
    exact = np.mean([roc_auc_score(y, [maxima[p][c] for p, c in zip(EVAL + DEPLOY, pick)])
                     for pick in itertools.product([0, 1], repeat=5)])
    df = auroc_vs_k(run, "P", ks=[1], n_resamples=4000, n_boot=0, seed=1)
    assert df["k"].tolist() == [1, 1]
    got = df.set_index("monitor").loc["logit", "auroc"]
    # 4000 draws: SD of the mean <= 0.5 / sqrt(4000) = 0.008
    assert got == pytest.approx(exact, abs=0.03)
    assert np.isnan(df["lo"]).all()


def test_task_b_and_errors(run):
    df = auroc_vs_k(run, "P", task="verbalizing_eval", n_boot=50)
    logit = df[df["monitor"] == "logit"].set_index("k")
    assert logit.loc[0, "auroc"] == 1.0  # a, b (-5, -6) above e (-8)
    # the verbalization monitor at full k reads the rollouts that define the label
    assert df[(df["monitor"] == "verbalization") & (df["k"] == 2)]["auroc"].iloc[0] == 1.0
    with pytest.raises(InputError):
        auroc_vs_k(run, "P", ks=[-1])


def test_default_ks():
    assert default_ks(5) == [1, 2, 3, 4, 5]
    ks = default_ks(100)
    assert ks[0] == 1 and ks[-1] == 100 and len(ks) <= 13 and ks == sorted(set(ks))


def test_synthetic_trends(tmp_path):
    run = read_run(make_synthetic_run(tmp_path / "s", n_prompts=200, rollouts=8, seed=5))
    df = auroc_vs_k(run, run.phrases[0], n_boot=100)
    verb = df[df["monitor"] == "verbalization"].set_index("k")["auroc"]
    # in the generating process more rollouts reveal more verbalization: AUROC rises with k
    assert verb.loc[8] > verb.loc[1]
    assert len(df[df["monitor"] == "logit"]) == 9
