"""Open a rollout source: detect its format, read it with the right reader, fingerprint it.

Detection (``format="auto"``): ``.eval`` is an Inspect log; ``.jsonl``/``.csv``/``.tsv``/
``.parquet`` are tables (a record with ``choices`` is read as an OpenAI-style completion); a
``.json`` file is an Inspect log (``eval`` + ``version``), a Petri transcript (``events`` +
``metadata``) or a JSON list of records; a directory holding ``.eval`` files is a folder of
Inspect logs, any other directory a folder of Petri transcripts.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Literal

from ..errors import InputError
from ..prompts.record import Label
from .inspect_log import looks_like_inspect_json, read_inspect_rollouts
from .petri import looks_like_petri, read_petri_rollouts
from .record import DEFAULT_MAX_RECORD_BYTES, RolloutColumns, RolloutSource
from .tables import read_table_rollouts

__all__ = ["SourceFormat", "SOURCE_FORMATS", "DEFAULT_MAX_FILE_BYTES", "detect_format", "read_rollouts", "source_sha256"]

SourceFormat = Literal["auto", "jsonl", "json", "csv", "tsv", "parquet", "openai", "inspect", "petri"]
SOURCE_FORMATS: tuple[str, ...] = ("auto", "jsonl", "json", "csv", "tsv", "parquet", "openai", "inspect", "petri")

DEFAULT_MAX_FILE_BYTES = 4_000_000_000
"""Largest table file read (4 GB); the whole file is read into memory, so split larger ones."""

_SUFFIX = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv", ".tab": "tsv",
           ".parquet": "parquet", ".pq": "parquet", ".eval": "inspect"}


def detect_format(path: Path) -> str:
    """The format of ``path`` (see the module docstring); InputError when it cannot tell."""
    if path.is_dir():
        if any(path.rglob("*.eval")):
            return "inspect"
        first = next(iter(sorted(path.rglob("*.json"))), None)
        return "inspect" if first is not None and detect_format(first) == "inspect" else "petri"
    suffix = path.suffix.lower()
    if suffix in _SUFFIX:
        return _SUFFIX[suffix]
    if suffix == ".json":
        with path.open("rb") as f:
            head = f.read(1 << 16)
        text = head.decode("utf-8", "ignore").lstrip("\ufeff \t\r\n")
        if text.startswith("["):
            return "json"
        if re.match(r'\{\s*"version"\s*:\s*\d+\s*,\s*"status"', text):
            return "inspect"  # inspect_ai writes these two fields first
        try:  # small files: look at the parsed object
            data = json.loads(path.read_text(encoding="utf-8")) if path.stat().st_size < 50_000_000 else None
        except (UnicodeDecodeError, ValueError):
            return "json"  # the table reader reports the exact problem
        if looks_like_inspect_json(data):
            return "inspect"
        if looks_like_petri(data):
            return "petri"
        return "json"
    raise InputError(f"{path}: cannot tell the format from the extension {suffix or '(none)'!r}; "
                     f"pass --format (one of {', '.join(SOURCE_FORMATS[1:])})")


def source_sha256(path: Path) -> str:
    """SHA-256 of a file, or of a directory's files (relative names and contents, in sorted order)."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        if f is not path:
            h.update(str(f.relative_to(path)).encode() + b"\0")
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def read_rollouts(source: str | Path, *, format: str = "auto", columns: RolloutColumns | None = None,
                  default_label: Label | None = None, lenient: bool = False,
                  max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
                  max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> RolloutSource:
    """Read every rollout in ``source`` (a file or a directory) with the reader its format needs.

    ``default_label`` applies to prompts without a label (``eval`` for Petri, else ``unknown``).
    """
    path = Path(source).expanduser()
    if not path.exists():
        raise InputError(f"{path}: no such file or directory; check the path")
    if format not in SOURCE_FORMATS:
        raise InputError(f"unknown format {format!r}; use one of {', '.join(SOURCE_FORMATS)}")
    fmt = detect_format(path) if format == "auto" else format
    if fmt == "inspect":
        return read_inspect_rollouts(path, default_label=default_label or "unknown", lenient=lenient,
                                     max_record_bytes=max_record_bytes)
    if fmt == "petri":
        return read_petri_rollouts(path, default_label=default_label or "eval", lenient=lenient,
                                   max_record_bytes=max_record_bytes)
    if path.is_dir():
        raise InputError(f"{path} is a directory; format {fmt} needs a file")
    if fmt == "openai":  # OpenAI-style records are detected per record in JSONL/JSON files
        fmt = "json" if path.suffix.lower() == ".json" else "jsonl"
    size = path.stat().st_size
    if size > max_file_bytes:
        raise InputError(f"{path} is {size / 1e9:.1f} GB, over the {max_file_bytes / 1e9:.1f} GB limit; split it into several files")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read the file ({e.strerror or e})") from None
    return read_table_rollouts(data, path.name, fmt, columns=columns, default_label=default_label or "unknown",
                               lenient=lenient, max_record_bytes=max_record_bytes)
