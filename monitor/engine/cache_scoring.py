"""Token-forced scoring of rollouts against the keys/values their generation already computed.

:func:`~monitor.engine.batch_scoring.score_packed_batch` recomputes each rollout's prompt and
completion before its phrase copies; the generation computed those keys and values already
(:func:`~monitor.engine.rollouts.generate_rollouts` with ``keep_kv=True``). Here a row is one
rollout's cache (left-padded to the group's longest) and, as new tokens, for each distinct
boundary ``c`` the boundary token ``seq[c - 1]`` at position ``c - 1`` (its logits give every
first forced token's log-prob there: the generation never kept full-vocabulary logits) followed by
each query's ``forced_ids[:-1]`` at positions ``c, c + 1, ...``. The mask lets the boundary token
see cached positions ``< c - 1`` and itself, and a copy see those, its boundary token and its own
query's earlier copies: exactly the context of ``seq[:c] + phrase`` (the cached token at ``c - 1``
is replaced by the re-fed one, which computes the same keys). Shapes: ``R`` rows, ``P`` padded
cache positions, ``Q`` new tokens per row (right-padded), ``V`` vocabulary.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .batch_scoring import read_logprobs
from .rollouts import _PASS_COST_TOKENS, RolloutKV, _buffered_cache, groups_from_cuts
from .scoring import ForceQuery, _additive, _cache_argument, _validate, model_layout

__all__ = ["score_against_cache", "cache_covers"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _NewTokens:
    """One row's new tokens: per distinct context a boundary token, then its queries' copies."""

    tok: list[int]
    pos: list[int]
    grp: list[int]
    """Index of the token's context (its boundary token) in the row."""
    qid: list[int]
    """The query a copy belongs to; -1 for a boundary token."""
    reads: list[tuple[int, int]]
    """(token index, target id) for every log-prob the row's queries read, query by query."""
    spans: list[tuple[int, int]]
    """Query j's log-probs are ``reads[a:b]``."""
    cached: int
    """Cache positions the row needs: up to its last boundary token's position."""

    @classmethod
    def of(cls, seq: Sequence[int], queries: Sequence[ForceQuery]) -> "_NewTokens":
        tok: list[int] = []
        pos: list[int] = []
        grp: list[int] = []
        qid: list[int] = []
        at: dict[int, int] = {}  # context length -> its boundary token's index
        copies: dict[int, list[int]] = {}  # query -> its copies' indices
        by_ctx: dict[int, list[int]] = {}
        for j, q in enumerate(queries):
            by_ctx.setdefault(q.context_len, []).append(j)
        for g, (c, js) in enumerate(sorted(by_ctx.items())):
            at[c] = len(tok)
            tok.append(int(seq[c - 1]))
            pos.append(c - 1)
            grp.append(g)
            qid.append(-1)
            for j in js:
                copies[j] = []
                for k, t in enumerate(queries[j].forced_ids[:-1]):
                    copies[j].append(len(tok))
                    tok.append(int(t))
                    pos.append(c + k)
                    grp.append(g)
                    qid.append(j)
        reads: list[tuple[int, int]] = []
        spans: list[tuple[int, int]] = []
        for j, q in enumerate(queries):
            a = len(reads)
            reads.append((at[q.context_len], q.forced_ids[0]))
            reads.extend(zip(copies[j], q.forced_ids[1:]))
            spans.append((a, len(reads)))
        return cls(tok, pos, grp, qid, reads, spans, max(by_ctx) - 1)


def cache_covers(seq: Sequence[int], queries: Sequence[ForceQuery], kv: RolloutKV | None) -> bool:
    """Whether ``kv`` holds every position the queries' contexts need (positions < c - 1)."""
    if kv is None:
        return False
    if not queries:
        return True
    return max(q.context_len for q in queries) - 1 <= kv[0][0].shape[-2]


def _estimate(rows: int, cached: int, new: int, layout, kv_bytes_per_pos: int) -> int:
    """Bytes of one group: attention scores and masks (R x Q x (P + Q)), all new tokens' logits
    (R x Q x V, and their fp32 normalisation), the padded cache (R x (P + Q))."""
    n = cached + new
    return rows * new * n * (layout.heads + 2) * 4 + rows * new * layout.vocab * 8 + rows * n * kv_bytes_per_pos


def _kv_bytes_per_pos(kv: RolloutKV) -> int:
    return sum(k.shape[0] * k.shape[-1] * k.element_size() + v.shape[0] * v.shape[-1] * v.element_size() for k, v in kv)


def _groups(model, order: list[int], news: dict[int, _NewTokens], kv_bytes_per_pos: int, layout, budget: int, max_rows: int) -> list[list[int]]:
    """Rows (``order``: ascending cache length) cut into groups by an exact dynamic programme.

    A group computes every row to its longest new-token list, each against its longest cache: one
    group of all rows pays for the short rows' padding (a fifth of the demo unit's new tokens) and
    for attention over the longest cache; many groups pay a pass each. Cost of a group, in
    token-passes: ``R x Q x (1 + (P + Q) x pair) + pass``, ``pair`` = one query-key product of
    every layer against a token's whole forward (~ the parameter count). Groups over the memory
    budget or ``max_rows`` are not allowed (a single row always is).
    """
    cfg = getattr(model.config, "text_config", None) or model.config
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    pair = 2 * cfg.num_hidden_layers * cfg.num_attention_heads * head_dim / max(1, sum(p.numel() for p in model.parameters()))
    n = len(order)
    best = [0.0] + [float("inf")] * n  # best[j]: cost of the first j rows
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        P = news[order[j - 1]].cached  # ascending: the longest cache of any group ending at j
        q = 0
        for i in range(j - 1, -1, -1):  # the group order[i:j]
            q = max(q, len(news[order[i]].tok))
            R = j - i
            if R > 1 and (R > max_rows or _estimate(R, P, q, layout, kv_bytes_per_pos) > budget):
                break
            c = best[i] + R * q * (1 + (P + q) * pair) + _PASS_COST_TOKENS
            if c < best[j]:
                best[j], cut[j] = c, i
    return groups_from_cuts(order, cut)


def _score_group(model, kvs, news: list[_NewTokens], device) -> list[list[np.ndarray]]:
    import torch
    from torch.nn.utils.rnn import pad_sequence

    R = len(news)
    P = max(n.cached for n in news)
    Q = max(len(n.tok) for n in news)
    ids = np.zeros((R, Q), dtype=np.int64)
    pos = np.zeros((R, Q), dtype=np.int64)
    grp = np.full((R, Q), -1, dtype=np.int64)
    qid = np.full((R, Q), -2, dtype=np.int64)
    lim = np.zeros((R, Q), dtype=np.int64)  # a new token sees padded cache columns [P - cached, lim)
    start = np.zeros(R, dtype=np.int64)
    for r, n in enumerate(news):
        m = len(n.tok)
        ids[r, :m], pos[r, :m], grp[r, :m], qid[r, :m] = n.tok, n.pos, n.grp, n.qid
        start[r] = P - n.cached
        lim[r, :m] = start[r] + np.asarray(n.pos)[np.asarray(n.qid) == -1][np.asarray(n.grp)]
        lim[r, m:] = start[r]  # padding tokens see themselves only
    j = torch.arange(P)
    allowed_cache = (j[None, None, :] >= torch.from_numpy(start)[:, None, None]) & (j[None, None, :] < torch.from_numpy(lim)[:, :, None])
    grp_t, qid_t = torch.from_numpy(grp), torch.from_numpy(qid)
    i = torch.arange(Q)
    causal = i[None, None, :] <= i[None, :, None]
    same_grp = (grp_t[:, :, None] == grp_t[:, None, :]) & (grp_t[:, None, :] >= 0)
    # Within a context: its boundary token (qid -1), and the same query's earlier copies.
    allowed_new = (same_grp & causal & ((qid_t[:, None, :] == -1) | (qid_t[:, :, None] == qid_t[:, None, :]))) | (i[None, None, :] == i[None, :, None])
    allowed = torch.cat([allowed_cache, allowed_new], dim=-1).to(device)
    cache = _buffered_cache(model, P + Q)
    if cache is None:
        raise RuntimeError("the model's cache is not the buffered full-attention kind kept rollouts come from")
    with torch.inference_mode():
        for li, layer in enumerate(cache.layers):
            # One left-padding op per layer (zeros: masked padding must stay finite), rows as
            # (n, H, D) views; the layer copies the result into its buffer once.
            k, v = (
                pad_sequence([kvs[r][li][x][:, : n.cached].transpose(0, 1) for r, n in enumerate(news)], batch_first=True, padding_side="left")
                .permute(0, 2, 1, 3)
                for x in (0, 1)
            )
            layer.update(k, v)
    flat = [r * Q + t for r, n in enumerate(news) for t, _ in n.reads]
    targets = [int(x) for n in news for _, x in n.reads]
    lp = read_logprobs(
        model, lambda: model(
            input_ids=torch.from_numpy(ids).to(device), position_ids=torch.from_numpy(pos).to(device),
            attention_mask=_additive(allowed, model.dtype)[0].transpose(0, 1), use_cache=True,
            **{_cache_argument(model): cache},
        ).logits,
        flat, targets, (R, Q), device,
    )
    del cache
    out = []
    base = 0
    for n in news:
        out.append([lp[base + a : base + b] for a, b in n.spans])
        base += len(n.reads)
    return out


def score_against_cache(
    model: Any,
    items: Sequence[tuple[Sequence[int], Sequence[ForceQuery]]],
    kvs: Sequence[RolloutKV],
    *,
    memory_budget_mb: float = 2048,
    max_rows: int = 256,
) -> list[list[np.ndarray]]:
    """Per-token log-probs for each item's queries, ``[i][j]`` for ``items[i][1][j]``, as
    :func:`~monitor.engine.batch_scoring.score_packed_batch` gives (to float rounding between
    shapes), computed against each item's kept cache ``kvs[i]`` (every one must
    :func:`cache_covers` its item). Rows are grouped by cache length under the memory budget;
    out of memory halves a group."""
    import torch

    for (seq, qs), kv in zip(items, kvs, strict=True):
        _validate(seq, qs)
        if not cache_covers(seq, qs, kv):
            raise ValueError("a kept cache does not hold the positions its queries need; score that item with score_packed")
    layout = model_layout(model)
    device = model.get_input_embeddings().weight.device
    results: dict[int, list[np.ndarray]] = {i: [] for i, (_, qs) in enumerate(items) if not qs}
    todo = [i for i, (_, qs) in enumerate(items) if qs]
    news = {i: _NewTokens.of(items[i][0], items[i][1]) for i in todo}
    todo.sort(key=lambda i: news[i].cached)
    pending = _groups(model, todo, news, _kv_bytes_per_pos(kvs[todo[0]]) if todo else 0, layout, int(memory_budget_mb * 2**20), max_rows)
    while pending:
        group = pending.pop(0)
        try:
            got = _score_group(model, [kvs[i] for i in group], [news[i] for i in group], device)
            results.update(zip(group, got))
        except torch.OutOfMemoryError:
            if len(group) == 1:
                raise
            torch.cuda.empty_cache()
            log.warning("Out of GPU memory scoring %d rollouts against their caches; splitting them in two and retrying.", len(group))
            pending[:0] = [group[: len(group) // 2], group[len(group) // 2 :]]
    return [results[i] for i in range(len(items))]
