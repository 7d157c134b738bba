"""Which sentences of a prompt raise its k = 0 score: leave-one-sentence-out attribution.

The caller scores the original prompt and every variant with one sentence left out in a single
:func:`monitor.engine.k0.score_prompts` call (one packed pass per variant, all phrases at once);
:func:`attribution_table` subtracts: delta > 0 means the sentence makes the phrase more likely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from ..prompts.record import Prompt
from .sentences import split_sentences

__all__ = ["ORIGINAL_ID", "Variant", "loo_variants", "variant_prompts", "attribution_table"]

ORIGINAL_ID = "original"


@dataclass(frozen=True)
class Variant:
    """The prompt with one sentence left out."""

    index: int
    """1-based position of the left-out sentence in the prompt."""
    sentence: str
    """The left-out sentence."""
    text: str
    """The prompt without it."""


def loo_variants(text: str) -> list[Variant]:
    """One variant per sentence of ``text`` (sentences as the CoT splitter sees them)."""
    out = []
    for i, s in enumerate(split_sentences(text), 1):
        rest = text[: s.char_start] + text[s.char_end :]
        # drop the gap the sentence leaves ("a.  b." -> "a. b."), keep line structure
        rest = re.sub(r"[ \t]{2,}", " ", rest).strip()
        out.append(Variant(i, s.text, rest))
    return out


def variant_prompts(text: str, *, system: str | None = None) -> tuple[list[Prompt], list[Variant]]:
    """The original prompt (id ``original``) followed by its leave-one-out variants (ids ``drop-<i>``)."""
    variants = [v for v in loo_variants(text) if v.text.strip()]
    prompts = [Prompt(ORIGINAL_ID, text, system=system or None)]
    prompts += [Prompt(f"drop-{v.index}", v.text, system=system or None) for v in variants]
    return prompts, variants


def attribution_table(scores: pd.DataFrame, variants: list[Variant]) -> pd.DataFrame:
    """Per sentence and phrase: Δ = log-prob of the full prompt − log-prob without the sentence.

    Δ > 0: the sentence raises the probability of the phrase (it makes the prompt look more like a test).
    Columns: sentence (1-based), text, phrase, delta, logprob_without.
    """
    full = scores[scores["prompt_id"] == ORIGINAL_ID].set_index("phrase")["logprob"]
    rows = []
    for v in variants:
        part = scores[scores["prompt_id"] == f"drop-{v.index}"]
        for r in part.itertuples(index=False):
            rows.append({"sentence": v.index, "text": v.sentence, "phrase": r.phrase,
                         "delta": float(full.get(r.phrase, float("nan")) - r.logprob), "logprob_without": float(r.logprob)})
    return pd.DataFrame(rows, columns=["sentence", "text", "phrase", "delta", "logprob_without"])

