"""Lookups the pages make on every rerun, built once per run (a 10k-rollout run has ~500k score rows).

Filtering a large table by prompt and rollout, or listing a run's phrases from its scores, costs tens
of milliseconds each time; a page that does it a few times per rerun misses the latency target.
:class:`RunIndex` answers those questions from dictionaries and row positions instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitor.runs import Run


@dataclass(frozen=True)
class RunIndex:
    """Row positions and display labels of one run."""

    phrases: list[str]
    """Scored phrases in manifest order (the first is the primary phrase)."""
    prompt_ids: list[str]
    """Prompt ids that have at least one rollout, in prompt order."""
    prompt_labels: dict[str, str]
    """Prompt id -> ``id · label · first 70 characters`` for selectors."""
    prompt_row: dict[str, int]
    """Prompt id -> row position in ``run.prompts``."""
    rollouts: dict[str, list[int]]
    """Prompt id -> its rollout numbers, sorted."""
    rollout_row: dict[tuple[str, int], int]
    """(prompt id, rollout) -> row position in ``run.rollouts``."""
    sentence_rows: dict[tuple[str, int], np.ndarray]
    """(prompt id, rollout) -> row positions in ``run.sentences``."""


def _label(pid: str, label: str, text: str) -> str:
    text = str(text).replace("\n", " ")
    return f"{pid} · {label} · {text[:70]}{'…' if len(text) > 70 else ''}"


def build_index(run: Run) -> RunIndex:
    """Index ``run`` (one pass over each table)."""
    r = run.rollouts
    have = set(r["prompt_id"].astype(str))
    order = [p for p in run.prompts["prompt_id"].astype(str) if p in have]
    labels = {str(p): _label(str(p), lab, txt) for p, lab, txt in zip(run.prompts["prompt_id"], run.prompts["label"], run.prompts["text"])}
    rollouts: dict[str, list[int]] = {}
    rollout_row: dict[tuple[str, int], int] = {}
    for i, (p, k) in enumerate(zip(r["prompt_id"].astype(str), r["rollout"].astype(int))):
        rollouts.setdefault(p, []).append(int(k))
        rollout_row[(p, int(k))] = i
    for v in rollouts.values():
        v.sort()
    s = run.sentences
    groups = s.groupby(["prompt_id", "rollout"], sort=False).indices if len(s) else {}
    sentence_rows = {(str(p), int(k)): np.asarray(v) for (p, k), v in groups.items()}
    prompt_row = {str(p): i for i, p in enumerate(run.prompts["prompt_id"])}
    return RunIndex(phrases=list(run.phrases), prompt_ids=order, prompt_labels=labels, prompt_row=prompt_row, rollouts=rollouts,
                    rollout_row=rollout_row, sentence_rows=sentence_rows)


def rollout_sentences(run: Run, index: RunIndex, prompt_id: str, rollout: int) -> pd.DataFrame:
    """The sentence rows of one rollout (empty when it has none)."""
    rows = index.sentence_rows.get((prompt_id, int(rollout)))
    return run.sentences.iloc[rows] if rows is not None else run.sentences.iloc[:0]
