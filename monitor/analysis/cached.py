"""The run's summary, cached in its directory (``summary.json``, see :mod:`monitor.runs.store`).

:func:`summarize` takes 1-10 s on a real run; the app's Home page shows it on every first visit.
Writers (``RunWriter.finalize``, a judge pass, ``monitor analyze``, a rescore) call
:func:`refresh_summary`; readers call :func:`cached_summary`, which returns the stored summary only
when its key matches: the bytes of the manifest and tables, the arguments, and a digest of the
``monitor/analysis`` sources (a changed analysis never serves an old number). A miss computes and
does not write: viewing a run never changes it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from ..runs.store import Run, content_digest, has_parts, read_run, read_summary, write_summary

__all__ = ["code_digest", "summary_key", "cached_summary", "load_summary", "refresh_summary", "store_summary"]

log = logging.getLogger(__name__)


@functools.cache
def code_digest() -> str:
    """SHA-256 over the ``monitor/analysis`` sources (any edit invalidates every cached summary)."""
    h = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def summary_key(run_dir: str | Path, **kwargs: Any) -> str:
    """The cache key of ``summarize(read_run(run_dir), **kwargs)`` as the directory is now."""
    args = json.dumps(kwargs, sort_keys=True, default=str)
    return hashlib.sha256(f"{content_digest(run_dir)}\0{args}\0{code_digest()}".encode()).hexdigest()


def _with_path(summary: dict[str, Any], run_dir: str | Path) -> dict[str, Any]:
    # The run may have been moved or unpacked elsewhere since: the path is where it is now.
    return {**summary, "run": {**summary.get("run", {}), "path": str(run_dir)}}


def cached_summary(run_dir: str | Path) -> dict[str, Any] | None:
    """The default summary stored in the run if it is current, else ``None``."""
    hit = read_summary(run_dir, summary_key(run_dir))
    return None if hit is None else _with_path(hit, Path(run_dir))


def load_summary(run: Run) -> dict[str, Any]:
    """The default summary of ``run``: the cached one if current, else computed (never written)."""
    hit = cached_summary(run.path)
    if hit is not None:
        return hit
    from .summary import summarize

    return summarize(run)


def refresh_summary(run_dir: str | Path, *, run: Run | None = None) -> dict[str, Any] | None:
    """Compute the default summary and store it in the run (writers only; they hold the run's lock
    or own the directory). A run the summary cannot describe (say, one label only) logs why and
    leaves no summary, so readers compute and show that error themselves."""
    from ..errors import MonitorError
    from .summary import summarize

    run_dir = Path(run_dir)
    if has_parts(run_dir):
        return None  # still going: new units would not change the key
    key = summary_key(run_dir)
    try:
        summary = summarize(run if run is not None else read_run(run_dir, lists=False))
    except (MonitorError, ValueError) as e:
        log.warning("%s: summary not cached (%s); the app computes it on first view.", run_dir, e)
        return None
    store_summary(run_dir, key, summary)
    return summary


def store_summary(run_dir: str | Path, key: str, summary: dict[str, Any]) -> bool:
    """Write ``summary`` (computed from the run as it was under ``key``) unless the run changed
    meanwhile or the directory is read-only (then the next reader computes; nothing breaks)."""
    try:
        if summary_key(run_dir) != key:
            return False
        write_summary(run_dir, key, summary)
    except OSError as e:
        log.warning("%s: summary not cached (%s).", run_dir, e)
        return False
    return True
