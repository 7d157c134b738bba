"""Human column labels, help text and number formats for every table the pages show.

Tables keep the run's raw column names (``n_pos``, ``max_logprob``, ...) so CSV exports and the
engine agree; this module is the one place that says how each is titled, explained and formatted on
screen. Probabilities are shown in scientific notation (``1.00e-09`` and ``1.00e-12`` must not both
read ``0.000000``); log-probabilities with three decimals.
"""

from __future__ import annotations

from typing import Any, Iterable

import pandas as pd
import streamlit as st

PROB_FORMAT = "%.2e"
"""Probabilities span many orders of magnitude: scientific notation keeps 1e-9 apart from 1e-12."""

_SPECS: dict[str, tuple[str, str, str]] = {
    # raw name: (kind, label, help); kind: prob, logprob, auroc, int, text, long, pct, bool, sizes
    "prompt_id": ("text", "prompt id", "The prompt's id in the run (what links and the URL use)."),
    "prompt": ("long", "prompt", "The prompt's text, on one line. Click a cell (or widen the column) to read it all."),
    "label": ("text", "label", "eval: an evaluation-style prompt (positive); deploy: a real-user-style prompt (negative)."),
    "rollout": ("int", "rollout", "Rollout number within its prompt (0 … k−1)."),
    "sentence": ("int", "sentence", "Sentence boundary (0 = the CoT start, before any reasoning)."),
    "text": ("long", "sentence text", "The CoT sentence."),
    "score": ("logprob", "score (log-prob)", "The prompt's score: a log-probability of the phrase (higher = more eval-aware)."),
    "probability": ("prob", "probability", "exp(log-prob): the probability the model gives the phrase there."),
    "logprob": ("logprob", "log-prob", "Natural log of the probability of the whole phrase (sum over its tokens)."),
    "max_logprob": ("logprob", "peak log-prob", "The rollout's highest log-probability of the phrase over its sentence boundaries."),
    "peak_sentence": ("int", "peak at sentence", "The sentence boundary where the rollout's peak is."),
    "n_sentences": ("int", "sentences", "Sentences in the rollout's chain of thought."),
    "finish_reason": ("text", "finished by", "Why generation stopped: the end-of-turn token (stop) or the token budget (length)."),
    "flagged_sentences": ("int", "flagged sentences", "Sentences of the rollout the judge flagged as saying it may be tested."),
    "judge_flag": ("bool", "judge flag", "The judge flagged the sentence as saying the model may be tested."),
    "judge_quote": ("long", "judge's quote", "The eval-aware clause the judge quoted."),
    "frac_verbalizing": ("pct", "rollouts verbalizing", "Fraction of the prompt's rollouts with at least one judge-flagged sentence."),
    "ever_verbalizes": ("bool", "ever verbalizes", "At least one of the prompt's rollouts has a judge-flagged sentence."),
    "n_rollouts": ("int", "rollouts", "Rollouts of the prompt."),
    "auroc": ("auroc", "AUROC", "Area under the ROC curve: the chance that a random positive prompt outscores a random negative one (0.5 = chance)."),
    "lo": ("auroc", "95% CI low", "Lower end of the 95% stratified bootstrap interval over prompts."),
    "hi": ("auroc", "95% CI high", "Upper end of the 95% stratified bootstrap interval over prompts."),
    "n_pos": ("int", "positives", "Positive prompts the AUROC rests on (eval prompts; for 'verbalizing eval', eval prompts that verbalize)."),
    "n_neg": ("int", "negatives", "Negative prompts the AUROC rests on (deploy prompts; for 'verbalizing eval', eval prompts that never verbalize)."),
    "n": ("sizes", "n", "Prompts the AUROC rests on: positives + negatives (eval + deploy; for 'verbalizing eval', eval prompts "
                       "that verbalize + those that never do). Fewer than 10 in a class: read the AUROC with care."),
    "note": ("long", "note", "Caveats: too few prompts, or labels that come from the same rollouts."),
    "monitor": ("text", "monitor", "logit: the token-forced phrase probability; verbalization: the judge's fraction of rollouts that say it."),
    "phrase": ("text", "phrase", "The probe phrase forced at each sentence boundary."),
    "task": ("text", "task", "eval vs deploy: separate evaluation from real-user prompts. Verbalizing eval: among eval prompts, predict "
                             "which produce a rollout that says it is tested."),
    "alignment": ("text", "alignment", "exact: the phrase's tokens are the model's own tokenization at this boundary; unaligned: a merge "
                                       "across the seam forced a fallback (see docs/engine.md)."),
    "token probabilities": ("long", "token probabilities", "Each forced token of the phrase with its probability given the tokens before it."),
}


def column(name: str, **overrides: Any) -> Any:
    """The ``st.column_config`` entry for a raw column name (a plain text column for unknown names)."""
    kind, label, help_ = _SPECS.get(name, ("text", name.replace("_", " "), None))
    kw: dict[str, Any] = {"help": help_, **({"width": "small"} if kind == "int" else {}), **overrides}
    label = kw.pop("label", label)
    if kind == "prob":
        return st.column_config.NumberColumn(label, format=PROB_FORMAT, **kw)
    if kind == "logprob":
        return st.column_config.NumberColumn(label, format="%.3f", **kw)
    if kind == "auroc":
        return st.column_config.NumberColumn(label, format="%.3f", **kw)
    if kind == "int":
        return st.column_config.NumberColumn(label, format="%d", **kw)
    if kind == "pct":
        return st.column_config.ProgressColumn(label, min_value=0.0, max_value=1.0, format="percent", **kw)
    if kind == "bool":
        return st.column_config.CheckboxColumn(label, **kw)
    if kind == "sizes":  # "n = 180 + 175" whole: a narrow table must not clip the counts
        return st.column_config.TextColumn(label, width=kw.pop("width", 100), **kw)
    if kind == "long":
        return st.column_config.TextColumn(label, width=kw.pop("width", "large"), **kw)
    return st.column_config.TextColumn(label, **kw)


def with_class_sizes(df: pd.DataFrame) -> pd.DataFrame:
    """The table with its ``n_pos``/``n_neg`` columns as one ``n`` column (``n = 80 + 80``) placed after the AUROC's interval.

    An AUROC of 1.000 on 2 + 2 prompts and on 80 + 80 read the same; the counts belong beside the
    number, in the form the warnings use (``monitor.analysis.sample_size_text``)."""
    from monitor.analysis import sample_size_text

    if not {"n_pos", "n_neg"} <= set(df.columns):
        return df
    n = [sample_size_text(int(p), int(q)) if pd.notna(p) and pd.notna(q) else "" for p, q in zip(df["n_pos"], df["n_neg"])]
    out = df.drop(columns=["n_pos", "n_neg"])
    after = next((c for c in ("hi", "auroc") if c in out.columns), None)
    out.insert(out.columns.get_loc(after) + 1 if after else len(out.columns), "n", n)
    return out


def config(columns: Iterable[str], **overrides: dict[str, Any]) -> dict[str, Any]:
    """``column_config`` for a table's columns; ``overrides`` maps a raw name to keyword changes (label, width…)."""
    return {c: column(c, **overrides.get(c, {})) for c in columns}


def table_height(n_rows: int, *, max_height: int = 420) -> int | str:
    """A dataframe height that fits its rows (no blank area under a short table), capped for long ones."""
    return "auto" if n_rows <= 10 else min(max_height, 38 + 35 * n_rows)
