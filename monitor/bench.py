"""Benchmark: packed token-forced scoring against the naive method, in one process.

A random-weight Qwen3-shaped model of the given size, a random "rollout" of ``T`` tokens, ``B``
boundaries spread over it and ``P`` phrases of ``L`` tokens each. Timed: the naive method (one
forward pass per boundary and phrase), packed scoring (the default cache method, and the single
masked pass for reference), and the floor: one plain forward pass over ``T + B·P·L`` tokens,
projecting as many rows to the vocabulary as packed scoring reads. Reports the ratios and the
agreement; absolute times mean something only on a GPU.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from .errors import ConfigError

__all__ = ["BenchConfig", "run_bench"]


@dataclass(frozen=True)
class BenchConfig:
    """Shapes and settings of one benchmark case."""

    T: int = 600
    """Rollout tokens (prompt + completion)."""
    B: int = 30
    """Boundaries."""
    P: int = 3
    """Phrases."""
    L: int = 6
    """Tokens per phrase."""
    layers: int = 4
    """Transformer layers."""
    hidden: int = 256
    """Hidden size."""
    heads: int = 4
    """Attention heads."""
    kv_heads: int | None = None
    """Key/value heads (default: ``heads``)."""
    intermediate: int | None = None
    """MLP size (default ``3 * hidden``)."""
    vocab: int = 32000
    """Vocabulary size."""
    dtype: str = "float32"
    """Model dtype; compare methods in fp32 (bf16 noise is ~1e-2 for both)."""
    device: str = "cpu"
    """``cpu`` or ``cuda``."""
    attn: str = "sdpa"
    """Attention implementation."""
    repeats: int = 3
    """Timed repeats; the median is reported."""
    seed: int = 0
    """Seed for weights, tokens and phrases."""
    naive: bool = True
    """Time the naive method too (skip it for shapes where it takes too long)."""
    memory_budget_mb: float = 4096
    """Packed scoring's memory budget."""

    def __post_init__(self) -> None:
        if min(self.T, self.B, self.P, self.L, self.layers, self.hidden, self.heads, self.vocab, self.repeats) < 1:
            raise ConfigError("bench: every size must be at least 1.")
        if self.B > self.T:
            raise ConfigError(f"bench: B={self.B} boundaries do not fit in T={self.T} tokens.")
        if self.hidden % self.heads:
            raise ConfigError(f"bench: hidden={self.hidden} is not divisible by heads={self.heads}.")


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fn: Callable[[], object], repeats: int, device) -> tuple[float, object]:
    out = fn()  # warm-up (kernels, allocator)
    _sync(device)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        _sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def run_bench(cfg: BenchConfig = BenchConfig(), *, log: Callable[[str], None] = print) -> dict:
    """Run one case; return the figures (JSON-serialisable)."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from .engine.scoring import ForceQuery, score_naive, score_packed

    device = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)
    config = Qwen3Config(
        vocab_size=cfg.vocab, hidden_size=cfg.hidden, intermediate_size=cfg.intermediate or 3 * cfg.hidden,
        num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads, num_key_value_heads=cfg.kv_heads or cfg.heads,
        head_dim=cfg.hidden // cfg.heads, max_position_embeddings=max(4096, cfg.T + cfg.L + 8), attn_implementation=cfg.attn,
    )
    model = Qwen3ForCausalLM(config).to(device=device, dtype=getattr(torch, cfg.dtype)).eval()
    g = np.random.default_rng(cfg.seed)
    seq = g.integers(0, cfg.vocab, cfg.T).tolist()
    bounds = np.linspace(cfg.T / cfg.B, cfg.T, cfg.B).round().astype(int).tolist()
    phrases = [tuple(g.integers(0, cfg.vocab, cfg.L).tolist()) for _ in range(cfg.P)]
    queries = [ForceQuery(b, ph) for b in bounds for ph in phrases]
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {cfg.layers} layers, hidden {cfg.hidden}, vocab {cfg.vocab}, {n_params / 1e6:.1f}M params, {cfg.dtype} on {device}")

    packed_s, packed = _time(lambda: score_packed(model, seq, queries, memory_budget_mb=cfg.memory_budget_mb), cfg.repeats, device)
    log(f"packed (default: causal pass + phrase copies against its cache): {packed_s:.4f} s")
    single_s, single = _time(
        lambda: score_packed(model, seq, queries, memory_budget_mb=cfg.memory_budget_mb, method="packed"), cfg.repeats, device
    )
    log(f"packed, single masked pass: {single_s:.4f} s")
    n_floor = cfg.T + cfg.B * cfg.P * cfg.L
    floor_ids = torch.tensor([g.integers(0, cfg.vocab, n_floor).tolist()], device=device)

    def floor():
        with torch.inference_mode():
            return model(input_ids=floor_ids, logits_to_keep=cfg.B * cfg.P * cfg.L, use_cache=False).logits

    floor_s, _ = _time(floor, cfg.repeats, device)
    log(f"floor (one pass over {n_floor} tokens): {floor_s:.4f} s")
    result = {
        "case": asdict(cfg),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch_threads": torch.get_num_threads(),
        "params": n_params,
        "queries": len(queries),
        "tokens_involved": n_floor,
        "packed_s": packed_s,
        "packed_single_pass_s": single_s,
        "single_pass_vs_cache_max_abs_diff": max(float(np.abs(a - b).max()) for a, b in zip(packed, single)),
        "floor_s": floor_s,
        "packed_over_floor": packed_s / floor_s,
        "packed_tokens_per_s": n_floor / packed_s,
        # Dense matmul work only (2 FLOPs per parameter per token); attention adds to this.
        "packed_tflops": 2 * n_params * n_floor / packed_s / 1e12,
    }
    if cfg.naive:
        naive_s, naive = _time(lambda: score_naive(model, seq, queries), max(1, min(cfg.repeats, 2)), device)
        log(f"naive ({len(queries)} passes): {naive_s:.4f} s")
        diff = max(float(np.abs(a - b).max()) for a, b in zip(packed, naive))
        result.update({"naive_s": naive_s, "speedup": naive_s / packed_s, "max_abs_diff": diff})
    return result
