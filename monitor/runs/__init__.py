"""Stage 5, the run store and what drives it: the on-disk format (one module, ``store``), the
pipeline that runs engine + store, verification against naive scoring, and synthetic runs for
tests and benchmarks (``monitor.runs.synthetic``, imported explicitly).
"""

from __future__ import annotations

from .store import FORMAT_VERSION, TABLES, REQUIRED_COLUMNS, Run, RunWriter, read_manifest, read_run, write_manifest, write_table
from .bundle import list_runs, export_bundle, import_bundle
from .pipeline import Progress, run_monitor, score_prompts, score_rollout, rescore_run, package_versions, check_prompt_lengths
from .verify import VerifyResult, verify_run

__all__ = [
    "FORMAT_VERSION", "TABLES", "REQUIRED_COLUMNS", "Run", "RunWriter", "read_manifest", "read_run",
    "write_manifest", "write_table", "list_runs", "export_bundle", "import_bundle", "Progress",
    "run_monitor", "score_prompts", "score_rollout", "rescore_run", "package_versions",
    "check_prompt_lengths", "VerifyResult", "verify_run",
]
