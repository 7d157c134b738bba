"""Lay out :func:`monitor.analysis.summarize` and ``controls`` output as tables (no numbers computed here)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from monitor.analysis import sample_size_text, small_sample_warning

HEADLINE_COLUMNS = ["task", "monitor", "phrase", "auroc", "lo", "hi", "n", "note"]
TASK_NAMES = {"eval_vs_deploy": "eval vs deploy", "verbalizing_eval": "verbalizing eval"}
CONTROL_NAMES = {
    "primary_auroc": "the phrase itself",
    "length_auroc": "prompt length alone (baseline)",
    "control_auroc": "control phrase alone",
    "primary_minus_control_auroc": "phrase − control phrase",
    "length_residualized_auroc": "phrase with length regressed out",
}


def headline_table(summary: dict[str, Any], *, methods: tuple[str, ...] = ("max", "frac_verbalizing")) -> pd.DataFrame:
    """The AUROC records of a summary at the headline prompt-score methods, one row each."""
    rows = []
    for r in summary.get("auroc") or []:
        if r.get("method") not in methods or r.get("auroc") is None:
            continue
        rows.append({
            "task": TASK_NAMES.get(r.get("task"), r.get("task")),
            "monitor": r.get("monitor"),
            "phrase": _phrase_name(r.get("phrase"), r.get("phrases")),
            "auroc": r.get("auroc"), "lo": r.get("lo"), "hi": r.get("hi"),
            "n": _n(r),
            "note": "; ".join(n for n in ("too few prompts" if r.get("small_sample") else "", r.get("note") or "") if n),
        })
    return pd.DataFrame(rows, columns=HEADLINE_COLUMNS)


def unavailable_tasks(summary: dict[str, Any]) -> list[str]:
    """'task: reason' for each task the summary could not score."""
    return [f"{TASK_NAMES.get(t, t)}: {v.get('reason', 'not available')}" for t, v in (summary.get("tasks") or {}).items()
            if not v.get("available", True)]


def controls_table(controls: dict[str, Any]) -> pd.DataFrame:
    """:func:`monitor.analysis.controls` as rows (control, auroc, lo, hi, n); absent controls are left out."""
    rows = []
    for key, label in CONTROL_NAMES.items():
        v = controls.get(key)
        if isinstance(v, dict) and v.get("auroc") is not None:
            rows.append({"control": label, "auroc": v["auroc"], "lo": v.get("lo"), "hi": v.get("hi"), "n": _n(v)})
    return pd.DataFrame(rows, columns=["control", "auroc", "lo", "hi", "n"])


def _n(rec: dict[str, Any]) -> str:
    """``n = 80 + 80`` for a record carrying its class sizes, else empty."""
    if rec.get("n_pos") is None or rec.get("n_neg") is None:
        return ""
    return sample_size_text(rec["n_pos"], rec["n_neg"])


def _phrase_name(phrase: str | None, phrases: list[str] | None) -> str:
    """A headline row's phrase as a reader says it: the judge, a phrase, or a joint monitor spelled out."""
    if not phrase:
        return "(judge)"
    if phrase.startswith("joint:"):
        how = {"max": "max", "logsumexp": "log-sum-exp"}.get(phrase.split(":", 1)[1], phrase.split(":", 1)[1])
        return f"joint monitor ({how} over {len(phrases) if phrases else 'the'} phrases)"
    return phrase


def small_sample_warnings(summary: dict[str, Any]) -> list[str]:
    """One 'too few prompts' warning per available task whose classes are small (rule: monitor.analysis.samplesize)."""
    out = []
    for t, v in (summary.get("tasks") or {}).items():
        if v.get("available", True):
            w = small_sample_warning(v.get("n_pos"), v.get("n_neg"), what=f"the {TASK_NAMES.get(t, t)} AUROC")
            if w:
                out.append(w)
    return out
