"""The verbalization judge's pass over a run directory: which sentences it judges, and the
columns it writes (the pass itself, resumable and keeping what was there on failure, is
:func:`monitor.judges.passes.run_pass`, shared with the behaviour judge).

Its parts live in the run at::

    judge_parts/<judge>-<settings hash>/settings.json   the judge's settings (never a key)
    judge_parts/<judge>-<settings hash>/results.jsonl   one line per judged or failed rollout

A rollout is judged on its CoT sentences (1..n, in order); a rerun with the same judge settings
skips rollouts already judged and retries the failed ones. At the end of every pass
``sentences.parquet`` is rewritten (via :func:`monitor.runs.store.write_table`) with the columns

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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..runs.store import read_manifest, read_run, write_manifest, write_table
from .base import Judge, JudgeResult, check_results
from .passes import PassKind, PassPlan, PassRecords, PassSummary, parts_dir, run_pass

__all__ = ["JUDGE_COLUMNS", "JUDGE_PARTS", "JudgeSummary", "judge_run", "judge_parts_dir"]

JUDGE_PARTS = "judge_parts"
JUDGE_COLUMNS = ("judge_flag", "judge_quote", "judge_rationale", "judge_score", "judge_ok")

Progress = Callable[[int, int, str], None]


KIND = PassKind(parts_root=JUDGE_PARTS, manifest_key="judge", kept_what="judge flags", judged="judged",
                needs="sentences")


@dataclass(frozen=True, kw_only=True)
class JudgeSummary(PassSummary):
    """What a :func:`judge_run` pass did."""

    flagged_sentences: int
    """Sentences flagged, over all judged rollouts."""
    flagged_rollouts: int
    """Rollouts with at least one flagged sentence."""

    @property
    def complete(self) -> bool:
        """Every rollout has been judged."""
        return self.failed == 0 and self.already_done + self.judged_now == self.rollouts


def _settings_hash(judge: Judge) -> str:
    blob = json.dumps({"name": judge.name, "settings": judge.verdict_settings()}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def judge_parts_dir(run_dir: str | Path, judge: Judge) -> Path:
    """The directory holding ``judge``'s per-rollout results for this run (one per verdict settings)."""
    return parts_dir(Path(run_dir), KIND, judge.name, _settings_hash(judge))


def _text_hash(sentences: list[tuple[int, str]]) -> str:
    return hashlib.sha256(json.dumps(sentences, ensure_ascii=False).encode()).hexdigest()[:16]


def judge_run(run_dir: str | Path, judge: Judge, *, progress: Progress | None = None,
              should_stop: Callable[[], bool] | None = None) -> JudgeSummary:
    """Judge every rollout of a finished run (resuming an earlier pass) and write the judge columns.

    ``progress(done, total, message)`` is called after each rollout; ``should_stop()`` returning
    True ends the pass early (what was judged is kept and written). A :class:`JudgeError` (bad
    credentials, unknown model) stops the pass after recording the work already done.
    """
    return run_pass(run_dir, KIND, lambda manifest: _plan(Path(run_dir), judge), progress=progress, should_stop=should_stop)


def _plan(run_dir: Path, judge: Judge) -> PassPlan[JudgeSummary]:
    run = read_run(run_dir)
    sent = run.sentences.drop(columns=[c for c in JUDGE_COLUMNS if c in run.sentences.columns])
    describe = judge.describe()
    parts = judge_parts_dir(run_dir, judge)
    settings_text = judge.redact(json.dumps({"name": judge.name, "verdict_settings": judge.verdict_settings()}, indent=2, default=str))

    # One entry per rollout: its CoT sentences (1..n) in order, and a hash to detect changed text.
    body = sent[sent["sentence"] > 0].sort_values(["prompt_id", "rollout", "sentence"], kind="stable")
    rollouts: dict[tuple[str, int], list[tuple[int, str]]] = {}
    for (pid, r), g in body.groupby(["prompt_id", "rollout"], sort=False):
        rollouts[(str(pid), int(r))] = list(zip(g["sentence"].astype(int).tolist(), g["text"].fillna("").astype(str).tolist()))
    for pid, r in run.rollouts[["prompt_id", "rollout"]].itertuples(index=False):
        rollouts.setdefault((str(pid), int(r)), [])  # a rollout with an empty CoT is judged trivially
    hashes = {k: _text_hash(v) for k, v in rollouts.items()}

    def ok_fields(key: tuple[str, int], out: list[JudgeResult]) -> dict[str, Any]:
        numbers = [n for n, _ in rollouts[key]]
        check_results(out, len(numbers))
        return {"results": [_pack(numbers[j], r, judge) for j, r in enumerate(out)]}

    def kept(state: PassRecords, name: str) -> JudgeSummary:
        flagged = [sum(1 for r in state.records[k]["results"] if r[1] and int(r[0]) > 0) for k in state.ok_keys()]
        return JudgeSummary(judge=describe["name"], rollouts=len(rollouts), already_done=state.already_done,
                            judged_now=state.judged_now, failed=state.n_failed(), flagged_sentences=sum(flagged),
                            flagged_rollouts=sum(1 for n in flagged if n), parts_dir=parts,
                            usage=judge.describe().get("usage", describe.get("usage")), kept_previous=name)

    return PassPlan(parts=parts, settings_text=settings_text, items={k: [t for _, t in v] for k, v in rollouts.items()},
                    hashes=hashes, judge_many=judge.judge_many, ok_fields=ok_fields, redact=judge.redact,
                    has_columns="judge_flag" in run.sentences.columns,
                    write=lambda state: _write_columns(run_dir, sent, state, judge, describe), kept=kept)


def _pack(sentence: int, r: JudgeResult, judge: Judge) -> list[Any]:
    score = None if r.score is None or not np.isfinite(r.score) else float(r.score)
    return [sentence, bool(r.flag), judge.redact(r.quote if r.flag else ""), judge.redact(r.rationale), score]


def _write_columns(run_dir: Path, sent: pd.DataFrame, state: PassRecords, judge: Judge, describe: dict[str, Any]) -> JudgeSummary:
    rows = []
    ok_keys = set(state.ok_keys())
    for key in state.hashes:
        if key in ok_keys:
            for sentence, flag, quote, why, score in state.records[key]["results"]:
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
    failed, parts = state.n_failed(), state.parts
    summary = JudgeSummary(
        judge=describe["name"], rollouts=len(state.hashes), already_done=state.already_done, judged_now=state.judged_now,
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
    return summary
