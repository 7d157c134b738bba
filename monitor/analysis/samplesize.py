"""The small-sample rule: when an AUROC rests on too few prompts to mean much.

With 2 positive and 2 negative prompts a perfect ranking has probability 1/6 by chance alone, and
a stratified bootstrap of 2 + 2 prompts can only give [1.0, 1.0] once the full sample separates:
the interval looks like certainty exactly when the evidence is thinnest. So every place that shows
an AUROC (the dashboard, the HTML report, ``monitor analyze``) asks this module, and only this one,
whether the numbers are thin and what to say about it.
"""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["MIN_PER_CLASS", "is_small_sample", "record_warning", "sample_size_text", "small_sample_warning"]

MIN_PER_CLASS = 10
"""Fewest prompts per class (positives and negatives each) before an AUROC is shown without a warning."""


def is_small_sample(n_pos: Any, n_neg: Any, *, min_per_class: int = MIN_PER_CLASS) -> bool:
    """True when either class has fewer than ``min_per_class`` prompts (unknown counts count as small)."""
    try:
        return min(int(n_pos), int(n_neg)) < min_per_class
    except (TypeError, ValueError):
        return True


def sample_size_text(n_pos: Any, n_neg: Any) -> str:
    """``"n = 2 + 2"``: the counts an AUROC rests on (positives + negatives)."""
    return f"n = {n_pos} + {n_neg}"


def small_sample_warning(n_pos: Any, n_neg: Any, *, what: str = "this AUROC", min_per_class: int = MIN_PER_CLASS) -> str | None:
    """The warning to show beside an AUROC on ``n_pos`` positives and ``n_neg`` negatives, or None when enough.

    One sentence, plain text (safe to render anywhere), naming the counts and the threshold."""
    if not is_small_sample(n_pos, n_neg, min_per_class=min_per_class):
        return None
    return (f"Too few prompts: {what} rests on {n_pos} positive and {n_neg} negative prompt(s) (fewer than {min_per_class} per class); "
            "the AUROC and its bootstrap interval can look certain by chance. Add prompts before drawing conclusions.")


def record_warning(rec: Mapping[str, Any], *, what: str = "this AUROC") -> str | None:
    """:func:`small_sample_warning` for a record carrying ``n_pos`` / ``n_neg`` (summary and ROC-panel rows)."""
    return small_sample_warning(rec.get("n_pos"), rec.get("n_neg"), what=what)
