"""AUROC as a function of k, the number of rollouts per prompt each monitor may read.

For each k, every prompt's k rollouts are drawn at random (without replacement) from those the run
has; the logit monitor scores the prompt by the maximum over those rollouts' boundaries, the
verbalization monitor by the fraction of them with a judge-flagged sentence. k = 0 exists only for
the logit monitor: the score at the CoT start, which needs no rollout at all.

- point estimate: the mean AUROC over ``n_resamples`` independent draws of the k-subsets;
- interval: ``n_boot`` replicates, each resampling prompts (stratified by class) and reading one of
  the ``n_resamples`` k-subset draws (replicate b uses draw b mod n_resamples), so it covers both
  sources of variation: it is the spread of the AUROC one would get from a new prompt sample read
  through a new set of k rollouts (a little wider than the uncertainty of the averaged point
  estimate alone). Replicates count draws per distinct score (no sort per replicate).

One random permutation of each prompt's rollouts serves every k (its first k entries are a uniform
k-subset), so all ks come from one running max / running sum: O(draws x prompts x rollouts).
For task B the labels come from all the run's rollouts, so the verbalization monitor at the full k
reads the very rollouts that define the label (AUROC 1 by construction).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from ..runs.store import Run
from .metrics import auroc_from_codes, auroc_rows, bootstrap_auroc, bootstrap_indices, ci_from_replicates, dense_codes
from .scores import _rollout_values, boundary_scores, has_judge, rollout_verbalizes
from .tasks import Task, task_labels

__all__ = ["auroc_vs_k", "default_ks"]


def default_ks(k_max: int) -> list[int]:
    """1..k_max when small, else about a dozen roughly log-spaced values ending at k_max."""
    if k_max <= 20:
        return list(range(1, k_max + 1))
    ks = np.unique(np.round(np.geomspace(1, k_max, 12)).astype(int))
    return sorted(set(ks.tolist()) | {k_max})


def _matrix(df: pd.DataFrame, col: str, prompt_index: pd.Index, rollout_cols: np.ndarray) -> np.ndarray:
    """(n_prompts, n_rollouts) matrix of ``col``; NaN where the prompt lacks that rollout."""
    rows = prompt_index.get_indexer(df["prompt_id"])
    cols = np.searchsorted(rollout_cols, df["rollout"].to_numpy())
    keep = rows >= 0
    m = np.full((len(prompt_index), len(rollout_cols)), np.nan)
    m[rows[keep], cols[keep]] = df[col].to_numpy(dtype=float)[keep]
    return m


def _prefix_scores(m: np.ndarray, perm: np.ndarray, n_avail: np.ndarray, ks: Sequence[int], how: str) -> np.ndarray:
    """Scores of the first k permuted rollouts for each k: (len(ks), draws, n_prompts).

    ``perm`` (draws, n_prompts, K) orders each prompt's available rollouts first.
    """
    v = np.take_along_axis(np.broadcast_to(m, perm.shape), perm, axis=-1)
    if how == "max":
        run_ = np.maximum.accumulate(np.where(np.isnan(v), -np.inf, v), axis=-1)
    else:
        run_ = np.cumsum(np.nan_to_num(v), axis=-1)
    out = np.empty((len(ks), *perm.shape[:2]))
    for i, k in enumerate(ks):
        kk = np.minimum(k, n_avail)  # a prompt with fewer rollouts uses all it has
        col = np.broadcast_to(kk - 1, perm.shape[:2])[..., None]
        val = np.take_along_axis(run_, col, axis=-1)[..., 0]
        out[i] = val if how == "max" else val / kk
    return out


def _permutations(avail: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    keys = rng.random((draws, *avail.shape))
    keys[:, ~avail] = np.inf  # missing rollouts sort last
    return np.argsort(keys, axis=-1)


def auroc_vs_k(
    run: Run,
    phrase: str,
    *,
    task: Task = "eval_vs_deploy",
    ks: Sequence[int] | None = None,
    n_resamples: int = 20,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """AUROC of each monitor against k: columns monitor, k, auroc, lo, hi, n_pos, n_neg.

    ``monitor`` is ``logit`` (k = 0 included) or ``verbalization`` (only when the run has judge
    flags). ``ks`` defaults to 1..(fewest rollouts any prompt has), plus 0 for the logit monitor.
    """
    labels = task_labels(run, task)
    bs = boundary_scores(run, phrase)
    rv = _rollout_values(run, phrase, "max", "max", 0, None)
    prompt_index = pd.Index(labels.index)
    rv = rv[prompt_index.get_indexer(rv["prompt_id"]) >= 0]
    have = prompt_index.isin(rv["prompt_id"].unique())
    if not have.all():  # prompts without any rollout cannot be scored at k >= 1
        labels, prompt_index = labels[have], prompt_index[have]
    y = labels.to_numpy(dtype=bool)
    if y.all() or not y.any():
        raise InputError(f"{task}: AUROC needs both classes among scored prompts; got {int(y.sum())} positive(s) and {int((~y).sum())} negative(s).")
    rollout_cols = np.sort(rv["rollout"].unique())
    m = _matrix(rv, "value", prompt_index, rollout_cols)
    avail = ~np.isnan(m)
    n_avail = avail.sum(axis=1)
    if ks is None:
        ks = [0, *default_ks(int(n_avail.min()))]
    ks = sorted(set(int(k) for k in ks))
    if ks and ks[0] < 0:
        raise InputError(f"k must be >= 0, got {ks[0]}.")
    pos_k = [k for k in ks if k >= 1]
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    n1, n0 = int(y.sum()), int((~y).sum())

    if 0 in ks:
        s0 = bs[bs["sentence"] == 0].groupby("prompt_id")["logprob"].mean().reindex(prompt_index)
        ci = bootstrap_auroc(y, s0.to_numpy(), n_boot=n_boot, seed=seed, level=level)
        rows.append({"monitor": "logit", "k": 0, "auroc": ci.auroc, "lo": ci.lo, "hi": ci.hi, "n_pos": ci.n_pos, "n_neg": ci.n_neg})

    monitors: list[tuple[str, np.ndarray, str]] = [("logit", m, "max")]
    if has_judge(run):
        vr = rollout_verbalizes(run)
        v = _matrix(vr.assign(verbalizes=vr["verbalizes"].astype(float)), "verbalizes", prompt_index, rollout_cols)
        v[~avail] = np.nan  # only rollouts that also have scores (and, by construction, a verdict)
        if (~np.isnan(v)).any(axis=1).all():  # every prompt needs >= 1 judged rollout
            monitors.append(("verbalization", v, "mean"))
    if pos_k:
        ip, ineg = bootstrap_indices(n1, n0, max(n_boot, 0), rng)
        draw = np.arange(max(n_boot, 0)) % n_resamples  # replicate b reads subset draw b mod R
        pos_idx, neg_idx = np.flatnonzero(y), np.flatnonzero(~y)
        n = len(y)
        for name, mat, how in monitors:
            ok = ~np.isnan(mat)  # the rollouts this monitor can read
            perm = _permutations(ok, n_resamples, rng)
            scores = _prefix_scores(mat, perm, ok.sum(axis=1), pos_k, how)  # (len(pos_k), R, n)
            for i, k in enumerate(pos_k):
                s = scores[i]
                point = float(auroc_rows(s[:, pos_idx], s[:, neg_idx]).mean())
                lo = hi = float("nan")
                if n_boot > 0:
                    codes = dense_codes(s)  # (R, n): rank codes, so replicates need no sort
                    reps = auroc_from_codes(codes[draw[:, None], pos_idx[ip]], codes[draw[:, None], neg_idx[ineg]], n)
                    lo, hi = ci_from_replicates(reps, level)
                rows.append({"monitor": name, "k": k, "auroc": point, "lo": lo, "hi": hi, "n_pos": n1, "n_neg": n0})
    return pd.DataFrame(rows, columns=["monitor", "k", "auroc", "lo", "hi", "n_pos", "n_neg"])
