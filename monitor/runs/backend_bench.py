"""``monitor bench --run --backend vllm``: a vLLM backend against the transformers path, in one
process, on the same prompts.

Three measurements, each the same work on both backends, timed as the median of ``repeats``
interleaved repetitions (model loads excluded):

- **k = 1 run**: a whole :func:`run_monitor` (sampling, boundaries, scoring, store writes) on
  each backend. The two samplers draw different rollouts from the same seeds, so this ratio
  compares throughput, not rows;
- **scoring**: the vLLM run's own rollouts scored again by the transformers path (the packed,
  batched scorers) and by the backend (``prompt_logprobs``): the same token ids, so the scores'
  largest difference is the agreement figure;
- **k = 0**: ``score-prompts`` on every prompt with both.

Absolute seconds mean something only on the machine that measured them; the ratios and the
agreement are what the bench reports in its last line.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..config import RunConfig
from ..errors import ConfigError
from .throughput import RunBenchConfig, _pick

__all__ = ["run_backend_bench"]


def _median_time(f: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), times, out


def _max_diff(a: list, b: list) -> float:
    worst = 0.0
    for (_, sa), (_, sb) in zip(a, b):
        for x, y in zip(sa, sb):
            assert (x["sentence"], x["phrase"], x["forced_token_ids"]) == (y["sentence"], y["phrase"], y["forced_token_ids"])
            worst = max(worst, float(np.abs(np.asarray(x["token_logprobs"]) - np.asarray(y["token_logprobs"])).max()))
    return worst


def run_backend_bench(cfg: RunBenchConfig, backend: str, *, base_url: str | None = None,
                      log: Callable[[str], None] = print) -> dict[str, Any]:
    """Time ``backend`` against transformers (k = 1 run, scoring the same rollouts, k = 0)."""
    import torch

    from ..engine.backends import open_backend
    from ..engine.k0 import score_prompts
    from ..engine.models import ModelSpec, load_model
    from ..prompts.input import load_prompts
    from .pipeline import rollout_from_row, run_monitor, score_rollouts

    if backend not in ("vllm", "openai-server"):
        raise ConfigError(f"bench --run --backend {backend}: compare vllm or openai-server with transformers.")
    everything = list(load_prompts(cfg.prompts))
    prompts = _pick(everything, cfg.n_prompts)
    k0_prompts = _pick(everything, cfg.k0_prompts or len(everything))
    hf = load_model(cfg.model, device=cfg.device, dtype=cfg.dtype)
    t = time.perf_counter()
    served = open_backend(backend, ModelSpec(cfg.model, dtype=cfg.dtype), base_url=base_url, seed=cfg.seed)
    open_s = time.perf_counter() - t
    run_cfg = RunConfig(cfg.phrases, rollouts=cfg.rollouts, max_new_tokens=cfg.max_new_tokens, seed=cfg.seed,
                        batch_size=cfg.batch_size, temperature=0.6, top_p=0.95, top_k=20)
    n = cfg.n_prompts * cfg.rollouts
    log(f"{cfg.n_prompts} prompts x k={cfg.rollouts}, {cfg.max_new_tokens} new tokens, {len(cfg.phrases)} phrases; "
        f"{cfg.model} {cfg.dtype}; transformers on {cfg.device} ({torch.get_num_threads()} threads) vs {backend} "
        f"(opened in {open_s:.1f} s); load {os.getloadavg()[0]:.2f}")
    result: dict[str, Any] = {"case": asdict(cfg), "backend": served.engine.describe(), "torch_threads": torch.get_num_threads()}
    try:
        with tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp:
            root = Path(tmp)
            counter = iter(range(10**6))
            if cfg.warmup:
                for lm in (hf, served):
                    run_monitor(lm, prompts[: min(4, len(prompts))], run_cfg, root / f"warm-{next(counter)}")
            runs: dict[str, Any] = {}
            times: dict[str, list[float]] = {"transformers": [], backend: []}
            for _ in range(cfg.repeats):
                for name, lm in (("transformers", hf), (backend, served)):
                    t = time.perf_counter()
                    run = run_monitor(lm, prompts, run_cfg, root / f"{name}-{next(counter)}")
                    times[name].append(time.perf_counter() - t)
                    runs.setdefault(name, run)
            hf_s, be_s = float(np.median(times["transformers"])), float(np.median(times[backend]))
            log(f"k=1 run: transformers {hf_s:.2f} s ({n / hf_s:.2f} rollouts/s), {backend} {be_s:.2f} s ({n / be_s:.2f} rollouts/s)")
            rolls = [rollout_from_row(r) for r in runs[backend].rollouts.to_dict("records")]
            close = runs[backend].manifest["chat"]["think_close"]  # the markers the run detected
            sc_hf, sc_hf_all, rows_hf = _median_time(lambda: score_rollouts(hf, rolls, cfg.phrases, close_marker=close), cfg.repeats)
            sc_be, sc_be_all, rows_be = _median_time(lambda: score_rollouts(served, rolls, cfg.phrases, close_marker=close), cfg.repeats)
            boundaries = sum(len(s) for s, _ in rows_be)
            agree = _max_diff(rows_hf, rows_be)
            log(f"scoring {len(rolls)} rollouts ({boundaries} boundaries): transformers {sc_hf:.2f} s, {backend} {sc_be:.2f} s; "
                f"max |diff| {agree:.2e}")
            result.update({
                "rollouts": n, "boundaries": boundaries,
                "run_seconds_transformers": hf_s, f"run_seconds_{backend}": be_s,
                "run_seconds_transformers_all": times["transformers"], f"run_seconds_{backend}_all": times[backend],
                "run_ratio": hf_s / be_s,
                "score_seconds_transformers": sc_hf, f"score_seconds_{backend}": sc_be,
                "score_seconds_transformers_all": sc_hf_all, f"score_seconds_{backend}_all": sc_be_all,
                "score_ratio": sc_hf / sc_be,
                "scores_max_abs_diff": agree,
                "sentences_equal": [s for s, _ in rows_hf] == [s for s, _ in rows_be],
            })
        if cfg.k0:
            k_hf, k_hf_all, df_hf = _median_time(lambda: score_prompts(hf, k0_prompts, cfg.phrases), cfg.repeats)
            k_be, k_be_all, df_be = _median_time(lambda: score_prompts(served, k0_prompts, cfg.phrases), cfg.repeats)
            log(f"k=0 on {len(k0_prompts)} prompts: transformers {k_hf:.3f} s, {backend} {k_be:.3f} s")
            result.update({
                "k0_prompts": len(k0_prompts), "k0_seconds_transformers": k_hf, f"k0_seconds_{backend}": k_be,
                "k0_ratio": k_hf / k_be,
                "k0_max_abs_diff": float(np.abs(df_hf.logprob.to_numpy() - df_be.logprob.to_numpy()).max()),
            })
    finally:
        served.close()
    result["load_average_1m"] = os.getloadavg()[0]
    log(f"{backend} vs transformers: run {result['run_ratio']:.2f}x, scoring {result['score_ratio']:.2f}x"
        + (f", k=0 {result['k0_ratio']:.2f}x" if cfg.k0 else "") + f"; agreement {result['scores_max_abs_diff']:.1e}")
    return result
