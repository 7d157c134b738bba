"""Token-forced scoring: log-probs of forced phrase tokens at many boundaries, in packed passes.

The naive method runs one forward pass per boundary and phrase, O(B·P·T). The packed method
runs one pass over ``T + Q`` tokens: the sequence (prompt + completion) up to the last boundary,
followed by one *copy* of each forced phrase (all tokens but the last, whose log-prob is read from
the copy's previous position). A 4D additive attention mask lets copy ``k`` (forced after ``c``
context tokens) see only sequence tokens ``< c`` and its own earlier tokens; its position ids are
``c, c+1, ...``, so each copy computes exactly what the model computes for ``seq[:c] + phrase``.
The first forced token is read from the sequence's own logits at ``c - 1``.

Queries are packed into chunks under a memory budget (chunks sorted by context length, so each
chunk recomputes only the prefix it needs); on a CUDA out-of-memory error the chunk is halved.
Shapes: ``T`` sequence tokens, ``Q`` copy tokens in a chunk, ``N = T + Q``, ``V`` vocabulary.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..errors import ConfigError
from .last_layer import last_mlp_rows

__all__ = ["Method", "ForceQuery", "resolve_method", "score_packed", "score_naive", "model_layout"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForceQuery:
    """One phrase forced after a prefix of the sequence."""

    context_len: int
    """Number of sequence tokens before the phrase (prompt + completion tokens); at least 1."""
    forced_ids: tuple[int, ...]
    """Token ids whose log-probs are read, in order (at least one)."""


@dataclass(frozen=True)
class _Layout:
    heads: int
    vocab: int
    sliding_window: int | None
    layer_types: tuple[str, ...]


def model_layout(model: Any) -> _Layout:
    """What the mask builder and the memory estimate need to know about a model."""
    cfg = model.config
    cfg = getattr(cfg, "text_config", None) or cfg
    layer_types = tuple(getattr(cfg, "layer_types", None) or ())
    window = getattr(cfg, "sliding_window", None) if "sliding_attention" in layer_types else None
    impl = getattr(model.config, "_attn_implementation", "sdpa")
    if impl not in ("sdpa", "eager"):
        raise ConfigError(
            f"The model uses attn_implementation={impl!r}, which does not accept the custom 4D masks "
            "packed scoring needs. Load it with attn_implementation='sdpa' or 'eager'."
        )
    return _Layout(cfg.num_attention_heads, cfg.vocab_size, window, layer_types)


def _logprobs_at(logits, rows, targets):
    """log softmax(logits[rows])[targets] in fp32. logits (R, V); rows, targets (M,) -> (M,).

    The normaliser is computed once per logits row (phrases forced at one boundary share their
    first row), and rows are never copied out of ``logits``.
    """
    import torch

    logits = logits.float()
    lse = torch.logsumexp(logits, dim=-1)
    return logits[rows, targets] - lse[rows]


def _chunks(queries: Sequence[ForceQuery], order: Sequence[int], layout: _Layout, budget_bytes: int, *, base_len: int | None = None) -> list[list[int]]:
    """Greedy chunks of query indices (in context-length order) under the memory budget.

    ``base_len`` is the cached prefix length (cache method); without it each chunk carries its
    own prefix up to its longest context (single-pass method).
    """
    chunks: list[list[int]] = []
    cur: list[int] = []
    cur_q = 0
    for i in order:
        q = queries[i]
        add = len(q.forced_ids) - 1
        qn = cur_q + add
        if base_len is None:  # order is ascending in context_len, so q has the chunk's longest prefix
            n = q.context_len + qn
            est = n * n * (layout.heads + 2) * 4 + (qn + len(cur) + 1) * layout.vocab * 8
        else:
            est = max(qn, 1) * (base_len + qn) * (layout.heads + 2) * 4 + qn * layout.vocab * 8
        if cur and est > budget_bytes:
            chunks.append(cur)
            cur, cur_q = [], 0
        cur.append(i)
        cur_q += add
    if cur:
        chunks.append(cur)
    return chunks


@dataclass(frozen=True)
class _Copies:
    """The phrase copies of one chunk: every forced token but each phrase's last, in order."""

    tok: list[int]
    pos: list[int]
    ctx: list[int]
    qid: list[int]
    j: list[int]

    @classmethod
    def of(cls, queries: Sequence[ForceQuery], idx: Sequence[int]) -> "_Copies":
        c = cls([], [], [], [], [])
        for qi, i in enumerate(idx):
            q = queries[i]
            for j, tok in enumerate(q.forced_ids[:-1]):
                c.tok.append(tok)
                c.pos.append(q.context_len + j)
                c.ctx.append(q.context_len)
                c.qid.append(qi)
                c.j.append(j)
        return c

    def mask(self, T: int, device):
        """Bool (Q, T + Q): copy k sees sequence tokens < its context length and its own earlier tokens."""
        import torch

        Q = len(self.tok)
        ctx = torch.tensor(self.ctx, device=device)
        qid = torch.tensor(self.qid, device=device)
        jj = torch.tensor(self.j, device=device)
        allowed = torch.zeros(Q, T + Q, dtype=torch.bool, device=device)
        allowed[:, :T] = torch.arange(T, device=device)[None, :] < ctx[:, None]
        allowed[:, T:] = (qid[:, None] == qid[None, :]) & (jj[None, :] <= jj[:, None])
        return allowed


def _additive(allowed, dtype):
    """(q, k) bool -> (1, 1, q, k) additive float mask in the model's dtype.

    eager attention adds the mask to the scores, so a bool mask would be silently wrong there.
    """
    import torch

    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, torch.finfo(dtype).min)[None, None]


def _collect(queries, idx, first_lp: dict[int, Any], copy_logits, device) -> dict[int, np.ndarray]:
    """Assemble per-query log-probs: first token from ``first_lp`` (by context length), the rest
    from ``copy_logits`` (Q, V), whose rows are the chunk's copies in order."""
    import torch

    rows: list[int] = []
    targets: list[int] = []
    spans: list[tuple[int, int]] = []
    start = 0
    for i in idx:
        L = len(queries[i].forced_ids)
        rows.extend(range(start, start + L - 1))
        targets.extend(queries[i].forced_ids[1:])
        spans.append((start, start + L - 1))
        start += L - 1
    rest = (
        _logprobs_at(copy_logits, torch.tensor(rows, device=device), torch.tensor(targets, device=device)).double().cpu().numpy()
        if rows
        else np.zeros(0)
    )
    out = {}
    for i, (a, b) in zip(idx, spans):
        q = queries[i]
        out[i] = np.concatenate([[first_lp[(q.context_len, q.forced_ids[0])]], rest[a:b]])
    return out


def _first_token_logprobs(logits, first_rows: list[int], queries, idx, device) -> dict[tuple[int, int], float]:
    """log P(first forced token | context) for each (context_len, token) pair of the chunk.

    ``logits`` rows are the sequence positions ``first_rows`` (context_len - 1), in that order.
    """
    import torch

    row_of = {r: k for k, r in enumerate(first_rows)}
    pairs = sorted({(queries[i].context_len, queries[i].forced_ids[0]) for i in idx})
    lp = _logprobs_at(
        logits,
        torch.tensor([row_of[c - 1] for c, _ in pairs], device=device),
        torch.tensor([t for _, t in pairs], device=device),
    ).double().cpu().numpy()
    return {pair: float(v) for pair, v in zip(pairs, lp)}


def _score_chunk(model, seq_ids: Sequence[int], queries: Sequence[ForceQuery], idx: list[int], layout: _Layout, device) -> dict[int, np.ndarray]:
    """Single-pass method: sequence prefix + this chunk's copies in one forward pass."""
    import torch

    T = max(queries[i].context_len for i in idx)
    copies = _Copies.of(queries, idx)
    Q = len(copies.tok)
    N = T + Q
    ids = torch.tensor([list(seq_ids[:T]) + copies.tok], dtype=torch.long, device=device)
    pos = torch.tensor([list(range(T)) + copies.pos], dtype=torch.long, device=device)
    allowed = torch.zeros(N, N, dtype=torch.bool, device=device)
    allowed[:T, :T] = torch.ones(T, T, dtype=torch.bool, device=device).tril()
    if Q:
        allowed[T:] = copies.mask(T, device)
    if layout.sliding_window:
        p = pos[0]
        within = (p[:, None] - p[None, :]) < layout.sliding_window
        attention_mask: Any = {"full_attention": _additive(allowed, model.dtype), "sliding_attention": _additive(allowed & within, model.dtype)}
    else:
        attention_mask = _additive(allowed, model.dtype)
    first_rows = sorted({queries[i].context_len - 1 for i in idx})
    keep_t = torch.tensor(first_rows + list(range(T, N)), dtype=torch.long, device=device)
    with torch.inference_mode(), last_mlp_rows(model, keep_t, (1, N)):
        logits = model(input_ids=ids, position_ids=pos, attention_mask=attention_mask, logits_to_keep=keep_t, use_cache=False).logits[0]
    first = _first_token_logprobs(logits[: len(first_rows)], first_rows, queries, idx, device)
    return _collect(queries, idx, first, logits[len(first_rows) :], device)


def _score_cached(model, seq_ids: Sequence[int], queries: Sequence[ForceQuery], order: list[int], layout: _Layout, device, budget: int) -> dict[int, np.ndarray]:
    """Cache method: one causal pass over the sequence (fast kernels, no mask) that also gives every
    first-token log-prob, then the copies as queries against its KV cache, chunk by chunk; the
    cache is cropped back to the sequence after each chunk."""
    import torch

    T = max(q.context_len for q in queries)
    first_rows = sorted({q.context_len - 1 for q in queries})
    ids = torch.tensor([list(seq_ids[:T])], dtype=torch.long, device=device)
    first_t = torch.tensor(first_rows, device=device)
    # The cache holds each layer's keys and values, computed from the layer's input: the last MLP
    # only feeds the logits, which are read at the first rows.
    with torch.inference_mode(), last_mlp_rows(model, first_t, (1, T)):
        out = model(input_ids=ids, use_cache=True, logits_to_keep=first_t)
    cache_arg = _cache_argument(model)
    cache = getattr(out, cache_arg)
    first = _first_token_logprobs(out.logits[0], first_rows, queries, range(len(queries)), device)
    del out
    results: dict[int, np.ndarray] = {}
    pending = [c for c in _chunks(queries, order, layout, budget, base_len=T)]
    while pending:
        chunk = pending.pop(0)
        copies = _Copies.of(queries, chunk)
        if not copies.tok:  # single-token phrases: the causal pass already answered them
            results.update(_collect(queries, chunk, first, None, device))
            continue
        try:
            with torch.inference_mode():
                logits = model(
                    input_ids=torch.tensor([copies.tok], dtype=torch.long, device=device),
                    position_ids=torch.tensor([copies.pos], dtype=torch.long, device=device),
                    attention_mask=_additive(copies.mask(T, device), model.dtype),
                    use_cache=True,
                    **{cache_arg: cache},
                ).logits[0]
            results.update(_collect(queries, chunk, first, logits, device))
        except torch.OutOfMemoryError:
            if len(chunk) == 1:
                raise
            torch.cuda.empty_cache()
            log.warning("Out of GPU memory scoring %d phrase copies; splitting the chunk in two and retrying.", len(chunk))
            pending[:0] = [chunk[: len(chunk) // 2], chunk[len(chunk) // 2 :]]
        finally:
            extra = cache.get_seq_length() - T
            if extra > 0:
                cache.crop(-extra)  # transformers >= 5.18: a negative count removes tokens
    return results


def _cache_argument(model) -> str:
    """The name transformers uses for the KV cache on this model's forward and outputs.

    transformers 5.2x renamed ``past_key_values`` to ``cache`` (the old name warns, and goes in
    5.40); the name is read from the signature so both sides of the rename work.
    """
    import inspect

    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _cache_usable(model, layout: _Layout) -> bool:
    # Sliding-window cache layers keep only the window, and copies need keys from anywhere in the
    # prefix; other cache layouts (linear attention, quantized) are not known to crop exactly.
    return layout.sliding_window is None and not any(t not in ("full_attention",) for t in layout.layer_types)


Method = Literal["auto", "cache", "packed"]


def resolve_method(model: Any, method: Method = "auto") -> Literal["cache", "packed"]:
    """The method :func:`score_packed` runs for ``method`` on ``model`` (recorded in run manifests)."""
    if method == "packed":
        return "packed"
    usable = _cache_usable(model, model_layout(model))
    if method == "cache" and not usable:
        raise ConfigError("method='cache' does not work with sliding-window or non-standard attention layers; use 'packed'.")
    if method not in ("auto", "cache"):
        raise ConfigError(f"Unknown scoring method {method!r}: use auto, cache or packed.")
    return "cache" if usable else "packed"


def score_packed(
    model: Any,
    seq_ids: Sequence[int],
    queries: Sequence[ForceQuery],
    *,
    memory_budget_mb: float = 2048,
    method: Method = "auto",
) -> list[np.ndarray]:
    """Per-token log-probs (natural log) of each query's forced ids, in packed forward passes.

    ``method``: ``cache`` (one causal pass, then the phrase copies against its KV cache),
    ``packed`` (sequence and copies in one masked pass per chunk; works with sliding-window
    layers), or ``auto`` (``cache`` where the model's cache allows it, else ``packed``).
    """
    import torch

    _validate(seq_ids, queries)
    if not queries:
        return []
    layout = model_layout(model)
    device = model.get_input_embeddings().weight.device
    order = sorted(range(len(queries)), key=lambda i: queries[i].context_len)
    budget = int(memory_budget_mb * 2**20)
    if method == "cache" or (method == "auto" and _cache_usable(model, layout)):
        if not _cache_usable(model, layout):
            raise ConfigError("method='cache' does not work with sliding-window or non-standard attention layers; use 'packed'.")
        results = _score_cached(model, seq_ids, queries, order, layout, device, budget)
        return [results[i] for i in range(len(queries))]
    if method not in ("auto", "packed"):
        raise ConfigError(f"Unknown scoring method {method!r}: use auto, cache or packed.")
    pending = _chunks(queries, order, layout, budget)
    results = {}
    while pending:
        chunk = pending.pop(0)
        try:
            results.update(_score_chunk(model, seq_ids, queries, chunk, layout, device))
        except torch.OutOfMemoryError:
            if len(chunk) == 1:
                raise
            torch.cuda.empty_cache()
            half = len(chunk) // 2
            log.warning("Out of GPU memory scoring %d phrase copies; splitting the chunk in two and retrying.", len(chunk))
            pending[:0] = [chunk[:half], chunk[half:]]
    return [results[i] for i in range(len(queries))]


def score_naive(model: Any, seq_ids: Sequence[int], queries: Sequence[ForceQuery]) -> list[np.ndarray]:
    """Reference: one plain forward pass over ``seq[:c] + forced`` per query."""
    import torch

    _validate(seq_ids, queries)
    device = model.get_input_embeddings().weight.device
    out: list[np.ndarray] = []
    for q in queries:
        ids = list(seq_ids[: q.context_len]) + list(q.forced_ids)
        c, L = q.context_len, len(q.forced_ids)
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([ids], device=device), use_cache=False).logits[0, c - 1 : c - 1 + L]
        rows = torch.arange(L, device=device)
        out.append(_logprobs_at(logits, rows, torch.tensor(q.forced_ids, device=device)).double().cpu().numpy())
    return out


def _validate(seq_ids: Sequence[int], queries: Sequence[ForceQuery]) -> None:
    for q in queries:
        if not q.forced_ids:
            raise ConfigError("A forced phrase tokenized to nothing; phrases must be non-empty.")
        if not 1 <= q.context_len <= len(seq_ids):
            raise ConfigError(f"context_len {q.context_len} outside the sequence (1..{len(seq_ids)}).")
