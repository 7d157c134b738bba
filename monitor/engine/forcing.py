"""Where to force a phrase, and with which token ids (the tokenization rule).

The forced tokens must be the model's canonical tokenization of the text it would emit, or the
probability is badly underestimated (".\\n\\n" is one token in Qwen's BPE; " If" carries its
space). The rule, measured in NOTES-scoring.md:

1. Never re-tokenize the rollout: keep the sampled ids; get each token's end offset by decoding
   (:func:`monitor.engine.tokens.token_end_offsets`).
2. Where to cut is decided in :mod:`monitor.engine.boundaries` (where the next sentence begins).
3. Force ``phrase`` if the context text ends in whitespace, ``" " + phrase`` otherwise.
4. Forced ids = the tokens of ``encode(tail + text)`` after the seam, with ``tail`` the decoded
   last few context ids, provided that joint encoding has a token boundary exactly at the seam (no
   token straddles context and phrase). Which ids were sampled before the seam does not matter.
5. Otherwise cut back one token and force that token's text + the phrase ("cut_back").
6. If that fails too, force ``encode(text)`` alone at the original boundary ("unaligned"): only
   when the seam between context and forced text would re-tokenize differently.

This module only decides; every encode and decode goes through :mod:`monitor.engine.tokens`
(the Rust backend where it is the same call, memoised within a ``decode_memo()`` block).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import InputError
from .tokens import codec
from .tokens import decode_memo, token_end_offsets  # noqa: F401  (importable from here as before tokens.py)

__all__ = ["Alignment", "ForcedPhrase", "boundary_for_char", "boundary_before_char", "force_phrase", "check_phrase"]

Alignment = Literal["exact", "cut_back", "unaligned"]
_TAIL = 16  # context ids decoded for the seam check; merges never reach further back than this


@dataclass(frozen=True)
class ForcedPhrase:
    """The token ids to force after a context, and where exactly."""

    context_len: int
    """Number of context ids kept (the phrase follows ``context_ids[:context_len]``)."""
    forced_ids: tuple[int, ...]
    """Ids whose log-probs are read, in order."""
    forced_text: str
    """``decode(forced_ids)``: the phrase, its leading space if any, and any cut-back text."""
    alignment: Alignment
    """``exact``, ``cut_back`` (one context token re-tokenized with the phrase) or ``unaligned``."""


def check_phrase(phrase: str) -> str:
    """Validate a probe phrase; return it unchanged."""
    if not isinstance(phrase, str) or not phrase.strip():
        raise InputError("A probe phrase is empty. Give a phrase such as 'The user might be testing'.")
    if phrase != phrase.strip():
        raise InputError(
            f"Probe phrase {phrase!r} has leading or trailing whitespace; the leading space is added "
            "automatically where the context needs one. Remove the surrounding whitespace."
        )
    return phrase


def boundary_for_char(ends: Sequence[int], char_end: int) -> int:
    """Number of tokens whose text covers ``[0, char_end)``: the first token boundary at or after it."""
    return min(bisect_left(ends, char_end) + 1, len(ends)) if char_end > 0 else 0


def boundary_before_char(ends: Sequence[int], char: int) -> int:
    """Number of tokens that end at or before ``char``: the last token boundary at or before it."""
    return bisect_right(ends, char)


def force_phrase(tokenizer: Any, context_ids: Sequence[int], phrase: str, *, allow_cut_back: bool = True) -> ForcedPhrase:
    """Forced ids for ``phrase`` after ``context_ids`` under the rule in the module docstring.

    ``allow_cut_back=False`` keeps the last context token in place (used at the CoT start, where
    cutting back would move into the prompt).

    The seam check asks one question: does the canonical encoding of ``tail + text`` have a token
    boundary exactly where the context ends? If so the tokens after it are the phrase's canonical
    ids, whatever ids the model sampled before the seam (sampling is free to pick non-canonical
    ids, such as "\n" "\n" for "\n\n"; they say nothing about the phrase's tokenization).
    """
    n = len(context_ids)
    c = codec(tokenizer)  # encodes and decodes; memoised across calls inside a decode_memo block
    tail_ids = [int(i) for i in context_ids[max(0, n - _TAIL) :]]
    tail = c.decode(tail_ids)
    while tail.startswith("\ufffd") and len(tail_ids) > 1:  # window began inside a multi-byte char
        tail_ids = tail_ids[1:]
        tail = c.decode(tail_ids)
    text = phrase if (not tail or tail[-1].isspace()) else " " + phrase
    joint = c.encode(tail + text)
    joint_ends = c.joint_end_offsets(joint, min(len(tail_ids), len(joint)))
    for cut in (0, 1) if allow_cut_back else (0,):
        keep = len(tail_ids) - cut
        if keep < 0:
            continue
        kept = tail if keep == len(tail_ids) else c.decode(tail_ids[:keep])
        seam = len(kept)
        if kept != tail[:seam]:  # the cut split a multi-byte character
            continue
        if seam == 0:
            at = 0
        elif seam in joint_ends:
            at = joint_ends.index(seam) + 1  # just past the first token that ends at the seam
        else:
            continue
        if at >= len(joint):
            continue
        forced = joint[at:]
        seam_text = tail[seam:] + text
        if c.decode(forced) == seam_text:
            return ForcedPhrase(n - cut, tuple(forced), seam_text, "exact" if cut == 0 else "cut_back")
    forced = c.encode(text)
    return ForcedPhrase(n, tuple(forced), c.decode(forced), "unaligned")
