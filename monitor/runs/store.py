"""The run directory: the one module that reads and writes the on-disk format.

A run directory holds everything needed to reproduce and review a result::

    manifest.json        format_version, status, model, settings, phrases, package versions
    prompts.parquet      prompt_id, text, label, system, messages, source, ...extra columns
    rollouts.parquet     prompt_id, rollout, prompt_token_ids, completion_token_ids, cot_text, ...
    sentences.parquet    prompt_id, rollout, sentence, text, char_start, char_end, boundary_token
    scores.parquet       prompt_id, rollout, sentence, phrase, forced_token_ids, token_logprobs, logprob
    annotations.parquet  (optional) reviewer notes on a prompt, rollout or sentence, by note_id
    summary.json         (optional) cached ``monitor.analysis.summarize`` output with the key it was
                         computed for (:func:`content_digest` + arguments + analysis code digest);
                         written only by writers, ignored by readers whenever the key differs
    .lock                the writer's lock file (``filelock``; not part of a bundle)

While a run is going, results are written append-only as *units* (one generation batch: rollouts
of one or several prompts) under ``parts/<unit>/``; each unit directory appears atomically (written under a temporary
name, then renamed), so a ``kill -9`` loses at most the unit in flight and a resume knows exactly
which units exist. :meth:`RunWriter.finalize` consolidates the parts into the four tables above,
marks the manifest ``complete`` and removes the parts. Readers accept either state, and any
directory with just the documented files and a minimal manifest (``{"format_version": 1}``).

One writer at a time: a run, a resume, a judge pass or a rescore holds :func:`run_lock` (an OS file
lock via ``filelock``, released when the process ends, even on ``kill -9``) for as long as it writes;
a second one is refused at once with :class:`RunLockedError`. Short read-modify-write updates of a
table (notes) take :func:`table_lock`, which waits a few seconds. A new run goes only into a
directory that does not exist or is empty (:func:`check_new_run_dir`).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import RunFormatError
from .hooks import run_written

__all__ = [
    "FORMAT_VERSION",
    "TABLES",
    "REQUIRED_COLUMNS",
    "ANNOTATION_COLUMNS",
    "Run",
    "RunLockedError",
    "RunWriter",
    "add_annotation",
    "check_new_run_dir",
    "delete_annotations",
    "run_lock",
    "table_lock",
    "read_manifest",
    "read_run",
    "SUMMARY",
    "content_digest",
    "read_summary",
    "has_parts",
    "write_summary",
    "write_manifest",
    "write_table",
]

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PARTS = "parts"
LOCK = ".lock"
TABLE_LOCK = ".tables.lock"
SUMMARY = "summary.json"
TABLES = ("prompts", "rollouts", "sentences", "scores")
# Tables written per unit while a run goes (prompts are written once, at creation).
UNIT_TABLES = ("rollouts", "sentences", "scores")

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "prompts": ("prompt_id", "text", "label"),
    "rollouts": ("prompt_id", "rollout", "prompt_token_ids", "completion_token_ids", "cot_text", "finish_reason"),
    "sentences": ("prompt_id", "rollout", "sentence", "text", "char_start", "char_end", "boundary_token"),
    "scores": ("prompt_id", "rollout", "sentence", "phrase", "forced_token_ids", "token_logprobs", "logprob"),
}


ANNOTATION_COLUMNS = ["note_id", "prompt_id", "rollout", "sentence", "note", "author", "created"]


class RunLockedError(RunFormatError):
    """Another process (or job) is writing this run directory right now."""


@contextmanager
def run_lock(run_dir: str | Path, *, what: str = "write") -> Iterator[None]:
    """Hold the run directory's writer lock, or raise :class:`RunLockedError` at once.

    Used by everything that writes a run for more than a moment (``run``/``--resume``, judging,
    rescoring), so two of them never interleave their writes.
    """
    from filelock import FileLock, Timeout

    run_dir = Path(run_dir)
    lock = FileLock(str(run_dir / LOCK), timeout=0, thread_local=False, is_singleton=False)
    try:
        lock.acquire()
    except Timeout:
        raise RunLockedError(
            f"{run_dir} is being written by another process or job (its lock file {LOCK} is held); "
            f"wait until it finishes before you {what} it."
        ) from None
    except OSError as e:
        raise RunFormatError(f"{run_dir}: cannot lock the run directory ({e.strerror or e}); is it writable?") from None
    try:
        yield
    finally:
        # Remove the file while still holding the lock, so a finished run keeps only its documented
        # files. A second writer never waits for this lock (timeout 0), so it cannot end up holding
        # the removed file's lock while a third takes a new one, except within the microseconds
        # between its open() and its lock call.
        try:
            os.unlink(run_dir / LOCK)
        except OSError:
            pass
        lock.release()


@contextmanager
def table_lock(run_dir: str | Path, *, timeout: float = 30.0) -> Iterator[None]:
    """Serialize short read-modify-write updates of a run's tables (e.g. two sessions saving notes)."""
    from filelock import FileLock, Timeout

    run_dir = Path(run_dir)
    try:
        with FileLock(str(run_dir / TABLE_LOCK), timeout=timeout, is_singleton=False):
            yield
    except Timeout:
        raise RunLockedError(f"{run_dir}: another session kept the notes locked for {timeout:.0f} s; try again.") from None


def check_new_run_dir(run_dir: str | Path) -> Path:
    """The directory a new run may be written to: it must not exist or be empty.

    Raises :class:`RunFormatError` with the fix for a directory that holds a run or anything else,
    a path that is a file or lies under one, and a location that cannot be created.
    """
    run_dir = Path(run_dir)
    for parent in [run_dir, *run_dir.parents]:
        if parent.exists() and not parent.is_dir():
            where = "is a file" if parent == run_dir else f"lies under {parent}, which is a file"
            raise RunFormatError(f"{run_dir} {where}; choose a new directory for the run.")
        if parent.exists():
            break
    if run_dir.is_dir():
        if (run_dir / MANIFEST).exists():
            raise RunFormatError(f"{run_dir} already holds a run. Use --resume {run_dir} to continue it, or choose a new --out.")
        try:
            entries = [p.name for p in run_dir.iterdir() if p.name not in (LOCK, TABLE_LOCK)]
        except OSError as e:
            raise RunFormatError(f"{run_dir}: cannot be read ({e.strerror or e}); choose another directory.") from None
        if entries:
            raise RunFormatError(
                f"{run_dir} is not empty ({len(entries)} entries, e.g. {sorted(entries)[0]!r}); a new run goes only into a "
                "new or empty directory, so nothing there is overwritten. Choose a new --out."
            )
    return run_dir


@dataclass
class Run:
    """A run loaded into memory (tables as pandas DataFrames)."""

    path: Path
    """The run directory."""
    manifest: dict[str, Any]
    """Parsed ``manifest.json``."""
    prompts: pd.DataFrame
    """One row per prompt."""
    rollouts: pd.DataFrame
    """One row per sampled rollout."""
    sentences: pd.DataFrame
    """One row per CoT sentence boundary (sentence 0 is the CoT start)."""
    scores: pd.DataFrame
    """One row per boundary and phrase, with per-token log-probs."""
    annotations: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Reviewer notes (may be empty)."""

    @property
    def status(self) -> str:
        """``complete``, ``running`` (parts not yet consolidated) or ``unknown`` (foreign run)."""
        return str(self.manifest.get("status", "unknown"))

    @property
    def phrases(self) -> list[str]:
        """Phrases scored in this run, in manifest order when recorded."""
        listed = list(self.manifest.get("phrases") or [])
        seen = list(dict.fromkeys(self.scores["phrase"].tolist())) if len(self.scores) else []
        return listed + [p for p in seen if p not in listed]


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_manifest(run_dir: str | Path, manifest: dict[str, Any]) -> None:
    """Atomically (re)write ``manifest.json``."""
    run_dir = Path(run_dir)
    manifest = dict(manifest)
    manifest.setdefault("format_version", FORMAT_VERSION)
    _atomic_write_bytes(run_dir / MANIFEST, json.dumps(manifest, indent=2, default=str).encode())


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """Read and check ``manifest.json``; raise :class:`RunFormatError` with the fix if unusable."""
    run_dir = Path(run_dir)
    path = run_dir / MANIFEST
    if not run_dir.is_dir():
        raise RunFormatError(f"{run_dir}: not a directory. Pass a run directory (it holds {MANIFEST}).")
    if not path.is_file():
        raise RunFormatError(f"{run_dir}: no {MANIFEST}. A run directory needs at least {{\"format_version\": {FORMAT_VERSION}}} in {MANIFEST}.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RunFormatError(f"{path}: not valid JSON ({e}).") from None
    if not isinstance(manifest, dict) or "format_version" not in manifest:
        raise RunFormatError(f"{path}: missing \"format_version\"; this reader understands version {FORMAT_VERSION}.")
    version = manifest["format_version"]
    if version != FORMAT_VERSION:
        raise RunFormatError(
            f"{path}: format_version {version!r} is not supported by this version of the tool "
            f"(it reads version {FORMAT_VERSION}). Upgrade the tool, or convert the run."
        )
    return manifest


def content_digest(run_dir: str | Path) -> str:
    """SHA-256 over the bytes of the manifest and the four tables (absent files count as absent).

    The part of ``summary.json``'s key that says which data the summary describes: any rewrite of a
    table or the manifest (a rescore, a judge pass, a hand edit) changes it. Annotations are left
    out: notes do not enter any number."""
    import hashlib

    run_dir = Path(run_dir)
    h = hashlib.sha256()
    for name in (MANIFEST, *(f"{t}.parquet" for t in TABLES)):
        h.update(name.encode() + b"\0")
        try:
            with open(run_dir / name, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        except FileNotFoundError:
            h.update(b"<absent>")
        h.update(b"\0")
    return h.hexdigest()


def has_parts(run_dir: str | Path) -> bool:
    """Whether the run still has unit parts (it is going, or stopped before :meth:`RunWriter.finalize`)."""
    return (Path(run_dir) / PARTS).is_dir()


def read_summary(run_dir: str | Path, key: str) -> dict[str, Any] | None:
    """The cached summary in ``summary.json`` if it was computed for ``key``, else ``None`` (a miss:
    absent, unreadable, or stale files are never trusted; the caller computes)."""
    if has_parts(run_dir):
        return None  # a run still going gains units without its tables changing
    path = Path(run_dir) / SUMMARY
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("key") != key or not isinstance(data.get("summary"), dict):
        return None
    return data["summary"]


def write_summary(run_dir: str | Path, key: str, summary: dict[str, Any]) -> None:
    """Atomically (re)write ``summary.json`` (``summary`` must be plain JSON: no NaN)."""
    data = {"key": key, "summary": summary}
    _atomic_write_bytes(Path(run_dir) / SUMMARY, json.dumps(data, allow_nan=False, separators=(",", ":")).encode())


def write_table(run_dir: str | Path, name: str, df: pd.DataFrame) -> Path:
    """Atomically (re)write ``<name>.parquet`` in a run directory (e.g. after judging)."""
    path = Path(run_dir) / f"{name}.parquet"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        df.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


# Per-token list columns: most of the reading time of a large run, and unused by the analyses.
LIST_COLUMNS = frozenset({"prompt_token_ids", "completion_token_ids", "forced_token_ids", "token_logprobs"})


def _read_parquet(path: Path, *, lists: bool = True) -> pd.DataFrame:
    try:
        if not lists:
            import pyarrow.parquet as pq

            names = [n for n in pq.read_schema(path).names if n not in LIST_COLUMNS]
            return pd.read_parquet(path, columns=names)
        return pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types for corrupt files
        raise RunFormatError(f"{path}: cannot be read as Parquet ({type(e).__name__}: {e}).") from None


def _unit_dirs(run_dir: Path) -> list[Path]:
    parts = run_dir / PARTS
    if not parts.is_dir():
        return []
    return sorted(p for p in parts.iterdir() if p.is_dir() and not p.name.startswith("."))


def _concat(frames: list[pd.DataFrame], name: str) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=list(REQUIRED_COLUMNS[name]))
    return pd.concat(frames, ignore_index=True)


def _read_parts(files: list[Path], name: str, *, lists: bool) -> pd.DataFrame:
    """One table's unit parts, concatenated in unit order.

    Parts that share one schema (what the pipeline writes) are read as one Parquet dataset, a
    single Arrow-to-pandas conversion instead of one per part (64 parts: ~4x faster). Any
    difference between the parts' schemas takes the per-part path, where pandas unifies dtypes."""
    if len(files) > 1:
        import pyarrow.parquet as pq

        try:
            schemas = [pq.read_schema(f) for f in files]
        except Exception:
            schemas = []  # a corrupt part: the per-part path names it
        if schemas and all(sc.equals(schemas[0], check_metadata=True) for sc in schemas[1:]):
            columns = None if lists else [n for n in schemas[0].names if n not in LIST_COLUMNS]
            try:
                df = pd.read_parquet([str(f) for f in files], columns=columns)
            except Exception as e:  # pyarrow raises several types for corrupt files
                raise RunFormatError(f"{files[0].parent.parent}: the {name} parts cannot be read as Parquet ({type(e).__name__}: {e}).") from None
            if len(df):
                return df
    return _concat([_read_parquet(f, lists=lists) for f in files], name)


def _sort(df: pd.DataFrame, name: str, prompt_order: dict[str, int]) -> pd.DataFrame:
    keys = {"rollouts": ["rollout"], "sentences": ["rollout", "sentence"], "scores": ["rollout", "sentence"]}[name]
    if not len(df):
        return df
    order = df["prompt_id"].map(prompt_order).fillna(len(prompt_order)).to_numpy(dtype=float)
    cols = [df[k].to_numpy() for k in keys]
    if not all(c.dtype.kind in "iu" for c in cols):  # NaN or odd keys: pandas' own sort decides
        return _sort_frame(df, keys, order)
    # A stable lexsort on (prompt order, *keys) keeps the phrases of a boundary in written order,
    # as the frame sort below does with its cumcount; ~10x less fixed overhead per table.
    return df.take(np.lexsort([*reversed(cols), order])).reset_index(drop=True)


def _sort_frame(df: pd.DataFrame, keys: list[str], order: np.ndarray) -> pd.DataFrame:
    df = df.assign(_order=order)
    sort_cols = ["_order", *keys]
    df = df.assign(_phrase=df.groupby(sort_cols, sort=False).cumcount())
    return df.sort_values([*sort_cols, "_phrase"], kind="stable").drop(columns=["_order", "_phrase"]).reset_index(drop=True)


def _check_columns(df: pd.DataFrame, name: str, where: Path, skip: frozenset[str] = frozenset()) -> None:
    missing = [c for c in REQUIRED_COLUMNS[name] if c not in df.columns and c not in skip]
    if missing:
        raise RunFormatError(f"{where}: {name} table lacks column(s) {missing}; see README 'Run directory format'.")


def read_run(run_dir: str | Path, *, lists: bool = True) -> Run:
    """Load a run directory (complete, in progress, or written by another tool in this format).

    ``lists=False`` skips the per-token list columns (token ids, per-token log-probs), which
    makes reading a large run for analysis several times faster.
    """
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    tables: dict[str, pd.DataFrame] = {}
    units = _unit_dirs(run_dir)
    for name in TABLES:
        path = run_dir / f"{name}.parquet"
        if path.is_file():
            tables[name] = _read_parquet(path, lists=lists)
        elif name != "prompts" and units:
            tables[name] = _read_parts([u / f"{name}.parquet" for u in units if (u / f"{name}.parquet").is_file()], name, lists=lists)
        elif name != "prompts" and manifest.get("status") == "running":
            tables[name] = pd.DataFrame(columns=list(REQUIRED_COLUMNS[name]))
        else:
            raise RunFormatError(f"{run_dir}: missing {name}.parquet; a run directory holds {', '.join(t + '.parquet' for t in TABLES)}.")
        _check_columns(tables[name], name, run_dir / f"{name}.parquet", frozenset() if lists else LIST_COLUMNS)
    if "prompts" in tables:
        tables["prompts"]["prompt_id"] = tables["prompts"]["prompt_id"].astype(str)
    for name in ("rollouts", "sentences", "scores"):
        if len(tables[name]):
            tables[name]["prompt_id"] = tables[name]["prompt_id"].astype(str)
    ann_path = run_dir / "annotations.parquet"
    annotations = _norm_annotations(_read_parquet(ann_path)) if ann_path.is_file() else _no_annotations().copy()
    if not (run_dir / "rollouts.parquet").is_file() and units:
        order = {pid: i for i, pid in enumerate(tables["prompts"]["prompt_id"])}
        for name in UNIT_TABLES:
            tables[name] = _sort(tables[name], name, order)
    return Run(path=run_dir, manifest=manifest, annotations=annotations, **tables)


class RunWriter:
    """Append-only writer for a run in progress; safe against ``kill -9`` at any moment.

    It holds the run's writer lock (:func:`run_lock`) from construction until :meth:`finalize` or
    :meth:`close` (or the end of the process), so a second writer is refused with a clear message.
    """

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir)
        self.manifest = read_manifest(self.path)
        self._lock = run_lock(self.path, what="resume or judge")
        self._lock.__enter__()

    def close(self) -> None:
        """Release the writer lock (the run can be resumed or judged by someone else)."""
        lock, self._lock = getattr(self, "_lock", None), None
        if lock is not None:
            lock.__exit__(None, None, None)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    @classmethod
    def create(cls, run_dir: str | Path, manifest: dict[str, Any], prompts: pd.DataFrame) -> "RunWriter":
        """Start a new run in a directory that does not exist or is empty (:func:`check_new_run_dir`)."""
        run_dir = check_new_run_dir(run_dir)
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunFormatError(f"{run_dir}: cannot create the run directory ({e.strerror or e}); choose another --out.") from None
        with run_lock(run_dir, what="start a run in"):
            check_new_run_dir(run_dir)  # again under the lock: two runs started at once into one directory
            (run_dir / PARTS).mkdir(exist_ok=True)
            write_table(run_dir, "prompts", prompts)
            write_manifest(run_dir, {**manifest, "format_version": FORMAT_VERSION, "status": "running"})
        return cls(run_dir)

    def done_units(self) -> set[str]:
        """Names of the units already written (a resume skips these)."""
        return {p.name for p in _unit_dirs(self.path)}

    def done_rollouts(self) -> set[tuple[str, int]]:
        """(prompt_id, rollout) of every rollout already written (a resume generates the rest)."""
        done: set[tuple[str, int]] = set()
        for u in _unit_dirs(self.path):
            f = u / "rollouts.parquet"
            if f.is_file():
                df = pd.read_parquet(f, columns=["prompt_id", "rollout"])
                done.update(zip(df["prompt_id"].astype(str), df["rollout"].astype(int)))
        return done

    def write_unit(self, unit: str, tables: dict[str, pd.DataFrame]) -> None:
        """Write one unit's rollouts/sentences/scores; it becomes visible all at once."""
        if self.manifest.get("status") == "complete":
            raise RunFormatError(f"{self.path} is complete; a finished run is never modified.")
        parts = self.path / PARTS
        parts.mkdir(exist_ok=True)
        final = parts / unit
        if final.exists():
            raise RunFormatError(f"{final} already exists: unit written twice (this is a bug).")
        tmp = Path(tempfile.mkdtemp(dir=parts, prefix=f".{unit}."))
        try:
            for name in UNIT_TABLES:
                tables[name].to_parquet(tmp / f"{name}.parquet", index=False)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def update_manifest(self, **fields: Any) -> None:
        """Merge fields into the manifest (atomic)."""
        self.manifest = {**self.manifest, **fields}
        write_manifest(self.path, self.manifest)

    def finalize(self, **manifest_fields: Any) -> Run:
        """Consolidate the parts into the four tables and mark the run complete."""
        run = read_run(self.path)
        for name in UNIT_TABLES:
            write_table(self.path, name, getattr(run, name))
        self.update_manifest(status="complete", **manifest_fields)
        shutil.rmtree(self.path / PARTS, ignore_errors=True)
        run = read_run(self.path)
        run_written(self.path, run)  # while the lock is held (the summary cache: the app's Home then opens instantly)
        self.close()
        return run


def _note_id(row: pd.Series) -> str:
    # Notes saved before ids existed get one derived from their content, so it is the same in
    # every session that reads the table (and never depends on the row's position).
    import hashlib

    blob = json.dumps([None if pd.isna(row.get(c)) else str(row.get(c)) for c in ANNOTATION_COLUMNS[1:]])
    return "n" + hashlib.sha256(blob.encode()).hexdigest()[:15]


def _norm_annotations(df: pd.DataFrame) -> pd.DataFrame:
    df = df.reindex(columns=ANNOTATION_COLUMNS) if len(df.columns) else pd.DataFrame(columns=ANNOTATION_COLUMNS)
    df["rollout"] = pd.array(pd.to_numeric(df["rollout"], errors="coerce"), dtype="Int64")
    df["sentence"] = pd.array(pd.to_numeric(df["sentence"], errors="coerce"), dtype="Int64")
    for c in ("note_id", "prompt_id", "note", "author", "created"):
        df[c] = df[c].astype("string")
    missing = df["note_id"].isna()
    if missing.any():
        df.loc[missing, "note_id"] = df[missing].apply(_note_id, axis=1).astype("string")
    return df.reset_index(drop=True)


@functools.cache
def _no_annotations() -> pd.DataFrame:
    # Most runs have no notes; building the empty typed table costs ~1 ms per read_run (finalize
    # reads twice), so it is built once and copied.
    return _norm_annotations(pd.DataFrame())


def _read_annotations(run_dir: Path) -> pd.DataFrame:
    path = run_dir / "annotations.parquet"
    return _norm_annotations(_read_parquet(path) if path.is_file() else pd.DataFrame())


def add_annotation(run_dir: str | Path, *, prompt_id: str, rollout: int | None, sentence: int | None, note: str,
                   author: str, created: str) -> pd.DataFrame:
    """Append one note (with a new stable ``note_id``) to ``annotations.parquet``; returns the table.

    The read-modify-write runs under :func:`table_lock` and ends in an atomic replace, so notes
    saved by two sessions at the same moment are both kept.
    """
    run_dir = Path(run_dir)
    row = pd.DataFrame([{"note_id": uuid.uuid4().hex[:16], "prompt_id": prompt_id, "rollout": rollout, "sentence": sentence,
                         "note": note, "author": author, "created": created}])
    with table_lock(run_dir):
        new = pd.concat([_read_annotations(run_dir), _norm_annotations(row)], ignore_index=True)
        write_table(run_dir, "annotations", new)
    return new


def delete_annotations(run_dir: str | Path, note_ids: list[str]) -> pd.DataFrame:
    """Remove the notes with these ids (ids no longer there are ignored); returns the table."""
    run_dir = Path(run_dir)
    with table_lock(run_dir):
        df = _read_annotations(run_dir)
        df = df[~df["note_id"].isin([str(i) for i in note_ids])].reset_index(drop=True)
        write_table(run_dir, "annotations", df)
    return df
