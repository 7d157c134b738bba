"""Prompts from pasted text, prompt files and datasets: the one entry point for the CLI and the app.

The command line (``--prompts``) and the app call the same functions here, so a file that loads
in one loads in the other with the same ids and the same errors.

- :func:`parse_pasted` — pasted text: one prompt per blank-line-separated block, a JSON list
  (of strings or of objects), or JSON Lines.
- :func:`read_prompt_file` / :func:`read_prompt_bytes` — JSONL, JSON (a list), CSV, TSV, plain
  text (blocks) and Parquet, with a :class:`ColumnMapping`.
- :func:`load_prompt_set` / :func:`load_prompts` — a file path or a dataset spec
  (``hf:NAME[:SPLIT]``, ``fortress[:NAME]``, ``wildchat[:NAME]``, ``petri:DIR``), with exclusions.

Strict by default: any bad row fails the whole input with a :class:`PromptFileError` listing up
to ten problems with their line/row numbers. ``lenient=True`` skips bad rows instead and reports
each in ``LoadedPrompts.warnings``. File-level problems (missing, too big, binary, not UTF-8,
empty) always raise. Ids, labels and the column mapping: :mod:`monitor.prompts.records`.
See ``docs/prompts.md``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from ..errors import InputError
from .filters import ExclusionRules, apply_exclusions
from .records import (
    ColumnMapping,
    LoadedPrompts,
    Problem,
    PromptFileError,
    RowError,
    collect_prompts,
    normalize_label,
    prompt_id_for,
    prompts_from_records,
    type_name,
)
from .record import Label, Prompt

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FILE_FORMATS",
    "ColumnMapping",
    "LoadedPrompts",
    "Problem",
    "PromptFileError",
    "load_prompt_set",
    "load_prompts",
    "normalize_label",
    "parse_pasted",
    "prompt_id_for",
    "prompts_from_records",
    "read_prompt_bytes",
    "read_prompt_file",
]

DEFAULT_MAX_BYTES = 200_000_000
"""Largest prompt file read by default (200 MB); larger sets belong in a dataset or split files."""

Format = Literal["jsonl", "json", "csv", "tsv", "text", "parquet"]
FILE_FORMATS: dict[str, Format] = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
    ".tab": "tsv", ".txt": "text", ".parquet": "parquet", ".pq": "parquet",
}
"""File extension -> format (lower-cased suffix)."""


def _text_blocks(text: str) -> Iterator[tuple[str, Any]]:
    blocks = (b.strip() for b in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").replace("\r", "\n")))
    return ((f"block {i}", b) for i, b in enumerate(filter(None, blocks), 1))


def _jsonl_items(text: str) -> Iterator[tuple[str, Any]]:
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield f"line {n}", json.loads(line)
        except json.JSONDecodeError as e:
            yield f"line {n}", RowError(f"invalid JSON ({e.msg} at column {e.colno})")
        except (ValueError, RecursionError) as e:
            yield f"line {n}", RowError(f"invalid JSON ({type(e).__name__}: {str(e)[:120]})")


def _json_items(text: str, name: str) -> Iterator[tuple[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{name}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}. "
                         "Fix the file (a JSON list of prompts), or save it as JSON Lines (.jsonl)") from None
    except (ValueError, RecursionError) as e:
        raise InputError(f"{name}: invalid JSON ({type(e).__name__}: {str(e)[:120]})") from None
    if isinstance(data, dict) and isinstance(data.get("prompts"), list):
        data = data["prompts"]
    if not isinstance(data, list):
        raise InputError(f"{name}: expected a JSON list of prompts (or {{\"prompts\": [...]}}), "
                         f"got {type_name(data)}. Wrap the prompts in [ ... ]")
    return ((f"item {i}", v) for i, v in enumerate(data, 1))


def _csv_items(text: str, name: str, delimiter: str) -> Iterator[tuple[str, Any]]:
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))  # one prompt may be huge
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except csv.Error as e:
        raise InputError(f"{name}: line 1: cannot read the header row ({e})") from None
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes or not any(header):
        what = f"duplicate column names {', '.join(map(repr, dupes))}" if dupes else "no column names"
        raise InputError(f"{name}: the header row (line 1) has {what}; give each column a unique name")
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield f"line {start}", RowError(f"malformed {'TSV' if delimiter == chr(9) else 'CSV'} ({e})")
            continue
        if not any(row):  # blank lines and Excel's trailing ',,,' rows
            continue
        if len(row) != len(header):
            yield f"line {start}", RowError(f"has {len(row)} fields but the header has {len(header)} "
                                             f"(an unquoted {delimiter!r} or a stray quote?)")
        else:
            yield f"line {start}", dict(zip(header, row))


def _parquet_items(data: bytes, name: str) -> Iterator[tuple[str, Any]]:
    import pyarrow.parquet as pq

    if len(data) < 12 or data[:4] != b"PAR1" or data[-4:] != b"PAR1":
        raise InputError(f"{name}: not a Parquet file (no PAR1 marker); is it CSV or JSON with a .parquet name?")
    try:
        rows = pq.read_table(io.BytesIO(data)).to_pylist()
    except Exception as e:  # pyarrow raises many types on corrupt files; all mean "unreadable"
        raise InputError(f"{name}: cannot read this Parquet file ({type(e).__name__}: {str(e)[:200]}). "
                         "Re-export it, or save the prompts as JSONL/CSV") from None
    return ((f"row {i}", r) for i, r in enumerate(rows, 1))


def _decode(data: bytes, name: str) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise InputError(f"{name} is UTF-16 encoded; save it as UTF-8")
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data[:nul].count(b"\n") + 1
        raise InputError(f"{name} looks like a binary file (NUL byte on line {line}), not text; "
                         "check that you picked the right file and that its extension matches its format")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise InputError(f"{name}: line {line} is not valid UTF-8 (byte 0x{data[e.start]:02x}); save the file "
                         "as UTF-8, e.g. `iconv -f latin1 -t utf-8 IN > OUT`") from None


def _format_of(name: str) -> Format:
    suffix = Path(name).suffix.lower()
    if suffix not in FILE_FORMATS:
        raise InputError(f"{name}: unknown prompt file type {suffix or '(no extension)'!r}; "
                         f"use one of {', '.join(FILE_FORMATS)} or a dataset (hf:NAME)")
    return FILE_FORMATS[suffix]


def _check_size(size: int, max_bytes: int, name: str) -> None:
    if size > max_bytes:
        raise InputError(f"{name} is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit for prompt "
                         "files; split it, load it as a dataset (hf:PATH), or raise the limit (max_bytes)")


def read_prompt_bytes(data: bytes, name: str, *, mapping: ColumnMapping | None = None, lenient: bool = False,
                      max_bytes: int = DEFAULT_MAX_BYTES, default_label: Label = "unknown",
                      source: str | None = None) -> LoadedPrompts:
    """Prompts from a file's bytes (an upload in the app); ``name``'s extension picks the format."""
    fmt = _format_of(name)
    _check_size(len(data), max_bytes, name)
    if not data.strip():
        raise InputError(f"{name} is empty; it needs at least one prompt")
    items: Iterable[tuple[str, Any]]
    if fmt == "parquet":
        items = _parquet_items(data, name)
    else:
        text = _decode(data, name)
        if not text.strip():
            raise InputError(f"{name} is empty; it needs at least one prompt")
        if fmt == "jsonl":
            items = _jsonl_items(text)
        elif fmt == "json":
            items = _json_items(text, name)
        elif fmt == "text":
            items = _text_blocks(text)
        else:
            items = _csv_items(text, name, "," if fmt == "csv" else "\t")
    return collect_prompts(items, source=source or Path(name).name, mapping=mapping or ColumnMapping(),
                    default_label=default_label, lenient=lenient)


def read_prompt_file(path: str | Path, *, mapping: ColumnMapping | None = None, lenient: bool = False,
                     max_bytes: int = DEFAULT_MAX_BYTES, default_label: Label = "unknown") -> LoadedPrompts:
    """Prompts from a JSONL, JSON, CSV, TSV, TXT or Parquet file (see :data:`FILE_FORMATS`)."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{p} is a directory; pass a prompt file, petri:{p} for Petri transcripts "
                         f"or hf:{p} for a dataset directory")
    _format_of(p.name)
    try:
        _check_size(p.stat().st_size, max_bytes, str(p))
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{p}: no such prompt file; check the path") from None
    except OSError as e:
        raise InputError(f"{p}: cannot read the file ({e.strerror or e})") from None
    return read_prompt_bytes(data, str(p), mapping=mapping, lenient=lenient, max_bytes=max_bytes,
                             default_label=default_label, source=p.name)


def parse_pasted(text: str, *, label: Label | str = "unknown", mapping: ColumnMapping | None = None,
                 lenient: bool = False, source: str = "pasted") -> LoadedPrompts:
    """Prompts from pasted text; ``label`` applies to prompts that do not carry their own.

    Text starting with ``[{`` or ``["`` is read as a JSON list and text starting with ``{`` as
    JSON Lines; anything else is one prompt per block, blocks separated by blank lines.
    """
    default_label = normalize_label(label)
    s = text.strip()
    if not s:
        raise InputError("the pasted text is empty: paste one prompt per blank-line-separated block, "
                         "or a JSON list of prompts")
    items: Iterable[tuple[str, Any]]
    if re.match(r'\[\s*[{"\]]', s):
        items = _json_items(s, source)
    elif s.startswith("{"):
        items = _jsonl_items(s)
    else:
        items = _text_blocks(s)
    return collect_prompts(items, source=source, mapping=mapping or ColumnMapping(),
                    default_label=default_label, lenient=lenient)


_SCHEMES = ("hf", "fortress", "fortress-pairs", "wildchat", "petri")


def load_prompt_set(source: str | Path, *, mapping: ColumnMapping | None = None, lenient: bool = False,
                    split: str | None = None, exclude: ExclusionRules | None = None,
                    max_bytes: int = DEFAULT_MAX_BYTES, default_label: Label = "unknown",
                    limit: int | None = None) -> LoadedPrompts:
    """Prompts from a file path or a dataset spec, with exclusions applied.

    Specs: ``hf:NAME[:SPLIT]`` (any Hugging Face dataset by hub name or local path, read with
    ``mapping``; everything after the second colon is the split, so ``hf:org/set:train[:100]``
    works), ``fortress[:NAME_OR_PATH]`` (``fortress-pairs[:...]`` adds the benign twins, linked by
    ``pair_id``), ``wildchat[:NAME_OR_PATH]`` and ``petri:DIR``. Anything
    else is a file path. ``split`` is used when the spec names none; ``limit`` caps dataset rows,
    and of a file or a Petri directory keeps the first ``limit`` prompts (before exclusions, as for
    a dataset).
    """
    if limit is not None and limit < 1:
        raise InputError(f"limit must be at least 1 (got {limit}); leave it out to read everything.")
    text = str(source)
    scheme, sep, rest = text.partition(":")
    if isinstance(source, str) and (sep or text in _SCHEMES) and scheme in _SCHEMES and not Path(text).exists():
        from . import datasets as ds

        if scheme == "hf":
            name, _, inline_split = rest.partition(":")
            if not name:
                raise InputError("hf: needs a dataset name or path, e.g. hf:ScaleAI/fortress_public:train")
            loaded = ds.load_hf_prompts(name, split=inline_split or split or "train", mapping=mapping,
                                        default_label=default_label, lenient=lenient, limit=limit)
        elif scheme in ("fortress", "fortress-pairs"):  # -pairs: each prompt with its benign twin, linked by pair_id
            loaded = ds.load_fortress(rest or ds.FORTRESS_NAME, split=split or "train", limit=limit,
                                      include_benign=scheme == "fortress-pairs")
        elif scheme == "wildchat":
            loaded = ds.load_wildchat(rest or ds.WILDCHAT_NAME, split=split or "train", limit=limit or 1000)
        else:
            if not rest:
                raise InputError("petri: needs a directory of transcript JSON files, e.g. petri:./outputs")
            loaded = _first(ds.load_petri(rest, lenient=lenient), limit)
    else:
        loaded = _first(read_prompt_file(source, mapping=mapping, lenient=lenient, max_bytes=max_bytes,
                                         default_label=default_label), limit)
    if exclude is None or exclude.is_empty():
        return loaded
    kept, excluded, unused = apply_exclusions(loaded.prompts, exclude)
    if not kept:
        raise InputError(f"{text}: every prompt ({len(excluded)}) was excluded, e.g. "
                         f"{excluded[0].prompt.prompt_id}: {excluded[0].reason}; loosen the exclusion rules")
    unused_notes = tuple(f"exclusion id {i!r} matched no prompt" for i in unused)
    return LoadedPrompts(prompts=tuple(kept), warnings=loaded.warnings + unused_notes,
                         excluded=loaded.excluded + tuple(excluded), notes=loaded.notes)


def _first(loaded: LoadedPrompts, limit: int | None) -> LoadedPrompts:
    """The first ``limit`` prompts of a file's, with a note saying how many were left out."""
    n = len(loaded.prompts)
    if limit is None or n <= limit:
        return loaded
    return replace(loaded, prompts=loaded.prompts[:limit],
                   notes=loaded.notes + (f"kept the first {limit} of {n} prompts (limit {limit})",))


def load_prompts(source: str | Path, *, mapping: ColumnMapping | None = None, split: str | None = None,
                 exclude: ExclusionRules | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
                 limit: int | None = None) -> list[Prompt]:
    """Strict :func:`load_prompt_set` returning only the prompts (for ``--prompts`` in the CLI)."""
    return list(load_prompt_set(source, mapping=mapping, split=split, exclude=exclude,
                                max_bytes=max_bytes, limit=limit).prompts)
