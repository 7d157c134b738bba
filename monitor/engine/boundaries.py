"""From a rollout to its sentence boundaries and the token-forced queries at each.

A boundary is a number of completion tokens: the phrase is forced after
``prompt_token_ids + completion_token_ids[:boundary_token]``. Boundary 0 is the start of the CoT
(after the opening marker and the whitespace the model wrote after it), the "k = 0" point.

The rule, the same for every tokenizer family: the phrase is forced where the model's *next*
sentence would begin. The context keeps every whole sampled token that ends at or before the next
sentence's first character (for the last sentence: the close marker, or the end of the reply), so
the spaces and newlines the model wrote between sentences are in the context unless the tokenizer
merged them into the next word's token (" If"). Qwen's BPE merges ".\n\n" into one token,
GPT-2-style BPE (SmolLM2, Llama 3) writes "." and "\n\n" apart: cutting right after the
sentence's last character would drop the newline on the latter and force the phrase on the same
line. The unfinished last fragment of a CoT cut off by the token budget is not a boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .forcing import Alignment, boundary_before_char, boundary_for_char, force_phrase
from .tokens import decode_memo, token_end_offsets
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
    """Completion tokens in the context: every whole token ending at or before the next sentence's start."""


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


def _after_cot(rollout: Rollout, close: str | None) -> int:
    """Offset in the reply where the model's next thing after the CoT's last sentence begins.

    The close marker when the CoT closed, else the end of the reply (EOS, or the whole-reply CoT).
    """
    text = rollout.completion_text
    if close is not None and not rollout.cot_truncated:
        j = text.find(close, rollout.cot_char_end)
        if j >= 0:
            return j
    return len(text)


def rollout_boundaries(tokenizer: Any, rollout: Rollout, *, close_marker: str | None = "</think>") -> list[Boundary]:
    """Boundary 0 plus one boundary per finished CoT sentence (rule in the module docstring).

    ``close_marker`` is the run's think-close marker (``None`` for a whole-reply CoT).
    """
    ids = list(rollout.completion_token_ids)
    if rollout.finish_reason == "stop":
        ids = ids[:-1]
    ends = token_end_offsets(tokenizer, ids)
    start = rollout.cot_char_start
    out = [Boundary(0, "", 0, 0, boundary_before_char(ends, start))]
    sentences = split_sentences(rollout.cot_text)
    nexts = [start + s.char_start for s in sentences[1:]] + [_after_cot(rollout, close_marker)]
    # A CoT cut off by max_new_tokens ends in a fragment the model had not finished: not a boundary.
    finished = sentences[:-1] if rollout.finish_reason == "length" and rollout.cot_truncated else sentences
    for i, (s, nxt) in enumerate(zip(finished, nexts), start=1):
        b = boundary_before_char(ends, nxt)
        # One token spanning this sentence's end and the next one's start: keep it (the seam check
        # in force_phrase then decides whether the phrase can follow it).
        b = max(b, boundary_for_char(ends, start + s.char_end))
        out.append(Boundary(i, s.text, s.char_start, s.char_end, b))
    return out


def phrase_queries(
    tokenizer: Any, rollout: Rollout, boundaries: Sequence[Boundary], phrases: Sequence[str]
) -> list[PhraseQuery]:
    """The forced ids of every phrase at every boundary (one query per boundary and phrase)."""
    prompt = list(rollout.prompt_token_ids)
    comp = list(rollout.completion_token_ids)
    cache: dict[tuple[int, str], PhraseQuery] = {}
    out = []
    # Both phrases at a boundary, and neighbouring boundaries, decode the same tail windows.
    with decode_memo():
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
