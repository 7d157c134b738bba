"""Does awareness change behaviour? Refusals against verbalization and against the logit score.

The behaviour judge (:mod:`monitor.judges.behaviour`) labels each rollout's final answer
``refused``, ``partial`` or ``complied`` (``behaviour`` column of ``rollouts.parquet``; rollouts
with ``behaviour_ok`` False or the label ``no_answer`` are unknown and left out). A rollout
*refuses* when its answer is ``refused``, or ``partial`` too with ``partial_is_refusal=True`` (the
default: a partial answer withholds what was asked).

- ``refusal_by_verbalization``: the refusal rate of rollouts that verbalize eval awareness and of
  those that do not, *pooled* over prompts (prompts that verbalize more may also be prompts that
  are refused more, so the pooled difference mixes prompt and rollout effects) and *paired within
  prompt* (over prompts with both kinds of rollout, the mean of each prompt's rate difference:
  the rollout-level association with the prompt held fixed). Intervals: percentile bootstrap over
  prompts (a prompt's rollouts move together).
- ``refusal_vs_score``: each rollout's refusal against its prompt's logit score: refusal rate in
  quantile bins of the score, and the AUROC of the prompt score for predicting a rollout's refusal
  (and of the rollout's own max score), with intervals from the same cluster bootstrap.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError, RunFormatError
from ..runs.store import Run
from .metrics import ci_from_replicates
from .scores import PromptScoreMethod, boundary_scores, prompt_scores, rollout_values, rollout_verbalizes

__all__ = [
    "BEHAVIOURS",
    "has_behaviour",
    "rollout_behaviour",
    "pooled_rate_difference",
    "paired_rate_difference",
    "cluster_auroc",
    "refusal_by_verbalization",
    "refusal_vs_score",
]

BEHAVIOURS = ("refused", "partial", "complied")


def has_behaviour(run: Run) -> bool:
    """Whether the run's rollouts carry behaviour labels."""
    return "behaviour" in run.rollouts.columns


def rollout_behaviour(run: Run, *, partial_is_refusal: bool = True) -> pd.DataFrame:
    """prompt_id, rollout, behaviour, refuses for rollouts with a known behaviour."""
    ro = run.rollouts
    if not has_behaviour(run):
        raise RunFormatError(f"run {run.path} has no behaviour labels (rollouts.parquet lacks 'behaviour'). "
                             f"Run `monitor judge {run.path} --kind behaviour` first.")
    ok = ro["behaviour_ok"].fillna(False).astype(bool) if "behaviour_ok" in ro.columns else pd.Series(True, index=ro.index)
    df = ro.loc[ok & ro["behaviour"].isin(BEHAVIOURS), ["prompt_id", "rollout", "behaviour"]]
    df = df.astype({"prompt_id": str, "rollout": int}).reset_index(drop=True)
    refusing = ("refused", "partial") if partial_is_refusal else ("refused",)
    return df.assign(refuses=df["behaviour"].isin(refusing))


def _ci(reps: np.ndarray, level: float) -> tuple[float, float]:
    return ci_from_replicates(reps, level)


def pooled_rate_difference(prompt: Any, group: Any, outcome: Any, *, n_boot: int = 1000, seed: int = 0,
                           level: float = 0.95) -> dict[str, Any]:
    """Rate of ``outcome`` in ``group`` True vs False over all units, with a cluster bootstrap over ``prompt``.

    Returns rate_in (group True), rate_out, difference (in - out), each with lo/hi, and the counts.
    """
    df = pd.DataFrame({"p": np.asarray(prompt).astype(str), "g": np.asarray(group, dtype=bool),
                       "o": np.asarray(outcome, dtype=float)})
    codes, uniq = pd.factorize(df["p"])
    P = len(uniq)
    # per prompt: (units in group, outcomes in group, units out, outcomes out)
    n_in = np.bincount(codes, weights=df["g"], minlength=P)
    o_in = np.bincount(codes, weights=df["g"] * df["o"], minlength=P)
    n_out = np.bincount(codes, weights=~df["g"], minlength=P)
    o_out = np.bincount(codes, weights=(~df["g"]) * df["o"], minlength=P)
    out: dict[str, Any] = {"n_in": int(n_in.sum()), "n_out": int(n_out.sum()), "n_prompts": int(P),
                           "level": level, "n_boot": int(max(n_boot, 0))}
    if n_in.sum() == 0 or n_out.sum() == 0:
        out.update(rate_in=None, rate_out=None, difference=None, note="one of the two groups is empty")
        return out
    with np.errstate(invalid="ignore", divide="ignore"):
        point = (o_in.sum() / n_in.sum(), o_out.sum() / n_out.sum())
        out["rate_in"] = {"estimate": float(point[0])}
        out["rate_out"] = {"estimate": float(point[1])}
        out["difference"] = {"estimate": float(point[0] - point[1])}
        if n_boot > 0:
            w = np.random.default_rng(seed).multinomial(P, np.full(P, 1.0 / P), size=n_boot).astype(float)  # (B, P)
            r_in = (w @ o_in) / (w @ n_in)
            r_out = (w @ o_out) / (w @ n_out)
            for key, reps in (("rate_in", r_in), ("rate_out", r_out), ("difference", r_in - r_out)):
                out[key]["lo"], out[key]["hi"] = _ci(reps, level)
    return out


def paired_rate_difference(prompt: Any, group: Any, outcome: Any, *, n_boot: int = 1000, seed: int = 0,
                           level: float = 0.95) -> dict[str, Any]:
    """Mean over prompts having both groups of (rate in group - rate out of group), bootstrap over those prompts."""
    df = pd.DataFrame({"p": np.asarray(prompt).astype(str), "g": np.asarray(group, dtype=bool),
                       "o": np.asarray(outcome, dtype=float)})
    rates = df.groupby(["p", "g"])["o"].mean().unstack("g")
    both = rates.dropna() if {True, False} <= set(rates.columns) else rates.iloc[:0]
    out: dict[str, Any] = {"n_prompts": int(len(both)), "level": level, "n_boot": int(max(n_boot, 0))}
    if not len(both):
        out.update(difference=None, note="no prompt has both kinds of rollout")
        return out
    d = (both[True] - both[False]).to_numpy(dtype=float)
    out["difference"] = {"estimate": float(d.mean()), "lo": float("nan"), "hi": float("nan")}
    out["rate_in"] = float(both[True].mean())
    out["rate_out"] = float(both[False].mean())
    if n_boot > 0:
        idx = np.random.default_rng(seed).integers(0, len(d), (n_boot, len(d)))
        out["difference"]["lo"], out["difference"]["hi"] = _ci(d[idx].mean(axis=1), level)
    return out


def cluster_auroc(cluster: Any, scores: Any, y: Any, *, n_boot: int = 1000, seed: int = 0,
                  level: float = 0.95) -> dict[str, Any]:
    """AUROC of ``scores`` for ``y`` over units grouped in clusters (rollouts in prompts), with a
    percentile bootstrap that resamples whole clusters. Units with a NaN score are left out."""
    from scipy import sparse

    s = np.asarray(scores, dtype=float)
    yy = np.asarray(y, dtype=bool)
    c = np.asarray(cluster).astype(str)
    keep = ~np.isnan(s)
    s, yy, c = s[keep], yy[keep], c[keep]
    if not yy.any() or yy.all():
        raise InputError(f"AUROC needs both classes; got {int(yy.sum())} positive(s) and {int((~yy).sum())} negative(s).")
    ccode, cu = pd.factorize(c)
    vals, scode = np.unique(s, return_inverse=True)
    P, U = len(cu), len(vals)
    m_pos = sparse.csr_matrix((yy.astype(float), (ccode, scode)), shape=(P, U))
    m_neg = sparse.csr_matrix(((~yy).astype(float), (ccode, scode)), shape=(P, U))

    def area(w: np.ndarray) -> np.ndarray:  # w: (B, P) cluster weights
        cp = np.asarray((m_pos.T @ w.T).T)
        cn = np.asarray((m_neg.T @ w.T).T)
        below = np.cumsum(cn, axis=1) - cn
        num = (cp * (below + 0.5 * cn)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return num / (cp.sum(axis=1) * cn.sum(axis=1))

    point = float(area(np.ones((1, P)))[0])
    lo = hi = float("nan")
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        reps = np.concatenate([area(rng.multinomial(P, np.full(P, 1.0 / P), size=min(200, n_boot - i)).astype(float))
                               for i in range(0, n_boot, 200)])
        lo, hi = _ci(reps, level)
    return {"auroc": point, "lo": lo, "hi": hi, "n_pos": int(yy.sum()), "n_neg": int((~yy).sum()),
            "n_clusters": int(P), "level": level, "n_boot": int(max(n_boot, 0))}


def refusal_by_verbalization(run: Run, *, prompt_ids: Sequence[str] | None = None, partial_is_refusal: bool = True,
                             n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, Any]:
    """Refusal rate of verbalizing vs non-verbalizing rollouts, pooled and paired within prompt."""
    b = rollout_behaviour(run, partial_is_refusal=partial_is_refusal)
    v = rollout_verbalizes(run).astype({"prompt_id": str, "rollout": int})
    df = b.merge(v, on=["prompt_id", "rollout"], how="inner")
    if prompt_ids is not None:
        df = df[df["prompt_id"].isin([str(p) for p in prompt_ids])]
    kw = dict(n_boot=n_boot, seed=seed, level=level)
    return {
        "partial_is_refusal": partial_is_refusal,
        "n_rollouts": int(len(df)),
        "refusal_rate": float(df["refuses"].mean()) if len(df) else None,
        "counts": {k: int(v) for k, v in df["behaviour"].value_counts().items()},
        "pooled": pooled_rate_difference(df["prompt_id"], df["verbalizes"], df["refuses"], **kw),
        "paired": paired_rate_difference(df["prompt_id"], df["verbalizes"], df["refuses"], **kw),
    }


def refusal_vs_score(run: Run, phrase: str, *, method: PromptScoreMethod = "max", bins: int = 5,
                     partial_is_refusal: bool = True, n_boot: int = 1000, seed: int = 0,
                     level: float = 0.95) -> dict[str, Any]:
    """Refusal against the prompt's logit score: binned rates and AUROCs (see the module docstring)."""
    b = rollout_behaviour(run, partial_is_refusal=partial_is_refusal)
    ps = prompt_scores(run, phrase, method=method).astype({"prompt_id": str}).set_index("prompt_id")["score"]
    rv = rollout_values(boundary_scores(run, phrase), method="max").astype({"prompt_id": str, "rollout": int})
    df = b.merge(rv, on=["prompt_id", "rollout"], how="left").assign(prompt_score=lambda d: d["prompt_id"].map(ps))
    df = df.dropna(subset=["prompt_score"])
    out: dict[str, Any] = {"phrase": phrase, "method": method, "partial_is_refusal": partial_is_refusal,
                           "n_rollouts": int(len(df)), "n_prompts": int(df["prompt_id"].nunique())}
    kw = dict(n_boot=n_boot, seed=seed, level=level)
    for key, col in (("auroc_prompt_score", "prompt_score"), ("auroc_rollout_score", "value")):
        try:
            out[key] = cluster_auroc(df["prompt_id"], df[col], df["refuses"], **kw)
        except InputError as e:
            out[key] = None
            out.setdefault("notes", []).append(f"{key}: {e}")
    # quantile bins over prompts (each prompt in one bin), refusal rate of the bin's rollouts
    prompts = df.groupby("prompt_id")["prompt_score"].first()
    nb = max(1, min(bins, prompts.nunique()))
    edges = np.unique(np.quantile(prompts.to_numpy(), np.linspace(0, 1, nb + 1)))
    which = np.clip(np.searchsorted(edges, df["prompt_score"].to_numpy(), side="right") - 1, 0, max(len(edges) - 2, 0))
    rows = []
    rng = np.random.default_rng(seed)
    for k in range(max(len(edges) - 1, 1)):
        sub = df[which == k]
        if not len(sub):
            continue
        per = sub.groupby("prompt_id")["refuses"].agg(["sum", "size"])
        rate = float(per["sum"].sum() / per["size"].sum())
        lo = hi = float("nan")
        if n_boot > 0:
            w = rng.multinomial(len(per), np.full(len(per), 1.0 / len(per)), size=n_boot).astype(float)
            lo, hi = _ci((w @ per["sum"].to_numpy()) / (w @ per["size"].to_numpy()), level)
        rows.append({"bin": k, "score_lo": float(edges[k]), "score_hi": float(edges[min(k + 1, len(edges) - 1)]),
                     "score_mean": float(sub["prompt_score"].mean()), "n_prompts": int(len(per)),
                     "n_rollouts": int(len(sub)), "refusal_rate": rate, "lo": lo, "hi": hi})
    out["bins"] = rows
    return out
