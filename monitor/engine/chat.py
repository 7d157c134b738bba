"""Render prompts with a model's chat template in thinking mode, and locate the CoT in a reply.

Two kinds of templates exist: some open the think block in the generation prompt (DeepSeek-R1
distills end the prompt with "<think>\\n"), others leave it to the model (Qwen3 writes "<think>\\n"
itself). :func:`render_prompt` records which, so the CoT is found either way and k = 0 scoring
appends the opening marker only where the model would have written it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, InputError
from ..prompts.record import Prompt

__all__ = ["ThinkMarkers", "RenderedPrompt", "render_prompt", "cot_span", "k0_context_text"]


@dataclass(frozen=True)
class ThinkMarkers:
    """Markers around the chain of thought. ``None`` for a model without them (whole reply = CoT)."""

    open: str | None = "<think>"
    """Text that opens the CoT."""
    close: str | None = "</think>"
    """Text that closes the CoT."""

    def __post_init__(self) -> None:
        if (self.open is None) != (self.close is None):
            raise ConfigError("Think markers: give both an open and a close marker, or neither.")
        if self.open is not None and (not self.open.strip() or not self.close.strip()):
            raise ConfigError("Think markers must not be empty or whitespace; use None for a model without them.")


@dataclass(frozen=True)
class RenderedPrompt:
    """A prompt rendered for generation."""

    text: str
    """Chat-template output, ending with the generation prompt (and "<think>" if the template opens it)."""
    token_ids: tuple[int, ...]
    """``text`` tokenized without adding special tokens (the template already has them)."""
    think_opened: bool
    """True if the template itself opened the think block, so the reply starts inside the CoT."""


def render_prompt(
    tokenizer: Any,
    prompt: Prompt,
    *,
    markers: ThinkMarkers = ThinkMarkers(),
    enable_thinking: bool = True,
    template_kwargs: dict[str, Any] | None = None,
    special_tokens: str = "text",
) -> RenderedPrompt:
    """Render ``prompt`` with the tokenizer's chat template in thinking mode.

    Special-token strings inside the prompt's messages stay plain text unless ``special_tokens``
    is ``"parse"`` (see :mod:`monitor.engine.special`)."""
    if not getattr(tokenizer, "chat_template", None):
        raise InputError(
            "The tokenizer has no chat template, so prompts cannot be rendered for a chat model. "
            "Use a chat/instruct model, or set tokenizer.chat_template to a Jinja template."
        )
    kwargs = {"enable_thinking": enable_thinking, **(template_kwargs or {})}
    try:
        text = tokenizer.apply_chat_template(
            prompt.chat_messages(), add_generation_prompt=True, tokenize=False, **kwargs
        )
    except Exception as e:  # jinja raises TemplateError and friends for unsupported message shapes
        raise InputError(f"Prompt {prompt.prompt_id!r}: the chat template failed to render it ({e}).") from None
    from .special import tokenize_rendered

    ids = tokenize_rendered(tokenizer, text, prompt, special_tokens=special_tokens)  # type: ignore[arg-type]
    opened = markers.open is not None and text.rstrip().endswith(markers.open)
    return RenderedPrompt(text=text, token_ids=tuple(int(i) for i in ids), think_opened=opened)


def k0_context_text(rendered: RenderedPrompt, markers: ThinkMarkers) -> str:
    """The text after which a phrase is forced at k = 0 (start of the CoT, before any reasoning).

    Where the model writes the opening marker itself, we write it for it, followed by a newline as
    Qwen3 and DeepSeek-R1 do; a template that opened the block is used as it is.
    """
    if markers.open is None or rendered.think_opened:
        return rendered.text
    return rendered.text + markers.open + "\n"


def cot_span(completion_text: str, markers: ThinkMarkers, *, think_opened: bool) -> tuple[int, int, bool]:
    """Character span ``(start, end)`` of the CoT inside the reply, and whether it was cut off.

    ``start`` skips whitespace after the opening marker; ``end`` stops before the closing marker
    (or at the end of the text, then ``truncated`` is True). A reply that never opens the block
    when it should is treated as having no CoT: ``start == end == 0``.
    """
    if markers.open is None:
        return 0, len(completion_text), False
    if think_opened:
        start = 0
    else:
        i = completion_text.find(markers.open)
        if i < 0:
            return 0, 0, False
        start = i + len(markers.open)
    while start < len(completion_text) and completion_text[start].isspace():
        start += 1
    j = completion_text.find(markers.close, start)
    if j < 0:
        return start, len(completion_text), True
    end = j
    while end > start and completion_text[end - 1].isspace():
        end -= 1
    return start, end, False
