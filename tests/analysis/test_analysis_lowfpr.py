"""TPR at a fixed FPR: hand-computed cases, equality with scikit-learn's ROC points, interval coverage."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm
from sklearn.metrics import roc_curve

from monitor.analysis.lowfpr import bootstrap_tpr_at_fpr, tpr_at_fpr


def _y(pos, neg):
    return np.r_[np.ones(len(pos), bool), np.zeros(len(neg), bool)], np.r_[pos, neg].astype(float)


def test_tpr_at_fpr_by_hand():
    y, s = _y([2.5, 3.5, 5], [1, 2, 3, 4])
    # 25% of 4 negatives: one false positive allowed; threshold above 3 -> 3.5 and 5 pass
    assert tpr_at_fpr(y, s, 0.25) == pytest.approx(2 / 3)
    assert tpr_at_fpr(y, s, 0.5) == pytest.approx(1.0)  # above 2: all three
    assert tpr_at_fpr(y, s, 0.01) == pytest.approx(1 / 3)  # no false positive: above 4, only 5
    assert tpr_at_fpr(y, s, 1.0) == 1.0


def test_tied_negatives_move_together():
    y, s = _y([4, 5, 2], [4, 4, 1, 1])
    # one false positive allowed, but the two 4s cannot be split: the threshold stays above 4
    assert tpr_at_fpr(y, s, 0.25) == pytest.approx(1 / 3)
    assert tpr_at_fpr(y, s, 0.5) == pytest.approx(1.0)  # both 4s may pass: the threshold drops to just above 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(-4, 4)), min_size=2, max_size=50),
       st.sampled_from([0.01, 0.05, 0.1, 0.25, 0.5]))
def test_equals_best_sklearn_roc_point_within_the_fpr(pairs, fpr):
    y = np.array([p[0] for p in pairs])
    s = np.array([p[1] for p in pairs], dtype=float)
    if y.all() or not y.any():
        return
    f, t, _ = roc_curve(y, s, drop_intermediate=False)
    assert tpr_at_fpr(y, s, fpr) == pytest.approx(t[f <= fpr + 1e-12].max())


def test_records_carry_the_allowed_false_positives():
    y, s = _y(np.arange(10) + 0.5, np.arange(80))
    recs = bootstrap_tpr_at_fpr(y, s, n_boot=50)
    assert [r["fpr"] for r in recs] == [0.01, 0.05]
    assert [r["max_false_positives"] for r in recs] == [0, 4]
    for r in recs:
        assert r["lo"] <= r["tpr"] <= r["hi"]


def test_bootstrap_interval_coverage_at_5pct_fpr():
    """Binormal scores d = 1.5 apart: TPR at 5% FPR = 1 - Phi(z_0.95 - 1.5) = 0.442.

    500 data sets of 200 + 200, a 95% interval from each (500 replicates). Nominal coverage gives
    Binomial(500, 0.95): SD 0.97 points; we accept 0.921..0.979 (nominal +- 3 SD).
    """
    truth = 1 - norm.cdf(norm.ppf(0.95) - 1.5)
    rng = np.random.default_rng(7)
    n, reps = 200, 500
    y = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    covered = 0
    for i in range(reps):
        s = np.r_[rng.normal(1.5, 1, n), rng.normal(0, 1, n)]
        r = bootstrap_tpr_at_fpr(y, s, fprs=(0.05,), n_boot=500, seed=i)[0]
        covered += r["lo"] <= truth <= r["hi"]
    assert 0.921 <= covered / reps <= 0.979, covered / reps
