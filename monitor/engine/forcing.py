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
from itertools import accumulate
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from ..errors import InputError

__all__ = ["Alignment", "ForcedPhrase", "token_end_offsets", "boundary_for_char", "force_phrase", "check_phrase", "decode_memo"]

Alignment = Literal["exact", "cut_back", "unaligned"]
_TAIL = 16  # context ids decoded for the seam check; merges never reach further back than this
_WINDOW = 6  # predecessors each token is decoded against in token_end_offsets


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
    """Per-tokenizer state within a :func:`decode_memo` block: decoded texts, the Rust backend,
    token_end_offsets' per-token length steps for the seam check's joint encodings (by the ids
    they depend on), and the special-token strings (:func:`monitor.engine.special.special_strings`)."""

    __slots__ = ("tokenizer", "backend", "texts", "encode", "encoded", "head_steps", "rest_steps", "specials")

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer  # held so that its id() is not reused while the block lasts
        self.backend = _rust_backend(tokenizer)
        self.texts: dict[tuple[int, ...], str] = {}
        self.encode = _backend_encoder(self.backend)
        self.encoded: dict[str, tuple[int, ...]] = {}
        self.head_steps: dict[tuple[int, ...], list[int]] = {}
        self.rest_steps: dict[tuple[int, tuple[int, ...]], list[int]] = {}
        self.specials: tuple[str, ...] | None = None


_MEMO: ContextVar[dict[int, _Memo] | None] = ContextVar("monitor_decode_memo", default=None)


@contextmanager
def decode_memo() -> Iterator[None]:
    """Within this block, decodes of the same ids by the same tokenizer are done once.

    The seam check and :func:`token_end_offsets` decode short windows of ids, and the same windows
    come back again and again: both phrases at a boundary re-encode the same tail, and the tail's
    windows are the rollout's own (the benchmark run decodes 47k windows, 10k distinct). Decoding
    is a pure function of the ids for a given tokenizer, so a memo changes no result; it lives only
    for the block (a tokenizer changed later, e.g. by added tokens, is never served stale text).
    The block also keeps the tokenizer's special-token strings and the seam check's per-token
    offset steps (pure functions of the ids too). Do not change the tokenizer inside a block.
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
    return [_decode_in(tokenizer, m, s) for s in seqs]


def token_end_offsets(tokenizer: Any, ids: Sequence[int]) -> list[int]:
    """Character offset, in ``decode(ids)``, just past each token.

    Decoding each token against a short window of predecessors keeps this linear; the sum is
    checked against the full decode and, for tokenizers where decoding is not additive, the exact
    quadratic prefix decode is used instead.
    """
    ids = [int(i) for i in ids]
    return _ends_from_steps(tokenizer, ids, _window_steps(tokenizer, ids), _decode_all(tokenizer, [ids])[0])


def _window_steps(tokenizer: Any, ids: list[int], start: int = 0, m: _Memo | None = None) -> list[int]:
    """For each ``i`` in ``range(start, len(ids))``: the length token ``i`` adds to the decode of
    its (up to ``_WINDOW``) predecessors in ``ids``. A pure function of ``ids[max(0, start - _WINDOW):]``
    and ``start``. ``m``: the active memo, if the caller has it at hand."""
    if m is None:
        m = _memo(tokenizer)
    if m is None:
        seqs = []
        for i in range(start, len(ids)):
            lo = max(0, i - _WINDOW)
            seqs += [ids[lo:i], ids[lo : i + 1]]
        texts = _decode_all(tokenizer, seqs)
        return [len(texts[k + 1]) - len(texts[k]) for k in range(0, len(texts), 2)]
    # The same through the memo, inlined: ~30 window lookups per seam check.
    memo, backend, steps = m.texts, m.backend, []
    b = None
    for i in range(start, len(ids)):
        lo = i - _WINDOW if i > _WINDOW else 0
        if lo == 0 and b is not None:
            a = b  # the window before token i is the previous window with token i - 1
        else:
            before = tuple(ids[lo:i])
            a = memo.get(before)
            if a is None:
                a = memo[before] = _decode_one(tokenizer, backend, ids[lo:i])
        after = tuple(ids[lo : i + 1])
        b = memo.get(after)
        if b is None:
            b = memo[after] = _decode_one(tokenizer, backend, ids[lo : i + 1])
        steps.append(len(b) - len(a))
    return steps


def _ends_from_steps(tokenizer: Any, ids: list[int], steps: list[int], full: str) -> list[int]:
    """token_end_offsets from the windowed steps of ``ids`` and ``full = decode(ids)``: their running
    sum where it ends at ``len(full)`` and never decreases, else the exact prefix decode."""
    offsets = list(accumulate(steps))
    if offsets and offsets[-1] == len(full) and (len(steps) < 2 or min(steps[1:]) >= 0):
        return offsets
    return [len(t) for t in _decode_all(tokenizer, [ids[: i + 1] for i in range(len(ids))])]


def _joint_ends(tokenizer: Any, m: _Memo, joint: list[int], split: int) -> list[int]:
    """``token_end_offsets(tokenizer, joint)`` within a memo block, its windowed steps cached in two
    parts: those of the tokens before ``split`` depend on ``joint[:split]`` alone (the re-encoded
    context tail, the same for every phrase at a boundary), those of the tokens from ``split`` on
    on ``joint[split - _WINDOW:]`` (the context's last tokens and the phrase: at k = 0 the chat
    template's end, the same for every prompt). Any ``split`` gives the same steps."""
    head = tuple(joint[:split])
    steps = m.head_steps.get(head)
    if steps is None:
        steps = m.head_steps[head] = _window_steps(tokenizer, joint[:split], 0, m)
    q = min(split, _WINDOW)
    rest = (q, tuple(joint[split - q :]))
    more = m.rest_steps.get(rest)
    if more is None:
        more = m.rest_steps[rest] = _window_steps(tokenizer, joint[split - q :], q, m)
    return _ends_from_steps(tokenizer, joint, steps + more, _decode_in(tokenizer, m, joint))


def _decode_in(tokenizer: Any, m: _Memo, ids: list[int]) -> str:
    """``_decode(tokenizer, ids)`` of int ``ids`` within the memo block ``m`` (the caller's)."""
    key = tuple(ids)
    text = m.texts.get(key)
    if text is None:
        text = m.texts[key] = _decode_one(tokenizer, m.backend, ids)
    return text


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
    if not ours or not _backend_state_ok(tokenizer, backend):
        return None
    return backend


def _backend_state_ok(tokenizer: Any, backend: Any) -> bool:
    """The backend pads and truncates nothing and splits special tokens as the tokenizer says.

    transformers leaves the state of its last call on the backend (``tokenizer(text,
    split_special_tokens=True)`` leaves ``encode_special_tokens`` set, ``truncation=True`` its
    truncation) and resets it at its next call; so a backend held across calls (a
    :func:`decode_memo` block's) is checked again before each encode (~0.2 us)."""
    return (backend.truncation is None and backend.padding is None
            and bool(backend.encode_special_tokens) == bool(getattr(tokenizer, "split_special_tokens", False)))


def _backend_encoder(backend: Any) -> Any:
    """``text -> ids`` through the backend, ``backend.encode(text, add_special_tokens=False).ids``.

    ``encode_batch_fast`` on a one-text batch runs the same encode without computing the char
    offsets, which nothing here reads (~3 us of a ~17 us encode of a seam-check text, ~10 of ~42
    of a rendered prompt); it pads nothing (no padding, see :func:`_rust_backend`)."""
    if backend is None:
        return None
    fast = getattr(backend, "encode_batch_fast", None)
    if fast is None:
        return lambda text: backend.encode(text, add_special_tokens=False).ids
    return lambda text: fast([text], add_special_tokens=False)[0].ids


def _encode(tokenizer: Any, text: str) -> list[int]:
    """``tokenizer(text, add_special_tokens=False)["input_ids"]``, through the Rust backend where
    that is the same call, and once per text within a :func:`decode_memo` block (k = 0 encodes the
    same opening marker after every prompt)."""
    m = _memo(tokenizer)
    if m is None:
        return _encode_now(tokenizer, _backend_encoder(_rust_backend(tokenizer)), text)
    if m.encode is not None and not _backend_state_ok(tokenizer, m.backend):
        return _encode_now(tokenizer, None, text)  # transformers' own call, which resets the backend
    ids = m.encoded.get(text)
    if ids is None:
        ids = m.encoded[text] = tuple(_encode_now(tokenizer, m.encode, text))
    return list(ids)


def _encode_now(tokenizer: Any, encode: Any, text: str) -> list[int]:
    if encode is not None:
        return list(encode(text))
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
    m = _memo(tokenizer)
    decode = partial(_decode, tokenizer) if m is None else partial(_decode_in, tokenizer, m)  # of int ids
    tail_ids = [int(i) for i in context_ids[max(0, n - _TAIL) :]]
    tail = decode(tail_ids)
    while tail.startswith("\ufffd") and len(tail_ids) > 1:  # window began inside a multi-byte char
        tail_ids = tail_ids[1:]
        tail = decode(tail_ids)
    text = phrase if (not tail or tail[-1].isspace()) else " " + phrase
    joint = _encode(tokenizer, tail + text)
    if not joint:
        joint_ends: list[int] = []
    elif m is None:
        joint_ends = token_end_offsets(tokenizer, joint)
    else:
        joint_ends = _joint_ends(tokenizer, m, joint, min(len(tail_ids), len(joint)))
    for cut in (0, 1) if allow_cut_back else (0,):
        keep = len(tail_ids) - cut
        if keep < 0:
            continue
        kept = tail if keep == len(tail_ids) else decode(tail_ids[:keep])
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
        if decode(forced) == seam_text:
            return ForcedPhrase(n - cut, tuple(forced), seam_text, "exact" if cut == 0 else "cut_back")
    forced = _encode(tokenizer, text)
    return ForcedPhrase(n, tuple(forced), decode(forced), "unaligned")
