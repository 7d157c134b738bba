"""Rollouts from JSONL, JSON, CSV/TSV and Parquet files, flat or OpenAI-style.

A *flat* record has the prompt fields the prompt loader reads (``text`` or ``messages``,
``system``, ``id``, ``label``) and the reply fields ``rollout``, ``cot``, ``response`` (or one
``completion`` string holding the think markers), ``finish_reason`` and ``model``; ``--columns``
maps other names onto these. An *OpenAI-style* record is a chat completion as vLLM, SGLang and
OpenAI-compatible APIs return it (``choices[].message.content`` with ``reasoning_content`` or
``reasoning``), either bare with the prompt fields beside it, or as a batch-API output line
(``{"custom_id", "response": {"body": {...}}}``) with the request's ``messages`` beside it. Each
choice is one rollout (its ``index`` is the rollout index unless the record gives one).
File reading (size, encoding, malformed lines) reuses :mod:`monitor.prompts.input`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..errors import InputError
from ..prompts.input import _csv_items, _decode, _json_items, _jsonl_items, _parquet_items
from ..prompts.record import Label
from ..prompts.records import Problem, PromptFileError, RowError, type_name
from .record import (
    ImportedRollout,
    RolloutColumns,
    RolloutSource,
    check_record_size,
    normalize_finish_reason,
    prompt_from_fields,
    record_size,
    rollout_index,
    text_field,
)

__all__ = ["TABLE_FORMATS", "read_table_rollouts", "is_openai_record", "openai_rollouts"]

TABLE_FORMATS = ("jsonl", "json", "csv", "tsv", "parquet")


def is_openai_record(record: Any) -> bool:
    """True for a chat completion (``choices`` list) or a batch-API output line holding one."""
    return isinstance(record, Mapping) and (isinstance(record.get("choices"), list) or _batch_body(record) is not None)


def _batch_body(record: Mapping[str, Any]) -> Mapping[str, Any] | None:
    resp = record.get("response")
    body = resp.get("body") if isinstance(resp, Mapping) else None
    return body if isinstance(body, Mapping) and isinstance(body.get("choices"), list) else None


def _message_text(content: Any, what: str) -> str | None:
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}]
        texts = [p.get("text") for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str)]
        return "".join(texts) if texts else None
    raise RowError(f"{what} must be a string or a list of text parts, got {type_name(content)}")


def openai_rollouts(record: Mapping[str, Any], where: str, columns: RolloutColumns, *, source: str,
                    default_label: Label) -> list[ImportedRollout]:
    """The rollouts (one per choice) of one OpenAI-style record."""
    body = _batch_body(record) or record
    request = record.get("request") if isinstance(record.get("request"), Mapping) else None
    if request is not None and isinstance(request.get("body"), Mapping):
        request = request["body"]
    skip = {"choices", "response", "request", "usage", "object", "created", "model", "system_fingerprint", "custom_id"}
    prompt_rec: dict[str, Any] = {k: v for k, v in record.items() if k not in skip}
    if request is not None and "messages" in request and columns.prompt.messages not in prompt_rec:
        prompt_rec[columns.prompt.messages] = request["messages"]
    own_id = prompt_rec.get("id")
    if body is not record or (isinstance(own_id, str) and own_id.startswith(("chatcmpl-", "cmpl-"))):
        prompt_rec.pop("id", None)  # the batch line's or the completion's own id, not the prompt's
    if "custom_id" in record and not any(c in prompt_rec for c in columns.prompt.candidates("id")):
        prompt_rec[columns.prompt.id or "id"] = record["custom_id"]
    model = body.get("model") if isinstance(body.get("model"), str) else None
    prompt = prompt_from_fields(prompt_rec, columns.prompt, source=source, default_label=default_label,
                                drop=columns.reply_columns())
    base = rollout_index(record, columns.candidates("rollout"))
    choices = body["choices"]
    if not choices:
        raise RowError("the completion has no choices")
    out = []
    for j, choice in enumerate(choices):
        if not isinstance(choice, Mapping) or not isinstance(choice.get("message"), Mapping):
            raise RowError(f"choice {j} has no message object (is this a text completion, not a chat completion?)")
        msg = choice["message"]
        content = _message_text(msg.get("content"), f"choice {j} content")
        cot = next((msg[k] for k in ("reasoning_content", "reasoning") if isinstance(msg.get(k), str)), None)
        idx = choice.get("index", j)
        rollout = base + j if base is not None else (idx if isinstance(idx, int) and not isinstance(idx, bool) else j)
        if cot is None:  # no separate reasoning: the content holds the think markers, or the model has none
            out.append(ImportedRollout(prompt, f"{where} choice {j}", rollout, None, None, content or "",
                                       normalize_finish_reason(choice.get("finish_reason")), model))
        else:
            out.append(ImportedRollout(prompt, f"{where} choice {j}", rollout, cot, content or "", None,
                                       normalize_finish_reason(choice.get("finish_reason")), model))
    return out


def flat_rollout(record: Mapping[str, Any], where: str, columns: RolloutColumns, *, source: str,
                 default_label: Label) -> ImportedRollout:
    """One flat record (prompt fields + reply fields) as a rollout."""
    cot = text_field(record, columns.candidates("cot"), "CoT")
    response = text_field(record, columns.candidates("response"), "response")
    completion = text_field(record, columns.candidates("completion"), "completion")
    if cot is None and completion is None:
        raise RowError(f"no CoT: expected a {' or '.join(map(repr, columns.candidates('cot')))} field, or one "
                       f"{columns.candidates('completion')[0]!r} string holding the think markers "
                       "(map yours with --columns cot=NAME or completion=NAME)")
    if cot is not None and not cot.strip():
        raise RowError("empty CoT: the CoT field is empty or only whitespace")
    model = text_field(record, columns.candidates("model"), "model")
    finish = next((record[n] for n in columns.candidates("finish_reason") if n in record), None)
    prompt = prompt_from_fields(record, columns.prompt, source=source, default_label=default_label,
                                drop=columns.reply_columns())
    return ImportedRollout(prompt, where, rollout_index(record, columns.candidates("rollout")),
                           cot, response if cot is not None else None, completion if cot is None else None,
                           normalize_finish_reason(finish), model)


def collect_rollouts(items: Iterable[tuple[str, Any]], *, source: str, columns: RolloutColumns, default_label: Label,
                     lenient: bool, max_record_bytes: int, fmt: str) -> RolloutSource:
    """(position, record or RowError) pairs as rollouts, strictly (any bad record fails) or leniently."""
    out: list[ImportedRollout] = []
    problems: list[Problem] = []
    kinds = set()
    for where, value in items:
        try:
            if isinstance(value, RowError):
                raise value
            if not isinstance(value, Mapping):
                raise RowError(f"expected an object, got {type_name(value)}")
            check_record_size(record_size(value), max_record_bytes)
            if is_openai_record(value):
                kinds.add("openai")
                out.extend(openai_rollouts(value, where, columns, source=source, default_label=default_label))
            else:
                kinds.add(fmt)
                out.append(flat_rollout(value, where, columns, source=source, default_label=default_label))
        except RowError as e:
            problems.append(Problem(where, str(e)))
    return finish_collect(out, problems, source=source, lenient=lenient, fmt="openai" if kinds == {"openai"} else fmt)


def finish_collect(out: list[ImportedRollout], problems: list[Problem], *, source: str, lenient: bool, fmt: str,
                   meta: dict[str, Any] | None = None) -> RolloutSource:
    """Raise on problems in strict mode; else a :class:`RolloutSource` with the skipped records as warnings."""
    if problems and not lenient:
        raise PromptFileError(source, problems, "Fix these, or ingest leniently (--lenient) to skip bad records.")
    if not out:
        why = f": all {len(problems)} records had problems, e.g. {problems[0]}" if problems else ""
        raise InputError(f"{source}: no rollouts{why}. Check the format (--format) and the column mapping (--columns).")
    return RolloutSource(tuple(out), fmt, tuple(f"{p.where}: skipped: {p.message}" for p in problems), meta or {})


def _checked_jsonl(text: str, max_record_bytes: int) -> Iterator[tuple[str, Any]]:
    # A huge line is refused before it is parsed (json.loads of 50 MB takes memory and seconds).
    lines = text.splitlines()
    for n, line in enumerate(lines, 1):
        if len(line) > max_record_bytes:
            yield f"line {n}", RowError(f"the record is {len(line) / 1e6:.1f} MB, over the {max_record_bytes / 1e6:.0f} MB "
                                        "limit for one record; raise it with --max-record-mb if it is genuine")
            lines[n - 1] = ""
    yield from _jsonl_items("\n".join(lines))


def read_table_rollouts(data: bytes, name: str, fmt: str, *, columns: RolloutColumns | None = None,
                        default_label: Label = "unknown", lenient: bool = False,
                        max_record_bytes: int) -> RolloutSource:
    """Rollouts from a table file's bytes in format ``fmt`` (one of :data:`TABLE_FORMATS`)."""
    if not data.strip():
        raise InputError(f"{name} is empty; it needs at least one rollout")
    items: Iterable[tuple[str, Any]]
    if fmt == "parquet":
        items = _parquet_items(data, name)
    else:
        text = _decode(data, name)
        if fmt == "jsonl":
            items = _checked_jsonl(text, max_record_bytes)
        elif fmt == "json":
            items = _json_items(text, name)
        else:
            items = _csv_items(text, name, "," if fmt == "csv" else "\t")
    return collect_rollouts(items, source=name, columns=columns or RolloutColumns(), default_label=default_label,
                            lenient=lenient, max_record_bytes=max_record_bytes, fmt=fmt)
