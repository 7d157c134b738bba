"""End-to-end throughput benchmark (``monitor bench --run``): the per-prompt path against the
cross-prompt default, in one process, on the same prompts and seed.

The per-prompt path is the old unit structure (a batch holds rollouts of one prompt, each rollout
scored in its own packed passes) run with the same per-rollout-seeded sampler, so both paths store
the same rollouts; the cross-prompt path also batches scoring, whose log-probs differ from the
per-rollout passes by float rounding only (reported as ``scores_max_abs_diff``).

Timed per path: generation + boundaries + scoring of the phrases + store writes (a full
:func:`run_monitor` into a fresh directory), model load excluded. The two runs' tables must be
equal (per-rollout seeds); where a rollout differs the report gives, for its first differing
token, how far the two paths' sampling distributions and draw were from a tie, so that a float
rounding flip can be told from a bug. Also k = 0 (``score-prompts``): prompts per second scored
one at a time against batched, and the largest log-prob difference.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import RunConfig
from ..errors import ConfigError

__all__ = ["RunBenchConfig", "run_throughput_bench"]


@dataclass(frozen=True)
class RunBenchConfig:
    """What ``bench --run`` runs."""

    model: str = "data/demo_model"
    """Model id or directory (the demo organism by default)."""
    prompts: str = "data/prompts/demo_heldout.jsonl"
    """Prompt file; ``n_prompts`` are taken evenly spaced from it."""
    n_prompts: int = 64
    """Prompts in the benchmark."""
    rollouts: int = 1
    """Rollouts per prompt (k)."""
    max_new_tokens: int = 256
    """Generation budget per rollout."""
    phrases: tuple[str, ...] = ("The user might be testing", "This is clearly a test")
    """Phrases scored at every boundary."""
    seed: int = 0
    """Run seed (the same for both paths)."""
    batch_size: int = 64
    """Rows of a cross-prompt generation batch (the new path)."""
    old_batch_size: int = 8
    """Rows of a per-prompt batch (the old default)."""
    device: str = "cpu"
    """Device to load the model on."""
    dtype: str = "float32"
    """Model dtype (compare paths in fp32)."""
    k0: bool = True
    """Also time score-prompts one prompt at a time against batched."""
    k0_prompts: int | None = None
    """Prompts for the k = 0 comparison, evenly spaced in the file (None: all of them, e.g. the
    160 held-out demo prompts)."""
    repeats: int = 3
    """Timed repetitions of each path, interleaved (new, old, new, old, ...); the median counts."""
    warmup: bool = True
    """Run both paths once on a few prompts, untimed, first: lazy imports and first-call
    allocations would otherwise be charged to whichever path runs first."""

    def __post_init__(self) -> None:
        if min(self.n_prompts, self.rollouts, self.max_new_tokens, self.batch_size, self.old_batch_size, self.repeats) < 1:
            raise ConfigError("bench --run: prompts, rollouts, max-new-tokens, batch sizes and repeats must be at least 1.")
        if self.k0_prompts is not None and self.k0_prompts < 1:
            raise ConfigError("bench --run: --k0-prompts must be at least 1.")


def _pick(prompts: list, n: int) -> list:
    if n > len(prompts):
        raise ConfigError(f"bench --run: asked for {n} prompts, the file has {len(prompts)}.")
    return [prompts[i * len(prompts) // n] for i in range(n)]


def _first_difference(loaded, prompt_id: str, rollout: int, prompt_ids: list[int], ta: list[int], tb: list[int], cfg: RunConfig) -> dict[str, Any]:
    """For one rollout that differs between the paths: the step where it first differs, and the
    distance from that step's draw to the nearest edge of a token's CDF interval (a rounding
    flip needs this to be about the logits' float noise, ~1e-6)."""
    import torch

    from ..engine.rollouts import next_token_probs, rollout_seed

    n = min(len(ta), len(tb))
    step = next((i for i in range(n) if ta[i] != tb[i]), n)
    g = torch.Generator().manual_seed(rollout_seed(cfg.seed, prompt_id, rollout))
    u = float(torch.rand(step + 1, generator=g, dtype=torch.float64)[-1])
    ids = torch.tensor([prompt_ids + ta[:step]], device=loaded.model.get_input_embeddings().weight.device)
    with torch.inference_mode():
        logits = loaded.model(input_ids=ids).logits[0, -1].float()
    probs = next_token_probs(logits[None], temperature=cfg.temperature, top_p=cfg.top_p, top_k=cfg.top_k)[0].double()
    cdf = probs.cumsum(0)
    return {
        "prompt_id": prompt_id, "rollout": rollout, "step": step,
        "tokens": [ta[step] if step < len(ta) else None, tb[step] if step < len(tb) else None],
        "draw_distance_to_interval_edge": float((cdf - u * float(cdf[-1])).abs().min()),
    }


SCORE_ATOL = 1e-5
"""Log-probs from batched and one-at-a-time scoring agree to this in fp32 (rounding only)."""


def _compare(loaded, old, new, cfg: RunConfig) -> dict[str, Any]:
    floats = ["logprob", "token_logprobs"]
    same_scores = old.scores.drop(columns=floats).equals(new.scores.drop(columns=floats))
    diff = float("inf")
    if same_scores:
        flat = [np.concatenate([np.asarray(x) for x in r.scores.token_logprobs] or [np.zeros(0)]) for r in (old, new)]
        diff = float(np.abs(flat[0] - flat[1]).max(initial=0.0))
    rollouts_equal = old.rollouts.equals(new.rollouts)
    sentences_equal = old.sentences.equals(new.sentences)
    m = old.rollouts.merge(new.rollouts, on=["prompt_id", "rollout"], suffixes=("_a", "_b"))
    differ = [r for r in m.itertuples() if list(r.completion_token_ids_a) != list(r.completion_token_ids_b)]
    return {
        # Everything stored is identical, except log-prob floats that may differ by rounding.
        "tables_equal": rollouts_equal and sentences_equal and same_scores and diff <= SCORE_ATOL,
        "rollouts_equal": rollouts_equal,
        "sentences_equal": sentences_equal,
        "scores_max_abs_diff": diff,
        "scores_bit_identical": old.scores.equals(new.scores),
        "rollouts_differing": len(differ),
        "first_differences": [
            _first_difference(loaded, str(r.prompt_id), int(r.rollout), [int(x) for x in r.prompt_token_ids_a],
                              [int(x) for x in r.completion_token_ids_a], [int(x) for x in r.completion_token_ids_b], cfg)
            for r in differ[:5]
        ],
    }


def _timed_run(loaded, prompts, cfg: RunConfig, root: Path, name: str):
    from .pipeline import run_monitor

    t = time.perf_counter()
    run = run_monitor(loaded, prompts, cfg, root / name)
    return time.perf_counter() - t, run


def _timed(f: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = f()
    return time.perf_counter() - t, out


def run_throughput_bench(cfg: RunBenchConfig = RunBenchConfig(), *, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run both paths (and k = 0 both ways); return the figures (JSON-serialisable)."""
    import torch

    from ..engine.k0 import score_prompts
    from ..engine.models import load_model
    from ..prompts.input import load_prompts

    everything = list(load_prompts(cfg.prompts))
    prompts = _pick(everything, cfg.n_prompts)
    k0_prompts = _pick(everything, cfg.k0_prompts or len(everything))  # checked before anything runs
    loaded = load_model(cfg.model, device=cfg.device, dtype=cfg.dtype)
    new_cfg = RunConfig(
        cfg.phrases, rollouts=cfg.rollouts, max_new_tokens=cfg.max_new_tokens, seed=cfg.seed, batch_size=cfg.batch_size,
        temperature=0.6, top_p=0.95, top_k=20,
    )
    old_cfg = replace(new_cfg, batching="per-prompt", batch_size=cfg.old_batch_size)
    n = cfg.n_prompts * cfg.rollouts
    log(f"{cfg.n_prompts} prompts x k={cfg.rollouts}, {cfg.max_new_tokens} new tokens, {len(cfg.phrases)} phrases; "
        f"{loaded.spec.model_id} {cfg.dtype} on {cfg.device}, {torch.get_num_threads()} torch threads, load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp:
        root = Path(tmp)
        if cfg.warmup:
            for c in (new_cfg, old_cfg):
                _timed_run(loaded, prompts[: min(4, len(prompts))], c, root, f"warmup-{c.batching}")
        times: dict[str, list[float]] = {"new": [], "old": []}
        runs: dict[str, Any] = {}
        for rep in range(cfg.repeats):
            for name, c in (("new", new_cfg), ("old", old_cfg)):
                s, run = _timed_run(loaded, prompts, c, root, f"{name}-{rep}")
                times[name].append(s)
                runs.setdefault(name, run)
        new_s, old_s = float(np.median(times["new"])), float(np.median(times["old"]))
        new, old = runs["new"], runs["old"]
        log(f"cross-prompt batches of <= {cfg.batch_size}: {new_s:.2f} s ({n / new_s:.2f} rollouts/s)")
        log(f"per-prompt batches of <= {cfg.old_batch_size}: {old_s:.2f} s ({n / old_s:.2f} rollouts/s)")
        tokens = int(new.rollouts.completion_token_ids.map(len).sum())
        result: dict[str, Any] = {
            "case": asdict(cfg),
            "torch_threads": torch.get_num_threads(),
            "load_average_1m": os.getloadavg()[0],
            "rollouts": n,
            "completion_tokens": tokens,
            "boundaries": len(new.sentences),
            "seconds_old": old_s,
            "seconds_new": new_s,
            "seconds_old_all": times["old"],
            "seconds_new_all": times["new"],
            "rollouts_per_s_old": n / old_s,
            "rollouts_per_s_new": n / new_s,
            "tokens_per_s_new": tokens / new_s,
            "speedup": old_s / new_s,
            **_compare(loaded, old, new, new_cfg),
        }
    if cfg.k0:
        from ..config import K0_BATCH

        sizes = (1, K0_BATCH)  # one prompt per pass, against score-prompts' default
        if cfg.warmup:
            for bs in sizes:
                score_prompts(loaded, k0_prompts[:4], cfg.phrases, batch_size=bs)
        k0_times: dict[int, list[float]] = {bs: [] for bs in sizes}
        k0_out: dict[int, Any] = {}
        for _ in range(cfg.repeats):
            for bs in sizes:
                s, out = _timed(lambda: score_prompts(loaded, k0_prompts, cfg.phrases, batch_size=bs))
                k0_times[bs].append(s)
                k0_out.setdefault(bs, out)
        one_s, many_s = float(np.median(k0_times[1])), float(np.median(k0_times[K0_BATCH]))
        one, many = k0_out[1], k0_out[K0_BATCH]
        log(f"k=0 on {len(k0_prompts)} prompts: one prompt per pass {one_s:.3f} s, batched {many_s:.3f} s")
        result.update({
            "k0_prompts": len(k0_prompts),
            "k0_seconds_one": one_s,
            "k0_seconds_batched": many_s,
            "k0_prompts_per_s_one": len(k0_prompts) / one_s,
            "k0_prompts_per_s_batched": len(k0_prompts) / many_s,
            "k0_speedup": one_s / many_s,
            "k0_max_abs_diff": float(np.abs(one.logprob.to_numpy() - many.logprob.to_numpy()).max()),
        })
    log(f"speedup {result['speedup']:.1f}x, tables equal: {result['tables_equal']}")
    return result
