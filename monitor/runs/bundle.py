"""Runs as files to find and share: listing the runs under a folder, and zip bundles in and out.

A bundle is a run directory zipped (``monitor export``), the unit of sharing; importing one checks
sizes and entries before writing anything (zip bombs, symlinks, path traversal), unpacks into a
temporary folder and moves it into place only once it reads back as a run. Reading and writing the tables themselves stays in :mod:`.store`.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import RunFormatError
from .store import MANIFEST, _unit_dirs, check_new_run_dir, read_manifest, read_run

__all__ = ["list_runs", "export_bundle", "import_bundle", "BundleLimits"]

log = logging.getLogger(__name__)


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def list_runs(root: str | Path = ".") -> pd.DataFrame:
    """Runs under ``root`` (the directory itself and its subdirectories, two levels deep)."""
    root = Path(root)
    candidates = [root, *root.glob("*"), *root.glob("*/*")]
    rows = []
    for d in candidates:
        if (d != root and d.name.startswith(".")) or not (d / MANIFEST).is_file():  # e.g. an import still unpacking
            continue
        try:
            m = read_manifest(d)
        except RunFormatError as e:
            rows.append({"run": str(d), "status": f"unreadable: {e}", "model": "", "prompts": 0, "rollouts": 0, "bytes": _dir_size(d)})
            continue
        units = _unit_dirs(d)
        n_roll = None
        if (d / "rollouts.parquet").is_file():
            import pyarrow.parquet as pq

            n_roll = pq.ParquetFile(d / "rollouts.parquet").metadata.num_rows
        else:
            n_roll = sum(pd.read_parquet(u / "rollouts.parquet", columns=["rollout"]).shape[0] for u in units)
        n_prompts = 0
        if (d / "prompts.parquet").is_file():
            import pyarrow.parquet as pq

            n_prompts = pq.ParquetFile(d / "prompts.parquet").metadata.num_rows
        model = m.get("model", {})
        rows.append({
            "run": str(d),
            "status": m.get("status", "unknown"),
            "model": model.get("id", "") if isinstance(model, dict) else str(model),
            "prompts": n_prompts,
            "rollouts": n_roll,
            "bytes": _dir_size(d),
        })
    return pd.DataFrame(rows, columns=["run", "status", "model", "prompts", "rollouts", "bytes"])


# What a bundle may hold: the files the run format defines (``store``) and the judge's results.
_BUNDLE_FILES = re.compile(
    r"^(?:manifest\.json|summary\.json"
    r"|(?:prompts|rollouts|sentences|scores|annotations)\.parquet"
    r"|parts/[A-Za-z0-9_-]+/(?:rollouts|sentences|scores)\.parquet"
    r"|judge_parts/[A-Za-z0-9_.-]+/(?:settings\.json|results\.jsonl))$"
)


@dataclass(frozen=True)
class BundleLimits:
    """What :func:`import_bundle` accepts, checked on the zip's directory before anything is written."""

    max_total_bytes: int = 8 * 1024**3
    """Total uncompressed size of the files (a large run with per-token columns is a few GB)."""
    max_files: int = 100_000
    """Number of entries (a running run has three files per unit)."""
    max_ratio: float = 200.0
    """Largest uncompressed/compressed ratio of one entry over 1 MiB; Parquet rarely exceeds 10,
    a zip bomb is 1,000 and more."""


def _bundle_files(run_dir: Path) -> list[Path]:
    out = []
    for f in sorted(run_dir.rglob("*")):
        rel = f.relative_to(run_dir).as_posix()
        if f.is_file() and not f.is_symlink() and _BUNDLE_FILES.match(rel):
            out.append(f)
    return out


def export_bundle(run_dir: str | Path, out: str | Path) -> Path:
    """Zip a run directory into one file for sharing (the parts of a running run included).

    Only the files the run format defines go in (manifest, tables, unit parts, notes, judge results);
    anything else lying in the folder (a stray file, a symlink, a lock) stays out.
    """
    run_dir = Path(run_dir)
    read_manifest(run_dir)
    out = Path(out)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in _bundle_files(run_dir):
            zf.write(f, f.relative_to(run_dir).as_posix())
    return out


def _check_entries(bundle: Path, infos: list[zipfile.ZipInfo], limits: BundleLimits) -> list[zipfile.ZipInfo]:
    """The file entries to extract; raise before anything is written if the zip is unsafe."""
    if len(infos) > limits.max_files:
        raise RunFormatError(f"{bundle}: {len(infos)} entries, more than the {limits.max_files} a run bundle may hold; refusing to import.")
    total = sum(i.file_size for i in infos)
    if total > limits.max_total_bytes:
        raise RunFormatError(f"{bundle}: would unpack to {total / 1e9:.2f} GB, more than the {limits.max_total_bytes / 1e9:.2f} GB "
                             "limit; refusing to import.")
    files = []
    for i in infos:
        mode = (i.external_attr >> 16) & 0o170000
        if i.is_dir():
            continue
        if mode and not stat.S_ISREG(mode):
            kind = "a symlink" if stat.S_ISLNK(mode) else "a special file"
            raise RunFormatError(f"{bundle}: entry {i.filename!r} is {kind}; a run bundle holds only plain files. Refusing to import.")
        name = i.filename
        if name.startswith("/") or "\\" in name or any(part in ("", "..") for part in name.split("/")):
            raise RunFormatError(f"{bundle}: entry {name!r} would escape the destination; refusing to import.")
        if i.file_size > 2**20 and i.file_size > limits.max_ratio * max(i.compress_size, 1):
            raise RunFormatError(f"{bundle}: entry {name!r} expands {i.file_size / max(i.compress_size, 1):.0f}-fold "
                                 f"(limit {limits.max_ratio:.0f}); this looks like a zip bomb, refusing to import.")
        if not _BUNDLE_FILES.match(name):
            log.warning("%s: skipping %r (not a file of the run format)", bundle, name)
            continue
        files.append(i)
    return files


def import_bundle(bundle: str | Path, dest: str | Path, *, limits: BundleLimits = BundleLimits()) -> Path:
    """Unpack a bundle made by :func:`export_bundle` into ``dest``, which must not exist or be empty.

    Sizes, entry count, compression ratios, entry names and types are checked before anything is
    written; the files go into a fresh temporary folder next to ``dest`` (counting the bytes really
    written), the result is read back as a run, and only then moved into place. A failed import
    leaves nothing behind.
    """
    bundle, dest = Path(bundle), Path(dest)
    try:
        check_new_run_dir(dest)
    except RunFormatError as e:
        raise RunFormatError(f"cannot import into {dest}: {e}".replace("--out", "destination")) from None
    try:
        zf = zipfile.ZipFile(bundle)
    except (zipfile.BadZipFile, OSError) as e:
        raise RunFormatError(f"{bundle}: not a run bundle ({e}). Bundles are .zip files made by 'monitor export'.") from None
    with zf:
        infos = zf.infolist()
        if MANIFEST not in {i.filename for i in infos}:
            raise RunFormatError(f"{bundle}: no {MANIFEST} at the top level; not a run bundle.")
        files = _check_entries(bundle, infos, limits)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.import-"))
        except OSError as e:
            raise RunFormatError(f"cannot import into {dest}: {e.strerror or e}.") from None
        try:
            written = 0
            for i in files:
                target = tmp / i.filename
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(i) as src, open(target, "xb") as dst:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if written > limits.max_total_bytes:  # the directory lied about the sizes
                            raise RunFormatError(f"{bundle}: unpacks to more than its directory says; refusing to import.")
                        dst.write(chunk)
            read_run(tmp)
            if dest.is_dir():
                dest.rmdir()  # empty (checked above); replaced by the complete import in one rename
            os.rename(tmp, dest)
        except (zipfile.BadZipFile, zlib.error, EOFError) as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise RunFormatError(f"{bundle}: corrupt zip ({e}); nothing was imported.") from None
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise RunFormatError(f"cannot import into {dest}: {e.strerror or e}; nothing was imported.") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return dest
