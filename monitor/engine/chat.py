"""Render prompts with a model's chat template in thinking mode, and locate the CoT in a reply.

Two kinds of templates exist: some open the think block in the generation prompt (DeepSeek-R1
distills end the prompt with "<think>\\n"), others leave it to the model (Qwen3 writes "<think>\\n"
itself). :func:`render_prompt` records which, so the CoT is found either way and k = 0 scoring
appends the opening marker only where the model would have written it.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable, Sequence
from typing import Any, Literal

from ..errors import ConfigError, InputError
from .tokens import encode
from ..prompts.record import Prompt

__all__ = [
    "ThinkMarkers", "CotMode", "RenderedPrompt", "render_prompt", "cot_span", "k0_context_text", "k0_context_ids",
    "detect_think_markers", "cot_mode", "markers_missing", "describe_cot_mode", "chat_token_counter",
]

CotMode = Literal["think_markers", "whole_reply"]
"""How the CoT is found: between the think markers, or the whole reply (a model without markers)."""


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
            "Supply a Jinja chat template (--chat-template FILE on the command line, the chat-template field "
            "on the Run page, ModelSpec(chat_template=...) in Python), or use a chat/instruct model."
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
    return RenderedPrompt(text=text, token_ids=tuple(map(int, ids)), think_opened=opened)


def detect_think_markers(tokenizer: Any, default: ThinkMarkers = ThinkMarkers()) -> ThinkMarkers:
    """The think markers a model uses: ``default`` if its chat template or vocabulary mentions the
    open marker, else none (the whole reply is the CoT).

    A model that never saw "<think>" in training has neither a template branch for it nor a token
    for it; forcing phrases after markers it never writes silently scores an empty CoT.
    """
    if default.open is None:
        return default
    template = getattr(tokenizer, "chat_template", None) or ""
    if isinstance(template, dict):  # named templates (default, tool_use, ...)
        template = "\n".join(str(t) for t in template.values())
    if default.open in str(template):
        return default
    try:
        vocab = tokenizer.get_vocab()
    except Exception:  # a tokenizer without a vocabulary view: trust the template alone
        vocab = {}
    return default if default.open in vocab else ThinkMarkers(None, None)


def cot_mode(markers: ThinkMarkers) -> CotMode:
    """``whole_reply`` for a model without markers, else ``think_markers``."""
    return "whole_reply" if markers.open is None else "think_markers"


def describe_cot_mode(chat: dict[str, Any]) -> str:
    """One line for a run manifest's ``chat`` section: where the CoT was taken from, and why."""
    source = " (detected: the model's template and vocabulary have no think markers)" if chat.get("markers_source") == "detected" else ""
    if chat.get("cot_mode") == "whole_reply" or ("think_open" in chat and chat.get("think_open") is None):
        return "Whole reply treated as the CoT" + source + "."
    opened, closed = chat.get("think_open", "<think>"), chat.get("think_close", "</think>")
    return f"CoT = the text between {opened} and {closed}."


def markers_missing(markers: ThinkMarkers, completions: Sequence[str], think_opened: Sequence[bool]) -> bool:
    """True when markers are expected but no reply contains the open marker (and no template opened it).

    Then every CoT is empty and only boundary 0 was scored: the markers are wrong for this model.
    """
    if markers.open is None or not completions:
        return False
    return not any(think_opened) and not any(markers.open in c for c in completions)


def chat_token_counter(tokenizer: Any, *, enable_thinking: bool = True) -> Callable[[Prompt], int]:
    """Count a prompt's tokens as the pipeline renders it: chat template plus generation prompt.

    Uses :func:`render_prompt`, so the count is the one the run will see; give it to
    :func:`monitor.prompts.filters.check_context_length`.
    """
    def count(prompt: Prompt) -> int:
        return len(render_prompt(tokenizer, prompt, enable_thinking=enable_thinking).token_ids)

    return count


def k0_context_text(rendered: RenderedPrompt, markers: ThinkMarkers) -> str:
    """The text after which a phrase is forced at k = 0 (start of the CoT, before any reasoning).

    Where the model writes the opening marker itself, we write it for it, followed by a newline as
    Qwen3 and DeepSeek-R1 do; a template that opened the block is used as it is.
    """
    if markers.open is None or rendered.think_opened:
        return rendered.text
    return rendered.text + markers.open + "\n"


def k0_context_ids(tokenizer: Any, rendered: RenderedPrompt, markers: ThinkMarkers) -> list[int]:
    """The ids of :func:`k0_context_text`: the rendered prompt's own ids, then the opening marker's.

    The run's boundary 0 follows the rendered prompt ids exactly, so they are reused here rather
    than re-tokenizing the prompt text (which may split differently at the template's seams).
    """
    ids = list(rendered.token_ids)
    if markers.open is None or rendered.think_opened:
        return ids
    return ids + encode(tokenizer, markers.open + "\n")


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
