"""The exactness check: recompute stored scores naively and compare.

For each checked score row, one plain forward pass over
``prompt_token_ids + completion_token_ids[:boundary_token] + forced_token_ids`` gives the
reference per-token log-probs; the stored ones must agree within ``atol`` (1e-4 in fp32).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engine.models import LoadedModel
from ..engine.scoring import ForceQuery, score_naive
from .store import read_run

__all__ = ["VerifyResult", "verify_run"]


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify_run`."""

    rows_checked: int
    """Score rows recomputed."""
    max_abs_diff: float
    """Largest |stored - recomputed| over all checked per-token log-probs."""
    atol: float
    """Tolerance the check used."""

    @property
    def ok(self) -> bool:
        """True if every checked log-prob agrees within ``atol``."""
        return self.max_abs_diff <= self.atol


def verify_run(run_dir: str | Path, loaded: LoadedModel, *, max_rows: int | None = 200, atol: float = 1e-4, seed: int = 0) -> VerifyResult:
    """Recompute up to ``max_rows`` score rows (a seeded random sample; all if None)."""
    run = read_run(run_dir)
    scores = run.scores
    if max_rows is not None and len(scores) > max_rows:
        scores = scores.sample(max_rows, random_state=seed)
    rolls = run.rollouts.set_index(["prompt_id", "rollout"])
    worst = 0.0
    for rec in scores.to_dict("records"):
        r = rolls.loc[(rec["prompt_id"], rec["rollout"])]
        prompt = [int(x) for x in r["prompt_token_ids"]]
        seq = prompt + [int(x) for x in r["completion_token_ids"]][: int(rec["boundary_token"])]
        forced = tuple(int(x) for x in rec["forced_token_ids"])
        ref = score_naive(loaded.model, seq + list(forced), [ForceQuery(len(seq), forced)])[0]
        stored = np.asarray(rec["token_logprobs"], dtype=float)
        worst = max(worst, float(np.abs(ref - stored).max()), abs(float(ref.sum()) - float(rec["logprob"])))
    return VerifyResult(rows_checked=len(scores), max_abs_diff=worst, atol=atol)
