"""The monitor pipeline: prompts -> rollouts -> boundaries -> token-forced scores -> run store.

Work is done in *units* (one batch of rollouts of one prompt). Each unit is written to the run
directory as soon as it is scored, so a crash loses at most the unit in flight, and a resume
regenerates exactly the missing units (their seeds depend only on the run seed, the prompt id and
the first rollout index).
"""

from __future__ import annotations

import importlib.metadata as md
import logging
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..engine.boundaries import Boundary, phrase_queries, rollout_boundaries, to_force_queries
from ..engine.chat import RenderedPrompt, render_prompt
from ..config import Progress, RunConfig
from ..errors import ConfigError, InputError
from ..engine.models import LoadedModel
from ..prompts.record import Prompt, prompts_from_frame, prompts_to_frame
from ..engine.rollouts import Rollout, sample_rollouts
from ..engine.scoring import score_packed
from .store import Run, RunWriter, read_manifest, read_run, run_lock, write_manifest, write_table

__all__ = ["Progress", "run_monitor", "score_prompts", "score_rollout", "rescore_run", "package_versions", "check_prompt_lengths"]

log = logging.getLogger(__name__)



def package_versions() -> dict[str, str]:
    """Versions of the packages that decide results (recorded in manifests)."""
    out = {"python": platform.python_version()}
    for name in ("evalaware-monitor", "torch", "transformers", "tokenizers", "pysbd", "pandas", "pyarrow", "numpy"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def score_rollout(
    loaded: LoadedModel,
    rollout: Rollout,
    phrases: Sequence[str],
    *,
    memory_budget_mb: float = 2048,
    boundaries: Sequence[Boundary] | None = None,
):
    """Sentence rows and score rows (lists of dicts) for one rollout.

    ``boundaries`` defaults to splitting the rollout's CoT; pass the stored ones to score new
    phrases at exactly the boundaries a run already has.
    """
    tok = loaded.tokenizer
    if boundaries is None:
        boundaries = rollout_boundaries(tok, rollout)
    queries = phrase_queries(tok, rollout, boundaries, phrases)
    seq = list(rollout.prompt_token_ids) + list(rollout.completion_token_ids)
    # Identical (context, forced ids) pairs (two sentences ending in one token) are scored once.
    fq = to_force_queries(len(rollout.prompt_token_ids), queries)
    uniq = list(dict.fromkeys(fq))
    lps = dict(zip(uniq, score_packed(loaded.model, seq, uniq, memory_budget_mb=memory_budget_mb)))
    key = {"prompt_id": rollout.prompt_id, "rollout": rollout.rollout}
    sentences = [
        {**key, "sentence": b.sentence, "text": b.text, "char_start": b.char_start, "char_end": b.char_end, "boundary_token": b.boundary_token}
        for b in boundaries
    ]
    scores = []
    for q, f in zip(queries, fq):
        lp = lps[f]
        scores.append({
            **key,
            "sentence": q.sentence,
            "phrase": q.phrase,
            "forced_token_ids": list(q.forced_ids),
            "token_logprobs": lp.tolist(),
            "logprob": float(lp.sum()),
            "boundary_token": q.boundary_token,
            "alignment": q.alignment,
        })
    return sentences, scores


def _rollout_row(r: Rollout, n_sentences: int) -> dict[str, Any]:
    return {
        "prompt_id": r.prompt_id,
        "rollout": r.rollout,
        "seed": r.seed,
        "prompt_token_ids": list(r.prompt_token_ids),
        "completion_token_ids": list(r.completion_token_ids),
        "completion_text": r.completion_text,
        "cot_text": r.cot_text,
        "cot_char_start": r.cot_char_start,
        "cot_char_end": r.cot_char_end,
        "finish_reason": r.finish_reason,
        "cot_truncated": r.cot_truncated,
        "think_opened": r.think_opened,
        "n_sentences": n_sentences,
        "prompt_tokens": len(r.prompt_token_ids),
    }


def check_prompt_lengths(
    loaded: LoadedModel, prompts: Sequence[Prompt], rendered: dict[str, RenderedPrompt], *, max_new_tokens: int, on_long: str,
    phrases: Sequence[str] = (),
) -> list[Prompt]:
    """Prompts whose tokens + ``max_new_tokens`` + the longest phrase copy fit the context window;
    the rest raise or are skipped (skipping every prompt raises; see :mod:`monitor.engine.window`)."""
    from ..engine.window import fit_prompts, phrase_tokens

    reserve = max_new_tokens + phrase_tokens(loaded.tokenizer, phrases)
    return fit_prompts(loaded.model, loaded.tokenizer, prompts, {p.prompt_id: len(rendered[p.prompt_id].token_ids) for p in prompts},
                       reserve=reserve, on_long=on_long, what=f"(max_new_tokens={max_new_tokens} + the longest phrase)")


def _check_prompts(prompts: Sequence[Prompt]) -> None:
    if not prompts:
        raise InputError("No prompts to run. Load a prompt file with at least one prompt.")
    ids = [p.prompt_id for p in prompts]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise InputError(f"Duplicate prompt ids {dup[:10]}; every prompt needs a unique id.")


def run_monitor(
    loaded: LoadedModel,
    prompts: Sequence[Prompt] | None,
    config: RunConfig | None,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    extra_manifest: dict[str, Any] | None = None,
) -> Run:
    """Sample, score and store a run; with ``resume`` continue the run in ``out_dir``.

    On resume the stored prompts and settings are used (``prompts``/``config`` may be None; if
    given they must match). Returns the run as stored; it is complete unless ``should_stop``
    returned True first.
    """
    out_dir = Path(out_dir)
    if resume:
        writer = RunWriter(out_dir)
        if "imported" in writer.manifest:  # its rollouts came from a file: sampling new ones would mix sources
            raise ConfigError(f"{out_dir} holds imported rollouts; continue it with `monitor ingest --resume {out_dir}`.")
        stored_cfg = RunConfig.from_manifest(writer.manifest)
        if config is not None and config != stored_cfg:
            raise ConfigError(f"{out_dir} was started with other settings; resume it without changing them.")
        config = stored_cfg
        run_model = writer.manifest.get("model", {}).get("id")
        if run_model and run_model != loaded.spec.model_id:
            raise ConfigError(f"{out_dir} was made with model {run_model!r}, not {loaded.spec.model_id!r}; resume with the same model.")
        prompts = prompts_from_frame(read_run(out_dir).prompts)
        if writer.manifest.get("status") == "complete":
            return read_run(out_dir)
    else:
        if config is None or prompts is None:
            raise ConfigError("A new run needs prompts and a RunConfig.")
        _check_prompts(prompts)
    tok = loaded.tokenizer
    from ..engine.window import check_prompt_sizes

    prompts = check_prompt_sizes(loaded.model, tok, prompts, on_long=config.long_prompts)  # before tokenizing megabytes
    rendered = {p.prompt_id: render_prompt(tok, p, markers=config.markers, enable_thinking=config.enable_thinking,
                                           special_tokens=config.special_tokens) for p in prompts}
    prompts = check_prompt_lengths(loaded, prompts, rendered, max_new_tokens=config.max_new_tokens, on_long=config.long_prompts,
                                   phrases=config.phrases)
    if not resume:
        manifest = {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model": loaded.describe(),
            **config.to_manifest(),
            "packages": package_versions(),
            **(extra_manifest or {}),
        }
        writer = RunWriter.create(out_dir, manifest, prompts_to_frame(list(prompts)))

    units = [
        (pi, p, start, min(config.batch_size, config.rollouts - start))
        for pi, p in enumerate(prompts)
        for start in range(0, config.rollouts, config.batch_size)
    ]
    done_names = writer.done_units()
    total = len(prompts) * config.rollouts
    done = sum(n for pi, p, start, n in units if _unit_name(pi, start) in done_names)
    if progress:
        progress(done, total, "resuming" if done else "starting")
    for pi, p, start, n in units:
        name = _unit_name(pi, start)
        if name in done_names:
            continue
        if should_stop is not None and should_stop():
            log.info("Stopped on request after %d/%d rollouts; resume with --resume %s", done, total, out_dir)
            return read_run(out_dir)
        rolls = _sample_with_backoff(loaded, rendered[p.prompt_id], p.prompt_id, start, n, config)
        r_rows, s_rows, sc_rows = [], [], []
        for r in rolls:
            sents, scores = score_rollout(loaded, r, config.phrases, memory_budget_mb=config.memory_budget_mb)
            r_rows.append(_rollout_row(r, len(sents) - 1))
            s_rows.extend(sents)
            sc_rows.extend(scores)
        writer.write_unit(name, {"rollouts": pd.DataFrame(r_rows), "sentences": pd.DataFrame(s_rows), "scores": pd.DataFrame(sc_rows)})
        done += n
        if progress:
            progress(done, total, f"prompt {pi + 1}/{len(prompts)}")
    return writer.finalize(finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def _sample_with_backoff(loaded: LoadedModel, rendered: RenderedPrompt, prompt_id: str, start: int, n: int, config: RunConfig) -> list[Rollout]:
    """Sample a batch; on GPU out-of-memory, sample it as two half batches instead (recursively).

    Each half is seeded from its own first rollout index, so a run that hit the same memory limit
    reproduces; one that did not samples the batch whole and differs from it.
    """
    import torch

    try:
        return sample_rollouts(
            loaded.model, loaded.tokenizer, rendered, prompt_id=prompt_id, first_rollout=start, n=n,
            seed=config.seed, max_new_tokens=config.max_new_tokens, temperature=config.temperature,
            top_p=config.top_p, top_k=config.top_k, markers=config.markers,
        )
    except torch.OutOfMemoryError:
        if n == 1:
            raise
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        half = n // 2
        log.warning("Out of GPU memory generating %d rollouts of %s; generating them as batches of %d and %d.", n, prompt_id, half, n - half)
        return _sample_with_backoff(loaded, rendered, prompt_id, start, half, config) + _sample_with_backoff(
            loaded, rendered, prompt_id, start + half, n - half, config
        )


def _unit_name(prompt_index: int, first_rollout: int) -> str:
    return f"p{prompt_index:06d}-r{first_rollout:05d}"


def rescore_run(
    run_dir: str | Path,
    loaded: LoadedModel,
    phrases: Sequence[str],
    *,
    memory_budget_mb: float = 2048,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Run:
    """Score new phrases on a complete run's existing rollouts (no resampling) and store them.

    The new rows are written once, at the end: a stop request (``should_stop``) leaves the run
    exactly as it was.
    """
    from ..engine.forcing import check_phrase

    run = read_run(run_dir)
    if run.status != "complete":
        raise ConfigError(f"{run_dir} is not complete; finish or resume it before adding phrases.")
    model_id = run.manifest.get("model", {}).get("id")
    if model_id and model_id != loaded.spec.model_id:
        raise ConfigError(f"{run_dir} was sampled from {model_id!r}; rescore it with that model, not {loaded.spec.model_id!r}.")
    new = [check_phrase(p) for p in phrases if p not in set(run.phrases)]
    if not new:
        return run
    # Score at the stored boundaries (not re-split: a newer splitter must not shift sentence ids).
    stored = {
        key: [Boundary(int(b.sentence), b.text, int(b.char_start), int(b.char_end), int(b.boundary_token)) for b in g.itertuples()]
        for key, g in run.sentences.sort_values(["prompt_id", "rollout", "sentence"]).groupby(["prompt_id", "rollout"], sort=False)
    }
    rows = []
    recs = run.rollouts.to_dict("records")
    for i, rec in enumerate(recs):
        if should_stop is not None and should_stop():
            log.info("Rescoring stopped on request; the run is unchanged.")
            return run
        r = Rollout(
            prompt_id=str(rec["prompt_id"]), rollout=int(rec["rollout"]), seed=int(rec.get("seed", 0)),
            prompt_token_ids=tuple(int(x) for x in rec["prompt_token_ids"]),
            completion_token_ids=tuple(int(x) for x in rec["completion_token_ids"]),
            completion_text=rec["completion_text"], cot_char_start=int(rec["cot_char_start"]),
            cot_char_end=int(rec["cot_char_end"]), finish_reason=rec["finish_reason"],
            cot_truncated=bool(rec["cot_truncated"]), think_opened=bool(rec.get("think_opened", False)),
        )
        _, scores = score_rollout(loaded, r, new, memory_budget_mb=memory_budget_mb, boundaries=stored[(r.prompt_id, r.rollout)])
        rows.extend(scores)
        if progress:
            progress(i + 1, len(recs), "rescoring")
    with run_lock(run.path, what="add phrases to"):  # not while a judge or another rescore writes it
        write_table(run.path, "scores", pd.concat([run.scores, pd.DataFrame(rows)], ignore_index=True))
        write_manifest(run.path, {**read_manifest(run.path), "phrases": run.phrases + new})
    return read_run(run.path)


from ..engine.k0 import score_prompts  # noqa: E402  (re-exported: k0 scoring is part of the pipeline API)
