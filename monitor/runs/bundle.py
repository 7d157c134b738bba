"""Runs as files to find and share: listing the runs under a folder, and zip bundles in and out.

A bundle is a run directory zipped (``monitor export``), the unit of sharing; importing one checks
that it is a readable run. Reading and writing the tables themselves stays in :mod:`.store`.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pandas as pd

from ..errors import RunFormatError
from .store import MANIFEST, _unit_dirs, read_manifest, read_run

__all__ = ["list_runs", "export_bundle", "import_bundle"]


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def list_runs(root: str | Path = ".") -> pd.DataFrame:
    """Runs under ``root`` (the directory itself and its subdirectories, two levels deep)."""
    root = Path(root)
    candidates = [root, *root.glob("*"), *root.glob("*/*")]
    rows = []
    for d in candidates:
        if not (d / MANIFEST).is_file():
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


def export_bundle(run_dir: str | Path, out: str | Path) -> Path:
    """Zip a run directory into one file for sharing (the parts of a running run included)."""
    run_dir = Path(run_dir)
    read_manifest(run_dir)
    out = Path(out)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(run_dir.rglob("*")):
            if f.is_file() and not f.name.startswith("."):
                zf.write(f, f.relative_to(run_dir).as_posix())
    return out


def import_bundle(bundle: str | Path, dest: str | Path) -> Path:
    """Unpack a bundle made by :func:`export_bundle` into ``dest`` (which must not hold a run)."""
    bundle, dest = Path(bundle), Path(dest)
    if (dest / MANIFEST).exists():
        raise RunFormatError(f"{dest} already holds a run; choose an empty directory to import into.")
    try:
        zf = zipfile.ZipFile(bundle)
    except (zipfile.BadZipFile, OSError) as e:
        raise RunFormatError(f"{bundle}: not a run bundle ({e}). Bundles are .zip files made by 'monitor export'.") from None
    with zf:
        names = zf.namelist()
        if MANIFEST not in names:
            raise RunFormatError(f"{bundle}: no {MANIFEST} at the top level; not a run bundle.")
        for n in names:
            target = (dest / n).resolve()
            if not str(target).startswith(str(dest.resolve()) + os.sep):
                raise RunFormatError(f"{bundle}: entry {n!r} would escape the destination; refusing to import.")
        dest.mkdir(parents=True, exist_ok=True)
        zf.extractall(dest)
    read_run(dest)
    return dest
