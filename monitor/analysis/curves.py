"""Score curves along the CoT, averaged by group, with bootstrap bands.

Groups: ``label`` (eval / deploy / unknown prompts) or ``verbalizes`` (rollouts with >= 1
judge-flagged sentence vs rollouts without). The x axis is the sentence index (0 = CoT start) or
the relative position in the CoT (sentence / number of sentences, in ``bins`` equal bins; the
value of a rollout in a bin is the mean of its boundaries there). Every rollout weighs the same.

The mean is of ``logprob`` (the natural-log probability; a log-scale probability axis shows it as
the geometric mean of probabilities). Bands are percentile intervals of a cluster bootstrap over
prompts: rollouts of one prompt move together, so resampling rollouts alone would be too narrow.
Each replicate draws the group's prompts with replacement; the replicate mean is
sum(weights x per-prompt sums) / sum(weights x per-prompt counts), one matrix product for all x.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import InputError
from ..runs.store import Run
from .scores import boundary_scores, rollout_verbalizes

__all__ = ["group_curves", "GroupBy", "XAxis"]

GroupBy = Literal["label", "verbalizes"]
XAxis = Literal["sentence", "relative"]
VERBALIZING, NOT_VERBALIZING = "verbalizing", "not verbalizing"


def _band(sums: np.ndarray, counts: np.ndarray, n_boot: int, level: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = sums.shape[0]
    if n_boot <= 0 or n < 2:
        nan = np.full(sums.shape[1], np.nan)
        return nan, nan.copy()
    w = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)  # (B, n) prompt draws
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = (w @ sums) / (w @ counts)  # (B, X); NaN where a replicate has no rollout at x
    a = (1.0 - level) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN bands
        lo, hi = np.nanquantile(reps, [a, 1.0 - a], axis=0)
    return lo, hi


def group_curves(
    run: Run,
    phrase: str,
    *,
    by: GroupBy = "label",
    x: XAxis = "sentence",
    n_boot: int = 200,
    seed: int = 0,
    bins: int = 20,
    level: float = 0.95,
) -> pd.DataFrame:
    """Mean logprob by group along the CoT: columns group, x, mean, lo, hi, n (rollouts at x)."""
    b = boundary_scores(run, phrase)
    if by == "label":
        lab = run.prompts.set_index(run.prompts["prompt_id"].astype(str))["label"]
        group = b["prompt_id"].map(lab).fillna("unknown").astype(str)
    elif by == "verbalizes":
        rv = rollout_verbalizes(run)
        key = pd.MultiIndex.from_frame(rv[["prompt_id", "rollout"]])
        flag = pd.Series(rv["verbalizes"].to_numpy(), index=key)
        f = flag.reindex(pd.MultiIndex.from_frame(b[["prompt_id", "rollout"]])).to_numpy()
        group = pd.Series(np.where(f == True, VERBALIZING, NOT_VERBALIZING), index=b.index)  # noqa: E712 (NaN -> not)
    else:
        raise InputError(f"unknown grouping {by!r}; use 'label' or 'verbalizes'.")
    if x == "sentence":
        xv = b["sentence"].to_numpy()
    elif x == "relative":
        if bins < 1:
            raise InputError(f"bins must be >= 1, got {bins}.")
        last = b.groupby(["prompt_id", "rollout"], sort=False)["sentence"].transform("max").to_numpy()
        rel = np.divide(b["sentence"].to_numpy(), last, out=np.zeros(len(b)), where=last > 0)
        xv = np.minimum((rel * bins).astype(np.int64), bins - 1)
    else:
        raise InputError(f"unknown x axis {x!r}; use 'sentence' or 'relative'.")
    df = pd.DataFrame({"group": group.to_numpy(), "prompt_id": b["prompt_id"].to_numpy(),
                       "rollout": b["rollout"].to_numpy(), "x": xv, "logprob": b["logprob"].to_numpy()})
    if x == "relative":  # one value per rollout and bin, so long rollouts do not weigh more
        df = df.groupby(["group", "prompt_id", "rollout", "x"], sort=False, as_index=False)["logprob"].mean()
    per = df.groupby(["group", "prompt_id", "x"], sort=False)["logprob"].agg(["sum", "count"]).reset_index()
    rng = np.random.default_rng(seed)
    out = []
    groups = sorted(per["group"].unique(), key=lambda g: (g not in ("eval", VERBALIZING), g))
    for g in groups:
        pg = per[per["group"] == g]
        pcode, prompts = pd.factorize(pg["prompt_id"])
        xs = np.sort(pg["x"].unique())
        xcode = np.searchsorted(xs, pg["x"].to_numpy())
        sums = np.zeros((len(prompts), len(xs)))
        counts = np.zeros((len(prompts), len(xs)))
        sums[pcode, xcode] = pg["sum"].to_numpy()
        counts[pcode, xcode] = pg["count"].to_numpy()
        n = counts.sum(axis=0)
        mean = sums.sum(axis=0) / n
        lo, hi = _band(sums, counts, n_boot, level, rng)
        xval = (xs + 0.5) / bins if x == "relative" else xs
        out.append(pd.DataFrame({"group": g, "x": xval, "mean": mean, "lo": lo, "hi": hi, "n": n.astype(np.int64)}))
    if not out:
        return pd.DataFrame(columns=["group", "x", "mean", "lo", "hi", "n"])
    return pd.concat(out, ignore_index=True)
