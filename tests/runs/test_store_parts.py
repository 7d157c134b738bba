"""Reading a run's unit parts (a run going, a resume, finalize) gives exactly what the per-part
reader gave before the parts were read as one dataset and sorted with a lexsort.

The demo run's tables are cut into many units (in another order than the prompts, like the
length-bucketed pipeline writes them) and read back; the reference is the former code path,
kept here: one ``read_parquet`` per part, ``pd.concat``, and the frame sort with a cumcount.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitor.runs.store import REQUIRED_COLUMNS, LIST_COLUMNS, UNIT_TABLES, RunWriter, read_run

DEMO_RUN = Path(__file__).resolve().parents[2] / "data" / "demo_run"


def _ref_read_parts(run_dir: Path, *, lists: bool = True) -> dict[str, pd.DataFrame]:
    prompts = pd.read_parquet(run_dir / "prompts.parquet")
    order = {pid: i for i, pid in enumerate(prompts["prompt_id"].astype(str))}
    units = sorted(p for p in (run_dir / "parts").iterdir() if p.is_dir() and not p.name.startswith("."))
    out = {}
    for name in UNIT_TABLES:
        frames = []
        for u in units:
            f = u / f"{name}.parquet"
            if f.is_file():
                cols = None if lists else [c for c in pd.read_parquet(f).columns if c not in LIST_COLUMNS]
                frames.append(pd.read_parquet(f, columns=cols))
        frames = [f for f in frames if len(f)]
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(REQUIRED_COLUMNS[name]))
        if len(df):
            df["prompt_id"] = df["prompt_id"].astype(str)
            keys = {"rollouts": ["rollout"], "sentences": ["rollout", "sentence"], "scores": ["rollout", "sentence"]}[name]
            df = df.assign(_order=df["prompt_id"].map(order).fillna(len(order)))
            cols = ["_order", *keys]
            if name == "scores":
                df = df.assign(_phrase=df.groupby(["_order", *keys], sort=False).cumcount())
                cols.append("_phrase")
            df = df.sort_values(cols, kind="stable").drop(columns=[c for c in ("_order", "_phrase") if c in df]).reset_index(drop=True)
        out[name] = df
    return out


def _split_into_units(tmp: Path, n_units: int, *, seed: int = 0, tweak=None) -> tuple[Path, RunWriter]:
    """The demo run as a run in progress: its rollouts cut into ``n_units`` parts, prompts shuffled
    across units and rows shuffled within each."""
    src = read_run(DEMO_RUN)
    manifest = {k: v for k, v in json.loads((DEMO_RUN / "manifest.json").read_text()).items() if k != "status"}
    w = RunWriter.create(tmp / "run", manifest, pd.read_parquet(DEMO_RUN / "prompts.parquet"))
    rng = np.random.default_rng(seed)
    keys = src.rollouts[["prompt_id", "rollout"]].to_numpy().tolist()
    rng.shuffle(keys)
    for i, chunk in enumerate(np.array_split(np.arange(len(keys)), n_units)):
        pick = {(str(keys[j][0]), int(keys[j][1])) for j in chunk}
        tables = {}
        for name in UNIT_TABLES:
            df = getattr(src, name)
            mask = pd.MultiIndex.from_arrays([df["prompt_id"].astype(str), df["rollout"].astype(int)]).isin(list(pick))
            sub = df[mask]
            # Rows of a unit come in generation order (not prompt order); phrases stay in order per boundary.
            groups = list(sub.groupby(["prompt_id", "rollout"], sort=False))
            rng.shuffle(groups)
            sub = pd.concat([g for _, g in groups], ignore_index=True) if groups else sub.reset_index(drop=True)
            tables[name] = tweak(name, i, sub) if tweak else sub
        w.write_unit(f"u{rng.integers(1e9):010d}", tables)
    return tmp / "run", w


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert a.equals(b) and list(a.dtypes) == list(b.dtypes)


@pytest.mark.parametrize("n_units", [1, 7, 40])
def test_parts_read_as_before(tmp_path, n_units):
    run_dir, w = _split_into_units(tmp_path, n_units)
    for lists in (True, False):
        ref = _ref_read_parts(run_dir, lists=lists)
        run = read_run(run_dir, lists=lists)
        for name in UNIT_TABLES:
            _same(getattr(run, name), ref[name])
    # Finalizing the parts gives back the shipped (finalized) demo run's tables.
    done = w.finalize()
    final = read_run(DEMO_RUN)
    for name in UNIT_TABLES:
        _same(getattr(done, name), getattr(final, name))
    w.close()


def _assert_reads_as_before(run_dir, w):
    """read_run of the parts equals the previous per-part reader's tables."""
    ref = _ref_read_parts(run_dir)
    run = read_run(run_dir)
    for name in UNIT_TABLES:
        _same(getattr(run, name), ref[name])
    w.close()


def test_parts_with_different_schemas_fall_back_to_pandas_concat(tmp_path):
    def tweak(name, i, df):
        # One unit stores a column as float and another lacks an optional column.
        if name == "scores" and i == 1:
            return df.astype({"logprob": "float32"})
        if name == "rollouts" and i == 2:
            return df.drop(columns=["completion_text"])
        return df

    _assert_reads_as_before(*_split_into_units(tmp_path, 5, tweak=tweak))


def test_odd_sort_keys_sort_as_before(tmp_path):
    # A foreign writer's float rollout ids with a gap, and a prompt id missing from the prompt table.
    def tweak(name, i, df):
        df = df.astype({"rollout": float})
        if i == 0:
            df.loc[df.index[:1], "prompt_id"] = "not-a-prompt"
        return df

    _assert_reads_as_before(*_split_into_units(tmp_path, 3, tweak=tweak))


def test_a_corrupt_part_is_named(tmp_path):
    from monitor.errors import RunFormatError

    run_dir, w = _split_into_units(tmp_path, 4)
    part = sorted((run_dir / "parts").iterdir())[2] / "scores.parquet"
    part.write_bytes(b"not parquet")
    with pytest.raises(RunFormatError, match="cannot be read as Parquet"):
        read_run(run_dir)
    w.close()
    shutil.rmtree(run_dir)


def test_the_pipeline_parts_take_the_one_dataset_path(tmp_path, monkeypatch):
    import monitor.runs.store as store

    run_dir, w = _split_into_units(tmp_path, 6)
    calls = []
    monkeypatch.setattr(store, "_read_parquet", lambda path, lists=True: calls.append(path) or pd.read_parquet(path))
    read_run(run_dir)
    assert [p.name for p in calls] == ["prompts.parquet"]  # the unit tables were read without it
    w.close()


def test_a_run_without_notes_gets_the_same_empty_notes_table(tmp_path):
    from monitor.runs.store import _norm_annotations, add_annotation

    fresh = _norm_annotations(pd.DataFrame())
    a = read_run(DEMO_RUN).annotations
    _same(a, fresh)
    a.loc[0] = ["n1", "p", 0, 1, "x", "me", "now"]  # a caller's edit does not reach the next reader
    _same(read_run(DEMO_RUN).annotations, fresh)
    run_dir = tmp_path / "run"
    shutil.copytree(DEMO_RUN, run_dir)
    add_annotation(run_dir, prompt_id="p", rollout=None, sentence=None, note="n", author="a", created="c")
    assert len(read_run(run_dir).annotations) == 1
