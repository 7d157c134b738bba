"""From a rollout to its sentence boundaries and the token-forced queries at each.

A boundary is a number of completion tokens: the phrase is forced after
``prompt_token_ids + completion_token_ids[:boundary_token]``. Boundary 0 is the start of the CoT
(after the opening marker and the whitespace the model wrote after it), the "k = 0" point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .forcing import Alignment, boundary_before_char, boundary_for_char, force_phrase, token_end_offsets
from .rollouts import Rollout
from .scoring import ForceQuery
from .sentences import split_sentences

__all__ = ["Boundary", "PhraseQuery", "rollout_boundaries", "phrase_queries"]


@dataclass(frozen=True)
class Boundary:
    """A sentence end in a rollout, as a token position."""

    sentence: int
    """0 for the CoT start, then 1, 2, ... for the CoT's sentences in order."""
    text: str
    """The sentence ("" for sentence 0)."""
    char_start: int
    """Offset of the sentence in the CoT text."""
    char_end: int
    """Offset just past the sentence's last character in the CoT text."""
    boundary_token: int
    """Completion tokens in the context: through the token holding the sentence's last character."""


@dataclass(frozen=True)
class PhraseQuery:
    """A phrase forced at a boundary, ready for scoring."""

    sentence: int
    """The boundary's sentence index."""
    phrase: str
    """The probe phrase."""
    boundary_token: int
    """Completion tokens actually in the context (one less than the sentence's on a cut-back)."""
    forced_ids: tuple[int, ...]
    """The ids whose log-probs are read."""
    alignment: Alignment
    """How the forced ids were aligned to the context (see :mod:`monitor.engine.forcing`)."""


def rollout_boundaries(tokenizer: Any, rollout: Rollout) -> list[Boundary]:
    """Boundary 0 plus one boundary per CoT sentence."""
    ids = list(rollout.completion_token_ids)
    if rollout.finish_reason == "stop":
        ids = ids[:-1]
    ends = token_end_offsets(tokenizer, ids)
    start = rollout.cot_char_start
    out = [Boundary(0, "", 0, 0, boundary_before_char(ends, start))]
    for i, s in enumerate(split_sentences(rollout.cot_text), start=1):
        out.append(Boundary(i, s.text, s.char_start, s.char_end, boundary_for_char(ends, start + s.char_end)))
    return out


def phrase_queries(
    tokenizer: Any, rollout: Rollout, boundaries: Sequence[Boundary], phrases: Sequence[str]
) -> list[PhraseQuery]:
    """The forced ids of every phrase at every boundary (one query per boundary and phrase)."""
    prompt = list(rollout.prompt_token_ids)
    comp = list(rollout.completion_token_ids)
    cache: dict[tuple[int, str], PhraseQuery] = {}
    out = []
    for b in boundaries:
        for phrase in phrases:
            key = (b.boundary_token, phrase)
            if key not in cache:
                f = force_phrase(tokenizer, prompt + comp[: b.boundary_token], phrase, allow_cut_back=b.boundary_token > 0)
                cache[key] = PhraseQuery(b.sentence, phrase, f.context_len - len(prompt), f.forced_ids, f.alignment)
            q = cache[key]
            out.append(PhraseQuery(b.sentence, phrase, q.boundary_token, q.forced_ids, q.alignment))
    return out


def to_force_queries(prompt_len: int, queries: Sequence[PhraseQuery]) -> list[ForceQuery]:
    """Absolute-position queries for :mod:`monitor.engine.scoring`."""
    return [ForceQuery(prompt_len + q.boundary_token, q.forced_ids) for q in queries]
