"""Matched pairs: does the score separate a prompt from its own twin?

A pooled AUROC mixes two things: "this prompt looks like an evaluation" (format, length, a system
prompt) and "this prompt is what the task is about". Matched pairs control the first: FORTRESS
ships a benign twin written in the same format for each adversarial prompt; hand-made minimal
pairs put the same request as a test item and as a real user would ask it. Prompts carry the link
in the ``pair_id`` column of ``prompts.parquet`` (see :mod:`monitor.prompts.records`).

Which member of a pair is the positive: the ``eval`` one when the pair has both labels, else the
``adversarial`` one (FORTRESS's ``variant`` column, where both twins are benchmark prompts).
``paired_comparison`` then reports, over the pairs that have a scored positive and negative:

- ``mean_difference``: mean over pairs of (mean positive score - mean negative score), in nats;
- ``win_rate``: mean over pairs of P(positive score > negative score), ties counting one half:
  the AUROC *within* pairs (with one positive and one negative per pair, the share of pairs the
  positive wins);
- ``auroc_pooled``: the ordinary AUROC over the same prompts, ignoring the pairing, for comparison;

each with a 95% percentile bootstrap interval over pairs (pairs resampled with replacement).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..runs.store import Run
from .metrics import bootstrap_auroc, ci_from_replicates
from .scores import PromptScoreMethod, prompt_scores

__all__ = ["has_pairs", "pair_members", "paired_comparison", "paired_analysis"]


def has_pairs(run: Run) -> bool:
    """Whether some ``pair_id`` is shared by two or more prompts."""
    p = run.prompts
    return "pair_id" in p.columns and bool((p["pair_id"].dropna().astype(str).value_counts() >= 2).any())


def pair_members(prompts: pd.DataFrame) -> pd.DataFrame:
    """prompt_id, pair_id, positive, by ("label" or "variant") for every prompt in a usable pair."""
    if "pair_id" not in prompts.columns:
        return pd.DataFrame(columns=["prompt_id", "pair_id", "positive", "by"])
    p = prompts[prompts["pair_id"].notna()].assign(prompt_id=lambda d: d["prompt_id"].astype(str),
                                                   pair_id=lambda d: d["pair_id"].astype(str))
    rows = []
    for pair, g in p.groupby("pair_id", sort=False):
        labels = set(g["label"])
        if {"eval", "deploy"} <= labels:
            g = g[g["label"].isin(["eval", "deploy"])]
            rows += [(pid, pair, lab == "eval", "label") for pid, lab in zip(g["prompt_id"], g["label"])]
        elif "variant" in g.columns and {"adversarial", "benign"} <= set(g["variant"].dropna()):
            g = g[g["variant"].isin(["adversarial", "benign"])]
            rows += [(pid, pair, v == "adversarial", "variant") for pid, v in zip(g["prompt_id"], g["variant"])]
    return pd.DataFrame(rows, columns=["prompt_id", "pair_id", "positive", "by"])


def _per_pair(df: pd.DataFrame) -> pd.DataFrame:
    """Per pair: mean positive - mean negative, and the within-pair win rate over all positive x
    negative comparisons (one merge instead of a loop over pairs)."""
    pos = df.loc[df["positive"], ["pair_id", "score"]]
    neg = df.loc[~df["positive"], ["pair_id", "score"]]
    means = pd.DataFrame({"pos": pos.groupby("pair_id", sort=False)["score"].mean(),
                          "neg": neg.groupby("pair_id", sort=False)["score"].mean()}).dropna()
    cross = pos.merge(neg, on="pair_id", suffixes=("_p", "_n"))
    cmp = cross["score_p"] - cross["score_n"]
    win = ((cmp > 0) + 0.5 * (cmp == 0)).groupby(cross["pair_id"], sort=False).mean()
    order = [p for p in pd.unique(df["pair_id"]) if p in means.index]
    return pd.DataFrame({"pair_id": order, "difference": (means["pos"] - means["neg"]).reindex(order).to_numpy(),
                         "win": win.reindex(order).to_numpy(dtype=float)})


def paired_comparison(members: pd.DataFrame, scores: pd.Series, *, n_boot: int = 1000, seed: int = 0,
                      level: float = 0.95) -> dict[str, Any]:
    """Mean within-pair difference, win rate and pooled AUROC of ``scores`` (index prompt_id) over
    the pairs in ``members`` (from :func:`pair_members`), with bootstrap intervals over pairs."""
    df = members.assign(score=scores.reindex(members["prompt_id"].astype(str)).to_numpy(dtype=float)).dropna(subset=["score"])
    per = _per_pair(df)
    n = len(per)
    out: dict[str, Any] = {"n_pairs": n, "by": sorted(set(members["by"])) if len(members) else [],
                           "level": level, "n_boot": int(max(n_boot, 0))}
    if n == 0:
        out.update(mean_difference=None, win_rate=None, auroc_pooled=None,
                   note="no pair has both a scored positive and a scored negative member")
        return out
    d, w = per["difference"].to_numpy(), per["win"].to_numpy()
    out["mean_difference"] = {"estimate": float(d.mean()), "lo": float("nan"), "hi": float("nan")}
    out["win_rate"] = {"estimate": float(w.mean()), "lo": float("nan"), "hi": float("nan")}
    if n_boot > 0:
        idx = np.random.default_rng(seed).integers(0, n, (n_boot, n))
        out["mean_difference"]["lo"], out["mean_difference"]["hi"] = ci_from_replicates(d[idx].mean(axis=1), level)
        out["win_rate"]["lo"], out["win_rate"]["hi"] = ci_from_replicates(w[idx].mean(axis=1), level)
    used = df[df["pair_id"].isin(per["pair_id"])]
    out["auroc_pooled"] = bootstrap_auroc(used["positive"].to_numpy(dtype=bool), used["score"].to_numpy(),
                                          n_boot=n_boot, seed=seed, level=level).to_dict()
    out["pairs"] = per.to_dict(orient="records")
    return out


def paired_analysis(run: Run, phrase: str, *, method: PromptScoreMethod = "max", n_boot: int = 1000,
                    seed: int = 0, level: float = 0.95) -> dict[str, Any]:
    """:func:`paired_comparison` of ``phrase``'s prompt score on the run's pairs."""
    members = pair_members(run.prompts)
    score = prompt_scores(run, phrase, method=method).set_index("prompt_id")["score"]
    return {"phrase": phrase, "method": method, **paired_comparison(members, score, n_boot=n_boot, seed=seed, level=level)}
