"""Does a prompt fit the model's context window? Checked before any work, cheapest test first.

What a scoring pass puts into the window: the rendered prompt, then (for a run) up to
``max_new_tokens`` sampled tokens, then a phrase copy whose position ids continue from its
boundary, so the last position is prompt + generated + the longest phrase's tokens (``" " +
phrase`` or ``phrase``, whichever tokenizes longer). At k = 0 there is no generation, but the
think-open marker and a newline are written before the phrase.

A prompt is first measured in characters: no token covers more characters than the longest entry
of the vocabulary, so ``chars > window * longest`` is too long for certain, and a multi-megabyte
prompt is refused before it is tokenized (tokenizing 5 MB took gigabytes of memory).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

from ..errors import InputError
from ..prompts.record import Prompt

__all__ = ["context_window", "phrase_tokens", "prompt_chars", "check_prompt_sizes", "fit_prompts"]

log = logging.getLogger(__name__)

# Tokens a k = 0 context adds after the rendered prompt (the think-open marker and a newline).
K0_EXTRA = 8


def context_window(model: Any) -> int | None:
    """``max_position_embeddings`` of the model's (text) config, or None when it declares none."""
    cfg = getattr(model, "config", None)
    cfg = getattr(cfg, "text_config", None) or cfg
    n = getattr(cfg, "max_position_embeddings", None)
    return int(n) if isinstance(n, int) and n > 0 else None


def _longest_token_chars(tokenizer: Any) -> int:
    cached = getattr(tokenizer, "_monitor_longest_token", None)
    if cached:
        return cached
    try:
        longest = max((len(t) for t in tokenizer.get_vocab()), default=0)
    except Exception:  # a tokenizer without a vocabulary listing: assume generous tokens
        longest = 0
    longest = max(longest, 16)
    try:
        tokenizer._monitor_longest_token = longest
    except Exception:
        pass
    return longest


def prompt_chars(prompt: Prompt) -> int:
    """Characters of every message the prompt renders (system, user, earlier turns)."""
    return sum(len(str(m.get("content") or "")) for m in prompt.chat_messages())


def phrase_tokens(tokenizer: Any, phrases: Sequence[str]) -> int:
    """Tokens of the longest phrase copy (as forced after text or after whitespace)."""
    n = 0
    for p in phrases:
        for text in (p, " " + p):
            n = max(n, len(tokenizer(text, add_special_tokens=False)["input_ids"]))
    return n


def _too_long(what: str, detail: str, window: int, on_long: str, flag: str) -> InputError:
    hint = f" Shorten them, {flag}" if flag else " Shorten them"
    return InputError(f"{what} do not fit the model's context window of {window} tokens: {detail}.{hint}.")


def check_prompt_sizes(model: Any, tokenizer: Any, prompts: Sequence[Prompt], *,
                       on_long: Literal["error", "skip"] = "error", skip_hint: str = "or skip them (--skip-long)") -> list[Prompt]:
    """Prompts not too long *for certain* by their character count; refuse or skip the others."""
    window = context_window(model)
    if window is None:
        return list(prompts)
    limit = window * _longest_token_chars(tokenizer)
    huge = [p for p in prompts if prompt_chars(p) > limit]
    if not huge:
        return list(prompts)
    detail = ", ".join(f"{p.prompt_id} ({prompt_chars(p):,} characters)" for p in huge[:10])
    if on_long == "error" or len(huge) == len(prompts):
        err = _too_long(f"{len(huge)} prompt(s)", detail + f"; no {window}-token window holds more than {limit:,} characters",
                        window, on_long, skip_hint if on_long == "error" else "")
        if on_long == "skip":
            raise InputError(f"Every prompt ({len(prompts)}) is too long for the context window, so nothing would be run. {err}")
        raise err
    log.warning("Skipping %d prompt(s) far longer than the context window: %s", len(huge), detail)
    skip = {p.prompt_id for p in huge}
    return [p for p in prompts if p.prompt_id not in skip]


def fit_prompts(model: Any, tokenizer: Any, prompts: Sequence[Prompt], prompt_tokens: dict[str, int], *,
                reserve: int, on_long: Literal["error", "skip"] = "error", what: str = "",
                skip_hint: str = "lower --max-new-tokens, or skip them (--skip-long)") -> list[Prompt]:
    """Prompts whose ``prompt_tokens + reserve`` fits the window; refuse or skip the rest.

    ``reserve`` is what comes after the prompt (generated tokens + the longest phrase copy). With
    ``on_long="skip"`` a set in which nothing fits is an error too: a run of zero prompts is not a
    result.
    """
    window = context_window(model)
    if window is None:
        return list(prompts)
    too_long = [p for p in prompts if prompt_tokens[p.prompt_id] + reserve > window]
    if not too_long:
        return list(prompts)
    detail = ", ".join(f"{p.prompt_id} ({prompt_tokens[p.prompt_id]} tokens)" for p in too_long[:10])
    detail += f" + {reserve} tokens{(' ' + what) if what else ''}"
    if on_long == "skip" and len(too_long) == len(prompts):
        raise InputError(f"Every prompt ({len(prompts)}) is too long for the model's context window of {window} tokens "
                         f"({detail}), so nothing would be run. Shorten them or lower --max-new-tokens.")
    if on_long == "error":
        raise _too_long(f"{len(too_long)} prompt(s)", detail, window, on_long, skip_hint)
    log.warning("Skipping %d prompt(s) longer than the context window: %s", len(too_long), detail)
    skip = {p.prompt_id for p in too_long}
    return [p for p in prompts if p.prompt_id not in skip]
