"""Display tables for the pages: joins and filters of run tables, no statistics.

Every number shown comes from :mod:`monitor.analysis`; these functions only line run tables up for a
page (one row per CoT sentence with its label, a prompt's rollouts, the flagged sentences, CSV
exports) and align labels with scores before calling the engine's ROC functions. Pure functions of
a :class:`monitor.runs.Run`, cached by the caller.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import numpy as np
import pandas as pd

from monitor import analysis
from monitor.runs import Run

FlagFilter = Literal["any", "flagged", "unflagged"]

SENTENCE_COLUMNS = ["prompt_id", "label", "rollout", "sentence", "text", "judge_flag", "judge_quote", "logprob"]


def sentence_table(run: Run, phrase: str) -> pd.DataFrame:
    """One row per CoT sentence (sentence 0, the empty CoT start, excluded) with label, flag and ``phrase``'s log-prob."""
    s = run.sentences
    s = s[s["sentence"] > 0]
    cols = ["prompt_id", "rollout", "sentence", "text"]
    out = s[cols].copy()
    out["judge_flag"] = s["judge_flag"].fillna(False).astype(bool) if "judge_flag" in s else False
    out["judge_quote"] = s["judge_quote"].fillna("").astype(str) if "judge_quote" in s else ""
    sc = run.scores
    sc = sc.loc[sc["phrase"] == phrase, ["prompt_id", "rollout", "sentence", "logprob"]]
    out = out.merge(sc, on=["prompt_id", "rollout", "sentence"], how="left")
    labels = run.prompts.set_index("prompt_id")["label"]
    out["label"] = out["prompt_id"].map(labels).fillna("unknown")
    return out[SENTENCE_COLUMNS].reset_index(drop=True)


def filter_sentences(
    df: pd.DataFrame,
    *,
    text: str = "",
    flag: FlagFilter = "any",
    labels: list[str] | tuple[str, ...] = (),
    logprob_range: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Rows of :func:`sentence_table` matching a case-insensitive substring, flag, labels and log-prob range."""
    mask = np.ones(len(df), dtype=bool)
    if text.strip():
        mask &= df["text"].str.contains(text.strip(), case=False, regex=False).to_numpy()
    if flag == "flagged":
        mask &= df["judge_flag"].to_numpy(dtype=bool)
    elif flag == "unflagged":
        mask &= ~df["judge_flag"].to_numpy(dtype=bool)
    if labels:
        mask &= df["label"].isin(list(labels)).to_numpy()
    if logprob_range is not None:
        lo, hi = logprob_range
        lp = df["logprob"].to_numpy(dtype=float)
        mask &= (lp >= lo) & (lp <= hi)
    return df[mask]


def logprob_bounds(run: Run, phrase: str) -> tuple[float, float]:
    """Floor/ceil of the phrase's log-probs (slider range); (-20, 0) when it has no scores."""
    lp = run.scores.loc[run.scores["phrase"] == phrase, "logprob"]
    lp = lp[np.isfinite(lp)]
    if not len(lp):
        return (-20.0, 0.0)
    return (float(np.floor(lp.min())), float(min(0.0, np.ceil(lp.max()))))


def flagged_sentences(run: Run) -> pd.DataFrame:
    """Judge-flagged CoT sentences with the prompt label (empty when the run has no judge)."""
    cols = ["prompt_id", "label", "rollout", "sentence", "judge_quote", "text"]
    s = run.sentences
    if "judge_flag" not in s:
        return pd.DataFrame(columns=cols)
    f = s[s["judge_flag"].fillna(False).astype(bool)].copy()
    f["judge_quote"] = f["judge_quote"].fillna("").astype(str) if "judge_quote" in f else ""
    f["label"] = f["prompt_id"].map(run.prompts.set_index("prompt_id")["label"]).fillna("unknown")
    return f[cols].reset_index(drop=True)


def prompt_rollouts(run: Run, prompt_id: str, phrase: str) -> pd.DataFrame:
    """A prompt's rollouts: peak log-prob of ``phrase`` and where, length, finish, flagged sentences."""
    r = run.rollouts.loc[run.rollouts["prompt_id"] == prompt_id, ["rollout", "n_sentences", "finish_reason"]].copy()
    sc = run.scores[(run.scores["prompt_id"] == prompt_id) & (run.scores["phrase"] == phrase)]
    if len(sc):
        peak = sc.loc[sc.groupby("rollout")["logprob"].idxmax(), ["rollout", "sentence", "logprob"]]
        peak = peak.rename(columns={"sentence": "peak_sentence", "logprob": "max_logprob"})
        r = r.merge(peak, on="rollout", how="left")
    else:
        r["peak_sentence"], r["max_logprob"] = np.nan, np.nan
    s = run.sentences[run.sentences["prompt_id"] == prompt_id]
    if "judge_flag" in s:
        nflag = s.groupby("rollout")["judge_flag"].apply(lambda x: int(x.fillna(False).astype(bool).sum()))
        r["flagged_sentences"] = r["rollout"].map(nflag).fillna(0).astype(int)
    return r.sort_values("rollout").reset_index(drop=True)


def labelled_scores(run: Run, phrase: str, *, method: str = "max", first_n: int = 3, task: str = "eval_vs_deploy") -> pd.DataFrame:
    """Prompt scores aligned with the task's positives: prompt_id, y (bool), score (log-prob)."""
    y = analysis.task_labels(run, task)
    ps = analysis.prompt_scores(run, phrase, method=method, first_n=first_n).set_index("prompt_id")["score"]
    df = pd.DataFrame({"y": y.astype(bool)}).join(ps.rename("score"), how="inner")
    return df.dropna().reset_index(names="prompt_id")


def roc_panel(run: Run, phrase: str, *, method: str = "max", first_n: int = 3, task: str = "eval_vs_deploy", n_boot: int = 500) -> dict[str, Any]:
    """ROC tables and AUROCs (with CIs) of the logit monitor and, when judged, the verbalization monitor.

    Returns ``{"curves": {name: DataFrame}, "aurocs": DataFrame(monitor, auroc, lo, hi, n_pos, n_neg)}``.
    For the ``verbalizing_eval`` task the verbalization monitor defines the positives, so only the
    logit monitor is scored there.
    """
    curves: dict[str, pd.DataFrame] = {}
    rows = []
    ls = labelled_scores(run, phrase, method=method, first_n=first_n, task=task)
    if ls["y"].nunique() == 2:
        curves[f"logit: {phrase}"] = analysis.roc_curve_table(ls["y"].to_numpy(), ls["score"].to_numpy())
        ci = analysis.bootstrap_auroc(ls["y"].to_numpy(), ls["score"].to_numpy(), n_boot=n_boot)
        rows.append({"monitor": f"logit: {phrase}", "auroc": ci.auroc, "lo": ci.lo, "hi": ci.hi, "n_pos": ci.n_pos, "n_neg": ci.n_neg,
                     **_low_fpr(ls["y"].to_numpy(), ls["score"].to_numpy(), n_boot)})
    if task == "eval_vs_deploy" and "judge_flag" in run.sentences:
        v = analysis.verbalization_scores(run).set_index("prompt_id")["frac_verbalizing"]
        y = analysis.task_labels(run, task).astype(bool)
        vv = pd.DataFrame({"y": y}).join(v.rename("score"), how="inner").dropna()
        if vv["y"].nunique() == 2:
            curves["verbalization (judge)"] = analysis.roc_curve_table(vv["y"].to_numpy(), vv["score"].to_numpy())
            ci = analysis.bootstrap_auroc(vv["y"].to_numpy(), vv["score"].to_numpy(), n_boot=n_boot)
            rows.append({"monitor": "verbalization (judge)", "auroc": ci.auroc, "lo": ci.lo, "hi": ci.hi, "n_pos": ci.n_pos, "n_neg": ci.n_neg,
                         **_low_fpr(vv["y"].to_numpy(), vv["score"].to_numpy(), n_boot)})
    return {"curves": curves, "aurocs": pd.DataFrame(rows, columns=["monitor", "auroc", "lo", "hi", "n_pos", "n_neg", *LOW_FPR_COLUMNS])}


LOW_FPR_COLUMNS = ("TPR@1%FPR", "TPR@5%FPR")


def _low_fpr(y, s, n_boot: int) -> dict[str, str]:
    """TPR at 1% and 5% FPR with their intervals, as display strings beside an AUROC."""
    recs = analysis.bootstrap_tpr_at_fpr(y, s, n_boot=n_boot)
    return {name: f"{r['tpr']:.2f} [{r['lo']:.2f}, {r['hi']:.2f}]" for name, r in zip(LOW_FPR_COLUMNS, recs)}


def phrase_aurocs(run: Run, *, method: str = "max", task: str = "eval_vs_deploy", n_boot: int = 500) -> pd.DataFrame:
    """AUROC with CI of each phrase's prompt score on a task."""
    rows = []
    for p in run.phrases:
        ls = labelled_scores(run, p, method=method, task=task)
        if ls["y"].nunique() < 2:
            continue
        ci = analysis.bootstrap_auroc(ls["y"].to_numpy(), ls["score"].to_numpy(), n_boot=n_boot)
        rows.append({"phrase": p, "auroc": ci.auroc, "lo": ci.lo, "hi": ci.hi, "n_pos": ci.n_pos, "n_neg": ci.n_neg})
    return pd.DataFrame(rows, columns=["phrase", "auroc", "lo", "hi", "n_pos", "n_neg"])


def joint_auroc(run: Run, phrases: list[str], *, how: str = "max", method: str = "max", task: str = "eval_vs_deploy", n_boot: int = 500) -> dict[str, Any]:
    """AUROC with CI of the joint monitor over ``phrases`` (the engine combines them)."""
    js = analysis.joint_prompt_scores(run, phrases, how=how, method=method).set_index("prompt_id")["score"]
    y = analysis.task_labels(run, task).astype(bool)
    df = pd.DataFrame({"y": y}).join(js.rename("score"), how="inner").dropna()
    if df["y"].nunique() < 2:
        return {"auroc": float("nan"), "lo": float("nan"), "hi": float("nan"), "curve": pd.DataFrame(columns=["fpr", "tpr", "threshold"])}
    ci = analysis.bootstrap_auroc(df["y"].to_numpy(), df["score"].to_numpy(), n_boot=n_boot)
    return {"auroc": ci.auroc, "lo": ci.lo, "hi": ci.hi, "n_pos": ci.n_pos, "n_neg": ci.n_neg,
            "curve": analysis.roc_curve_table(df["y"].to_numpy(), df["score"].to_numpy())}


def _jsonify_lists(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object and len(out) and isinstance(out[c].iloc[0], (list, tuple, np.ndarray)):
            out[c] = [json.dumps(np.asarray(v).tolist()) for v in out[c]]
    return out


def export_table(run: Run, name: str, *, phrase: str | None = None) -> pd.DataFrame:
    """A table for CSV export (list columns as JSON arrays; token-id lists of rollouts dropped)."""
    if name == "prompt_scores":
        return analysis.prompt_scores(run, phrase or run.phrases[0])
    if name == "rollouts":
        return run.rollouts.drop(columns=[c for c in ("prompt_token_ids", "completion_token_ids") if c in run.rollouts])
    if name in ("prompts", "sentences", "scores", "annotations"):
        return _jsonify_lists(getattr(run, name))
    raise ValueError(f"unknown table {name!r}")


EXPORTS = ("prompt_scores", "prompts", "rollouts", "sentences", "scores", "annotations")


def sentence_detail(run: Run, prompt_id: str, rollout: int, sentence: int) -> pd.DataFrame:
    """Each phrase's log-prob at one boundary, with every forced token's probability (and the forced token ids)."""
    sc = run.scores
    sc = sc[(sc["prompt_id"] == prompt_id) & (sc["rollout"] == rollout) & (sc["sentence"] == sentence)]
    rows = []
    for r in sc.itertuples(index=False):
        toks = np.exp(np.asarray(r.token_logprobs, dtype=float))
        rows.append({
            "phrase": r.phrase,
            "probability": float(np.exp(r.logprob)),
            "logprob": float(r.logprob),
            "token probabilities": " · ".join(f"{p:.3g}" for p in toks),
            "alignment": getattr(r, "alignment", ""),
            "forced_token_ids": [int(t) for t in r.forced_token_ids],
        })
    return pd.DataFrame(rows, columns=["phrase", "probability", "logprob", "token probabilities", "alignment", "forced_token_ids"])


def prompt_snippets(run: Run, *, width: int = 300) -> pd.Series:
    """Prompt id -> its text on one line, cut at ``width`` characters (tables show it beside the id)."""
    text = run.prompts["text"].astype(str).str.replace(r"\s+", " ", regex=True).str.strip()
    cut = text.str.len() > width
    text = text.where(~cut, text.str.slice(0, width - 1) + "…")
    return pd.Series(text.to_numpy(), index=run.prompts["prompt_id"].astype(str), name="prompt")


def with_prompt_text(df: pd.DataFrame, run: Run, *, width: int = 300) -> pd.DataFrame:
    """``df`` with a ``prompt`` column (the prompt's text, see :func:`prompt_snippets`) right after ``prompt_id``."""
    out = df.copy()
    snippet = out["prompt_id"].astype(str).map(prompt_snippets(run, width=width)).fillna("")
    if "prompt" in out:
        out = out.drop(columns="prompt")
    out.insert(list(out.columns).index("prompt_id") + 1, "prompt", snippet)
    return out


def score_table(run: Run, phrase: str, *, method: str = "max", first_n: int = 3) -> pd.DataFrame:
    """Prompt scores for the Scores table: id, prompt text, label, score, probability; highest first."""
    ps = analysis.prompt_scores(run, phrase, method=method, first_n=first_n)
    ps = ps.assign(probability=np.exp(ps["score"])).sort_values("score", ascending=False).reset_index(drop=True)
    return with_prompt_text(ps, run)


def flagged_table(run: Run) -> pd.DataFrame:
    """:func:`flagged_sentences` with each prompt's text beside its id."""
    return with_prompt_text(flagged_sentences(run), run)


def verbalization_table(run: Run) -> pd.DataFrame:
    """Per-prompt verbalization scores (most verbalizing first) with each prompt's text beside its id."""
    vs = analysis.verbalization_scores(run).sort_values("frac_verbalizing", ascending=False).reset_index(drop=True)
    return with_prompt_text(vs, run)


def first_flagged_rollout(run: Run) -> tuple[str, int] | None:
    """(prompt id, rollout) of the first rollout, in run order, with a judge-flagged sentence (Curves opens on it)."""
    s = run.sentences
    if "judge_flag" not in s:
        return None
    f = s.loc[s["judge_flag"].fillna(False).astype(bool), ["prompt_id", "rollout"]]
    if not len(f):
        return None
    order = {p: i for i, p in enumerate(run.prompts["prompt_id"].astype(str))}
    first = min(zip(f["prompt_id"].astype(str), f["rollout"].astype(int)), key=lambda pr: (order.get(pr[0], 1 << 30), pr[1]))
    return first[0], int(first[1])
