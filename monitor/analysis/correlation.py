"""Correlation of the phrases' scores with each other.

At ``level="boundary"`` each observation is one (prompt, rollout, sentence) boundary with a score
for every phrase; at ``level="prompt"`` it is a prompt's max-over-everything score. Boundaries
missing a phrase are left out (complete cases). Spearman is the Pearson correlation of average
ranks, computed here column-wise with numpy so a million boundaries stay fast.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from ..errors import InputError
from ..runs.store import Run
from .metrics import _average_ranks
from .scores import aligned_boundaries, prompt_scores, run_phrases

__all__ = ["phrase_correlation"]


def _wide(run: Run, phrases: list[str]) -> np.ndarray:
    """(n_boundaries, n_phrases) logprob matrix, NaN where a boundary lacks a phrase."""
    fast = aligned_boundaries(run, phrases)
    if fast is not None:
        return fast[1]
    sc = run.scores
    pcode = pd.factorize(sc["prompt_id"])[0].astype(np.int64)
    roll = sc["rollout"].to_numpy(dtype=np.int64)
    sent = sc["sentence"].to_numpy(dtype=np.int64)
    key = (pcode * (int(roll.max()) + 1) + roll) * (int(sent.max()) + 1) + sent
    row = pd.factorize(key)[0]
    col = pd.Index(phrases).get_indexer(sc["phrase"])
    ok = col >= 0
    m = np.full((int(row.max()) + 1, len(phrases)), np.nan)
    m[row[ok], col[ok]] = sc["logprob"].to_numpy(dtype=float)[ok]
    return m


def phrase_correlation(
    run: Run,
    *,
    method: Literal["spearman", "pearson"] = "spearman",
    level: Literal["boundary", "prompt"] = "boundary",
) -> pd.DataFrame:
    """Phrase x phrase correlation matrix (index and columns are the phrases, in run order)."""
    phrases = run_phrases(run)
    if method not in ("spearman", "pearson"):
        raise InputError(f"unknown correlation method {method!r}; use 'spearman' or 'pearson'.")
    if level == "boundary":
        m = _wide(run, phrases) if len(run.scores) else np.empty((0, len(phrases)))
    elif level == "prompt":
        cols = [prompt_scores(run, p).set_index("prompt_id")["score"].rename(p) for p in phrases]
        m = pd.concat(cols, axis=1).to_numpy(dtype=float) if cols else np.empty((0, 0))
    else:
        raise InputError(f"unknown level {level!r}; use 'boundary' or 'prompt'.")
    m = m[~np.isnan(m).any(axis=1)]
    if len(m) < 2:
        c = np.full((len(phrases), len(phrases)), np.nan)
    else:
        if method == "spearman":
            m = _average_ranks(m.T).T
        with np.errstate(invalid="ignore", divide="ignore"):
            c = np.corrcoef(m, rowvar=False).reshape(len(phrases), len(phrases))
    return pd.DataFrame(c, index=pd.Index(phrases, name="phrase"), columns=phrases)
