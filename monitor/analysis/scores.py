"""Prompt-level and rollout-level scores from the boundary scores of a run.

A run's ``scores`` table has one ``logprob`` per (prompt, rollout, sentence boundary, phrase). The
logit monitor turns these into one number per prompt (``PromptScoreMethod``):

- ``max``: maximum over all rollouts and boundaries (the paper's choice; the default);
- ``mean_rollout_max``: each rollout's maximum over its boundaries, averaged over rollouts
  (in log space, i.e. the geometric mean of the per-rollout maximum probabilities);
- ``k0``: the value at boundary 0, the start of the CoT, before any reasoning (it depends on the
  prompt only, so it needs no rollout; with several rollouts their values are averaged);
- ``first_n``: maximum over boundaries 0..N (the CoT start and the first N sentences).

Several phrases combine per boundary before the method applies: ``max`` takes the most likely
phrase, ``logsumexp`` the log of the summed probability (the chance of emitting any of them).
The verbalization monitor's prompt score is the fraction of rollouts with >= 1 judge-flagged
sentence. All functions are groupby/numpy operations over whole columns.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError, RunFormatError
from ..runs.store import Run
from .memo import memo

__all__ = [
    "PromptScoreMethod",
    "JointHow",
    "PROMPT_SCORE_METHODS",
    "aligned_boundaries",
    "boundary_scores",
    "run_phrases",
    "rollout_values",
    "prompt_scores",
    "joint_prompt_scores",
    "rollout_verbalizes",
    "verbalization_scores",
    "has_judge",
    "rollout_curve",
]

PromptScoreMethod = Literal["max", "mean_rollout_max", "k0", "first_n"]
PROMPT_SCORE_METHODS: tuple[PromptScoreMethod, ...] = ("max", "mean_rollout_max", "k0", "first_n")
JointHow = Literal["max", "logsumexp"]
_KEYS = ["prompt_id", "rollout", "sentence"]


def run_phrases(run: Run) -> list[str]:
    """The run's phrases: manifest order first, then any others found in the scores."""
    def compute() -> list[str]:
        listed = [str(p) for p in (run.manifest.get("phrases") or [])]
        seen = pd.unique(run.scores["phrase"]).tolist() if len(run.scores) else []
        return listed + [p for p in seen if p not in listed]

    return memo(run, "phrases", compute)


def _check_phrases(run: Run, phrases: Sequence[str]) -> None:
    known = run_phrases(run)
    missing = [p for p in phrases if p not in known]
    if missing:
        raise InputError(f"phrase(s) {missing} not scored in run {run.path}; it has {known}. "
                         "Pick one of those, or rescore the run with the new phrase.")
    if not phrases:
        raise InputError("no phrase given; pass at least one of the run's phrases.")


def boundary_scores(run: Run, phrases: str | Sequence[str], *, how: JointHow = "max") -> pd.DataFrame:
    """One row per boundary: prompt_id, rollout, sentence, logprob (several phrases joined by ``how``)."""
    if isinstance(phrases, str):
        phrases = [phrases]
    phrases = list(dict.fromkeys(phrases))
    _check_phrases(run, phrases)
    return memo(run, ("boundary_scores", tuple(phrases), how), lambda: _boundary_scores(run, phrases, how))


def aligned_boundaries(run: Run, phrases: Sequence[str]) -> tuple[pd.DataFrame, np.ndarray] | None:
    """(keys, (n_boundaries, n_phrases) logprob matrix) when every phrase was scored at exactly the
    same boundaries in the same order (what the engine writes); ``None`` otherwise.

    Lets joint scores and correlations work column-wise instead of grouping a million rows.
    """
    frames = [boundary_scores(run, p) for p in phrases]
    base = frames[0]
    for f in frames[1:]:
        if len(f) != len(base) or not (
            np.array_equal(f["rollout"].to_numpy(), base["rollout"].to_numpy())
            and np.array_equal(f["sentence"].to_numpy(), base["sentence"].to_numpy())
            and f["prompt_id"].equals(base["prompt_id"])
        ):
            return None
    return base[_KEYS], np.column_stack([f["logprob"].to_numpy(dtype=float) for f in frames])


def _boundary_scores(run: Run, phrases: list[str], how: JointHow) -> pd.DataFrame:
    sc = run.scores
    if len(phrases) == 1:
        return sc.loc[sc["phrase"] == phrases[0], [*_KEYS, "logprob"]].reset_index(drop=True)
    if how not in ("max", "logsumexp"):
        raise InputError(f"unknown joint method {how!r}; use 'max' or 'logsumexp'.")
    wide = aligned_boundaries(run, phrases)
    if wide is not None:
        keys, m = wide
        top = m.max(axis=1)
        val = top if how == "max" else top + np.log(np.exp(m - top[:, None]).sum(axis=1))
        return keys.assign(logprob=val)
    sub = sc.loc[sc["phrase"].isin(phrases), [*_KEYS, "logprob"]]
    g = sub.groupby(_KEYS, sort=False)["logprob"]
    if how == "max":
        return g.max().reset_index()
    if how == "logsumexp":
        m = g.transform("max")
        out = sub[_KEYS].assign(e=np.exp(sub["logprob"] - m), m=m).groupby(_KEYS, sort=False).agg(e=("e", "sum"), m=("m", "first"))
        return pd.DataFrame({"logprob": np.log(out["e"]) + out["m"]}).reset_index()
    raise InputError(f"unknown joint method {how!r}; use 'max' or 'logsumexp'.")


def rollout_values(
    bscores: pd.DataFrame,
    *,
    method: PromptScoreMethod = "max",
    first_n: int = 3,
    rollouts: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Per-rollout value behind a prompt score method: prompt_id, rollout, value.

    ``max``/``mean_rollout_max``: the rollout's maximum over boundaries; ``k0``: its value at
    boundary 0; ``first_n``: its maximum over boundaries 0..first_n.
    """
    b = bscores
    if rollouts is not None:
        b = b[b["rollout"].isin(list(rollouts))]
    if method == "k0":
        b = b[b["sentence"] == 0]
    elif method == "first_n":
        if first_n < 0:
            raise InputError(f"first_n must be >= 0, got {first_n}.")
        b = b[b["sentence"] <= first_n]
    elif method not in ("max", "mean_rollout_max"):
        raise InputError(f"unknown prompt score method {method!r}; use one of {PROMPT_SCORE_METHODS}.")
    fast = _group_max(b)
    if fast is not None:
        return fast
    out = b.groupby(["prompt_id", "rollout"], sort=False)["logprob"].max()
    return out.rename("value").reset_index()


def _max_by_code(codes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Max of ``values`` for each code ``0..n-1`` (factorize codes: every one occurs). ``fmax`` skips
    NaN like a groupby's max: a group is NaN only when all its values are."""
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
    return np.fmax.reduceat(values[order], starts)


def _group_max(b: pd.DataFrame) -> pd.DataFrame | None:
    """``b.groupby(["prompt_id", "rollout"], sort=False)["logprob"].max()`` as a frame, on
    factorized keys (groups in order of first appearance, NaN skipped): the groupby on two keys
    costs ~1 ms of fixed overhead per call and summarize makes a dozen. ``None`` where the keys
    have gaps or the values are not plain floats (the groupby handles those)."""
    v = b["logprob"]
    if not len(b) or not isinstance(v.dtype, np.dtype) or v.dtype.kind != "f":
        return None
    pc, pu = pd.factorize(b["prompt_id"], use_na_sentinel=True)
    rc, ru = pd.factorize(b["rollout"], use_na_sentinel=True)
    if (pc < 0).any() or (rc < 0).any():
        return None
    width = len(ru)
    gc, uk = pd.factorize(pc.astype(np.int64) * width + rc)
    value = _max_by_code(gc, v.to_numpy())
    return pd.DataFrame({"prompt_id": pu.take(uk // width), "rollout": ru.take(uk % width), "value": value})


def _rollout_values(run: Run, phrases: str | Sequence[str], how: JointHow, method: PromptScoreMethod,
                    first_n: int, rollouts: Sequence[int] | None) -> pd.DataFrame:
    names = (phrases,) if isinstance(phrases, str) else tuple(phrases)
    key = ("rollout_values", names, how, method, first_n if method == "first_n" else None,
           None if rollouts is None else tuple(sorted(int(r) for r in rollouts)))
    return memo(run, key, lambda: rollout_values(boundary_scores(run, names, how=how), method=method, first_n=first_n, rollouts=rollouts))


def _labels(run: Run) -> pd.DataFrame:
    # Shared by every prompt-level score of the run (summarize asks a dozen times).
    return memo(run, "labels", lambda: run.prompts[["prompt_id", "label"]].astype({"prompt_id": str}))


def _labelled(run: Run, per_prompt: pd.DataFrame) -> pd.DataFrame:
    """Attach labels, in the prompt table's order; prompts without scores are left out."""
    labels = _labels(run)
    keys = pd.Index(per_prompt["prompt_id"])
    if not keys.is_unique or keys.dtype != labels["prompt_id"].dtype or "label" in per_prompt.columns:
        return labels.merge(per_prompt, on="prompt_id", how="inner").reset_index(drop=True)
    # What the inner merge gives (left order, each label row once per matching key), by position:
    # a merge costs ~1 ms of fixed overhead and summarize attaches labels a dozen times.
    at = keys.get_indexer(labels["prompt_id"])
    hit = np.flatnonzero(at >= 0)
    cols = {c: labels[c].array.take(hit) for c in labels.columns}
    cols.update({c: per_prompt[c].array.take(at[hit]) for c in per_prompt.columns if c != "prompt_id"})
    return pd.DataFrame(cols)


def _prompt_from_rollouts(run: Run, rv: pd.DataFrame, method: PromptScoreMethod) -> pd.DataFrame:
    agg = "max" if method in ("max", "first_n") else "mean"
    per = _per_prompt(rv, agg)
    if per is None:
        g = rv.groupby("prompt_id", sort=False)["value"]
        per = pd.DataFrame({"score": g.agg(agg), "n_rollouts": g.size()}).reset_index()
    return _labelled(run, per)[["prompt_id", "label", "score", "n_rollouts"]]


def _per_prompt(rv: pd.DataFrame, agg: str) -> pd.DataFrame | None:
    """The groupby above (prompt_id, score, n_rollouts in first-appearance order) on factorized
    keys, where it is exact: a max, or a mean of one rollout per prompt (pandas' compensated mean
    of several values may differ in the last bit from a plain sum, so those stay with pandas).
    ``None`` where the groupby must decide."""
    v = rv["value"]
    if not len(rv) or not isinstance(v.dtype, np.dtype) or v.dtype.kind != "f":
        return None
    pc, pu = pd.factorize(rv["prompt_id"], use_na_sentinel=True)
    if (pc < 0).any():
        return None
    n = np.bincount(pc, minlength=len(pu)).astype(np.int64)
    if agg == "max":
        score = _max_by_code(pc, v.to_numpy())
    elif agg == "mean" and (n == 1).all():
        score = np.empty(len(pu), dtype=v.dtype)
        score[pc] = v.to_numpy()
    else:
        return None
    return pd.DataFrame({"prompt_id": pu, "score": score, "n_rollouts": n})


def prompt_scores(
    run: Run,
    phrase: str,
    *,
    method: PromptScoreMethod = "max",
    first_n: int = 3,
    rollouts: Sequence[int] | None = None,
) -> pd.DataFrame:
    """One logit-monitor score per prompt: prompt_id, label, score (logprob), n_rollouts."""
    key = ("prompt_scores", phrase, method, first_n if method == "first_n" else None,
           None if rollouts is None else tuple(sorted(int(r) for r in rollouts)))
    # summarize and the analyses it calls ask for the same prompt scores several times; a copy
    # keeps the memo safe from callers that add columns to what they get.
    return memo(run, key, lambda: _prompt_from_rollouts(run, _rollout_values(run, phrase, "max", method, first_n, rollouts), method)).copy()


def joint_prompt_scores(
    run: Run,
    phrases: Sequence[str],
    *,
    how: JointHow = "max",
    method: PromptScoreMethod = "max",
    first_n: int = 3,
    rollouts: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Prompt scores of several phrases joined per boundary (``max`` or ``logsumexp``)."""
    return _prompt_from_rollouts(run, _rollout_values(run, phrases, how, method, first_n, rollouts), method)


def has_judge(run: Run) -> bool:
    """Whether the run's sentences carry judge flags."""
    return "judge_flag" in run.sentences.columns


def rollout_verbalizes(run: Run) -> pd.DataFrame:
    """prompt_id, rollout, verbalizes (>= 1 judge-flagged sentence), for judged rollouts only
    (a ``judge_ok`` column, when present, marks rollouts whose judging failed: they are left out).
    Raises if the run has no judge."""
    if not has_judge(run):
        raise RunFormatError(
            f"run {run.path} has no judge flags (sentences.parquet lacks judge_flag). "
            f"Run `monitor judge {run.path}` first to get the verbalization monitor."
        )

    def compute() -> pd.DataFrame:
        s = run.sentences
        keys = [s["prompt_id"], s["rollout"]]
        out = s["judge_flag"].fillna(False).astype(bool).groupby(keys, sort=False).any().rename("verbalizes").reset_index()
        if "judge_ok" in s.columns:  # rollouts whose judging failed are unknown, not "did not verbalize"
            ok = s["judge_ok"].fillna(False).astype(bool).groupby(keys, sort=False).all().to_numpy()
            out = out[ok].reset_index(drop=True)
        return out

    return memo(run, "rollout_verbalizes", compute)


def verbalization_scores(run: Run, *, rollouts: Sequence[int] | None = None) -> pd.DataFrame:
    """prompt_id, label, frac_verbalizing, ever_verbalizes, n_rollouts (the verbalization monitor)."""
    rv = rollout_verbalizes(run)
    if rollouts is not None:
        rv = rv[rv["rollout"].isin(list(rollouts))]
    g = rv.groupby("prompt_id", sort=False)["verbalizes"]
    per = pd.DataFrame({"frac_verbalizing": g.mean(), "ever_verbalizes": g.any(), "n_rollouts": g.size()}).reset_index()
    return _labelled(run, per)


def rollout_curve(run: Run, prompt_id: str, rollout: int) -> pd.DataFrame:
    """Every phrase's score at every boundary of one rollout, with the sentence text and judge flag.

    Columns: sentence, text, phrase, logprob, prob, token_logprobs, forced_token_ids,
    boundary_token, alignment, judge_flag, judge_quote. Phrases in run order.
    """
    sc = run.scores
    rows = sc[(sc["prompt_id"] == str(prompt_id)) & (sc["rollout"] == rollout)]
    if not len(rows):
        raise InputError(f"no scores for prompt {prompt_id!r} rollout {rollout} in run {run.path}.")
    st = run.sentences
    sent = st[(st["prompt_id"] == str(prompt_id)) & (st["rollout"] == rollout)]
    cols = ["sentence", "text"] + [c for c in ("judge_flag", "judge_quote") if c in sent.columns]
    out = rows.drop(columns=["prompt_id", "rollout"]).merge(sent[cols], on="sentence", how="left")
    if "judge_flag" not in out:
        out["judge_flag"] = False
    out["judge_flag"] = out["judge_flag"].fillna(False).astype(bool)
    if "judge_quote" not in out:
        out["judge_quote"] = ""
    out["text"] = out["text"].fillna("")
    out["prob"] = np.exp(out["logprob"])
    order = {p: i for i, p in enumerate(run_phrases(run))}
    out = out.assign(_o=out["phrase"].map(order)).sort_values(["sentence", "_o"], kind="stable").drop(columns="_o")
    for c in ("boundary_token", "alignment", "forced_token_ids", "token_logprobs"):
        if c not in out:
            out[c] = None
    return out[["sentence", "text", "phrase", "logprob", "prob", "token_logprobs", "forced_token_ids",
                "boundary_token", "alignment", "judge_flag", "judge_quote"]].reset_index(drop=True)
