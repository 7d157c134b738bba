"""The imported-rollout record, the column mapping for rollout files, and per-record checks.

Every source reader (tables, OpenAI-style completions, Inspect logs, Petri transcripts) turns its
input into :class:`ImportedRollout` records; :mod:`monitor.ingest.driver` rebuilds each as the
scoring model would have emitted it and scores it. Prompt fields (text, messages, system, id,
label) go through the prompt loader's own validation, so an imported prompt gets the same id and
the same errors it would get from ``--prompts``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import InputError
from ..prompts.record import Label, Prompt
from ..prompts.records import ColumnMapping, RowError, _to_prompt, type_name

__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "ImportedRollout",
    "RolloutColumns",
    "RolloutSource",
    "normalize_finish_reason",
    "prompt_from_fields",
    "check_record_size",
]

DEFAULT_MAX_RECORD_BYTES = 8_000_000
"""Largest single record accepted (8 MB): a CoT of 100k tokens is ~0.5 MB, so larger is an error."""

_LENGTH_REASONS = {"length", "max_tokens", "model_length", "max_length", "max_new_tokens", "token_limit"}


@dataclass(frozen=True)
class ImportedRollout:
    """One rollout generated elsewhere, as read from its source."""

    prompt: Prompt
    """The prompt it answers (id, label, chat messages)."""
    where: str
    """Its position in the source (``line 4``, ``sample 3 epoch 1``, a file name), for messages."""
    rollout: int | None = None
    """Index among the prompt's rollouts; None: numbered in source order."""
    cot: str | None = None
    """The chain of thought alone (``reasoning_content``, a reasoning block, a ``cot`` column)."""
    response: str | None = None
    """The reply after the CoT (the final answer)."""
    completion: str | None = None
    """The whole reply as one string holding the think markers (used when ``cot`` is None)."""
    finish_reason: Literal["stop", "length"] = "stop"
    """``length`` when generation hit its token limit (an unclosed CoT is then kept as truncated)."""
    model: str | None = None
    """The generating model, when the source names it."""


@dataclass(frozen=True)
class RolloutSource:
    """Everything read from one source file or directory."""

    rollouts: tuple[ImportedRollout, ...]
    """The usable records, in source order."""
    format: str
    """The format read (``jsonl``, ``openai``, ``inspect``, ``petri``, ...)."""
    warnings: tuple[str, ...] = ()
    """Records skipped in lenient mode, each with its position and reason."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Source-level facts for the manifest (e.g. an Inspect log's task and version)."""


# Default column names of the rollout fields; each accepts these aliases unless mapped explicitly.
_ROLLOUT_FIELDS: dict[str, tuple[str, ...]] = {
    "rollout": ("rollout", "sample_index", "sample_idx"),
    "cot": ("cot", "reasoning_content", "reasoning"),
    "response": ("response",),
    "completion": ("completion",),
    "finish_reason": ("finish_reason", "stop_reason"),
    "model": ("model",),
}


@dataclass(frozen=True)
class RolloutColumns:
    """Which columns hold a rollout's prompt fields (:class:`ColumnMapping`) and its reply fields."""

    prompt: ColumnMapping = field(default_factory=ColumnMapping)
    """Prompt fields: text, messages, system, id, label."""
    rollout: dict[str, str] = field(default_factory=dict)
    """Explicitly mapped reply fields (rollout, cot, response, completion, finish_reason, model)."""

    @classmethod
    def parse(cls, spec: str) -> "RolloutColumns":
        """Parse ``"id=qid,rollout=sample_idx,cot=thinking"`` (the CLI's ``--columns``)."""
        prompt_parts, mapped = [], {}
        for part in filter(None, (p.strip() for p in (spec or "").split(","))):
            key, sep, column = (s.strip() for s in part.partition("="))
            if key in _ROLLOUT_FIELDS:
                if not sep or not column:
                    raise InputError(f"column mapping {part!r}: the {key} field needs a column name (e.g. {key}=NAME)")
                mapped[key] = column
            elif key in {"text", "messages", "system", "id", "label"}:
                prompt_parts.append(part)
            else:
                raise InputError(
                    f"column mapping {part!r} is not FIELD=COLUMN with FIELD one of text, messages, system, id, "
                    f"label, {', '.join(_ROLLOUT_FIELDS)} (e.g. id=qid,rollout=sample_idx,cot=thinking)"
                )
        return cls(prompt=ColumnMapping.parse(",".join(prompt_parts)), rollout=mapped)

    def candidates(self, name: str) -> tuple[str, ...]:
        """Column names tried for reply field ``name``, in order."""
        if name in self.rollout:
            return (self.rollout[name],)
        return _ROLLOUT_FIELDS[name]

    def reply_columns(self) -> set[str]:
        """Every column that may hold a reply field (kept out of the prompt's meta)."""
        return {c for f in _ROLLOUT_FIELDS for c in self.candidates(f)}

    def describe(self) -> dict[str, Any]:
        """The mapping for the manifest."""
        p = self.prompt
        return {"text": p.text, "messages": p.messages, "system": p.system, "id": p.id, "label": p.label,
                **{f: list(self.candidates(f)) for f in _ROLLOUT_FIELDS}}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def normalize_finish_reason(value: Any) -> Literal["stop", "length"]:
    """``length`` for a token-limit stop (``length``, ``max_tokens``, ``model_length``...), else ``stop``."""
    if _missing(value) or value == "":
        return "stop"
    return "length" if str(value).strip().lower() in _LENGTH_REASONS else "stop"


def text_field(record: Mapping[str, Any], names: tuple[str, ...], what: str) -> str | None:
    """The first present, non-null value among ``names`` as a string (RowError if not a string)."""
    for name in names:
        if name in record and not _missing(record[name]):
            v = record[name]
            if not isinstance(v, str):
                raise RowError(f"{what} field {name!r} must be a string, got {type_name(v)}")
            return v
    return None


def rollout_index(record: Mapping[str, Any], names: tuple[str, ...]) -> int | None:
    """The record's rollout index, if it has one (a non-negative integer)."""
    for name in names:
        if name in record and not _missing(record[name]) and record[name] != "":
            v = record[name]
            try:
                if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
                    raise ValueError
                i = int(v)
            except (TypeError, ValueError):
                raise RowError(f"rollout index {name!r} must be a non-negative integer, got {v!r}") from None
            if i < 0:
                raise RowError(f"rollout index {name!r} must be a non-negative integer, got {i}")
            return i
    return None


def prompt_from_fields(record: Mapping[str, Any], mapping: ColumnMapping, *, source: str, default_label: Label,
                       drop: set[str] = frozenset()) -> Prompt:
    """A prompt from a record's prompt fields, with the prompt loader's validation and ids.

    ``drop`` names columns that are not prompt metadata (the reply fields)."""
    rec = {k: v for k, v in record.items() if k not in drop}
    prompt, _ = _to_prompt(rec, mapping, source, default_label, False)
    return prompt


def check_record_size(size: int, max_bytes: int) -> None:
    """RowError for a record larger than ``max_bytes``."""
    if size > max_bytes:
        raise RowError(f"the record is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit for one record; "
                       "is a whole log in one field? Raise the limit with --max-record-mb if it is genuine")


def record_size(record: Any) -> int:
    """Approximate size of a parsed record in bytes (its JSON length)."""
    try:
        return len(json.dumps(record, ensure_ascii=False, default=str))
    except (TypeError, ValueError, RecursionError):
        return 0
