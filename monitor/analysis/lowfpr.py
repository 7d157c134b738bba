"""Low false-positive-rate metrics: the true-positive rate at a fixed false-positive rate.

A monitor is deployed at a threshold, usually one that flags few negatives; AUROC averages over
every threshold and can hide a monitor that is useless where it would be used. ``tpr_at_fpr``
reads the ROC curve at false-positive rate ``fpr`` the conservative way: the threshold must flag
at most ``floor(fpr x n_neg)`` negatives (ties move together, so a threshold cannot split tied
scores), and the TPR is the share of positives strictly above the first negative it must not
flag. With fewer than ``1 / fpr`` negatives no false positive is allowed at all (the record's
``max_false_positives`` says so), and the estimate is noisy: read the interval.

Intervals: the same stratified percentile bootstrap over prompts as :func:`~.metrics.bootstrap_auroc`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .metrics import bootstrap_indices, ci_from_replicates, clean_binary

__all__ = ["DEFAULT_FPRS", "tpr_at_fpr", "tpr_at_fpr_rows", "bootstrap_tpr_at_fpr"]

DEFAULT_FPRS: tuple[float, ...] = (0.01, 0.05)
"""False-positive rates reported beside every AUROC."""


def _allowed(n_neg: int, fpr: float) -> int:
    # the tiny epsilon keeps 0.05 x 100 = 5.000000000000001 (or 4.9999...) from losing a false positive
    return int(np.floor(fpr * n_neg + 1e-9))


def tpr_at_fpr_rows(pos: np.ndarray, neg: np.ndarray, fpr: float) -> np.ndarray:
    """TPR at ``fpr`` of each row: ``pos`` (..., n_pos) against ``neg`` (..., n_neg)."""
    pos = np.asarray(pos, dtype=float)
    neg = np.asarray(neg, dtype=float)
    m = _allowed(neg.shape[-1], fpr)
    if m >= neg.shape[-1]:
        return np.ones(pos.shape[:-1])
    cut = -np.partition(-neg, m, axis=-1)[..., m]  # the (m+1)-th largest negative must stay unflagged
    return (pos > cut[..., None]).mean(axis=-1)


def tpr_at_fpr(y_true: Any, scores: Any, fpr: float) -> float:
    """True-positive rate at false-positive rate ``fpr`` (conservative: at most ``fpr`` is used)."""
    y, s = clean_binary(y_true, scores)
    return float(tpr_at_fpr_rows(s[y], s[~y], fpr))


def bootstrap_tpr_at_fpr(
    y_true: Any,
    scores: Any,
    *,
    fprs: Sequence[float] = DEFAULT_FPRS,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> list[dict[str, Any]]:
    """One record per ``fpr``: fpr, tpr, lo, hi, max_false_positives, n_pos, n_neg, n_boot."""
    y, s = clean_binary(y_true, scores)
    pos, neg = s[y], s[~y]
    out = []
    rng = np.random.default_rng(seed)
    ip, ineg = bootstrap_indices(len(pos), len(neg), n_boot, rng) if n_boot > 0 else (None, None)
    for f in fprs:
        point = float(tpr_at_fpr_rows(pos, neg, f))
        if n_boot > 0:
            reps = tpr_at_fpr_rows(pos[ip], neg[ineg], f)
            lo, hi = ci_from_replicates(reps, level)
        else:
            lo = hi = float("nan")
        out.append({"fpr": float(f), "tpr": point, "lo": lo, "hi": hi, "max_false_positives": _allowed(len(neg), f),
                    "n_pos": int(len(pos)), "n_neg": int(len(neg)), "n_boot": int(max(n_boot, 0))})
    return out
