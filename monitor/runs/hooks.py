"""Who is told when a run's tables were written: the hook that keeps derived files current.

The run store sits below the analyses in the data flow (prompts, engine, runs, judges, analysis,
report), so a writer here cannot call the analyses itself. Yet whoever finishes a run (a
:class:`~monitor.runs.store.RunWriter` at ``finalize``, a rescore, a judge pass) is the one that
should recache the run's summary while it still holds the lock, so the app's Home opens at once.
The layer above registers that work here with :func:`on_run_written`; the package
``monitor/__init__.py`` registers the summary cache (:func:`monitor.analysis.cached.refresh_summary`),
so it is in place for every caller (CLI, app, API) before any writer runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .store import Run

__all__ = ["RunWritten", "on_run_written", "run_written"]

RunWritten = Callable[[Path, "Run | None"], None]
"""``hook(run_dir, run)``: the run's tables were written; ``run`` is the run as read back, if at hand."""

_HOOKS: list[RunWritten] = []


def on_run_written(hook: RunWritten) -> RunWritten:
    """Call ``hook`` after every finished write of a complete run (once per hook, however often registered)."""
    if hook not in _HOOKS:
        _HOOKS.append(hook)
    return hook


def run_written(run_dir: str | Path, run: Run | None = None) -> None:
    """Tell the registered hooks that ``run_dir``'s tables were written (the writer still holds its lock)."""
    for hook in list(_HOOKS):
        hook(Path(run_dir), run)
