"""Rollouts from Inspect evaluation logs (``.eval`` or ``.json``), read with inspect_ai's own reader.

Each sample epoch is one rollout: the prompt is the conversation the model saw before its first
reply (``sample.messages`` up to the first assistant message, so a system prompt added by a solver
is included), the reply's reasoning content blocks are the CoT and its text blocks the response.
The sample id is the prompt id, the epoch (from 1) gives the rollout index (from 0), a ``label``
in the sample metadata is the prompt's label, and ``eval.model`` names the generating model.
inspect_ai is an optional dependency (``pip install 'evalaware-monitor[inspect]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from ..prompts.record import Label
from ..prompts.records import ColumnMapping, Problem, RowError
from .record import ImportedRollout, RolloutSource, check_record_size, normalize_finish_reason, prompt_from_fields, record_size
from .tables import finish_collect

__all__ = ["SUPPORTED_LOG_VERSIONS", "read_inspect_rollouts", "looks_like_inspect_json"]

SUPPORTED_LOG_VERSIONS = (1, 2)
"""Inspect log format versions this reader understands (inspect_ai writes 2)."""


def looks_like_inspect_json(data: Any) -> bool:
    """True for a parsed ``.json`` Inspect log (it has ``eval`` and ``version``)."""
    return isinstance(data, dict) and isinstance(data.get("eval"), dict) and "version" in data


def _import_inspect():
    try:
        from inspect_ai.log import read_eval_log
    except ImportError:
        raise InputError("reading Inspect logs needs inspect_ai: pip install 'evalaware-monitor[inspect]' "
                         "(or pip install inspect_ai)") from None
    return read_eval_log


def _version(path: Path) -> int | None:
    """The log's format version, read without validating the rest (so a newer log gets a clear error)."""
    import json
    import zipfile

    try:
        if path.suffix == ".eval":
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
                name = "header.json" if "header.json" in names else "_journal/start.json"
                return json.loads(z.read(name)).get("version")
        with path.open("rb") as f:
            head = f.read(4096).decode("utf-8", "replace")
        import re

        m = re.match(r'\s*\{\s*"version"\s*:\s*(\d+)', head.lstrip("\ufeff"))  # inspect_ai writes it first
        return int(m.group(1)) if m else None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def _content_parts(content: Any) -> tuple[list[str], list[str], bool]:
    """(reasoning texts, text parts, any reasoning redacted) of a message's content."""
    if isinstance(content, str):
        return [], [content], False
    reasoning, texts, redacted = [], [], False
    for part in content or []:
        kind = getattr(part, "type", None)
        if kind == "reasoning":
            if getattr(part, "redacted", False):
                redacted = True
            else:
                reasoning.append(part.reasoning)
        elif kind == "text":
            texts.append(part.text)
    return reasoning, texts, redacted


def _chat_dicts(messages: list[Any]) -> list[dict[str, str]]:
    out = []
    for m in messages:
        _, texts, _ = _content_parts(m.content)
        out.append({"role": m.role, "content": "".join(texts)})
    return out


def _sample_rollout(sample: Any, model: str | None, *, source: str, default_label: Label, max_record_bytes: int) -> ImportedRollout:
    from inspect_ai.model import ChatMessageUser

    messages = list(sample.messages or [])
    first = next((i for i, m in enumerate(messages) if m.role == "assistant"), None)
    if first is not None:
        history, reply = messages[:first], messages[first]
    else:  # a log written without messages: the input, then the output's message
        inp = sample.input
        history = [ChatMessageUser(content=inp)] if isinstance(inp, str) else list(inp)
        if sample.output is None or not sample.output.choices:
            raise RowError("the sample has no model output")
        reply = sample.output.choices[0].message
    reasoning, texts, redacted = _content_parts(reply.content)
    if not reasoning:
        if redacted:
            raise RowError("the reply's reasoning is redacted (encrypted) in this log, so there is no CoT to score")
        joined = "".join(texts)
        if "<think>" not in joined:
            raise RowError("no CoT: the reply has no reasoning content block (and no <think> markers in its text)")
    meta = sample.metadata or {}
    rec = {"id": sample.id, "messages": _chat_dicts(history), "label": meta.get("label")}
    check_record_size(record_size({**rec, "r": reasoning, "t": texts}), max_record_bytes)
    prompt = prompt_from_fields(rec, ColumnMapping(), source=source, default_label=default_label)
    stop = sample.output.stop_reason if sample.output is not None else None
    finish = normalize_finish_reason(stop)
    epoch = int(getattr(sample, "epoch", 1) or 1)
    if reasoning:
        return ImportedRollout(prompt, "", epoch - 1, "\n\n".join(reasoning), "".join(texts), None, finish, model)
    return ImportedRollout(prompt, "", epoch - 1, None, None, "".join(texts), finish, model)


def _written_by_petri(log: Any) -> bool:
    # Petri runs as an Inspect task whose solver is the auditor agent and keeps the target's
    # conversation in its AuditStore (not checked against a real Petri log here: heuristic).
    task = str(getattr(log.eval, "task", "") or "").lower()
    stores = [k for s in (log.samples or [])[:1] for k in (s.store or {})]
    return "petri" in task or any(str(k).startswith("AuditStore") for k in stores)


def read_inspect_rollouts(path: str | Path, *, default_label: Label = "unknown", lenient: bool = False,
                          max_record_bytes: int) -> RolloutSource:
    """Rollouts from one Inspect log file, or every ``*.eval``/``*.json`` log in a directory."""
    root = Path(path)
    if root.is_dir():  # .eval logs, else the .json files that are logs (not e.g. a log directory's listing)
        files = sorted(root.rglob("*.eval")) or [f for f in sorted(root.rglob("*.json")) if _version(f) is not None]
    else:
        files = [root]
    if not files:
        raise InputError(f"{root}: no Inspect logs (*.eval, *.json) found")
    read_eval_log = _import_inspect()
    out: list[ImportedRollout] = []
    problems: list[Problem] = []
    models, tasks = set(), set()
    for f in files:
        name = f.name if f == root else str(f.relative_to(root))
        version = _version(f)
        if version is not None and version not in SUPPORTED_LOG_VERSIONS:
            raise InputError(f"{name}: Inspect log format version {version} is not supported (this reader knows versions "
                             f"{', '.join(map(str, SUPPORTED_LOG_VERSIONS))}); upgrade inspect_ai and this tool, or "
                             "convert the log with an inspect_ai that knows it (`inspect log convert`)")
        try:
            log = read_eval_log(str(f))
        except Exception as e:  # inspect_ai raises pydantic, zip and JSON errors for unreadable logs
            raise InputError(f"{name}: inspect_ai cannot read this log ({type(e).__name__}: {str(e).splitlines()[0][:200]}); "
                             "is it an Inspect .eval/.json log?") from None
        if log.version not in SUPPORTED_LOG_VERSIONS:
            raise InputError(f"{name}: Inspect log format version {log.version} is not supported (this reader knows "
                             f"{', '.join(map(str, SUPPORTED_LOG_VERSIONS))})")
        if log.status != "success" and not log.samples:
            raise InputError(f"{name}: the log has status {log.status!r} and no samples; nothing to ingest")
        if _written_by_petri(log):
            raise InputError(f"{name}: this Inspect log was written by Petri, whose sample messages are the auditor's, not "
                             "the target's; ingest Petri's transcript files instead (monitor ingest DIR --format petri)")
        model = log.eval.model
        models.add(model)
        tasks.add(log.eval.task)
        for sample in log.samples or []:
            where = f"{name} sample {sample.id} epoch {getattr(sample, 'epoch', 1)}"
            try:
                r = _sample_rollout(sample, model, source=f"inspect:{log.eval.task}", default_label=default_label,
                                    max_record_bytes=max_record_bytes)
            except RowError as e:
                problems.append(Problem(where, str(e)))
                continue
            out.append(ImportedRollout(r.prompt, where, r.rollout, r.cot, r.response, r.completion, r.finish_reason, r.model))
    meta = {"inspect_tasks": sorted(tasks), "inspect_models": sorted(models)}
    return finish_collect(out, problems, source=str(root), lenient=lenient, fmt="inspect", meta=meta)
