"""Special-token text inside a prompt: plain text by default, never a control token by accident.

A prompt that contains ``<|im_end|><|im_start|>assistant`` would, tokenized with the rendered
chat template as one string, become the real control tokens: the prompt ends the user's turn and
writes part of the assistant's. By default (``special_tokens="text"``) the text of every message is
tokenized with the tokenizer's special tokens split into ordinary tokens, while the template's own
markers stay control tokens. ``special_tokens="parse"`` keeps the old behaviour (for prompts that
deliberately carry chat markup). A prompt without such text tokenizes exactly as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from ..errors import InputError
from .tokens import codec, encode, encode_as_text
from ..prompts.record import Prompt

__all__ = ["SpecialTokens", "special_strings", "special_strings_in", "tokenize_rendered"]

SpecialTokens = Literal["text", "parse"]


def special_strings(tokenizer: Any) -> list[str]:
    """Strings the tokenizer turns into one added/special token wherever they appear (longest first).

    Within a :func:`~monitor.engine.tokens.decode_memo` block they are collected once per
    tokenizer (a prompt set renders every prompt against the same tokenizer); outside one, every
    call reads the tokenizer afresh, so a token added later is always seen."""
    return list(codec(tokenizer).keep("special_strings", lambda: tuple(_special_strings(tokenizer))))


def _special_strings(tokenizer: Any) -> list[str]:
    found = set(getattr(tokenizer, "all_special_tokens", None) or [])
    for t in (getattr(tokenizer, "added_tokens_decoder", None) or {}).values():
        content = getattr(t, "content", None)
        if content:
            found.add(str(content))
    return sorted((s for s in found if s), key=len, reverse=True)


def special_strings_in(tokenizer: Any, prompt: Prompt) -> list[str]:
    """The special-token strings that occur in the prompt's messages (empty for almost every prompt)."""
    texts = [str(m.get("content") or "") for m in prompt.chat_messages()]
    return [s for s in special_strings(tokenizer) if any(s in t for t in texts)]


def _ids(tokenizer: Any, text: str, *, split: bool) -> list[int]:
    # Unsplit through the fast path (monitor.engine.tokens): a prompt set pays ~60 us less per prompt.
    return encode_as_text(tokenizer, text) if split else encode(tokenizer, text)


def tokenize_rendered(tokenizer: Any, text: str, prompt: Prompt, *, special_tokens: SpecialTokens = "text") -> list[int]:
    """Token ids of a rendered chat ``text``, with special-token strings from ``prompt``'s messages
    kept as plain text unless ``special_tokens == "parse"``."""
    if special_tokens not in ("text", "parse"):
        raise InputError(f"special_tokens is 'text' or 'parse' (got {special_tokens!r}).")
    if special_tokens == "parse" or not special_strings_in(tokenizer, prompt):
        return _ids(tokenizer, text, split=False)
    # Locate each message's text in the rendering (templates insert it verbatim, some stripped)
    # and tokenize those spans with the special tokens split; the template's parts as usual.
    specials = special_strings(tokenizer)
    ids: list[int] = []
    pos = 0
    for m in prompt.chat_messages():
        content = str(m.get("content") or "")
        if not any(s in content for s in specials):
            continue
        for candidate in (content, content.strip()):
            at = text.find(candidate, pos) if candidate else -1
            if at >= 0:
                break
        else:
            raise InputError(
                f"Prompt {prompt.prompt_id!r} contains special-token text ({', '.join(repr(s) for s in specials if s in content)[:200]}) "
                "and the chat template changes the message, so it cannot be kept as plain text. Remove it, or pass "
                "--special-tokens parse to let it act as chat markup."
            )
        ids += _ids(tokenizer, text[pos:at], split=False) + _ids(tokenizer, candidate, split=True)
        pos = at + len(candidate)
    return ids + _ids(tokenizer, text[pos:], split=False)


def describe(found: Sequence[str]) -> str:
    """A one-line note for the user when a prompt holds special-token text."""
    return ", ".join(repr(s) for s in found[:5])
