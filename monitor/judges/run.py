"""Judging a run directory: resumable, loses no finished work, writes the judge columns.

Layout inside the run (written only here, next to the tables :mod:`monitor.runs.store` owns)::

    judge_parts/<judge>-<settings hash>/settings.json   the judge's settings (never a key)
    judge_parts/<judge>-<settings hash>/results.jsonl   one line per judged or failed rollout

Each rollout's verdicts are appended as one line as soon as it is judged (a ``kill -9`` loses at
most the rollouts in flight; a torn last line is ignored). A rerun with the same judge settings
skips rollouts already judged and retries the failed ones. Results of other judges or settings
live in other directories and are never mixed in. At the end of every pass ``sentences.parquet``
is rewritten (via :func:`monitor.runs.store.write_table`) with the columns

    judge_flag       bool   the sentence verbalizes evaluation awareness (False where unjudged)
    judge_quote      str    the eval-aware clause ('' when not flagged)
    judge_rationale  str    the judge's reason
    judge_score      float  graded score (the hf judge's logit difference), NaN when none
    judge_ok         bool   the sentence's rollout was judged (False: failed so far; rerun to retry)

and the manifest's ``judge`` field records the judge's name, settings and counts.

A pass holds the run's writer lock (:func:`monitor.runs.store.run_lock`): a second judge or a
resume of the same directory is refused while it runs. Columns from another judge (or other
settings) are replaced only by a pass that judges every rollout; a pass that fails (e.g. the
endpoint answers 401) or is stopped keeps them and says so, and its own results wait in its
``judge_parts`` folder for the next pass.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import MonitorError, RunFormatError
from ..runs.store import read_manifest, read_run, run_lock, write_manifest, write_table
from .base import Judge, JudgeFailure, JudgeResult, check_results

__all__ = ["JUDGE_COLUMNS", "JUDGE_PARTS", "JudgeSummary", "judge_run", "judge_parts_dir"]

JUDGE_PARTS = "judge_parts"
JUDGE_COLUMNS = ("judge_flag", "judge_quote", "judge_rationale", "judge_score", "judge_ok")

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class JudgeSummary:
    """What a :func:`judge_run` pass did."""

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
    flagged_sentences: int
    """Sentences flagged, over all judged rollouts."""
    flagged_rollouts: int
    """Rollouts with at least one flagged sentence."""
    parts_dir: Path
    """Where this judge's per-rollout results are kept."""
    usage: dict[str, Any] | None = None
    """Requests, tokens and cost, for judges that pay for them."""
    kept_previous: str | None = None
    """Set when this pass did not complete and the run's judge columns (from another judge or
    settings, named here) were kept as they were; this pass's results wait in ``parts_dir``."""

    @property
    def complete(self) -> bool:
        """Every rollout has been judged."""
        return self.failed == 0 and self.already_done + self.judged_now == self.rollouts


def _settings_hash(judge: Judge) -> str:
    blob = json.dumps({"name": judge.name, "settings": judge.verdict_settings()}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def judge_parts_dir(run_dir: str | Path, judge: Judge) -> Path:
    """The directory holding ``judge``'s per-rollout results for this run (one per verdict settings)."""
    return Path(run_dir) / JUDGE_PARTS / f"{judge.name}-{_settings_hash(judge)}"


def _text_hash(sentences: list[tuple[int, str]]) -> str:
    return hashlib.sha256(json.dumps(sentences, ensure_ascii=False).encode()).hexdigest()[:16]


def _read_records(path: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """Latest record per rollout; a torn or corrupt line (killed mid-write) is skipped."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
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


def judge_run(run_dir: str | Path, judge: Judge, *, progress: Progress | None = None,
              should_stop: Callable[[], bool] | None = None) -> JudgeSummary:
    """Judge every rollout of a finished run (resuming an earlier pass) and write the judge columns.

    ``progress(done, total, message)`` is called after each rollout; ``should_stop()`` returning
    True ends the pass early (what was judged is kept and written). A :class:`JudgeError` (bad
    credentials, unknown model) stops the pass after recording the work already done.
    """
    run_dir = Path(run_dir)
    read_manifest(run_dir)
    with run_lock(run_dir, what="judge"):
        return _judge_locked(run_dir, judge, progress=progress, should_stop=should_stop)


def _judge_locked(run_dir: Path, judge: Judge, *, progress: Progress | None,
                  should_stop: Callable[[], bool] | None) -> JudgeSummary:
    manifest = read_manifest(run_dir)
    if manifest.get("status") == "running" or not (run_dir / "sentences.parquet").is_file():
        raise RunFormatError(f"{run_dir}: the run is not finished (no sentences.parquet yet). Finish it with "
                             f"'monitor run --resume {run_dir}' before judging.")
    run = read_run(run_dir)
    sent = run.sentences.drop(columns=[c for c in JUDGE_COLUMNS if c in run.sentences.columns])
    describe = judge.describe()
    parts = judge_parts_dir(run_dir, judge)
    parts.mkdir(parents=True, exist_ok=True)
    settings_text = judge.redact(json.dumps({"name": judge.name, "verdict_settings": judge.verdict_settings()}, indent=2, default=str))
    if not (parts / "settings.json").is_file():
        _atomic_text(parts / "settings.json", settings_text)
    results_path = parts / "results.jsonl"

    # One entry per rollout: its CoT sentences (1..n) in order, and a hash to detect changed text.
    body = sent[sent["sentence"] > 0].sort_values(["prompt_id", "rollout", "sentence"], kind="stable")
    rollouts: dict[tuple[str, int], list[tuple[int, str]]] = {}
    for (pid, r), g in body.groupby(["prompt_id", "rollout"], sort=False):
        rollouts[(str(pid), int(r))] = list(zip(g["sentence"].astype(int).tolist(), g["text"].fillna("").astype(str).tolist()))
    for pid, r in run.rollouts[["prompt_id", "rollout"]].itertuples(index=False):
        rollouts.setdefault((str(pid), int(r)), [])  # a rollout with an empty CoT is judged trivially
    hashes = {k: _text_hash(v) for k, v in rollouts.items()}

    records = _read_records(results_path)
    done = {k for k, rec in records.items() if rec.get("status") == "ok" and rec.get("text_hash") == hashes.get(k)}
    todo = [k for k in rollouts if k not in done]
    total, n_done = len(rollouts), len(done)
    judged_now = 0
    if progress:
        progress(n_done, total, f"{n_done} rollouts already judged" if n_done else "judging")
    # Columns written by another judge (or other settings) are replaced only by a pass that
    # completes: a pass that fails or stops keeps them, and its results wait in its parts folder.
    previous = manifest.get("judge") if isinstance(manifest.get("judge"), dict) else None
    other = (previous is not None and previous.get("parts") != parts.relative_to(run_dir).as_posix()
             and "judge_flag" in run.sentences.columns)
    appender = _Appender(results_path)
    failure: BaseException | None = None
    try:
        if todo:
            for i, out in judge.judge_many([[t for _, t in rollouts[k]] for k in todo]):
                key = todo[i]
                rec: dict[str, Any] = {"prompt_id": key[0], "rollout": key[1], "text_hash": hashes[key],
                                       "judged_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
                if isinstance(out, JudgeFailure):
                    rec.update(status="failed", error=judge.redact(out.error), attempts=out.attempts)
                else:
                    numbers = [n for n, _ in rollouts[key]]
                    check_results(out, len(numbers))
                    rec.update(status="ok", results=[_pack(numbers[j], r, judge) for j, r in enumerate(out)])
                    judged_now += 1
                appender.write(rec)
                records[key] = rec
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
        finished = failure is None and all(
            records.get(k, {}).get("status") == "ok" and records[k].get("text_hash") == hashes[k] for k in rollouts)
        if other and not finished:
            summary = _summary_only(run_dir, rollouts, hashes, records, judge, describe, parts, already_done=len(done),
                                    judged_now=judged_now, kept=f"{previous.get('name')} ({previous.get('parts')})")
            if isinstance(failure, MonitorError):
                failure.args = (f"{failure} The run keeps its previous judge flags ({summary.kept_previous}); this pass's "
                                f"{judged_now} judged rollout(s) are kept in {parts} and a rerun continues from them.",)
        else:
            summary = _write_columns(run_dir, manifest, sent, rollouts, hashes, records, judge, describe, parts,
                                     already_done=len(done), judged_now=judged_now)
    return summary


def _summary_only(run_dir: Path, rollouts, hashes, records, judge: Judge, describe: dict[str, Any], parts: Path, *,
                  already_done: int, judged_now: int, kept: str) -> JudgeSummary:
    """The summary of a pass whose columns were not written (another judge's flags were kept)."""
    ok = [k for k in rollouts if records.get(k, {}).get("status") == "ok" and records[k].get("text_hash") == hashes[k]]
    failed = sum(1 for k in rollouts if k in records and records[k].get("text_hash") == hashes[k]
                 and records[k].get("status") != "ok")
    flagged = [sum(1 for r in records[k]["results"] if r[1] and int(r[0]) > 0) for k in ok]
    return JudgeSummary(judge=describe["name"], rollouts=len(rollouts), already_done=already_done, judged_now=judged_now,
                        failed=failed, flagged_sentences=sum(flagged), flagged_rollouts=sum(1 for n in flagged if n),
                        parts_dir=parts, usage=judge.describe().get("usage", describe.get("usage")), kept_previous=kept)


def _pack(sentence: int, r: JudgeResult, judge: Judge) -> list[Any]:
    score = None if r.score is None or not np.isfinite(r.score) else float(r.score)
    return [sentence, bool(r.flag), judge.redact(r.quote if r.flag else ""), judge.redact(r.rationale), score]


def _write_columns(run_dir: Path, manifest: dict[str, Any], sent: pd.DataFrame, rollouts, hashes, records,
                   judge: Judge, describe: dict[str, Any], parts: Path, *, already_done: int, judged_now: int) -> JudgeSummary:
    rows = []
    ok_keys = set()
    failed = 0
    for key in rollouts:
        rec = records.get(key)
        if rec is None or rec.get("text_hash") != hashes[key]:
            continue
        if rec.get("status") != "ok":
            failed += 1
            continue
        ok_keys.add(key)
        for sentence, flag, quote, why, score in rec["results"]:
            rows.append((key[0], key[1], int(sentence), bool(flag), quote, why, np.nan if score is None else float(score)))
    verdicts = pd.DataFrame(rows, columns=["prompt_id", "rollout", "sentence", "judge_flag", "judge_quote",
                                           "judge_rationale", "judge_score"])
    keys = pd.MultiIndex.from_arrays([sent["prompt_id"].astype(str), sent["rollout"].astype(int)])
    ok = keys.isin(list(ok_keys)) if ok_keys else np.zeros(len(sent), dtype=bool)
    merged = sent.assign(prompt_id=sent["prompt_id"].astype(str), rollout=sent["rollout"].astype(int),
                         sentence=sent["sentence"].astype(int)).merge(
        verdicts, on=["prompt_id", "rollout", "sentence"], how="left", validate="one_to_one")
    zero = merged["sentence"] == 0  # the CoT start is never flagged
    merged["judge_flag"] = merged["judge_flag"].fillna(False).astype(bool) & ~zero
    merged["judge_quote"] = merged["judge_quote"].fillna("").astype(str).where(merged["judge_flag"], "")
    merged["judge_rationale"] = merged["judge_rationale"].fillna("").astype(str)
    merged["judge_score"] = merged["judge_score"].astype(float)
    merged["judge_ok"] = np.asarray(ok, dtype=bool)
    # Keep the table's original dtypes for the key columns.
    for col in ("prompt_id", "rollout", "sentence"):
        merged[col] = merged[col].astype(sent[col].dtype)
    write_table(run_dir, "sentences", merged)

    flagged = merged[merged["judge_flag"]]
    n_flag_roll = int(flagged[["prompt_id", "rollout"]].drop_duplicates().shape[0])
    usage = describe.get("usage")
    describe_now = judge.describe()  # usage counters grew during the pass
    summary = JudgeSummary(
        judge=describe["name"], rollouts=len(rollouts), already_done=already_done, judged_now=judged_now,
        failed=failed, flagged_sentences=int(len(flagged)), flagged_rollouts=n_flag_roll, parts_dir=parts,
        usage=describe_now.get("usage", usage),
    )
    entry = {
        "name": describe["name"], "settings": describe["settings"], "complete": summary.complete,
        "rollouts": summary.rollouts, "judged_rollouts": len(ok_keys), "failed_rollouts": failed,
        "flagged_sentences": summary.flagged_sentences, "flagged_rollouts": n_flag_roll,
        "parts": parts.relative_to(run_dir).as_posix(), "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if summary.usage is not None:
        entry["usage_last_pass"] = summary.usage
    entry = json.loads(judge.redact(json.dumps(entry, default=str)))
    write_manifest(run_dir, {**read_manifest(run_dir), "judge": entry})
    from ..analysis.cached import refresh_summary  # lazy: analysis imports judges' neighbours

    refresh_summary(run_dir)  # the judge task's AUROCs changed: recache for the app's Home
    return summary
