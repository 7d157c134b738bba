"""Imported rollouts -> the rollouts the scoring model would have emitted -> a normal run directory.

Each record is rebuilt as text the scoring model emits in thinking mode: the prompt rendered with
its chat template, then (unless the template opened it) the think-open marker and a newline, the
CoT, a newline, the think-close marker, a blank line and the response, as Qwen3 and DeepSeek-R1
write them; a record cut off by its token limit with no response keeps its CoT unclosed; a model
without think markers has its whole reply as the CoT. That text is tokenized canonically (the
scoring model's tokenizer, no special tokens added), the end-of-sequence token is appended when
the record finished normally, and the result goes through the engine unchanged: boundaries,
forcing and packed scoring (:func:`monitor.runs.pipeline.score_rollout`) and the run store's
append-only writer, so ``--resume``, ``verify``, the judge and every page work as for a sampled run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from ..config import Progress
from ..engine.chat import RenderedPrompt, ThinkMarkers, render_prompt
from ..engine.models import LoadedModel
from ..engine.rollouts import Rollout, make_rollout
from ..errors import ConfigError, InputError
from ..prompts.record import Prompt, prompts_to_frame
from ..prompts.records import Problem, PromptFileError, RowError, _uniform_meta
from ..runs.pipeline import _rollout_row, package_versions, score_rollout
from ..runs.store import RunWriter, read_manifest, read_run
from .config import IngestConfig, IngestResult
from .record import ImportedRollout, RolloutColumns, RolloutSource
from .source import read_rollouts, source_sha256

__all__ = ["IngestConfig", "IngestResult", "completion_text", "build_rollout", "ingest_rollouts", "imported_source", "plan_rollouts", "IMPORTED_SEED"]

log = logging.getLogger(__name__)

IMPORTED_SEED = -1
"""The ``seed`` column of an imported rollout: it was not sampled by this tool."""


def completion_text(imp: ImportedRollout, markers: ThinkMarkers, *, think_opened: bool) -> str:
    """The reply as the scoring model would have written it (see the module docstring)."""
    if imp.cot is None:
        text = imp.completion or ""
        if think_opened and markers.open and text.lstrip().startswith(markers.open):
            text = text.lstrip()[len(markers.open):]  # the template already wrote the opening marker
        return text
    cot, response = imp.cot.strip(), (imp.response or "").strip()
    if markers.open is None:
        return cot + ("\n\n" + response if response else "")
    head = "" if think_opened else markers.open + "\n"
    if imp.finish_reason == "length" and not response:
        return head + cot  # cut off inside the CoT: never closed
    return head + cot + "\n" + markers.close + "\n\n" + response


def _eos_id(loaded: LoadedModel) -> int | None:
    tok = loaded.tokenizer
    gen = getattr(getattr(loaded.model, "generation_config", None), "eos_token_id", None)
    gen_ids = [gen] if isinstance(gen, int) else list(gen or [])
    if tok.eos_token_id is not None and (not gen_ids or tok.eos_token_id in gen_ids):
        return int(tok.eos_token_id)
    return int(gen_ids[0]) if gen_ids else None


def _context_window(loaded: LoadedModel) -> int | None:
    cfg = loaded.model.config
    cfg = getattr(cfg, "text_config", None) or cfg
    return getattr(cfg, "max_position_embeddings", None)


def build_rollout(loaded: LoadedModel, rendered: RenderedPrompt, imp: ImportedRollout, rollout: int,
                  markers: ThinkMarkers, *, eos_id: int | None = None, window: int | None = None) -> Rollout:
    """The :class:`Rollout` the scoring model would have emitted for ``imp``; RowError if it cannot be rebuilt."""
    tok = loaded.tokenizer
    if imp.cot is None and markers.open is not None and not rendered.think_opened and markers.open not in (imp.completion or ""):
        raise RowError(f"no CoT: the completion has no {markers.open!r} marker and no separate CoT field; give the CoT "
                       "(--columns cot=NAME), or pass --no-think-markers if the whole reply is the CoT")
    text = completion_text(imp, markers, think_opened=rendered.think_opened)
    ids = [int(i) for i in tok(text, add_special_tokens=False)["input_ids"]]
    if imp.finish_reason == "stop" and eos_id is not None:
        ids.append(eos_id)
    r = make_rollout(tok, prompt_id=imp.prompt.prompt_id, rollout=rollout, seed=IMPORTED_SEED, rendered=rendered,
                     completion_ids=ids, eos_ids={eos_id} if eos_id is not None else set(), markers=markers)
    if len(r.completion_token_ids) != len(ids):
        raise RowError("the reply contains the scoring model's end-of-sequence token as text; remove it from the CoT/response")
    if r.completion_text != text:
        at = next((i for i, (a, b) in enumerate(zip(r.completion_text, text)) if a != b), min(len(text), len(r.completion_text)))
        raise RowError(f"the scoring model's tokenizer does not reproduce this text (it changes at character {at}: "
                       f"{text[max(0, at - 20):at + 20]!r}); the model cannot have emitted it")
    if not r.cot_text.strip():
        raise RowError("empty CoT: there is no reasoning text between the think markers")
    if window is not None and len(r.prompt_token_ids) + len(r.completion_token_ids) > window:
        raise RowError(f"prompt + reply are {len(r.prompt_token_ids) + len(r.completion_token_ids)} tokens, over the "
                       f"scoring model's context window of {window}")
    return r


def plan_rollouts(records: Sequence[ImportedRollout]) -> tuple[list[Prompt], dict[str, list[tuple[int, ImportedRollout]]], list[Problem]]:
    """Prompts in first-seen order, each prompt's (rollout index, record) sorted, and consistency problems."""
    prompts: dict[str, Prompt] = {}
    first_where: dict[str, str] = {}
    by_prompt: dict[str, list[tuple[int, ImportedRollout]]] = {}
    problems: list[Problem] = []
    for imp in records:
        pid = imp.prompt.prompt_id
        if pid in prompts and prompts[pid].chat_messages() != imp.prompt.chat_messages():
            problems.append(Problem(imp.where, f"prompt id {pid!r} has other prompt text than on {first_where[pid]}; "
                                               "one id must always name the same prompt"))
            continue
        prompts.setdefault(pid, imp.prompt)
        first_where.setdefault(pid, imp.where)
        rows = by_prompt.setdefault(pid, [])
        rows.append((imp.rollout if imp.rollout is not None else -1, imp))
    for pid, rows in by_prompt.items():
        used = {i for i, _ in rows if i >= 0}
        nxt = 0
        numbered = []
        for i, imp in rows:  # records without an index are numbered in source order, after the free slots
            if i < 0:
                while nxt in used:
                    nxt += 1
                i = nxt
                used.add(i)
            numbered.append((i, imp))
        seen: dict[int, str] = {}
        keep = []
        for i, imp in numbered:
            if i in seen:
                problems.append(Problem(imp.where, f"prompt {pid!r} rollout {i} appears twice (first on {seen[i]})"))
                continue
            seen[i] = imp.where
            keep.append((i, imp))
        by_prompt[pid] = sorted(keep, key=lambda t: t[0])
    return list(prompts.values()), by_prompt, problems


def _generator(records: Sequence[ImportedRollout]) -> str | None:
    models = sorted({r.model for r in records if r.model})
    return ", ".join(models) if models else None


def ingest_rollouts(
    loaded: LoadedModel,
    source: str | Path,
    config: IngestConfig | None,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    records: RolloutSource | None = None,
) -> IngestResult:
    """Read ``source``, rebuild and score every rollout with ``loaded``, and store a run in ``out_dir``.

    Strict by default: every record is rebuilt before anything is written, and any bad record
    fails the ingest with one line per problem (``config.lenient`` skips them instead). With
    ``resume`` the settings come from the run's manifest and the source must be unchanged
    (same SHA-256); units already written are skipped. ``records`` passes the source already read
    with these settings (the CLI reads it before loading the model, so bad input fails fast).
    """
    out_dir = Path(out_dir)
    src = Path(source).expanduser()
    if resume:
        writer = RunWriter(out_dir)
        manifest = writer.manifest
        if "imported" not in manifest:
            raise ConfigError(f"{out_dir} was not made by an ingest; resume it with `monitor run --resume {out_dir}`.")
        stored = IngestConfig.from_manifest(manifest)
        if config is not None and config != stored:
            raise ConfigError(f"{out_dir} was started with other settings; resume it without changing them.")
        config = stored
        run_model = manifest.get("model", {}).get("id")
        if run_model and run_model != loaded.spec.model_id:
            raise ConfigError(f"{out_dir} is scored with {run_model!r}, not {loaded.spec.model_id!r}; resume with the same model.")
        if manifest.get("status") == "complete":
            return IngestResult(read_run(out_dir))
        if not src.exists():
            raise InputError(f"{src}: the source of {out_dir} is gone; resume needs the same file ({manifest['imported'].get('source')}).")
        if source_sha256(src) != manifest["imported"].get("sha256"):
            raise ConfigError(f"{src} changed since {out_dir} was started (its SHA-256 differs); ingest it into a new directory.")
    elif config is None:
        raise ConfigError("A new ingest needs an IngestConfig (the phrases to score).")
    elif (out_dir / "manifest.json").exists():
        raise InputError(f"{out_dir} already holds a run. Use --resume {out_dir} to continue it, or choose a new --out.")

    read = records if records is not None else read_rollouts(src, format=config.format, columns=RolloutColumns.parse(config.columns),
                         default_label=config.default_label, lenient=config.lenient,
                         max_record_bytes=config.max_record_bytes)
    if progress:
        progress(0, len(read.rollouts), "checking records")
    prompts, by_prompt, problems = plan_rollouts(read.rollouts)
    tok = loaded.tokenizer
    rendered: dict[str, RenderedPrompt] = {}
    eos, window = _eos_id(loaded), _context_window(loaded)
    bad: set[tuple[str, int]] = set()
    for p in prompts:
        try:
            rendered[p.prompt_id] = render_prompt(tok, p, markers=config.markers, enable_thinking=config.enable_thinking)
        except InputError as e:
            for i, imp in by_prompt[p.prompt_id]:
                problems.append(Problem(imp.where, str(e)))
                bad.add((p.prompt_id, i))
            continue
        # Every record is rebuilt once up front so a bad one fails the ingest before anything is written.
        for i, imp in by_prompt[p.prompt_id]:
            try:
                build_rollout(loaded, rendered[p.prompt_id], imp, i, config.markers, eos_id=eos, window=window)
            except RowError as e:
                problems.append(Problem(imp.where, str(e)))
                bad.add((p.prompt_id, i))
    if problems and not config.lenient:
        raise PromptFileError(str(src), problems, "Fix these, or ingest leniently (--lenient) to skip bad records.")
    warnings = list(read.warnings) + [f"{p.where}: skipped: {p.message}" for p in problems]
    by_prompt = {pid: [(i, imp) for i, imp in rows if (pid, i) not in bad] for pid, rows in by_prompt.items()}
    prompts = [p for p in prompts if by_prompt[p.prompt_id]]
    if not prompts:
        raise InputError(f"{src}: no usable rollouts (all {len(problems)} records had problems, e.g. {problems[0]}).")
    total = sum(len(v) for v in by_prompt.values())

    if not resume:
        kept = [imp for rows in by_prompt.values() for _, imp in rows]
        manifest = {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model": loaded.describe(),
            **config.to_manifest(),
            "sampling": {"rollouts": max(len(v) for v in by_prompt.values())},
            "packages": package_versions(),
            "imported": {
                "source": str(src.resolve()),
                "source_name": src.name,
                "sha256": source_sha256(src),
                "format": read.format,
                "generated_by": _generator(kept),
                "records": total,
                "skipped": len(warnings),
                "tokenization": "canonical: rendered prompt, then the CoT inside the scoring model's think markers, "
                                "then the response, tokenized by the scoring model's tokenizer",
                **({"source_meta": read.meta} if read.meta else {}),
            },
        }
        writer = RunWriter.create(out_dir, manifest, prompts_to_frame(_uniform_meta(list(prompts))))

    units = [
        (pi, p, start, by_prompt[p.prompt_id][start:start + config.batch_size])
        for pi, p in enumerate(prompts)
        for start in range(0, len(by_prompt[p.prompt_id]), config.batch_size)
    ]
    done_names = writer.done_units()
    done = sum(len(rows) for pi, _, start, rows in units if _unit_name(pi, start) in done_names)
    if progress:
        progress(done, total, "resuming" if done else "scoring")
    for pi, p, start, rows in units:
        name = _unit_name(pi, start)
        if name in done_names:
            continue
        if should_stop is not None and should_stop():
            log.info("Stopped on request after %d/%d rollouts; resume with --resume %s", done, total, out_dir)
            return IngestResult(read_run(out_dir), tuple(warnings))
        r_rows, s_rows, sc_rows = [], [], []
        for i, imp in rows:
            r = build_rollout(loaded, rendered[p.prompt_id], imp, i, config.markers, eos_id=eos, window=window)
            sents, scores = score_rollout(loaded, r, config.phrases, memory_budget_mb=config.memory_budget_mb, close_marker=config.markers.close)
            r_rows.append({**_rollout_row(r, len(sents) - 1), "generated_by": imp.model, "source_record": imp.where})
            s_rows.extend(sents)
            sc_rows.extend(scores)
        writer.write_unit(name, {"rollouts": pd.DataFrame(r_rows), "sentences": pd.DataFrame(s_rows), "scores": pd.DataFrame(sc_rows)})
        done += len(rows)
        if progress:
            progress(done, total, f"prompt {pi + 1}/{len(prompts)}")
    return IngestResult(writer.finalize(finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())), tuple(warnings))


def _unit_name(prompt_index: int, first: int) -> str:
    return f"p{prompt_index:06d}-r{first:05d}"


def imported_source(run_dir: str | Path) -> str | None:
    """The source path an imported run was read from (for ``--resume`` without naming it again)."""
    m = read_manifest(run_dir)
    imp = m.get("imported")
    return imp.get("source") if isinstance(imp, dict) else None
