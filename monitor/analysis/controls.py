"""Controls a careful reviewer asks for: is the monitor just tracking prompt length, or a generic
"the user might be ..." tendency?

- ``length_auroc``: AUROC of prompt length alone (``rollouts.prompt_tokens``, the rendered prompt's
  token count, when the run has it; else the character length of the prompt text: the output
  says which in ``length_source``);
- ``primary_minus_control_auroc``: AUROC of (phrase score - control phrase score) per prompt, where
  the control phrase (e.g. "The user might be asking") shares the phrase's form but not its meaning;
- ``length_residualized_auroc``: AUROC of the residual of the phrase score after a least-squares fit
  on length and log length over the task's prompts (what is left once length is accounted for).

A monitor that only tracks length shows a length AUROC close to its own and a residualized AUROC
near 0.5.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from ..runs.store import Run
from .metrics import bootstrap_auroc
from .scores import PromptScoreMethod, prompt_scores, run_phrases
from .tasks import Task, task_labels

__all__ = ["controls", "prompt_length"]

LengthSource = Literal["prompt_tokens", "characters"]


def prompt_length(run: Run) -> tuple[pd.Series, LengthSource]:
    """Length of each prompt (index prompt_id) and which measure it is."""
    ro = run.rollouts
    if "prompt_tokens" in ro.columns and len(ro) and ro["prompt_tokens"].notna().all():
        return ro.groupby("prompt_id", sort=False)["prompt_tokens"].first().astype(float), "prompt_tokens"
    p = run.prompts
    return pd.Series(p["text"].fillna("").str.len().to_numpy(dtype=float), index=p["prompt_id"].astype(str).to_numpy()), "characters"


def _residualize(score: np.ndarray, length: np.ndarray) -> np.ndarray:
    x = np.column_stack([np.ones_like(length), length, np.log1p(length)])
    coef, *_ = np.linalg.lstsq(x, score, rcond=None)
    return score - x @ coef


def controls(
    run: Run,
    phrase: str,
    *,
    control_phrase: str | None = None,
    task: Task = "eval_vs_deploy",
    method: PromptScoreMethod = "max",
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """The three controls (plus the phrase's own AUROC for comparison), each as AUROC + CI dicts.

    ``control_phrase`` defaults to the manifest's ``control_phrase``; when there is none (or it is
    the phrase itself) the control entries are ``None`` and ``notes`` says why.
    """
    y = task_labels(run, task)
    notes: list[str] = []
    score = prompt_scores(run, phrase, method=method).set_index("prompt_id")["score"]
    length, source = prompt_length(run)
    df = pd.DataFrame({"y": y, "score": score.reindex(y.index), "length": length.reindex(y.index)}).dropna()
    yy = df["y"].to_numpy(dtype=bool)

    def ci(s: np.ndarray, labels: np.ndarray = yy) -> dict[str, Any]:
        return bootstrap_auroc(labels, s, n_boot=n_boot, seed=seed, level=level).to_dict()

    out: dict[str, Any] = {
        "task": task,
        "phrase": phrase,
        "method": method,
        "length_source": source,
        "n_prompts": int(len(df)),
        "primary_auroc": ci(df["score"].to_numpy()),
        "length_auroc": ci(df["length"].to_numpy()),
    }
    x = df["length"].to_numpy()
    if np.std(x) > 0:
        out["length_residualized_auroc"] = ci(_residualize(df["score"].to_numpy(), x))
        out["length_r2"] = float(np.corrcoef(x, df["score"].to_numpy())[0, 1] ** 2) if np.std(df["score"]) > 0 else None
    else:
        out["length_residualized_auroc"] = None
        out["length_r2"] = None
        notes.append("all prompts have the same length: nothing to regress out")

    cp = control_phrase if control_phrase is not None else run.manifest.get("control_phrase")
    out["control_phrase"] = cp
    if cp is None:
        notes.append("no control phrase: the run's manifest names none; pass control_phrase=...")
        out["control_auroc"] = out["primary_minus_control_auroc"] = None
    elif cp not in run_phrases(run):
        notes.append(f"control phrase {cp!r} was not scored in this run; rescore the run with it")
        out["control_auroc"] = out["primary_minus_control_auroc"] = None
    elif cp == phrase:
        notes.append("the phrase is the control phrase itself")
        out["control_auroc"] = out["primary_minus_control_auroc"] = None
    else:
        c = prompt_scores(run, cp, method=method).set_index("prompt_id")["score"].reindex(df.index)
        ok = c.notna().to_numpy()
        if not ok.all():
            notes.append(f"{int((~ok).sum())} prompt(s) lack a control score and are left out of the difference")
        out["control_auroc"] = ci(c.to_numpy()[ok], yy[ok])
        out["primary_minus_control_auroc"] = ci(df["score"].to_numpy()[ok] - c.to_numpy()[ok], yy[ok])
    out["notes"] = notes
    return out
