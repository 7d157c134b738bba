"""One judge pass over a finished run: resumable per-rollout parts, kept previous columns.

Both judge kinds run through :func:`run_pass`, configured by a :class:`PassKind` and a few
functions: the verbalization judge (:mod:`monitor.judges.run`, sentence flags in
``sentences.parquet``) and the behaviour judge (:mod:`monitor.judges.behaviour`, one label per
rollout in ``rollouts.parquet``). What they share, and so what is written only here:

- **Parts.** ``<parts root>/<judge>-<settings hash>/settings.json`` (the judge's settings, never a
  key) and ``results.jsonl``, one line per judged or failed rollout, appended as soon as it is
  judged: a ``kill -9`` loses at most the rollouts in flight, and a torn last line is ignored.
- **Resume.** A rerun with the same settings skips rollouts judged ``ok`` whose text is unchanged
  (by hash) and retries the failed ones; other judges or settings live in other folders.
- **Failure.** A :class:`JudgeFailure` is recorded and the pass goes on; a :class:`JudgeError`
  (bad credentials) or any other exception stops it after recording the work done.
- **Kept previous columns.** Columns written by another judge (or other settings) are replaced
  only by a pass that judges every rollout; a pass that fails or is stopped keeps them, says so in
  its error and its summary, and its results wait in its parts folder for the next pass.
- **One writer.** The pass holds the run's writer lock (:func:`monitor.runs.store.run_lock`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Generic, TypeVar

from ..errors import MonitorError, RunFormatError
from ..runs.hooks import run_written
from ..runs.store import read_manifest, run_lock
from .base import JudgeFailure

__all__ = ["Key", "PassKind", "PassRecords", "PassSummary", "PassPlan", "parts_dir", "run_pass", "read_records"]

Key = tuple[str, int]
"""A rollout: ``(prompt_id, rollout)``."""
Progress = Callable[[int, int, str], None]
S = TypeVar("S")


@dataclass(frozen=True)
class PassKind:
    """What tells one judge kind's passes apart: where they write, and how they say it."""

    parts_root: str
    """Folder in the run holding one parts folder per judge and settings."""
    manifest_key: str
    """The manifest entry the pass writes (name, settings, counts, parts folder)."""
    kept_what: str
    """What a failed pass keeps, as the error says it ("judge flags")."""
    judged: str
    """The past participle for a rollout done by this judge ("judged", "labelled")."""
    needs: str
    """The run table this kind reads and rewrites; a run without it is not finished."""


@dataclass(frozen=True, kw_only=True)
class PassSummary:
    """What a judge pass did; each kind adds its own counts."""

    judge: str
    """The judge's name."""
    rollouts: int
    """Rollouts in the run."""
    already_done: int
    """Rollouts judged by an earlier pass (skipped)."""
    judged_now: int
    """Rollouts judged in this pass."""
    failed: int
    """Rollouts still failing after this pass (rerun to retry them)."""
    parts_dir: Path
    """Where this judge's per-rollout results are kept."""
    usage: dict[str, Any] | None = None
    """Requests, tokens and cost, for judges that pay for them."""
    kept_previous: str | None = None
    """Set when this pass did not complete and the run's columns (from another judge or settings,
    named here) were kept as they were; this pass's results wait in ``parts_dir``."""


@dataclass
class PassRecords:
    """The latest record of every rollout in a parts folder, read against the run's current texts."""

    hashes: dict[Key, str]
    """Hash of each rollout's judged text, in the run's order (a changed text is judged again)."""
    records: dict[Key, dict[str, Any]]
    """Latest record per rollout (older passes' and this one's)."""
    already_done: int = 0
    """Rollouts already judged ``ok`` when the pass began."""
    judged_now: int = 0
    """Rollouts judged ``ok`` by this pass."""
    parts: Path = field(default_factory=Path)
    """The parts folder."""

    def ok(self, key: Key) -> bool:
        """Judged, for the rollout's current text."""
        rec = self.records.get(key)
        return rec is not None and rec.get("status") == "ok" and rec.get("text_hash") == self.hashes[key]

    def failed(self, key: Key) -> bool:
        """Tried for the rollout's current text, and failed."""
        rec = self.records.get(key)
        return rec is not None and rec.get("text_hash") == self.hashes[key] and rec.get("status") != "ok"

    def ok_keys(self) -> list[Key]:
        return [k for k in self.hashes if self.ok(k)]

    def n_failed(self) -> int:
        return sum(1 for k in self.hashes if self.failed(k))


def parts_dir(run_dir: Path, kind: PassKind, judge_name: str, settings_hash: str) -> Path:
    """The parts folder of one judge and settings hash."""
    return Path(run_dir) / kind.parts_root / f"{judge_name}-{settings_hash}"


@dataclass(frozen=True)
class PassPlan(Generic[S]):
    """One pass of one judge over one run, as its kind lays it out (see :func:`run_pass`)."""

    parts: Path
    """This judge's parts folder (one per judge and settings)."""
    settings_text: str
    """What ``settings.json`` holds (never a key)."""
    items: dict[Key, Any]
    """What is judged for each rollout, in the run's order."""
    hashes: dict[Key, str]
    """Hash of each rollout's text (a changed text is judged again)."""
    judge_many: Callable[[list[Any]], Iterable[tuple[int, Any]]]
    """Judges a list of items, yielding ``(index, verdict or JudgeFailure)`` as each finishes."""
    ok_fields: Callable[[Key, Any], dict[str, Any]]
    """The record's fields for a verdict (it may raise: a judge's bug stops the pass like an error)."""
    redact: Callable[[str], str]
    """Masks the judge's secrets in what is written."""
    has_columns: bool
    """The run's table already has this kind's columns (from some judge)."""
    write: Callable[[PassRecords], S]
    """Writes the columns and the manifest entry; returns the summary."""
    kept: Callable[[PassRecords, str], S]
    """The summary when another judge's columns (named) are kept and nothing is written."""


def run_pass(run_dir: str | Path, kind: PassKind, plan: Callable[[dict[str, Any]], PassPlan[S]], *,
             progress: Progress | None = None, should_stop: Callable[[], bool] | None = None) -> S:
    """One judge pass over a finished run, holding its writer lock: ``plan(manifest)`` reads the run
    and says what to judge; the rollouts not judged yet are judged, each recorded as it finishes,
    and the columns written (or, see the module docstring, another judge's kept).

    ``progress(done, total, message)`` is called after each rollout; ``should_stop()`` returning
    True ends the pass early (what was judged is kept and written).
    """
    run_dir = Path(run_dir)
    read_manifest(run_dir)  # a folder that is not a run says so before any lock file is made
    with run_lock(run_dir, what="judge"):
        manifest = read_manifest(run_dir)
        if manifest.get("status") == "running" or not (run_dir / f"{kind.needs}.parquet").is_file():
            raise RunFormatError(f"{run_dir}: the run is not finished (no {kind.needs}.parquet yet). Finish it with "
                                 f"'monitor run --resume {run_dir}' before judging.")
        return _judge(run_dir, kind, manifest, plan(manifest), progress, should_stop)


def _judge(run_dir: Path, kind: PassKind, manifest: dict[str, Any], p: PassPlan[S], progress: Progress | None,
           should_stop: Callable[[], bool] | None) -> S:
    p.parts.mkdir(parents=True, exist_ok=True)
    if not (p.parts / "settings.json").is_file():
        _atomic_text(p.parts / "settings.json", p.settings_text)
    results_path = p.parts / "results.jsonl"
    state = PassRecords(hashes=p.hashes, records=read_records(results_path), parts=p.parts)
    todo = [k for k in p.items if not state.ok(k)]
    state.already_done = n_done = len(p.items) - len(todo)
    total = len(p.items)
    if progress:
        progress(n_done, total, f"{n_done} rollouts already judged" if n_done else "judging")
    previous = manifest.get(kind.manifest_key) if isinstance(manifest.get(kind.manifest_key), dict) else None
    other = previous is not None and previous.get("parts") != p.parts.relative_to(run_dir).as_posix() and p.has_columns
    appender = _Appender(results_path)
    failure: BaseException | None = None
    try:
        if todo:
            for i, out in p.judge_many([p.items[k] for k in todo]):
                key = todo[i]
                rec: dict[str, Any] = {"prompt_id": key[0], "rollout": key[1], "text_hash": p.hashes[key],
                                       "judged_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
                if isinstance(out, JudgeFailure):
                    rec.update(status="failed", error=p.redact(out.error), attempts=out.attempts)
                else:
                    rec.update(status="ok", **p.ok_fields(key, out))
                    state.judged_now += 1
                appender.write(rec)
                state.records[key] = rec
                n_done += 1
                if progress:
                    progress(n_done, total, f"{key[0]} rollout {key[1]}: {rec['status']}")
                if should_stop and should_stop():
                    break
    except BaseException as e:
        failure = e
        raise
    finally:
        appender.close()
        finished = failure is None and all(state.ok(k) for k in p.items)
        if other and not finished:
            name = f"{previous.get('name')} ({previous.get('parts')})"
            summary = p.kept(state, name)
            if isinstance(failure, MonitorError):
                failure.args = (f"{failure} The run keeps its previous {kind.kept_what} ({name}); this pass's "
                                f"{state.judged_now} {kind.judged} rollout(s) are kept in {p.parts} and a rerun continues from them.",)
        else:
            summary = p.write(state)
            run_written(run_dir)  # the judge's AUROCs or refusal analyses changed: the summary is recached
    return summary


def read_records(path: Path) -> dict[Key, dict[str, Any]]:
    """Latest record per rollout; a torn or corrupt line (killed mid-write) is skipped."""
    out: dict[Key, dict[str, Any]] = {}
    if not path.is_file():
        return out
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                rec = json.loads(line)
                out[(str(rec["prompt_id"]), int(rec["rollout"]))] = rec
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
    return out


class _Appender:
    """Appends one JSON line per rollout; flushed at once, fsynced every couple of seconds."""

    def __init__(self, path: Path):
        if path.is_file() and path.stat().st_size:
            with open(path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                torn = f.read(1) != b"\n"
        else:
            torn = False
        self.f = open(path, "a", encoding="utf-8")
        if torn:  # isolate a line cut off by a kill, so it stays unreadable rather than corrupting the next
            self.f.write("\n")
        self.synced = time.monotonic()

    def write(self, rec: dict[str, Any]) -> None:
        self.f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self.f.flush()
        if time.monotonic() - self.synced > 2.0:
            os.fsync(self.f.fileno())
            self.synced = time.monotonic()

    def close(self) -> None:
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
