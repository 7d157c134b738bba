"""Refusal analyses by hand (pooled and paired rate differences, clustered AUROC, bins) and coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from monitor.analysis.behaviour import (cluster_auroc, paired_rate_difference, pooled_rate_difference,
                                        refusal_by_verbalization, refusal_vs_score, rollout_behaviour)
from monitor.runs.handmade import make_run_from_tables
from monitor.runs.store import read_run, write_table

# prompt A: (verbalizes, refuses) = (T,1) (T,1) (F,0) (F,1); prompt B: (T,0) (F,0) (F,0)
PROMPT = ["A"] * 4 + ["B"] * 3
GROUP = [True, True, False, False, True, False, False]
OUTCOME = [1, 1, 0, 1, 0, 0, 0]


def test_pooled_rate_difference_by_hand():
    out = pooled_rate_difference(PROMPT, GROUP, OUTCOME, n_boot=200)
    assert out["rate_in"]["estimate"] == pytest.approx(2 / 3)
    assert out["rate_out"]["estimate"] == pytest.approx(1 / 4)
    assert out["difference"]["estimate"] == pytest.approx(5 / 12)
    assert out["n_in"] == 3 and out["n_out"] == 4 and out["n_prompts"] == 2


def test_paired_rate_difference_by_hand():
    out = paired_rate_difference(PROMPT + ["C"], GROUP + [False], OUTCOME + [1], n_boot=200)
    # A: 1 - 1/2; B: 0 - 0; C has no verbalizing rollout and is left out
    assert out["n_prompts"] == 2
    assert out["difference"]["estimate"] == pytest.approx(0.25)
    assert out["difference"]["lo"] <= 0.25 <= out["difference"]["hi"]


def test_cluster_auroc_point_equals_plain_auroc():
    c = ["c1", "c1", "c2", "c3"]
    s = [1.0, 1.0, 2.0, 0.0]
    y = [1, 0, 1, 0]
    out = cluster_auroc(c, s, y, n_boot=100)
    assert out["auroc"] == pytest.approx(3.5 / 4) == pytest.approx(roc_auc_score(y, s))
    assert out["n_clusters"] == 3


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("beh") / "run"
    keys = [("A", r) for r in range(4)] + [("B", r) for r in range(3)]
    score = {"A": -1.0, "B": -3.0}
    scores = pd.DataFrame([(p, r, s, "P", score[p] - s * 0.5 - r * 0.01) for p, r in keys for s in range(2)],
                          columns=["prompt_id", "rollout", "sentence", "phrase", "logprob"])
    sent = pd.DataFrame([(p, r, 1, g) for (p, r), g in zip(keys, GROUP)], columns=["prompt_id", "rollout", "sentence", "judge_flag"])
    make_run_from_tables(d, pd.DataFrame({"prompt_id": ["A", "B"], "label": ["eval", "deploy"]}), scores,
                         sentences=sent, manifest={"phrases": ["P"]})
    ro = read_run(d).rollouts
    lab = {1: "refused", 0: "complied"}
    beh = {k: lab[o] for k, o in zip(keys, OUTCOME)}
    beh[("A", 3)] = "partial"
    ro["behaviour"] = [beh[(p, r)] for p, r in zip(ro["prompt_id"], ro["rollout"])]
    ro["behaviour_ok"] = True
    write_table(d, "rollouts", ro)
    return read_run(d)


def test_run_level_refusal_by_verbalization(run):
    out = refusal_by_verbalization(run, n_boot=100)
    assert out["pooled"]["difference"]["estimate"] == pytest.approx(5 / 12)
    assert out["paired"]["difference"]["estimate"] == pytest.approx(0.25)
    strict = refusal_by_verbalization(run, partial_is_refusal=False, n_boot=0)
    # A's rollout 3 is partial: not a refusal when strict -> A: 1 - 0, B: 0 - 0
    assert strict["paired"]["difference"]["estimate"] == pytest.approx(0.5)
    assert rollout_behaviour(run)["refuses"].sum() == 3


def test_run_level_refusal_vs_score(run):
    out = refusal_vs_score(run, "P", bins=2, n_boot=100)
    # prompt A (score -1) has 3 of 4 rollouts refusing, B (-3) none: every refusal outranks every compliance but A's own
    assert out["auroc_prompt_score"]["auroc"] == pytest.approx((3 * 3 + 3 * 1 * 0.5) / (3 * 4))
    assert [b["refusal_rate"] for b in out["bins"]] == [0.0, 0.75]
    assert [b["n_rollouts"] for b in out["bins"]] == [3, 4]


@pytest.mark.slow
def test_paired_rate_difference_coverage():
    """60 prompts x 10 rollouts; a rollout verbalizes with prob 0.4 and refuses with prob q_p + 0.3 x
    verbalizes, q_p ~ U(0.1, 0.5): the within-prompt difference is 0.3. 400 data sets; accept 0.917..0.983."""
    rng = np.random.default_rng(5)
    covered = 0
    reps = 400
    for i in range(reps):
        q = np.repeat(rng.uniform(0.1, 0.5, 60), 10)
        g = rng.random(600) < 0.4
        o = rng.random(600) < q + 0.3 * g
        out = paired_rate_difference(np.repeat(np.arange(60), 10), g, o, n_boot=500, seed=i)
        covered += out["difference"]["lo"] <= 0.3 <= out["difference"]["hi"]
    assert 0.917 <= covered / reps <= 0.983, covered / reps
