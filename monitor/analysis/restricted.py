"""The logit monitor restricted to rollouts that never verbalize eval awareness.

The paper reports that computing the logit monitor only on rollouts with no judge-flagged sentence
leaves AUROC "essentially unchanged (a drop < 0.02)": the monitor reads a tendency of the model,
not the sentences the judge would catch anyway. ``restricted_auroc`` computes, for one task:

- ``unrestricted``: the usual prompt score over every rollout (all prompts of the task);
- ``restricted``: the prompt score over the rollouts without a flagged sentence only; prompts
  whose every (successfully judged) rollout verbalizes have no restricted score and are left out
  (``n_prompts_dropped``); rollouts whose judging failed are unknown and are left out too;
- ``difference``: restricted - unrestricted on the prompts that have both, with a *paired*
  stratified bootstrap interval (both AUROCs computed on the same resampled prompts), so the
  interval is that of the difference, not of two independent estimates.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..runs.store import Run
from .metrics import auroc_rows, bootstrap_auroc, bootstrap_indices, ci_from_replicates, clean_binary
from .scores import PromptScoreMethod, boundary_scores, rollout_values, rollout_verbalizes
from .tasks import Task, task_labels

__all__ = ["paired_auroc_difference", "restricted_prompt_scores", "restricted_auroc"]


def paired_auroc_difference(
    y_true: Any, a: Any, b: Any, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, Any]:
    """AUROC(b) - AUROC(a) on the same units, with a paired stratified percentile-bootstrap interval.

    Units where either score is NaN are left out of both.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    y, _ = clean_binary(np.asarray(y_true)[keep], a[keep])
    a, b = a[keep], b[keep]
    pa, na, pb, nb = a[y], a[~y], b[y], b[~y]
    point = float(auroc_rows(pb, nb) - auroc_rows(pa, na))
    lo = hi = float("nan")
    if n_boot > 0:
        ip, ineg = bootstrap_indices(len(pa), len(na), n_boot, np.random.default_rng(seed))
        reps = auroc_rows(pb[ip], nb[ineg]) - auroc_rows(pa[ip], na[ineg])
        lo, hi = ci_from_replicates(reps, level)
    return {"difference": point, "lo": lo, "hi": hi, "n_pos": int(y.sum()), "n_neg": int((~y).sum()),
            "level": level, "n_boot": int(max(n_boot, 0))}


def restricted_prompt_scores(run: Run, phrase: str, *, method: PromptScoreMethod = "max") -> pd.Series:
    """Prompt score (index prompt_id) from the rollouts with no flagged sentence only.

    ``method`` is ``max`` (max over those rollouts and their boundaries), ``mean_rollout_max``,
    ``k0`` or ``first_n`` (N = 3), as in :func:`~.scores.prompt_scores`.
    """
    rv = rollout_verbalizes(run)
    quiet = rv.loc[~rv["verbalizes"], ["prompt_id", "rollout"]].astype({"prompt_id": str, "rollout": int})
    b = boundary_scores(run, phrase)
    b = b.astype({"prompt_id": str, "rollout": int}).merge(quiet, on=["prompt_id", "rollout"], how="inner")
    vals = rollout_values(b, method=method)
    agg = "max" if method in ("max", "first_n") else "mean"
    return vals.groupby("prompt_id", sort=False)["value"].agg(agg).rename("score")


def restricted_auroc(
    run: Run,
    phrase: str,
    *,
    task: Task = "eval_vs_deploy",
    method: PromptScoreMethod = "max",
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Unrestricted vs restricted AUROC of ``phrase`` on ``task`` (see the module docstring)."""
    from .scores import prompt_scores

    y = task_labels(run, task)
    full = prompt_scores(run, phrase, method=method).set_index("prompt_id")["score"].reindex(y.index)
    res = restricted_prompt_scores(run, phrase, method=method).reindex(y.index)
    ok_full = full.notna().to_numpy()
    ok_res = res.notna().to_numpy()
    yy = y.to_numpy(dtype=bool)
    out: dict[str, Any] = {"task": task, "phrase": phrase, "method": method,
                           "n_prompts": int(ok_full.sum()), "n_prompts_restricted": int(ok_res.sum()),
                           "n_prompts_dropped": int((ok_full & ~ok_res).sum())}
    out["unrestricted"] = bootstrap_auroc(yy[ok_full], full.to_numpy()[ok_full], n_boot=n_boot, seed=seed, level=level).to_dict()
    try:
        out["restricted"] = bootstrap_auroc(yy[ok_res], res.to_numpy()[ok_res], n_boot=n_boot, seed=seed, level=level).to_dict()
        out["difference"] = paired_auroc_difference(yy, full.to_numpy(), res.to_numpy(), n_boot=n_boot, seed=seed, level=level)
    except InputError as e:  # e.g. every positive prompt verbalizes in every rollout
        out["restricted"] = out["difference"] = None
        out["note"] = f"no restricted AUROC: {e}"
    return out
