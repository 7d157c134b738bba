"""Attacks on the run store, reproduced: overwriting folders, zip bombs, lost notes, two writers.

Each test is one problem of issue 13, done the way an outsider would do it (the command line, two
real processes), and checks what now happens instead.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from monitor.cli import main
from monitor.errors import RunFormatError
from monitor.runs.bundle import BundleLimits, export_bundle, import_bundle
from monitor.runs.store import (
    RunLockedError,
    RunWriter,
    add_annotation,
    delete_annotations,
    read_run,
    run_lock,
    write_manifest,
    write_table,
)

REPO = Path(__file__).resolve().parents[2]


def small_run(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    write_table(d, "prompts", pd.DataFrame({"prompt_id": ["a", "b"], "text": ["x", "y"], "label": ["eval", "deploy"]}))
    write_table(d, "rollouts", pd.DataFrame([{"prompt_id": "a", "rollout": 0, "prompt_token_ids": [1], "completion_token_ids": [2],
                                              "cot_text": "Hi.", "finish_reason": "stop"}]))
    sent = pd.DataFrame([{"prompt_id": "a", "rollout": 0, "sentence": s, "text": t, "char_start": 0, "char_end": len(t),
                          "boundary_token": s} for s, t in [(0, ""), (1, "Hi.")]])
    write_table(d, "sentences", sent)
    write_table(d, "scores", sent[["prompt_id", "rollout", "sentence"]].assign(
        phrase="P", forced_token_ids=[[5]] * 2, token_logprobs=[[-1.0]] * 2, logprob=-1.0))
    write_manifest(d, {"format_version": 1, "status": "complete", "model": {"id": "tiny"}, "phrases": ["P"]})
    return d


def cli(argv, capsys) -> tuple[int, str]:
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    return rc, err


def one_line_error(err: str) -> str:
    lines = [x for x in err.splitlines() if x.startswith("monitor ")]  # (progress bars aside)
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ---------------------------------------------------------------- 1. --out onto an existing folder


def test_run_into_a_non_empty_folder_is_refused_and_nothing_is_touched(tmp_path, capsys):
    victim = tmp_path / "project"
    (victim / "parts").mkdir(parents=True)
    (victim / "parts" / "keep.txt").write_text("precious")
    (victim / "prompts.parquet").write_text("not a table, my own file")
    before = {p: p.read_bytes() for p in victim.rglob("*") if p.is_file()}
    rc, err = cli(["run", "--model", "data/demo_model", "--prompts", "nope.jsonl", "--phrase", "x", "--out", victim], capsys)
    line = one_line_error(err)
    assert rc == 2 and "not empty" in line and "new or empty directory" in line
    assert {p: p.read_bytes() for p in victim.rglob("*") if p.is_file()} == before
    # the engine refuses too, whoever calls it
    with pytest.raises(RunFormatError, match="not empty"):
        RunWriter.create(victim, {}, pd.DataFrame({"prompt_id": ["a"], "text": ["x"], "label": ["eval"]}))
    assert (victim / "parts" / "keep.txt").read_text() == "precious"


def test_impossible_out_paths_are_one_line_errors(tmp_path, capsys):
    f = tmp_path / "a-file"
    f.write_text("x")
    for out, words in ((f, "is a file"), (f / "run", "lies under")):
        rc, err = cli(["run", "--model", "data/demo_model", "--prompts", "nope.jsonl", "--phrase", "x", "--out", out], capsys)
        assert rc == 2 and words in one_line_error(err)
    # an empty folder is fine: the check passes and the next problem (the prompt file) is reported
    (tmp_path / "empty").mkdir()
    rc, err = cli(["run", "--model", "data/demo_model", "--prompts", tmp_path / "nope.jsonl", "--phrase", "x",
                   "--out", tmp_path / "empty"], capsys)
    assert rc == 2 and "nope.jsonl" in one_line_error(err)


def test_score_prompts_out_under_a_file_is_one_line(tmp_path, capsys, loaded_tiny, monkeypatch):
    import monitor.cli as mcli

    f = tmp_path / "a-file"
    f.write_text("x")
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"id": "a", "text": "hello"}\n')
    monkeypatch.setattr(mcli, "_load", lambda args: loaded_tiny)
    rc, err = cli(["score-prompts", "--model", "tiny", "--prompts", prompts, "--phrase", "The user", "--out", f / "x.csv"], capsys)
    assert rc == 2 and "lies under" in one_line_error(err) and "Loading" not in err  # refused before loading the model


# ---------------------------------------------------------------- 2. import: zip bombs and friends


def _zip(entries: dict[str, bytes], path: Path, *, symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, "/etc/passwd")
    return path


def _run_entries(tmp_path) -> dict[str, bytes]:
    d = small_run(tmp_path / "src")
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in d.rglob("*") if p.is_file()}


def test_zip_bomb_is_refused_before_anything_is_written(tmp_path, capsys):
    entries = _run_entries(tmp_path)
    entries["annotations.parquet"] = b"\0" * (64 * 2**20)  # 64 MiB of zeros: ~64 KB compressed
    bomb = _zip(entries, tmp_path / "bomb.zip")
    assert bomb.stat().st_size < 200_000
    dest = tmp_path / "out" / "imported"
    rc, err = cli(["import", bomb, dest], capsys)
    assert rc == 2 and "zip bomb" in one_line_error(err)
    assert not (tmp_path / "out").exists()  # not even the parent was made
    # total size and entry count are limits of their own
    with pytest.raises(RunFormatError, match="would unpack to"):
        import_bundle(_zip(_run_entries(tmp_path), tmp_path / "ok.zip"), tmp_path / "d1", limits=BundleLimits(max_total_bytes=1000))
    with pytest.raises(RunFormatError, match="entries"):
        import_bundle(tmp_path / "ok.zip", tmp_path / "d2", limits=BundleLimits(max_files=3))
    assert not (tmp_path / "d1").exists() and not (tmp_path / "d2").exists()
    assert not [p for p in tmp_path.iterdir() if ".import-" in p.name]


def test_symlinks_traversal_and_non_empty_destinations_are_refused(tmp_path, capsys):
    entries = _run_entries(tmp_path)
    link = _zip(entries, tmp_path / "link.zip", symlink="annotations.parquet")
    rc, err = cli(["import", link, tmp_path / "d"], capsys)
    assert rc == 2 and "symlink" in one_line_error(err) and not (tmp_path / "d").exists()
    evil = _zip({**entries, "../escape.parquet": b"x"}, tmp_path / "evil.zip")
    with pytest.raises(RunFormatError, match="escape"):
        import_bundle(evil, tmp_path / "d")
    assert not (tmp_path / "escape.parquet").exists()
    ok = _zip(entries, tmp_path / "ok.zip")
    full = tmp_path / "full"
    full.mkdir()
    (full / "manifest.json").write_text("mine")
    (full / "notes.txt").write_text("mine too")
    with pytest.raises(RunFormatError, match="not empty|already holds a run"):
        import_bundle(ok, full)
    assert (full / "manifest.json").read_text() == "mine"
    (full / "manifest.json").unlink()
    with pytest.raises(RunFormatError, match="not empty"):
        import_bundle(ok, full)
    assert sorted(p.name for p in full.iterdir()) == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert read_run(import_bundle(ok, empty)).status == "complete"


def test_a_failed_import_leaves_nothing_behind(tmp_path):
    entries = _run_entries(tmp_path)
    entries["scores.parquet"] = b"PAR1 this is not parquet"
    bad = _zip(entries, tmp_path / "bad.zip")
    with pytest.raises(RunFormatError, match="Parquet"):
        import_bundle(bad, tmp_path / "dest")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.zip", "src"]


def test_export_bundles_only_the_run_format(tmp_path):
    d = small_run(tmp_path / "run")
    (d / "secrets.env").write_text("OPENAI_API_KEY=sk-123")
    (d / "parts").mkdir()
    (d / "parts" / "stray.txt").write_text("x")
    os.symlink("/etc/hostname", d / "link.parquet")
    (d / "judge_parts" / "rules-abc").mkdir(parents=True)
    (d / "judge_parts" / "rules-abc" / "results.jsonl").write_text("{}\n")
    names = zipfile.ZipFile(export_bundle(d, tmp_path / "b.zip")).namelist()
    assert sorted(names) == ["judge_parts/rules-abc/results.jsonl", "manifest.json", "prompts.parquet", "rollouts.parquet",
                             "scores.parquet", "sentences.parquet"]


# ---------------------------------------------------------------- 3./4. notes: ids and two writers


def test_notes_are_deleted_by_id_not_position(tmp_path):
    d = small_run(tmp_path / "run")
    for n in ("first", "second", "third"):
        add_annotation(d, prompt_id="a", rollout=None, sentence=None, note=n, author="me", created="now")
    ids = read_run(d).annotations["note_id"].tolist()
    assert len(set(ids)) == 3
    delete_annotations(d, [ids[0]])      # session B deletes the first note
    delete_annotations(d, [ids[1]])      # session A then deletes the note it saw as row 1 ("second")
    assert read_run(d).annotations["note"].tolist() == ["third"]


def test_notes_written_before_ids_get_stable_ids(tmp_path):
    d = small_run(tmp_path / "run")
    old = pd.DataFrame({"prompt_id": ["a", "a"], "rollout": [None, 0], "sentence": [None, None], "note": ["x", "y"],
                        "author": ["me", "me"], "created": ["t", "t"]})
    write_table(d, "annotations", old)
    ids1 = read_run(d).annotations["note_id"].tolist()
    assert ids1 == read_run(d).annotations["note_id"].tolist() and len(set(ids1)) == 2
    delete_annotations(d, [ids1[1]])
    assert read_run(d).annotations["note"].tolist() == ["x"]


NOTE_WRITER = textwrap.dedent("""
    import sys, time
    from monitor.runs.store import add_annotation
    run_dir, who, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
    while time.time() < start:
        time.sleep(0.001)
    for i in range(8):
        add_annotation(run_dir, prompt_id="a", rollout=None, sentence=None, note=f"{who}-{i}", author=who, created="now")
""")


def test_two_processes_saving_notes_at_once_lose_none(tmp_path):
    d = small_run(tmp_path / "run")
    start = time.time() + 3.0  # both start writing at the same moment
    procs = [subprocess.Popen([sys.executable, "-c", NOTE_WRITER, str(d), who, str(start)], cwd=REPO)
             for who in ("alice", "bob")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    notes = read_run(d).annotations
    assert len(notes) == 16 and notes["note_id"].is_unique
    assert sorted(notes["note"]) == sorted([f"{w}-{i}" for w in ("alice", "bob") for i in range(8)])


# ---------------------------------------------------------------- 9. one writer per run directory


HOLDER = textwrap.dedent("""
    import sys, time
    from monitor.runs.store import RunWriter
    w = RunWriter(sys.argv[1])   # what 'monitor run --resume' holds while it works
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
""")


def _hold(d: Path, seconds: float = 60.0) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(d), str(seconds)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "holding"
    return p


def test_a_second_resume_or_judge_is_refused_while_a_writer_holds_the_run(tmp_path, capsys):
    d = small_run(tmp_path / "run")
    write_manifest(d, {"format_version": 1, "status": "running", "model": {"id": "tiny"}, "phrases": ["P"]})
    holder = _hold(d)
    try:
        rc, err = cli(["run", "--resume", d], capsys)
        line = one_line_error(err)
        assert rc == 2 and "being written by another process" in line and "bug" not in line
        with pytest.raises(RunLockedError):
            RunWriter(d)
        write_manifest(d, {"format_version": 1, "status": "complete", "model": {"id": "tiny"}, "phrases": ["P"]})
        rc, err = cli(["judge", d, "--judge", "rules"], capsys)
        assert rc == 2 and "being written by another process" in one_line_error(err)
    finally:
        holder.kill()
        holder.wait()
    # the OS released the lock with the killed process: the next writer proceeds
    rc, err = cli(["judge", d, "--judge", "rules"], capsys)
    assert rc == 0, err
    assert not (d / ".lock").exists()


def test_the_lock_is_released_after_a_pass_and_is_reentrant_per_pass(tmp_path):
    d = small_run(tmp_path / "run")
    with run_lock(d):
        with pytest.raises(RunLockedError, match="being written"):
            with run_lock(d):
                pass
    with run_lock(d):  # free again
        pass
