"""The prompt record: one chat input to a model, with its evaluation label.

Parsing prompts from files, pasted text and datasets lives in :mod:`monitor.prompts.input`;
this module only holds the record every other module passes around.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Label", "LABELS", "Prompt", "prompts_to_frame", "prompts_from_frame"]

Label = Literal["eval", "deploy", "unknown"]
LABELS: tuple[Label, ...] = ("eval", "deploy", "unknown")


@dataclass(frozen=True)
class Prompt:
    """One prompt to run the monitor on."""

    prompt_id: str
    """Stable identifier, unique within a prompt set (used as the key in every run table)."""
    text: str
    """The user message. For a multi-turn ``messages`` prompt, the last user message."""
    label: Label = "unknown"
    """``eval`` (evaluation-style prompt), ``deploy`` (real-user-style prompt) or ``unknown``."""
    system: str | None = None
    """Optional system prompt, rendered before the user message."""
    messages: tuple[dict[str, str], ...] | None = None
    """Full chat history (``role``/``content`` dicts); when set it replaces ``system`` + ``text``."""
    source: str = ""
    """Where the prompt came from (file name, dataset name, ``pasted``, ...)."""
    meta: dict[str, Any] = field(default_factory=dict, compare=False)
    """Extra columns carried through to ``prompts.parquet`` (e.g. the demo's ``propensity``)."""

    def chat_messages(self) -> list[dict[str, str]]:
        """The messages to render with the chat template."""
        if self.messages is not None:
            return [dict(m) for m in self.messages]
        msgs: list[dict[str, str]] = []
        if self.system:
            msgs.append({"role": "system", "content": self.system})
        msgs.append({"role": "user", "content": self.text})
        return msgs


def prompts_to_frame(prompts: list[Prompt]):
    """Prompts as the ``prompts.parquet`` table (``messages`` stored as a JSON string)."""
    import pandas as pd

    rows = []
    for p in prompts:
        row: dict[str, Any] = {
            "prompt_id": p.prompt_id,
            "text": p.text,
            "label": p.label,
            "system": p.system,
            "messages": json.dumps(list(p.messages)) if p.messages is not None else None,
            "source": p.source,
        }
        for k, v in p.meta.items():
            row.setdefault(k, v)
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=["prompt_id", "text", "label", "system", "messages", "source"])
    return pd.DataFrame(rows)


def prompts_from_frame(df) -> list[Prompt]:
    """Inverse of :func:`prompts_to_frame`; unknown columns go to ``meta``."""
    core = {"prompt_id", "text", "label", "system", "messages", "source"}
    out = []
    for rec in df.to_dict("records"):
        msgs = rec.get("messages")
        label = rec.get("label") or "unknown"
        out.append(
            Prompt(
                prompt_id=str(rec["prompt_id"]),
                text=str(rec.get("text") or ""),
                label=label if label in LABELS else "unknown",
                system=rec.get("system") or None,
                messages=tuple(json.loads(msgs)) if isinstance(msgs, str) and msgs else None,
                source=str(rec.get("source") or ""),
                meta={k: v for k, v in rec.items() if k not in core},
            )
        )
    return out
