"""Records to prompts: column mapping, label normalisation, ids, and per-row validation.

Every input (pasted text, a file, a dataset) is turned into a stream of ``(position, record)``
pairs; this module turns those into :class:`Prompt` records, strictly (any bad row fails the
whole input, listing up to ten problems with their positions) or leniently (bad rows are skipped
and each is reported as a warning). :mod:`monitor.prompts.input` re-exports the public names.

Ids: a prompt without an id gets ``p_`` + the first 12 hex digits of the SHA-256 of its chat
messages, so the id survives reordering and inserting prompts (which matters when a run resumes).
Two identical prompts therefore get the same id and are reported as duplicates.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..errors import InputError
from .filters import Exclusion
from .record import Label, Prompt

__all__ = [
    "ColumnMapping",
    "LoadedPrompts",
    "Problem",
    "PromptFileError",
    "RowError",
    "collect_prompts",
    "normalize_label",
    "prompt_id_for",
    "prompts_from_records",
    "type_name",
]

MAX_LISTED = 10
"""Problems spelled out in one error message; the rest are counted."""

_EVAL = {"eval", "evaluation", "evaluations", "evals", "test", "testing", "tested", "benchmark",
         "redteam", "red-team", "1", "true", "yes"}
_DEPLOY = {"deploy", "deployment", "deployed", "real", "real-user", "user", "production", "prod",
           "wild", "in-the-wild", "0", "false", "no"}
_UNKNOWN = {"", "unknown", "none", "null", "nan", "n/a", "na", "?", "unlabelled", "unlabeled"}
_ROLES = ("system", "user", "assistant")
_CORE = {"prompt_id", "text", "label", "system", "messages", "source"}


def normalize_label(value: Any) -> Label:
    """Map a label as found in a file to ``eval``/``deploy``/``unknown``.

    Case, surrounding space and ``_``/space vs ``-`` are ignored. ``1``/``True`` mean eval and
    ``0``/``False`` deploy (read as an "is evaluation" flag); missing values and NaN are unknown.
    Raises :class:`InputError` for anything else.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "unknown"
    if isinstance(value, bool) or (isinstance(value, (int, float)) and value in (0, 1)):
        key = "1" if value else "0"
    elif isinstance(value, str):
        key = re.sub(r"[\s_]+", "-", value.strip().lower())
    else:
        raise InputError(f"label {value!r} is not recognised: use eval, deploy or unknown")
    for label, names in (("eval", _EVAL), ("deploy", _DEPLOY), ("unknown", _UNKNOWN)):
        if key in names:
            return label  # type: ignore[return-value]
    shown = value if len(str(value)) <= 40 else str(value)[:40] + "..."
    raise InputError(
        f"label {shown!r} is not recognised: use eval, deploy or unknown "
        "(also accepted: evaluation/test/benchmark/1/true, deployment/real/user/0/false)"
    )


@dataclass(frozen=True)
class ColumnMapping:
    """Which column or field of a file holds each part of a prompt.

    Columns left at their default also accept an alias: ``prompt`` for ``text`` and
    ``prompt_id`` for ``id`` (so a run's own ``prompts.parquet`` loads back unchanged).
    Any other column is carried into ``Prompt.meta``.
    """

    text: str = "text"
    """Column with the user message (a plain string)."""
    messages: str = "messages"
    """Column with a chat history: a list of ``{"role", "content"}`` objects or that list as a JSON
    string; when a row has it, it wins over ``text`` and the last message must be the user's."""
    system: str | None = "system"
    """Column with an optional system prompt; ``None`` to ignore system prompts."""
    id: str | None = "id"
    """Column with the prompt id; ``None`` (or an empty cell) gives a content-hash id."""
    label: str | None = "label"
    """Column with the label, normalised by :func:`normalize_label`; ``None`` to ignore."""
    pair_id: str | None = "pair_id"
    """Column linking matched prompts (e.g. a benchmark prompt and its benign twin); stored as the
    ``pair_id`` column of ``prompts.parquet`` for the paired analysis; ``None`` to ignore."""

    @classmethod
    def parse(cls, spec: str) -> ColumnMapping:
        """Parse ``"text=question,id=qid,label=split"`` (the CLI's ``--columns``); ``label=`` ignores."""
        fields = {"text", "messages", "system", "id", "label", "pair_id"}
        kwargs: dict[str, str | None] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, sep, column = (s.strip() for s in part.partition("="))
            if not sep or key not in fields:
                raise InputError(
                    f"column mapping {part!r} is not FIELD=COLUMN with FIELD one of "
                    f"{', '.join(sorted(fields))} (e.g. text=question,id=qid)"
                )
            if not column and key in ("text", "messages"):
                raise InputError(f"column mapping {part!r}: the {key} field needs a column name")
            kwargs[key] = column or None
        return cls(**kwargs)  # type: ignore[arg-type]

    def candidates(self, field: str) -> tuple[str, ...]:
        """Column names tried for ``field``, in order (the mapped name, then any alias)."""
        name = getattr(self, field)
        if name is None:
            return ()
        alias = {"text": "prompt", "id": "prompt_id", "pair_id": "pair"}.get(field)
        default = getattr(ColumnMapping, field)
        return (name, alias) if alias and name == default else (name,)


@dataclass(frozen=True)
class Problem:
    """One bad row, line or item of an input."""

    where: str
    """Position: ``line 4`` (JSONL, CSV/TSV), ``item 2`` (JSON list), ``row 7`` (Parquet,
    datasets), ``block 3`` (plain text) or a file name."""
    message: str
    """What is wrong there."""

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class PromptFileError(InputError):
    """An input with bad rows, in strict mode; ``problems`` lists every one for the app."""

    def __init__(self, source: str, problems: Sequence[Problem], hint: str) -> None:
        self.source = source
        self.problems = tuple(problems)
        n = len(self.problems)
        listed = "; ".join(str(p) for p in self.problems[:MAX_LISTED])
        more = f"; ... and {n - MAX_LISTED} more" if n > MAX_LISTED else ""
        super().__init__(f"{source}: {n} problem{'s' * (n != 1)}, nothing loaded: {listed}{more}. {hint}")


@dataclass(frozen=True)
class LoadedPrompts:
    """Prompts read from one input, with what was skipped and why."""

    prompts: tuple[Prompt, ...]
    """The usable prompts, in input order."""
    warnings: tuple[str, ...] = ()
    """Rows skipped in lenient mode and labels set to ``unknown``, each with its position."""
    excluded: tuple[Exclusion, ...] = ()
    """Prompts removed by exclusion rules, with the reason."""
    notes: tuple[str, ...] = ()
    """Informational counts from dataset filters (e.g. ``skipped 12 non-English``)."""


class RowError(Exception):
    """A problem with one row, yielded or raised by input readers; :func:`collect_prompts` turns it
    into a :class:`Problem` and never lets it reach callers."""


def prompt_id_for(prompt: Prompt) -> str:
    """The content-hash id of a prompt: ``p_`` + 12 hex digits of SHA-256 of its chat messages."""
    canonical = json.dumps(prompt.chat_messages(), ensure_ascii=False, sort_keys=True)
    return "p_" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def type_name(value: Any) -> str:
    """How a JSON-ish value's type reads in an error message (``an object``, ``a number``, ...)."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def _meta_value(value: Any) -> Any:
    """Extra columns as parquet-friendly scalars: nested values become JSON strings."""
    if value is None or isinstance(value, (str, bool, float)):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else str(value)
    if isinstance(value, (_dt.date, _dt.datetime, _dt.time)):
        return value.isoformat()
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        return f"<{type(value).__name__}>"


def _parse_messages(value: Any) -> list[dict[str, str]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError) as e:
            raise RowError(f"messages is not valid JSON ({e})") from None
    if not isinstance(value, (list, tuple)) or not value:
        raise RowError(f'messages must be a non-empty list of {{"role", "content"}} objects, got {type_name(value)}')
    out = []
    for i, m in enumerate(value, 1):
        if not isinstance(m, Mapping) or not isinstance(m.get("role"), str) or "content" not in m:
            raise RowError(f'message {i} must be an object with "role" and "content"')
        role, content = m["role"].strip().lower(), m["content"]
        if role not in _ROLES:
            raise RowError(f"message {i} has role {m['role']!r}; use system, user or assistant")
        if not isinstance(content, str):
            raise RowError(f"message {i} content must be a string, got {type_name(content)}")
        if role == "system" and i != 1:
            raise RowError(f"message {i} is a system message; only the first message may be one")
        out.append({"role": role, "content": content})
    if out[-1]["role"] != "user":
        raise RowError(f"the last message must be the user's (the model answers it), not {out[-1]['role']!r}")
    if not out[-1]["content"].strip():
        raise RowError("the last user message is empty")
    return out


def _first(record: Mapping[str, Any], names: tuple[str, ...]) -> tuple[str | None, Any]:
    for name in names:
        if name in record and not _missing(record[name]):
            return name, record[name]
    return next(((n, record[n]) for n in names if n in record), (None, None))


def _to_prompt(value: Any, mapping: ColumnMapping, source: str, default_label: Label, lenient: bool
               ) -> tuple[Prompt, str | None]:
    """One record as a prompt, plus a warning when lenient mode replaced a bad label."""
    if isinstance(value, str):
        value = {mapping.text: value}
    if not isinstance(value, Mapping):
        raise RowError(f"expected an object or a string, got {type_name(value)}")
    record: Mapping[str, Any] = value
    msg_key, msgs = _first(record, mapping.candidates("messages"))
    text_key, text = _first(record, mapping.candidates("text"))
    sys_key, system = _first(record, mapping.candidates("system"))
    if system is not None and not _missing(system) and not isinstance(system, str):
        raise RowError(f"system prompt must be a string, got {type_name(system)}")
    system = system if isinstance(system, str) and system.strip() else None
    messages = None
    if not _missing(msgs):
        messages = _parse_messages(msgs)
        if messages[0]["role"] != "system" and system is not None:
            messages.insert(0, {"role": "system", "content": system})
        system = messages[0]["content"] if messages[0]["role"] == "system" else None
        text = messages[-1]["content"]
    elif text_key is None:
        wanted = " or ".join(repr(c) for c in mapping.candidates("text") + mapping.candidates("messages"))
        found = ", ".join(repr(str(k)) for k in list(record)[:12]) or "none"
        raise RowError(f"no prompt text: expected a {wanted} field (fields found: {found}); "
                        "map your column with ColumnMapping(text=...) / --columns text=NAME")
    elif not isinstance(text, str) and not _missing(text):
        raise RowError(f"{text_key!r} must be a string, got {type_name(text)}")
    elif _missing(text) or not text.strip():
        raise RowError(f"empty prompt: {text_key!r} is empty or only whitespace")

    label, warning = default_label, None
    label_key, raw_label = _first(record, mapping.candidates("label"))
    if label_key is not None and not _missing(raw_label):
        try:
            label = normalize_label(raw_label)
        except InputError as e:
            if not lenient:
                raise RowError(str(e)) from None
            warning = f"{e}; set to unknown"
            label = "unknown"

    prompt = Prompt(prompt_id="", text=text, label=label, system=system,
                    messages=tuple(messages) if messages else None, source=source)
    id_key, raw_id = _first(record, mapping.candidates("id"))
    if _missing(raw_id):
        prompt_id = prompt_id_for(prompt)
    elif isinstance(raw_id, bool) or not isinstance(raw_id, (str, int, float)):
        raise RowError(f"id must be a string or an integer, got {type_name(raw_id)}")
    elif isinstance(raw_id, float) and not raw_id.is_integer():
        raise RowError(f"id {raw_id!r} is not an integer or a string")
    else:
        prompt_id = str(int(raw_id)) if isinstance(raw_id, float) else str(raw_id).strip()
        if not prompt_id or len(prompt_id) > 256 or any(ord(c) < 32 for c in prompt_id):
            raise RowError("id must be 1-256 characters without line breaks or control characters")
    pair_key, raw_pair = _first(record, mapping.candidates("pair_id"))
    used = {msg_key, text_key, sys_key, label_key, id_key, pair_key}
    meta = {str(k): _meta_value(v) for k, v in record.items() if k not in used and str(k) not in _CORE}
    if pair_key is not None and not _missing(raw_pair):
        if isinstance(raw_pair, bool) or not isinstance(raw_pair, (str, int, float)):
            raise RowError(f"pair id must be a string or an integer, got {type_name(raw_pair)}")
        meta["pair_id"] = str(int(raw_pair)) if isinstance(raw_pair, float) and raw_pair.is_integer() else str(raw_pair).strip()
    try:  # JSON escapes can smuggle in lone surrogates, which no tokenizer or Parquet file accepts
        json.dumps([prompt_id, text, system, messages, meta], ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise RowError("contains an unpaired surrogate (e.g. a lone \\ud800 escape), which is not valid "
                       "Unicode; fix the escape in the file") from None
    return Prompt(prompt_id=prompt_id, text=prompt.text, label=label, system=system,
                  messages=prompt.messages, source=source, meta=meta), warning


def collect_prompts(items: Iterable[tuple[str, Any]], *, source: str, mapping: ColumnMapping,
                    default_label: Label, lenient: bool) -> LoadedPrompts:
    """Turn (position, record or :class:`RowError`) pairs into prompts, strictly or leniently."""
    prompts: list[Prompt] = []
    problems: list[Problem] = []
    warnings: list[str] = []
    seen: dict[str, str] = {}
    for where, value in items:
        try:
            if isinstance(value, RowError):
                raise value
            prompt, warning = _to_prompt(value, mapping, source, default_label, lenient)
        except RowError as e:
            problems.append(Problem(where, str(e)))
            continue
        if prompt.prompt_id in seen:
            same = " (the same prompt twice?)" if prompt.prompt_id.startswith("p_") else ""
            problems.append(Problem(where, f"duplicate id {prompt.prompt_id!r}, first used on {seen[prompt.prompt_id]}{same}"))
            continue
        seen[prompt.prompt_id] = where
        if warning:
            warnings.append(f"{where}: {warning}")
        prompts.append(prompt)
    if problems and not lenient:
        raise PromptFileError(source, problems, "Fix these, or load leniently (--lenient) to skip bad rows.")
    if not prompts:
        why = f" usable: all {len(problems)} rows had problems, e.g. {problems[0]}" if problems else ""
        raise InputError(f"{source}: no prompts{why}. Check the file's format and its column mapping.")
    skipped = [f"{p.where}: skipped: {p.message}" for p in problems]
    return LoadedPrompts(prompts=tuple(_uniform_meta(prompts)), warnings=tuple(skipped + warnings))


def _uniform_meta(prompts: list[Prompt]) -> list[Prompt]:
    """Extra columns holding text in some rows and numbers in others become text in every row,
    so the set can be written to ``prompts.parquet`` (a Parquet column has one type)."""
    kinds: dict[str, set[type]] = {}
    for p in prompts:
        for k, v in p.meta.items():
            if v is not None:
                kinds.setdefault(k, set()).add(str if isinstance(v, str) else float)
    mixed = {k for k, ts in kinds.items() if len(ts) > 1}
    if not mixed:
        return prompts
    return [replace(p, meta={k: str(v) if k in mixed and v is not None else v for k, v in p.meta.items()})
            if mixed & p.meta.keys() else p for p in prompts]


def prompts_from_records(records: Iterable[Any], *, source: str, mapping: ColumnMapping | None = None,
                         default_label: Label = "unknown", lenient: bool = False, where: str = "row",
                         ) -> LoadedPrompts:
    """Prompts from already-parsed records (dicts or strings), e.g. rows of a dataset.

    Positions in messages read ``{where} 1``, ``{where} 2``, ...
    """
    items = ((f"{where} {i}", r) for i, r in enumerate(records, 1))
    return collect_prompts(items, source=source, mapping=mapping or ColumnMapping(),
                    default_label=default_label, lenient=lenient)
