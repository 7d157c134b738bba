"""Bring your own rollouts: score chains of thought generated anywhere (``monitor ingest``).

Readers turn a source into :class:`ImportedRollout` records (one module per source:
:mod:`.tables` for JSONL/JSON/CSV/Parquet and OpenAI-style completions, :mod:`.inspect_log` for
Inspect logs, :mod:`.petri` for Petri transcripts; :mod:`.source` detects which); the driver
(:mod:`.driver`) rebuilds each as the scoring model would have emitted it and scores it through
the engine into a normal run directory. See ``docs/ingest.md``.
"""

from .driver import IngestConfig, IngestResult, build_rollout, completion_text, ingest_rollouts
from .provenance import is_imported, provenance_line
from .record import ImportedRollout, RolloutColumns, RolloutSource
from .source import SOURCE_FORMATS, detect_format, read_rollouts

__all__ = [
    "ImportedRollout", "IngestConfig", "IngestResult", "RolloutColumns", "RolloutSource", "SOURCE_FORMATS",
    "build_rollout", "completion_text", "detect_format", "ingest_rollouts", "is_imported", "provenance_line",
    "read_rollouts",
]
