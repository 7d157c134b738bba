"""How much of the rollout-level logit score is explained by verbalization.

The rollout score is the rollout's maximum ``logprob`` over its boundaries. Two binary predictors:
"this rollout verbalizes" (it has a judge-flagged sentence) and "this prompt ever verbalizes" (any
of the prompt's rollouts does). The R^2 of a one-predictor linear fit equals the squared
point-biserial correlation. If the prompt-level predictor explains more than the rollout-level one,
the monitor tracks a property of the prompt rather than what a given CoT says. For scale, the
share explained by prompt identity itself (one-way ANOVA eta^2) is reported too.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..runs.store import Run
from .scores import _rollout_values, rollout_verbalizes

__all__ = ["variance_explained"]


def _r2(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1] ** 2)


def variance_explained(run: Run, phrase: str, *, labels: Sequence[str] | None = None) -> dict[str, Any]:
    """R^2 of the rollout score on each predictor.

    Returns r2_rollout_verbalizes, r2_prompt_ever_verbalizes, r2_prompt_identity, n (rollouts),
    n_prompts. ``labels`` restricts to prompts with those labels (e.g. ``["eval"]``).
    """
    rv = _rollout_values(run, phrase, "max", "max", 0, None)
    vb = rollout_verbalizes(run)
    df = rv.merge(vb, on=["prompt_id", "rollout"], how="inner")
    if labels is not None:
        keep = run.prompts.loc[run.prompts["label"].isin(list(labels)), "prompt_id"].astype(str)
        df = df[df["prompt_id"].isin(keep)]
    y = df["value"].to_numpy(dtype=float)
    roll = df["verbalizes"].to_numpy(dtype=float)
    ever = df.groupby("prompt_id", sort=False)["verbalizes"].transform("any").to_numpy(dtype=float)
    pmean = df.groupby("prompt_id", sort=False)["value"].transform("mean").to_numpy(dtype=float)
    sst = float(((y - y.mean()) ** 2).sum()) if len(y) else 0.0
    eta2 = float(((pmean - y.mean()) ** 2).sum() / sst) if sst > 0 else float("nan")
    return {
        "phrase": phrase,
        "r2_rollout_verbalizes": _r2(roll, y),
        "r2_prompt_ever_verbalizes": _r2(ever, y),
        "r2_prompt_identity": eta2,
        "n": int(len(y)),
        "n_prompts": int(df["prompt_id"].nunique()),
        "labels": list(labels) if labels is not None else None,
    }
