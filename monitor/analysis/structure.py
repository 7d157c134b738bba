"""Structure baselines: can the prompt's *shape* alone separate the classes?

The paper's own caveat: its evaluation prompts carry a system prompt and its deployment prompts do
not, "which may inflate separability". Beside the prompt-length control (:mod:`.controls`), this
module scores two structural features as if they were monitors:

- ``has_system``: the prompt has a non-empty system prompt (the ``system`` column, or a system
  message first in ``messages``);
- ``n_turns``: the number of user and assistant messages (1 for a single user message).

A feature that is constant over the task's prompts cannot separate anything and is reported as
not varying (no AUROC). An AUROC far from 0.5 says that the prompt sets differ in structure, and
the monitor's own AUROC should be read against it.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from ..runs.store import Run
from .metrics import bootstrap_auroc
from .tasks import Task, task_labels

__all__ = ["STRUCTURE_FEATURES", "prompt_structure", "structure_baselines"]

STRUCTURE_FEATURES = ("has_system", "n_turns")


def _messages(value: Any) -> list[dict]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return [m for m in value if isinstance(m, dict)] if isinstance(value, (list, tuple)) else []


def prompt_structure(prompts: pd.DataFrame) -> pd.DataFrame:
    """prompt_id, has_system, n_turns for every prompt (the prompts table of a run)."""
    rows = []
    msg_col = prompts["messages"] if "messages" in prompts.columns else pd.Series([None] * len(prompts), index=prompts.index)
    sys_col = prompts["system"] if "system" in prompts.columns else pd.Series([None] * len(prompts), index=prompts.index)
    for pid, system, messages in zip(prompts["prompt_id"].astype(str), sys_col, msg_col):
        msgs = _messages(messages)
        has_sys = (isinstance(system, str) and bool(system.strip())) or any(
            m.get("role") == "system" and str(m.get("content") or "").strip() for m in msgs)
        turns = sum(m.get("role") in ("user", "assistant") for m in msgs) or 1
        rows.append((pid, bool(has_sys), int(turns)))
    return pd.DataFrame(rows, columns=["prompt_id", "has_system", "n_turns"])


def structure_baselines(run: Run, *, task: Task = "eval_vs_deploy", n_boot: int = 1000, seed: int = 0,
                        level: float = 0.95) -> list[dict[str, Any]]:
    """One record per structural feature: task, feature, varies, auroc (AurocCI dict or None), and the
    feature's mean among positives and negatives."""
    y = task_labels(run, task)
    st = prompt_structure(run.prompts).set_index("prompt_id").reindex(y.index)
    yy = y.to_numpy(dtype=bool)
    out = []
    for f in STRUCTURE_FEATURES:
        x = st[f].to_numpy(dtype=float)
        varies = bool(np.nanstd(x) > 0)
        rec: dict[str, Any] = {"task": task, "feature": f, "varies": varies,
                               "mean_pos": float(np.nanmean(x[yy])) if yy.any() else None,
                               "mean_neg": float(np.nanmean(x[~yy])) if (~yy).any() else None,
                               "auroc": None}
        if varies and yy.any() and (~yy).any():
            rec["auroc"] = bootstrap_auroc(yy, x, n_boot=n_boot, seed=seed, level=level).to_dict()
        out.append(rec)
    return out
