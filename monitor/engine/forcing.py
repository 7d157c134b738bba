"""Where to force a phrase, and with which token ids (the tokenization rule).

The forced tokens must be the model's canonical tokenization of the text it would emit, or the
probability is badly underestimated (".\\n\\n" is one token in Qwen's BPE; " If" carries its
space). The rule, measured in NOTES-scoring.md:

1. Never re-tokenize the rollout: keep the sampled ids; get each token's end offset by decoding.
2. Where to cut is decided in :mod:`monitor.engine.boundaries` (where the next sentence begins).
3. Force ``phrase`` if the context text ends in whitespace, ``" " + phrase`` otherwise.
4. Forced ids = the tokens of ``encode(tail + text)`` after the seam, with ``tail`` the decoded
   last few context ids, provided that joint encoding has a token boundary exactly at the seam (no
   token straddles context and phrase). Which ids were sampled before the seam does not matter.
5. Otherwise cut back one token and force that token's text + the phrase ("cut_back").
6. If that fails too, force ``encode(text)`` alone at the original boundary ("unaligned"): only
   when the seam between context and forced text would re-tokenize differently.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import InputError

__all__ = ["Alignment", "ForcedPhrase", "token_end_offsets", "boundary_for_char", "force_phrase", "check_phrase", "decode_memo"]

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


class _Memo:
    """Decoded texts of one tokenizer within a :func:`decode_memo` block, and its Rust backend."""

    __slots__ = ("tokenizer", "backend", "texts")

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer  # held so that its id() is not reused while the block lasts
        self.backend = _rust_backend(tokenizer)
        self.texts: dict[tuple[int, ...], str] = {}


_MEMO: ContextVar[dict[int, _Memo] | None] = ContextVar("monitor_decode_memo", default=None)


@contextmanager
def decode_memo() -> Iterator[None]:
    """Within this block, decodes of the same ids by the same tokenizer are done once.

    The seam check and :func:`token_end_offsets` decode short windows of ids, and the same windows
    come back again and again: both phrases at a boundary re-encode the same tail, and the tail's
    windows are the rollout's own (the benchmark run decodes 47k windows, 10k distinct). Decoding
    is a pure function of the ids for a given tokenizer, so a memo changes no result; it lives only
    for the block (a tokenizer changed later, e.g. by added tokens, is never served stale text).
    Blocks nest: an inner one shares the outer memo.
    """
    if _MEMO.get() is not None:
        yield
        return
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def _memo(tokenizer: Any) -> _Memo | None:
    memos = _MEMO.get()
    if memos is None:
        return None
    m = memos.get(id(tokenizer))
    if m is None:
        m = memos[id(tokenizer)] = _Memo(tokenizer)
    return m


def _decode_one(tokenizer: Any, backend: Any, ids: list[int]) -> str:
    if backend is not None:
        return backend.decode(ids, skip_special_tokens=False)
    return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def _decode_all(tokenizer: Any, seqs: list[list[int]]) -> list[str]:
    """``[tokenizer.decode(s, skip_special_tokens=False, clean_up_tokenization_spaces=False) for s in seqs]``,
    through the Rust backend where that is the same thing (:func:`_rust_backend`), and through the
    :func:`decode_memo` where one is active. Not ``decode_batch``: its thread pool is slower on
    these short windows, more so on a loaded machine."""
    m = _memo(tokenizer)
    if m is None:
        backend = _rust_backend(tokenizer)
        return [_decode_one(tokenizer, backend, s) for s in seqs]
    texts, out = m.texts, []
    for s in seqs:
        key = tuple(s)
        t = texts.get(key)
        if t is None:
            t = texts[key] = _decode_one(tokenizer, m.backend, s)
        out.append(t)
    return out


def token_end_offsets(tokenizer: Any, ids: Sequence[int]) -> list[int]:
    """Character offset, in ``decode(ids)``, just past each token.

    Decoding each token against a short window of predecessors keeps this linear; the sum is
    checked against the full decode and, for tokenizers where decoding is not additive, the exact
    quadratic prefix decode is used instead.
    """
    ids = [int(i) for i in ids]
    window = 6
    seqs = [ids]
    for i in range(len(ids)):
        lo = max(0, i - window)
        seqs += [ids[lo:i], ids[lo : i + 1]]
    texts = _decode_all(tokenizer, seqs)
    full = texts[0]
    offsets: list[int] = []
    total = 0
    for i in range(len(ids)):
        total += len(texts[2 * i + 2]) - len(texts[2 * i + 1])
        offsets.append(total)
    if offsets and offsets[-1] == len(full) and all(a <= b for a, b in zip(offsets, offsets[1:])):
        return offsets
    return [len(t) for t in _decode_all(tokenizer, [ids[: i + 1] for i in range(len(ids))])]


def boundary_for_char(ends: Sequence[int], char_end: int) -> int:
    """Number of tokens whose text covers ``[0, char_end)``: the first token boundary at or after it."""
    return min(bisect_left(ends, char_end) + 1, len(ends)) if char_end > 0 else 0


def boundary_before_char(ends: Sequence[int], char: int) -> int:
    """Number of tokens that end at or before ``char``: the last token boundary at or before it."""
    return bisect_right(ends, char)


def _rust_backend(tokenizer: Any) -> Any:
    """The Rust tokenizer behind a transformers fast tokenizer whose encode/decode entry points are
    the library's own and which pads and truncates nothing; else ``None``. With no padding, no
    truncation and no added special tokens, ``tokenizer(text)`` and ``decode`` (cleanup off) are
    exactly the backend's ``encode``/``decode``; calling them directly skips ~90 us of Python per
    call, thousands of calls per run."""
    backend = getattr(tokenizer, "backend_tokenizer", None) if getattr(tokenizer, "is_fast", False) else None
    if backend is None or not hasattr(backend, "decode") or not hasattr(backend, "encode"):
        return None
    from transformers.tokenization_utils_base import PreTrainedTokenizerBase
    from transformers.tokenization_utils_tokenizers import TokenizersBackend

    cls = type(tokenizer)
    ours = (cls.decode is PreTrainedTokenizerBase.decode and cls._decode is TokenizersBackend._decode
            and cls.__call__ is PreTrainedTokenizerBase.__call__ and cls._encode_plus is TokenizersBackend._encode_plus)
    if not ours or backend.truncation is not None or backend.padding is not None:
        return None
    if bool(backend.encode_special_tokens) != bool(getattr(tokenizer, "split_special_tokens", False)):
        return None
    return backend


def _encode(tokenizer: Any, text: str) -> list[int]:
    m = _memo(tokenizer)
    backend = m.backend if m is not None else _rust_backend(tokenizer)
    if backend is not None:
        return list(backend.encode(text, add_special_tokens=False).ids)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _decode(tokenizer: Any, ids: Sequence[int]) -> str:
    return _decode_all(tokenizer, [[int(i) for i in ids]])[0]


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
    tail_ids = [int(i) for i in context_ids[max(0, n - _TAIL) :]]
    tail = _decode(tokenizer, tail_ids)
    while tail.startswith("\ufffd") and len(tail_ids) > 1:  # window began inside a multi-byte char
        tail_ids = tail_ids[1:]
        tail = _decode(tokenizer, tail_ids)
    text = phrase if (not tail or tail[-1].isspace()) else " " + phrase
    joint = _encode(tokenizer, tail + text)
    joint_ends = token_end_offsets(tokenizer, joint) if joint else []
    for cut in (0, 1) if allow_cut_back else (0,):
        keep = len(tail_ids) - cut
        if keep < 0:
            continue
        kept = tail if keep == len(tail_ids) else _decode(tokenizer, tail_ids[:keep])
        seam = len(kept)
        if kept != tail[:seam]:  # the cut split a multi-byte character
            continue
        m = 0 if seam == 0 else next((k + 1 for k, e in enumerate(joint_ends) if e == seam), None)
        if m is None or m >= len(joint):
            continue
        forced = joint[m:]
        seam_text = tail[seam:] + text
        if _decode(tokenizer, forced) == seam_text:
            return ForcedPhrase(n - cut, tuple(forced), seam_text, "exact" if cut == 0 else "cut_back")
    forced = _encode(tokenizer, text)
    return ForcedPhrase(n, tuple(forced), _decode(tokenizer, forced), "unaligned")
