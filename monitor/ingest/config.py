"""The settings of an ingest (recorded in its manifest, reused by ``--resume``) and its result."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..config import RunConfig
from ..engine.chat import ThinkMarkers
from ..errors import ConfigError
from ..prompts.record import Label
from ..runs.store import Run
from .record import DEFAULT_MAX_RECORD_BYTES, RolloutColumns

__all__ = ["IngestConfig", "IngestResult"]


@dataclass(frozen=True)
class IngestConfig:
    """Everything that decides an ingest's results (recorded in its manifest, reused by resume)."""

    phrases: tuple[str, ...]
    """Probe phrases; the first is the primary phrase."""
    control_phrase: str | None = None
    """Control phrase scored alongside (appended to ``phrases``)."""
    markers: ThinkMarkers = field(default_factory=ThinkMarkers)
    """The scoring model's think markers; ``ThinkMarkers(None, None)``: the whole reply is the CoT."""
    enable_thinking: bool = True
    """Passed to the chat template when rendering the prompt."""
    format: str = "auto"
    """Source format (see :data:`monitor.ingest.source.SOURCE_FORMATS`)."""
    columns: str = ""
    """Column mapping, ``FIELD=COLUMN,...`` (as ``--columns``)."""
    default_label: Label | None = None
    """Label of prompts without one (None: ``eval`` for Petri, else ``unknown``)."""
    lenient: bool = False
    """Skip bad records (each reported) instead of failing."""
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    """Largest single record accepted."""
    batch_size: int = 8
    """Rollouts of one prompt written together (the unit of crash-safe writing and resume)."""
    memory_budget_mb: float = 2048
    """Memory budget of one packed scoring pass."""

    def __post_init__(self) -> None:
        # RunConfig validates phrases and appends the control phrase exactly as `monitor run` does.
        rc = RunConfig(tuple(self.phrases), control_phrase=self.control_phrase, markers=self.markers,
                       memory_budget_mb=self.memory_budget_mb)
        object.__setattr__(self, "phrases", rc.phrases)
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1 (got {self.batch_size}).")
        if self.max_record_bytes < 1:
            raise ConfigError("max_record_bytes must be positive.")
        RolloutColumns.parse(self.columns)

    def to_manifest(self) -> dict[str, Any]:
        """The manifest's view: the same keys a sampled run has, plus ``ingest`` settings."""
        return {
            "phrases": list(self.phrases),
            "control_phrase": self.control_phrase,
            "chat": {"think_open": self.markers.open, "think_close": self.markers.close, "enable_thinking": self.enable_thinking},
            "scoring": {"memory_budget_mb": self.memory_budget_mb, "method": "packed"},
            "ingest": {k: v for k, v in asdict(self).items() if k in ("format", "columns", "default_label", "lenient", "max_record_bytes", "batch_size")},
        }

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> "IngestConfig":
        """The settings an ingest was started with (used by resume)."""
        chat = manifest.get("chat", {})
        control = manifest.get("control_phrase")
        return cls(
            phrases=tuple(p for p in manifest.get("phrases", []) if p != control),
            control_phrase=control,
            markers=ThinkMarkers(chat.get("think_open"), chat.get("think_close")),
            enable_thinking=chat.get("enable_thinking", True),
            memory_budget_mb=manifest.get("scoring", {}).get("memory_budget_mb", 2048),
            **(manifest.get("ingest") or {}),
        )


@dataclass(frozen=True)
class IngestResult:
    """What :func:`ingest_rollouts` did."""

    run: Run
    """The run as stored (complete unless stopped)."""
    warnings: tuple[str, ...] = ()
    """Records skipped in lenient mode, each with its position and reason."""
