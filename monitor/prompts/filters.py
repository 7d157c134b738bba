"""Filters applied to a prompt set after it is read: exclusion rules and the context-window check.

Exclusions remove prompts by id or by a regular expression on their text (e.g. prompts that
announce they are an evaluation, which would make eval awareness trivial) and say why each one
went. The context check counts each prompt's tokens as the model will see them and either fails
with the list of prompts that are too long or skips them, reporting each.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, InputError
from .record import Prompt

__all__ = [
    "ANNOUNCED_EVAL_PATTERNS",
    "Exclusion",
    "ExclusionRules",
    "TooLong",
    "apply_exclusions",
    "check_context_length",
]

ANNOUNCED_EVAL_PATTERNS: tuple[str, ...] = (
    r"\bthis is (just |only )?(an?|the) (test|evaluation|eval)\b",
    r"\byou are (currently )?being (tested|evaluated|benchmarked|red[- ]?teamed)\b",
    r"\b(part of|for) (an?|the|this) (evaluation|benchmark|safety (test|evaluation))\b",
    r"\bred[- ]?team(ing)? (exercise|test|evaluation)\b",
)
"""A starting set of case-insensitive patterns for prompts that say outright that they are a test.
Opt-in (``ExclusionRules(patterns=ANNOUNCED_EVAL_PATTERNS)``); review matches before relying on it."""


@dataclass(frozen=True)
class Exclusion:
    """A prompt removed from a set, and why."""

    prompt: Prompt
    """The excluded prompt."""
    reason: str
    """Which rule matched, e.g. ``id 'p3' is on the exclusion list`` or the matching pattern and text."""


@dataclass(frozen=True)
class ExclusionRules:
    """Prompts to leave out: by id, or when a pattern matches the text, system prompt or a message."""

    ids: frozenset[str] = frozenset()
    """Prompt ids to exclude (any iterable is accepted and stored as a frozenset of strings)."""
    patterns: tuple[str, ...] = ()
    """Regular expressions, searched case-insensitively (Python ``re`` syntax)."""
    _compiled: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", frozenset(str(i).strip() for i in self.ids if str(i).strip()))
        object.__setattr__(self, "patterns", tuple(self.patterns))
        compiled = []
        for p in self.patterns:
            try:
                compiled.append(re.compile(p, re.IGNORECASE))
            except re.error as e:
                raise InputError(f"exclusion pattern {p!r} is not a valid regular expression ({e}); "
                                 r"escape special characters, e.g. \? or \(") from None
        object.__setattr__(self, "_compiled", tuple(compiled))

    def is_empty(self) -> bool:
        """True when no rule is set."""
        return not self.ids and not self.patterns

    @classmethod
    def from_lines(cls, lines: Iterable[str]) -> ExclusionRules:
        """Rules from text lines: ``re:PATTERN`` is a pattern, any other line an id; ``#`` comments."""
        ids, patterns = [], []
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("re:"):
                patterns.append(line[3:].strip())
            else:
                ids.append(line)
        return cls(ids=frozenset(ids), patterns=tuple(patterns))

    @classmethod
    def from_file(cls, path: str | Path) -> ExclusionRules:
        """Rules from a UTF-8 text file in the :meth:`from_lines` format."""
        p = Path(path)
        try:
            return cls.from_lines(p.read_text(encoding="utf-8-sig").splitlines())
        except FileNotFoundError:
            raise InputError(f"{p}: no such exclusion file; check the path") from None
        except UnicodeDecodeError:
            raise InputError(f"{p}: the exclusion file is not UTF-8 text; save it as UTF-8") from None
        except OSError as e:
            raise InputError(f"{p}: cannot read the exclusion file ({e.strerror or e})") from None

    def reason(self, prompt: Prompt) -> str | None:
        """Why ``prompt`` is excluded, or ``None`` if it is kept."""
        if prompt.prompt_id in self.ids:
            return f"id {prompt.prompt_id!r} is on the exclusion list"
        fields = [("text", prompt.text), ("system prompt", prompt.system or "")]
        fields += [(f"message {i}", m.get("content", "")) for i, m in enumerate(prompt.messages or (), 1)]
        for pattern in self._compiled:
            for name, value in fields:
                m = pattern.search(value)
                if m:
                    snippet = value[max(0, m.start() - 20) : m.end() + 20].replace("\n", " ")
                    return f"{name} matches /{pattern.pattern}/: ...{snippet[:100]}..."
        return None


def apply_exclusions(prompts: Sequence[Prompt], rules: ExclusionRules
                     ) -> tuple[list[Prompt], list[Exclusion], list[str]]:
    """Split prompts into (kept, excluded with reasons, excluded ids that matched no prompt)."""
    kept: list[Prompt] = []
    excluded: list[Exclusion] = []
    for p in prompts:
        why = rules.reason(p)
        if why is None:
            kept.append(p)
        else:
            excluded.append(Exclusion(prompt=p, reason=why))
    present = {p.prompt_id for p in prompts}
    return kept, excluded, sorted(rules.ids - present)


@dataclass(frozen=True)
class TooLong:
    """A prompt whose rendered length exceeds what the model can take."""

    prompt_id: str
    """The prompt's id."""
    tokens: int
    """Its length in tokens, as counted (chat template included when the counter renders it)."""
    max_tokens: int
    """The limit it was checked against."""


def check_context_length(prompts: Sequence[Prompt], count_tokens: Callable[[Prompt], int], max_tokens: int,
                         *, skip: bool = False) -> tuple[list[Prompt], list[TooLong]]:
    """Check every prompt against ``max_tokens`` (the context window minus the generation budget).

    Returns (prompts that fit, prompts that do not). With ``skip=False`` any prompt that does not
    fit raises :class:`InputError` naming up to ten of them; with ``skip=True`` they are left out.
    """
    if max_tokens < 1:
        raise ConfigError(f"max_tokens must be at least 1, got {max_tokens}; leave room for the prompt "
                          "when subtracting max_new_tokens from the context window")
    fit: list[Prompt] = []
    too_long: list[TooLong] = []
    for p in prompts:
        n = int(count_tokens(p))
        if n > max_tokens:
            too_long.append(TooLong(prompt_id=p.prompt_id, tokens=n, max_tokens=max_tokens))
        else:
            fit.append(p)
    if too_long and not skip:
        listed = ", ".join(f"{t.prompt_id} ({t.tokens} tokens)" for t in too_long[:10])
        more = f" and {len(too_long) - 10} more" if len(too_long) > 10 else ""
        raise InputError(f"{len(too_long)} prompt{'s' * (len(too_long) != 1)} longer than the {max_tokens} tokens "
                         f"the model can take: {listed}{more}. Shorten or exclude them, lower max_new_tokens, "
                         "or skip them (--skip-long)")
    return fit, too_long
