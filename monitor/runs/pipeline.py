"""The monitor pipeline: prompts -> rollouts -> boundaries -> token-forced scores -> run store.

Work is done in *units*: one generation batch, which may mix prompts (length-bucketed, see
:func:`plan_units`). Each unit is written to the run directory as soon as it is scored, so a crash
loses at most the unit in flight, and a resume generates exactly the missing rollouts, in whatever
batches: a rollout's tokens depend only on the run seed, its prompt id and its index.
"""

from __future__ import annotations

import importlib.metadata as md
import logging
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from ..engine.boundaries import Boundary, phrase_queries, rollout_boundaries, to_force_queries
from ..engine.tokens import decode_memo
from ..engine.chat import RenderedPrompt, ThinkMarkers, detect_think_markers, markers_missing, render_prompt
from ..config import SAMPLER, Progress, RunConfig
from ..errors import ConfigError, InputError
from ..engine.models import LoadedModel
from ..prompts.record import Prompt, prompts_from_frame, prompts_to_frame
from ..engine.rollouts import Rollout, RolloutKV, RolloutRequest, generate_rollouts, unapplied_generation_settings
from ..engine.scoring import ForceQuery, resolve_method, score_packed
from ..engine.batch_scoring import fits_one_row, score_packed_batch
from ..engine.cache_scoring import cache_covers, score_against_cache
from ..engine.backends import ServedModel, backend_name, generate_served, is_served, score_served
from .hooks import run_written
from .store import Run, RunWriter, read_manifest, read_run, run_lock, write_manifest, write_table

__all__ = ["Progress", "Executor", "LocalExecutor", "Unit", "plan_units", "run_unit", "run_monitor", "think_markers_warning", "score_prompts", "score_rollout", "score_rollouts", "rescore_run", "package_versions", "check_prompt_lengths", "rollout_from_row"]

log = logging.getLogger(__name__)



def package_versions() -> dict[str, str]:
    """Versions of the packages that decide results (recorded in manifests)."""
    out = {"python": platform.python_version()}
    for name in ("evalaware-monitor", "torch", "transformers", "tokenizers", "pysbd", "pandas", "pyarrow", "numpy", "gguf", "accelerate"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def score_rollout(
    loaded: LoadedModel | ServedModel,
    rollout: Rollout,
    phrases: Sequence[str],
    *,
    memory_budget_mb: float = 2048,
    boundaries: Sequence[Boundary] | None = None,
    close_marker: str | None = "</think>",
):
    """Sentence rows and score rows (lists of dicts) for one rollout.

    ``boundaries`` defaults to splitting the rollout's CoT; pass the stored ones to score new
    phrases at exactly the boundaries a run already has. ``close_marker`` is the run's think-close
    marker (``None`` for a whole-reply CoT): the last sentence's boundary reaches up to it.
    """
    prep = _prepare(loaded, rollout, phrases, boundaries, close_marker)
    if is_served(loaded):
        lps = score_served(loaded, [(prep.seq, prep.uniq)])[0]
    else:
        lps = score_packed(loaded.model, prep.seq, prep.uniq, memory_budget_mb=memory_budget_mb)
    return _rows(rollout, prep, lps)


def score_rollouts(loaded: LoadedModel | ServedModel, rollouts: Sequence[Rollout], phrases: Sequence[str], *, memory_budget_mb: float = 2048,
                   close_marker: str | None = "</think>", kv: Sequence[RolloutKV | None] | None = None):
    """:func:`score_rollout` for several rollouts, their packed passes batched where they fit the
    budget (:func:`score_packed_batch`; the same log-probs to ~1e-5 in fp32).

    ``kv``: the rollouts' kept generation caches (``generate_rollouts(..., keep_kv=True)``); a
    rollout with one is scored against it (:func:`score_against_cache`: only the boundary tokens
    and phrase copies are computed), the others as above. The same log-probs to ~1e-5 in fp32."""
    # One decode memo for the unit: the seam checks decode the windows the boundaries decoded.
    with decode_memo():
        preps = [_prepare(loaded, r, phrases, None, close_marker) for r in rollouts]
    if is_served(loaded):  # every query of the unit goes to the engine at once (it batches and caches prefixes)
        served = score_served(loaded, [(p.seq, p.uniq) for p in preps])
        return [_rows(r, p, lp) for r, p, lp in zip(rollouts, preps, served)]
    lps: dict[int, list] = {}
    if kv is not None:
        cached = [i for i, p in enumerate(preps) if cache_covers(p.seq, p.uniq, kv[i])]
        lps.update(zip(cached, score_against_cache(loaded.model, [(preps[i].seq, preps[i].uniq) for i in cached],
                                                   [kv[i] for i in cached], memory_budget_mb=memory_budget_mb)))
    small = [i for i, p in enumerate(preps) if i not in lps and fits_one_row(loaded.model, p.seq, p.uniq, memory_budget_mb=memory_budget_mb)]
    lps.update(zip(small, score_packed_batch(loaded.model, [(preps[i].seq, preps[i].uniq) for i in small], memory_budget_mb=memory_budget_mb)))
    for i, p in enumerate(preps):
        if i not in lps:
            lps[i] = score_packed(loaded.model, p.seq, p.uniq, memory_budget_mb=memory_budget_mb)
    return [_rows(r, p, lps[i]) for i, (r, p) in enumerate(zip(rollouts, preps))]


@dataclass(frozen=True)
class _Prepared:
    boundaries: Sequence[Boundary]
    queries: list
    fq: list[ForceQuery]
    uniq: list[ForceQuery]
    seq: list[int]


def _prepare(loaded: LoadedModel | ServedModel, rollout: Rollout, phrases: Sequence[str], boundaries: Sequence[Boundary] | None,
             close_marker: str | None) -> _Prepared:
    tok = loaded.tokenizer
    with decode_memo():  # the seam checks reuse the boundary pass's decodes
        if boundaries is None:
            boundaries = rollout_boundaries(tok, rollout, close_marker=close_marker)
        queries = phrase_queries(tok, rollout, boundaries, phrases)
    seq = list(rollout.prompt_token_ids) + list(rollout.completion_token_ids)
    # Identical (context, forced ids) pairs (two sentences ending in one token) are scored once.
    fq = to_force_queries(len(rollout.prompt_token_ids), queries)
    return _Prepared(boundaries, queries, fq, list(dict.fromkeys(fq)), seq)


def _rows(rollout: Rollout, prep: _Prepared, uniq_lps):
    lps = dict(zip(prep.uniq, uniq_lps))
    key = {"prompt_id": rollout.prompt_id, "rollout": rollout.rollout}
    sentences = [
        {**key, "sentence": b.sentence, "text": b.text, "char_start": b.char_start, "char_end": b.char_end, "boundary_token": b.boundary_token}
        for b in prep.boundaries
    ]
    scores = []
    for q, f in zip(prep.queries, prep.fq):
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


def rollout_from_row(rec: dict[str, Any]) -> Rollout:
    """The :class:`Rollout` a stored rollouts row holds (the inverse of the row the pipeline writes)."""
    return Rollout(
        prompt_id=str(rec["prompt_id"]), rollout=int(rec["rollout"]), seed=int(rec.get("seed", 0)),
        prompt_token_ids=tuple(int(x) for x in rec["prompt_token_ids"]),
        completion_token_ids=tuple(int(x) for x in rec["completion_token_ids"]),
        completion_text=rec["completion_text"], cot_char_start=int(rec["cot_char_start"]),
        cot_char_end=int(rec["cot_char_end"]), finish_reason=rec["finish_reason"],
        cot_truncated=bool(rec["cot_truncated"]), think_opened=bool(rec.get("think_opened", False)),
    )


def check_prompt_lengths(
    loaded: LoadedModel | ServedModel, prompts: Sequence[Prompt], rendered: dict[str, RenderedPrompt], *, max_new_tokens: int, on_long: str,
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
    loaded: LoadedModel | ServedModel,
    prompts: Sequence[Prompt] | None,
    config: RunConfig | None,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    extra_manifest: dict[str, Any] | None = None,
    executor: "Executor | None" = None,
) -> Run:
    """Sample, score and store a run; with ``resume`` continue the run in ``out_dir``.

    ``executor`` runs the units (default: here, one after another, on ``loaded``; see
    :mod:`monitor.runs.ray_executor` for workers on a Ray cluster). This process alone writes
    the run directory.

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
        run_backend = writer.manifest.get("model", {}).get("backend", {}).get("name", "transformers")
        if run_backend != backend_name(loaded):
            # Another engine samples other rollouts from the same seeds: the run would mix two samplers.
            raise ConfigError(f"{out_dir} was sampled with --backend {run_backend}, not {backend_name(loaded)}; resume it with --backend {run_backend}.")
        prompts = prompts_from_frame(read_run(out_dir).prompts)
        if writer.manifest.get("status") == "complete":
            return read_run(out_dir)
        if writer.manifest.get("sampling", {}).get("sampler") != SAMPLER:
            raise ConfigError(
                f"{out_dir} was started by an older version that seeded rollouts per batch; its missing "
                "rollouts cannot be regenerated consistently. Finish it with that version, or start a new run."
            )
    else:
        if config is None or prompts is None:
            raise ConfigError("A new run needs prompts and a RunConfig.")
        _check_prompts(prompts)
    tok = loaded.tokenizer
    markers_source = "given"
    if config.markers is None:
        config = replace(config, markers=detect_think_markers(tok))
        markers_source = "detected"
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
        manifest["chat"]["markers_source"] = markers_source
        ignored = unapplied_generation_settings(loaded.model)
        if ignored:  # sampling follows temperature/top-k/top-p only: say so where the run is read
            note = (f"The model's generation_config sets {', '.join(f'{k}={v!r}' for k, v in ignored.items())}, which "
                    "the monitor's sampling loop does not apply (it uses temperature, top-k and top-p only): rollouts "
                    "come from that distribution, not exactly from what generate() would sample.")
            log.warning(note)
            manifest["warnings"] = [*manifest.get("warnings", []), note]
        manifest["scoring"] = {**manifest["scoring"], "method": "prompt_logprobs" if is_served(loaded) else resolve_method(loaded.model)}
        writer = RunWriter.create(out_dir, manifest, prompts_to_frame(list(prompts)))

    done_keys = writer.done_rollouts()
    total = len(prompts) * config.rollouts
    done = sum(1 for p in prompts for r in range(config.rollouts) if (p.prompt_id, r) in done_keys)
    units = plan_units(prompts, rendered, config, done_keys, kv_bytes_per_token=_kv_bytes_per_token(loaded))
    if progress:
        progress(done, total, "resuming" if done else "starting")
    results = (executor or LocalExecutor(loaded)).run(units, config, should_stop=should_stop)
    for i, (unit, tables) in enumerate(results):
        # Only this process writes the store, whichever worker computed the unit.
        writer.write_unit(unit.name, tables)
        done += len(unit.requests)
        if progress:
            progress(done, total, f"batch {i + 1}/{len(units)}")
    if done < total:
        log.info("Stopped on request after %d/%d rollouts; resume with --resume %s", done, total, out_dir)
        return read_run(out_dir)
    run = writer.finalize(finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    warning = think_markers_warning(config.markers, run.rollouts)
    if warning:
        log.warning(warning)
        writer.update_manifest(warnings=[*run.manifest.get("warnings", []), warning], chat={**run.manifest["chat"], "markers_seen": False})
        run = read_run(out_dir)
    return run


def think_markers_warning(markers: ThinkMarkers, rollouts: pd.DataFrame) -> str | None:
    """The warning for a run whose expected think markers appear in no rollout, else None."""
    if rollouts.empty or not markers_missing(
        markers, rollouts["completion_text"].tolist(), rollouts.get("think_opened", pd.Series(False, index=rollouts.index)).tolist()
    ):
        return None
    return (
        f"No rollout contains the think-open marker {markers.open!r}: every CoT is empty and only boundary 0 was scored. "
        "This model probably has no think markers: rerun with --no-think-markers (whole reply = CoT), "
        "or give its markers with --think-open/--think-close."
    )


class Executor(Protocol):
    """Runs units somewhere and hands their tables back to the driver, which stores them."""

    def run(
        self, units: Sequence["Unit"], config: RunConfig, *, should_stop: Callable[[], bool] | None = None
    ) -> Iterator[tuple["Unit", dict[str, pd.DataFrame]]]:
        """Yield (unit, tables) as units finish, in any order; stop early when ``should_stop()``."""
        ...


class LocalExecutor:
    """Units one after another in this process, on the already loaded model."""

    def __init__(self, loaded: LoadedModel):
        self.loaded = loaded

    def run(
        self, units: Sequence["Unit"], config: RunConfig, *, should_stop: Callable[[], bool] | None = None
    ) -> Iterator[tuple["Unit", dict[str, pd.DataFrame]]]:
        for unit in units:
            if should_stop is not None and should_stop():
                return
            yield unit, run_unit(self.loaded, unit.requests, config)


@dataclass(frozen=True)
class Unit:
    """One generation batch, written to the run store as one part."""

    name: str
    """Part name: ``p<prompt index>-r<rollout>`` of its first (prompt index, rollout) pair, unique
    because units never share a rollout (a resume plans only the missing ones)."""
    requests: tuple[RolloutRequest, ...]
    """The rollouts it generates (one or several prompts)."""


def _kv_bytes_per_token(loaded: LoadedModel | ServedModel) -> int:
    """KV-cache bytes one token of one sequence takes (keys and values over all layers); 0 for a
    served model, whose engine manages its own cache (a unit is then ``batch_size`` rollouts)."""
    if is_served(loaded):
        return 0
    cfg = loaded.model.config
    cfg = getattr(cfg, "text_config", None) or cfg
    heads = getattr(cfg, "num_attention_heads", 1)
    kv = getattr(cfg, "num_key_value_heads", None) or heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    elem = loaded.model.dtype.itemsize if hasattr(loaded.model.dtype, "itemsize") else 4
    return 2 * cfg.num_hidden_layers * kv * head_dim * elem


def plan_units(
    prompts: Sequence[Prompt],
    rendered: dict[str, RenderedPrompt],
    config: RunConfig,
    done: set[tuple[str, int]] = frozenset(),  # type: ignore[assignment]
    *,
    kv_bytes_per_token: int = 0,
) -> list[Unit]:
    """The generation batches for every rollout not in ``done``.

    ``cross-prompt``: rollouts sorted by prompt length (so padding stays small), cut into batches
    of at most ``batch_size`` rows whose KV cache (rows x (longest prompt + max_new_tokens)) fits
    ``generation_memory_mb``. ``per-prompt``: the same, but a batch never mixes prompts. Which
    batch a rollout lands in does not change its tokens (per-rollout seeds).
    """
    index = {p.prompt_id: i for i, p in enumerate(prompts)}
    todo = [
        RolloutRequest(p.prompt_id, r, rendered[p.prompt_id])
        for p in prompts
        for r in range(config.rollouts)
        if (p.prompt_id, r) not in done
    ]
    budget = config.generation_memory_mb * 2**20

    def key(q: RolloutRequest) -> tuple[int, int]:
        return index[q.prompt_id], q.rollout

    if config.batching == "cross-prompt":
        todo.sort(key=lambda q: (len(q.rendered.token_ids), *key(q)))
    batches: list[list[RolloutRequest]] = []
    cur: list[RolloutRequest] = []
    longest = 0
    for q in todo:
        n = len(q.rendered.token_ids) + config.max_new_tokens
        new_longest = max(longest, n)
        fits = len(cur) < config.batch_size and (len(cur) + 1) * new_longest * kv_bytes_per_token <= budget
        same_prompt = config.batching == "cross-prompt" or not cur or cur[-1].prompt_id == q.prompt_id
        if cur and not (fits and same_prompt):
            batches.append(cur)
            cur, new_longest = [], n
        cur.append(q)
        longest = new_longest
    if cur:
        batches.append(cur)
    units = []
    for b in batches:
        pi, r = min(key(q) for q in b)
        units.append(Unit(_unit_name(pi, r), tuple(b)))
    return units


def run_unit(loaded: LoadedModel | ServedModel, requests: Sequence[RolloutRequest], config: RunConfig) -> dict[str, pd.DataFrame]:
    """Generate and score one unit; its rollouts/sentences/scores tables, ready to store."""
    if is_served(loaded):
        rolls = generate_served(loaded, requests, seed=config.seed, max_new_tokens=config.max_new_tokens, temperature=config.temperature,
                                top_p=config.top_p, top_k=config.top_k, markers=config.markers)
        scored = score_rollouts(loaded, rolls, config.phrases, memory_budget_mb=config.memory_budget_mb, close_marker=config.markers.close)
    elif config.batching == "cross-prompt":
        # The generation's keys/values are kept for scoring, which then computes only the phrase
        # copies; they are dropped as soon as the unit is scored.
        rolls, kvs = _generate_with_backoff(loaded, list(requests), config, keep_kv=True)
        scored = score_rollouts(loaded, rolls, config.phrases, memory_budget_mb=config.memory_budget_mb, close_marker=config.markers.close, kv=kvs)
        del kvs
    else:
        rolls = _generate_with_backoff(loaded, list(requests), config)  # the old path: one packed pass per rollout
        scored = [score_rollout(loaded, r, config.phrases, memory_budget_mb=config.memory_budget_mb, close_marker=config.markers.close) for r in rolls]
    r_rows, s_rows, sc_rows = [], [], []
    for r, (sents, scores) in zip(rolls, scored):
        r_rows.append(_rollout_row(r, len(sents) - 1))
        s_rows.extend(sents)
        sc_rows.extend(scores)
    return {"rollouts": pd.DataFrame(r_rows), "sentences": pd.DataFrame(s_rows), "scores": pd.DataFrame(sc_rows)}


def _generate_with_backoff(loaded: LoadedModel, requests: list[RolloutRequest], config: RunConfig, *, keep_kv: bool = False) -> Any:
    """Generate a batch; on GPU out-of-memory, generate it as two half batches instead (recursively).

    Per-rollout seeds make the halves give the same rollouts the whole batch would have.
    ``keep_kv``: return ``(rollouts, kvs)`` as :func:`generate_rollouts` does.
    """
    import torch

    try:
        return generate_rollouts(
            loaded.model, loaded.tokenizer, requests, seed=config.seed, max_new_tokens=config.max_new_tokens,
            temperature=config.temperature, top_p=config.top_p, top_k=config.top_k, markers=config.markers, keep_kv=keep_kv,
        )
    except torch.OutOfMemoryError:
        n = len(requests)
        if n == 1:
            raise
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        half = n // 2
        log.warning("Out of GPU memory generating %d rollouts; generating them as batches of %d and %d.", n, half, n - half)
        a = _generate_with_backoff(loaded, requests[:half], config, keep_kv=keep_kv)
        b = _generate_with_backoff(loaded, requests[half:], config, keep_kv=keep_kv)
        return (a[0] + b[0], a[1] + b[1]) if keep_kv else a + b


def _unit_name(prompt_index: int, first_rollout: int) -> str:
    return f"p{prompt_index:06d}-r{first_rollout:05d}"


def rescore_run(
    run_dir: str | Path,
    loaded: LoadedModel | ServedModel,
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
        r = rollout_from_row(rec)
        _, scores = score_rollout(loaded, r, new, memory_budget_mb=memory_budget_mb, boundaries=stored[(r.prompt_id, r.rollout)])
        rows.extend(scores)
        if progress:
            progress(i + 1, len(recs), "rescoring")
    with run_lock(run.path, what="add phrases to"):  # not while a judge or another rescore writes it
        write_table(run.path, "scores", pd.concat([run.scores, pd.DataFrame(rows)], ignore_index=True))
        write_manifest(run.path, {**read_manifest(run.path), "phrases": run.phrases + new})
        run_written(run.path)  # new phrases: the summary cache is recomputed for the app's Home
    return read_run(run.path)


from ..engine.k0 import score_prompts  # noqa: E402  (re-exported: k0 scoring is part of the pipeline API)
