"""Lay out :func:`monitor.analysis.summarize` and ``controls`` output as tables (no numbers computed here)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from monitor.analysis import small_sample_warning

HEADLINE_COLUMNS = ["task", "monitor", "phrase", "auroc", "lo", "hi", "n_pos", "n_neg", "note"]
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
            "n_pos": r.get("n_pos"), "n_neg": r.get("n_neg"),
            "note": "; ".join(n for n in ("too few prompts" if r.get("small_sample") else "", r.get("note") or "") if n),
        })
    return pd.DataFrame(rows, columns=HEADLINE_COLUMNS)


def unavailable_tasks(summary: dict[str, Any]) -> list[str]:
    """'task: reason' for each task the summary could not score."""
    return [f"{TASK_NAMES.get(t, t)}: {v.get('reason', 'not available')}" for t, v in (summary.get("tasks") or {}).items()
            if not v.get("available", True)]


def controls_table(controls: dict[str, Any]) -> pd.DataFrame:
    """:func:`monitor.analysis.controls` as rows (control, auroc, lo, hi); absent controls are left out."""
    rows = []
    for key, label in CONTROL_NAMES.items():
        v = controls.get(key)
        if isinstance(v, dict) and v.get("auroc") is not None:
            rows.append({"control": label, "auroc": v["auroc"], "lo": v.get("lo"), "hi": v.get("hi")})
    return pd.DataFrame(rows, columns=["control", "auroc", "lo", "hi"])


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
