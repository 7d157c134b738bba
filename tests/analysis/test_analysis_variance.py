"""Variance explained by verbalization, and the phrase correlation matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitor.analysis import phrase_correlation, variance_explained
from monitor.runs.store import read_run
from monitor.runs.handmade import make_tiny_run
from monitor.runs.synthetic import make_synthetic_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return read_run(make_tiny_run(tmp_path_factory.mktemp("tiny") / "run"))


def test_variance_explained_by_hand(run):
    # rollout maxima of P and the flags, listed by hand from the example
    ids = ["a", "a", "b", "b", "e", "e", "c", "c", "d", "d"]
    y = np.array([-3, -2, -6, -1, -7, -7.5, -4, -7, -4, -3.5])
    roll = np.array([0, 1, 1, 0, 0, 0, 0, 0, 0, 1], dtype=float)
    ever = np.array([1, 1, 1, 1, 0, 0, 0, 0, 1, 1], dtype=float)
    out = variance_explained(run, "P")
    assert out["r2_rollout_verbalizes"] == pytest.approx(np.corrcoef(roll, y)[0, 1] ** 2)
    assert out["r2_prompt_ever_verbalizes"] == pytest.approx(np.corrcoef(ever, y)[0, 1] ** 2)
    means = pd.Series(y).groupby(ids).transform("mean").to_numpy()
    assert out["r2_prompt_identity"] == pytest.approx(((means - y.mean()) ** 2).sum() / ((y - y.mean()) ** 2).sum())
    assert out["n"] == 10 and out["n_prompts"] == 5
    ev = variance_explained(run, "P", labels=["eval"])
    assert ev["n"] == 6
    assert ev["r2_rollout_verbalizes"] == pytest.approx(np.corrcoef(roll[:6], y[:6])[0, 1] ** 2)


def test_phrase_correlation_matches_pandas(tmp_path):
    run = read_run(make_synthetic_run(tmp_path / "s", n_prompts=30, rollouts=3, seed=4))
    wide = run.scores.pivot_table(index=["prompt_id", "rollout", "sentence"], columns="phrase", values="logprob")
    for method in ("spearman", "pearson"):
        got = phrase_correlation(run, method=method)
        assert list(got.columns) == run.phrases and list(got.index) == run.phrases
        want = wide.corr(method=method).loc[run.phrases, run.phrases]
        np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), atol=1e-10)
    pr = phrase_correlation(run, level="prompt")
    assert np.allclose(np.diag(pr), 1.0)


def test_phrase_correlation_tiny(run):
    c = phrase_correlation(run)
    # Q = P - 1 except at one boundary: near-perfect rank agreement, not exact
    assert 0.9 < c.loc["P", "Q"] < 1.0
