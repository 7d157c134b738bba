"""Encoding and decoding token ids fast, and once: the one place the engine calls a tokenizer's
encode and decode.

Forcing a phrase (:mod:`monitor.engine.forcing`) decodes short windows of ids thousands of times per
run and re-encodes the same context tails and texts again and again. Two things make that cheap
without changing a result:

- **The Rust backend.** For a transformers fast tokenizer whose entry points are the library's own,
  ``tokenizer(text, add_special_tokens=False)`` and ``decode`` (cleanup off) are exactly the
  backend's ``encode``/``decode``; calling it directly skips ~90 us of Python per call.
- **A memo per block.** Within a :func:`decode_memo` block a :class:`Codec` per tokenizer keeps every
  decoded window, encoded text and offset step (pure functions of the ids and the tokenizer), plus
  values a caller asks to keep (:meth:`Codec.keep`, e.g. the special-token strings). It lives only
  for the block, so a tokenizer changed later (added tokens) is never served stale text. Outside a
  block, :func:`codec` gives a fresh Codec whose caches end with the call.

``token_end_offsets`` (step 1 of the forcing rule: each sampled token's end offset, by decoding)
lives here because its speed is all in these caches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from itertools import accumulate
from typing import Any, TypeVar

__all__ = ["Codec", "codec", "decode_memo", "encode", "encode_as_text", "decode", "token_end_offsets"]

_WINDOW = 6  # predecessors each token is decoded against in token_end_offsets
T = TypeVar("T")


class Codec:
    """Encode and decode for one tokenizer, through its Rust backend where that is the same call,
    with caches that live as long as the Codec (one :func:`decode_memo` block, or one call).

    Ids given to its methods are Python ints (they key the caches). Do not change the tokenizer
    while a Codec of it is in use."""

    __slots__ = ("tokenizer", "backend", "texts", "_encode", "encoded", "head_steps", "rest_steps", "kept")

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer  # held so that its id() is not reused while a block lasts
        self.backend = _rust_backend(tokenizer)
        self._encode = _backend_encoder(self.backend)
        self.texts: dict[tuple[int, ...], str] = {}
        self.encoded: dict[str, tuple[int, ...]] = {}
        # token_end_offsets' per-token length steps of the seam check's joint encodings, by the ids they depend on
        self.head_steps: dict[tuple[int, ...], list[int]] = {}
        self.rest_steps: dict[tuple[int, tuple[int, ...]], list[int]] = {}
        self.kept: dict[str, Any] = {}

    def decode(self, ids: list[int]) -> str:
        """``tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)``.

        Not ``decode_batch`` for many: its thread pool is slower on these short windows, more so on
        a loaded machine."""
        key = tuple(ids)
        text = self.texts.get(key)
        if text is None:
            text = self.texts[key] = self._decode_now(ids)
        return text

    def _decode_now(self, ids: list[int]) -> str:
        if self.backend is not None:
            return self.backend.decode(ids, skip_special_tokens=False)
        return self.tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def encode(self, text: str) -> list[int]:
        """``tokenizer(text, add_special_tokens=False)["input_ids"]``, once per text (k = 0 encodes
        the same opening marker after every prompt); the caller gets its own list."""
        if self._encode is not None and not _backend_state_ok(self.tokenizer, self.backend):
            return _encode_now(self.tokenizer, None, text)  # transformers' own call, which resets the backend
        ids = self.encoded.get(text)
        if ids is None:
            ids = self.encoded[text] = tuple(_encode_now(self.tokenizer, self._encode, text))
        return list(ids)

    def keep(self, key: str, make: Callable[[], T]) -> T:
        """``make()``, computed once per Codec (so once per :func:`decode_memo` block) under ``key``."""
        if key not in self.kept:
            self.kept[key] = make()
        return self.kept[key]

    def token_end_offsets(self, ids: list[int]) -> list[int]:
        """See :func:`token_end_offsets` (int ``ids``)."""
        return self._ends_from_steps(ids, self._window_steps(ids), self.decode(ids))

    def joint_end_offsets(self, joint: list[int], split: int) -> list[int]:
        """``token_end_offsets(joint)`` with the windowed steps cached in two parts: those of the
        tokens before ``split`` depend on ``joint[:split]`` alone (the re-encoded context tail, the
        same for every phrase at a boundary), those of the tokens from ``split`` on on
        ``joint[split - _WINDOW:]`` (the context's last tokens and the phrase: at k = 0 the chat
        template's end, the same for every prompt). Any ``split`` gives the same offsets."""
        if not joint:
            return []
        head = tuple(joint[:split])
        steps = self.head_steps.get(head)
        if steps is None:
            steps = self.head_steps[head] = self._window_steps(joint[:split], 0)
        q = min(split, _WINDOW)
        rest = (q, tuple(joint[split - q :]))
        more = self.rest_steps.get(rest)
        if more is None:
            more = self.rest_steps[rest] = self._window_steps(joint[split - q :], q)
        return self._ends_from_steps(joint, steps + more, self.decode(joint))

    def _window_steps(self, ids: list[int], start: int = 0) -> list[int]:
        """For each ``i`` in ``range(start, len(ids))``: the length token ``i`` adds to the decode of
        its (up to ``_WINDOW``) predecessors in ``ids``. A pure function of
        ``ids[max(0, start - _WINDOW):]`` and ``start``. Inlined lookups: ~30 windows per seam check."""
        memo, steps = self.texts, []
        b = None
        for i in range(start, len(ids)):
            lo = i - _WINDOW if i > _WINDOW else 0
            if lo == 0 and b is not None:
                a = b  # the window before token i is the previous window with token i - 1
            else:
                before = tuple(ids[lo:i])
                a = memo.get(before)
                if a is None:
                    a = memo[before] = self._decode_now(ids[lo:i])
            after = tuple(ids[lo : i + 1])
            b = memo.get(after)
            if b is None:
                b = memo[after] = self._decode_now(ids[lo : i + 1])
            steps.append(len(b) - len(a))
        return steps

    def _ends_from_steps(self, ids: list[int], steps: list[int], full: str) -> list[int]:
        """Token end offsets from the windowed steps of ``ids`` and ``full = decode(ids)``: their
        running sum where it ends at ``len(full)`` and never decreases (decoding is additive), else
        the exact quadratic prefix decode (SentencePiece strips a leading space, so it is not)."""
        offsets = list(accumulate(steps))
        if offsets and offsets[-1] == len(full) and (len(steps) < 2 or min(steps[1:]) >= 0):
            return offsets
        return [len(self.decode(ids[: i + 1])) for i in range(len(ids))]


_MEMO: ContextVar[dict[int, Codec] | None] = ContextVar("monitor_decode_memo", default=None)


@contextmanager
def decode_memo() -> Iterator[None]:
    """Within this block, each tokenizer's encodes and decodes of the same input are done once.

    The seam check and :func:`token_end_offsets` decode short windows of ids, and the same windows
    come back again and again: both phrases at a boundary re-encode the same tail, and the tail's
    windows are the rollout's own (the benchmark run decodes 47k windows, 10k distinct). Decoding
    is a pure function of the ids for a given tokenizer, so a memo changes no result. Do not change
    the tokenizer inside a block. Blocks nest: an inner one shares the outer memo.
    """
    if _MEMO.get() is not None:
        yield
        return
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def codec(tokenizer: Any) -> Codec:
    """The active :func:`decode_memo` block's Codec for ``tokenizer``, or outside a block a fresh one
    (whose caches serve only the caller)."""
    memos = _MEMO.get()
    if memos is None:
        return Codec(tokenizer)
    c = memos.get(id(tokenizer))
    if c is None:
        c = memos[id(tokenizer)] = Codec(tokenizer)
    return c


def encode(tokenizer: Any, text: str) -> list[int]:
    """``tokenizer(text, add_special_tokens=False)["input_ids"]``, fast and memoised in a block."""
    return codec(tokenizer).encode(text)


def encode_as_text(tokenizer: Any, text: str) -> list[int]:
    """The ids of ``text`` with any special-token string in it split into ordinary tokens."""
    # transformers' own call: it leaves encode_special_tokens set on the backend, which the next
    # Codec.encode sees and routes around.
    return list(tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"])


def decode(tokenizer: Any, ids: Sequence[int]) -> str:
    """``tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)``."""
    return codec(tokenizer).decode([int(i) for i in ids])


def token_end_offsets(tokenizer: Any, ids: Sequence[int]) -> list[int]:
    """Character offset, in ``decode(ids)``, just past each token.

    Decoding each token against a short window of predecessors keeps this linear; the sum is
    checked against the full decode and, for tokenizers where decoding is not additive, the exact
    quadratic prefix decode is used instead.
    """
    return codec(tokenizer).token_end_offsets([int(i) for i in ids])


def _rust_backend(tokenizer: Any) -> Any:
    """The Rust tokenizer behind a transformers fast tokenizer whose encode/decode entry points are
    the library's own and which pads and truncates nothing; else ``None``. With no padding, no
    truncation and no added special tokens, ``tokenizer(text)`` and ``decode`` (cleanup off) are
    exactly the backend's ``encode``/``decode``."""
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


def _encode_now(tokenizer: Any, encode: Any, text: str) -> list[int]:
    if encode is not None:
        return list(encode(text))
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])
