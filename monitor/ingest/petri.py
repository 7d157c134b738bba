"""Rollouts from Petri transcripts (the JSON files ``petri:DIR`` reads as prompts).

The target's conversation is replayed as the prompt loader does
(:func:`monitor.prompts.datasets.petri_target_states`); the rollout is the target's first reply:
the prompt is every message before it (system prompt and the auditor's user turn), the reply's
reasoning blocks (``{"type": "reasoning", "reasoning": ...}``) are the CoT and its text blocks
the response. Ids are ``petri-`` + ``metadata.transcript_id`` (the same ids ``petri:DIR`` gives),
the label defaults to ``eval`` and ``metadata.target_model`` names the generating model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..prompts.datasets import _content_text, _role, petri_target_states
from ..prompts.record import Label
from ..prompts.records import ColumnMapping, Problem, RowError
from .record import ImportedRollout, RolloutSource, check_record_size, prompt_from_fields, record_size
from .tables import finish_collect

__all__ = ["read_petri_rollouts", "looks_like_petri", "petri_first_reply"]

_MAX_TRANSCRIPT_BYTES = 500_000_000


def looks_like_petri(data: Any) -> bool:
    """True for a parsed Petri transcript (``events`` list and ``metadata``)."""
    return isinstance(data, dict) and isinstance(data.get("events"), list) and "metadata" in data


def _reply_parts(content: Any) -> tuple[str | None, str]:
    """(CoT or None, response text) of an assistant message's content."""
    if isinstance(content, str):
        return None, content
    reasoning, texts = [], []
    for part in content or []:
        if isinstance(part, Mapping) and part.get("type") == "reasoning" and isinstance(part.get("reasoning"), str):
            if part.get("redacted"):
                raise RowError("the target's reasoning is redacted (encrypted) in this transcript, so there is no CoT to score")
            reasoning.append(part["reasoning"])
        elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif isinstance(part, str):
            texts.append(part)
    return ("\n\n".join(reasoning) if reasoning else None), "".join(texts)


def petri_first_reply(transcript: Mapping[str, Any]) -> tuple[list[dict[str, str]], Mapping[str, Any]]:
    """(chat messages before the target's first reply, that reply) of one transcript."""
    for messages in petri_target_states(transcript):
        roles = [_role(m) for m in messages]
        if "assistant" in roles:
            i = roles.index("assistant")
            history = [{"role": r, "content": _content_text(m.get("content")) or ""} for r, m in zip(roles[:i], messages[:i])]
            return history, messages[i]
    raise ValueError("the target never replied (no assistant message in the target's view)")


def read_petri_rollouts(path: str | Path, *, default_label: Label = "eval", lenient: bool = False,
                        max_record_bytes: int) -> RolloutSource:
    """One rollout per Petri transcript file (a file, or every ``*.json`` under a directory)."""
    root = Path(path)
    files = [root] if root.is_file() else sorted(root.rglob("*.json"))
    if not files:
        raise InputError(f"{root}: no .json transcript files found (Petri writes transcript_*.json)")
    out: list[ImportedRollout] = []
    problems: list[Problem] = []
    for f in files:
        name = f.name if f == root else str(f.relative_to(root))
        try:
            if f.stat().st_size > _MAX_TRANSCRIPT_BYTES:  # a transcript holds the whole audit: only its size is capped
                raise RowError(f"the transcript is {f.stat().st_size / 1e6:.0f} MB, over the {_MAX_TRANSCRIPT_BYTES / 1e6:.0f} MB limit")
            try:
                data = json.loads(f.read_text(encoding="utf-8"))
            except UnicodeDecodeError:
                raise RowError("not UTF-8; save the transcript as UTF-8") from None
            except json.JSONDecodeError as e:
                raise RowError(f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
            if not looks_like_petri(data):
                raise RowError('not a Petri transcript (no "events" list and "metadata")')
            try:
                history, reply = petri_first_reply(data)
            except ValueError as e:
                raise RowError(str(e)) from None
            cot, response = _reply_parts(reply.get("content"))
            check_record_size(record_size({"messages": history, "cot": cot, "response": response}), max_record_bytes)
            meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
            tid = meta.get("transcript_id") or f.stem
            rec = {"id": f"petri-{tid}", "messages": history, "transcript_file": name,
                   "seed_instruction": meta.get("description")}
            prompt = prompt_from_fields(rec, ColumnMapping(), source="petri", default_label=default_label)
            model = meta.get("target_model") if isinstance(meta.get("target_model"), str) else None
            if cot is None:
                if "<think>" not in response:
                    raise RowError("no CoT: the target's reply has no reasoning block (and no <think> markers)")
                out.append(ImportedRollout(prompt, name, 0, None, None, response, "stop", model))
            else:
                out.append(ImportedRollout(prompt, name, 0, cot, response, None, "stop", model))
        except RowError as e:
            problems.append(Problem(name, str(e)))
        except OSError as e:
            problems.append(Problem(name, f"cannot read the file ({e.strerror or e})"))
    return finish_collect(out, problems, source=str(root), lenient=lenient, fmt="petri")
