"""Token-forced scoring of several sequences in one padded forward pass.

:func:`~monitor.engine.scoring.score_packed` scores one sequence (a rollout, or a prompt at
k = 0) in passes sized for long sequences; with many short ones (k = 0 over a prompt set, or many
short rollouts) the per-pass overhead dominates. Here each sequence becomes one row of a batch:
its tokens followed by its phrase copies, with the same 4D mask and position ids as the single
masked pass, so each row computes exactly what the model computes for ``seq[:c] + phrase``.
Rows are *left*-padded so that every row's copies end at the last position: the rows whose logits
are read then sit at the end of the batch, and ``logits_to_keep`` projects only those to the
vocabulary. Rows are grouped by length under the memory budget; out of memory halves a group.
Shapes: ``R`` rows, ``N`` the longest row (sequence prefix + copies), ``K`` positions kept.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from .scoring import ForceQuery, _additive, _Copies, _validate, model_layout

__all__ = ["score_packed_batch", "fits_one_row"]

log = logging.getLogger(__name__)

Item = tuple[Sequence[int], Sequence[ForceQuery]]
_LSE_BLOCK = 64  # logits rows normalised per logsumexp call (see _gather_logprobs)


def _row(seq_ids: Sequence[int], queries: Sequence[ForceQuery]) -> tuple[int, _Copies]:
    return max(q.context_len for q in queries), _Copies.of(queries, range(len(queries)))


def _kept(rows: list[tuple[int, _Copies]], queries: list[Sequence[ForceQuery]], N: int) -> list[int]:
    """Positions (in the left-padded batch) whose logits are read by some row."""
    keep: set[int] = set()
    for (T, c), qs in zip(rows, queries):
        off = N - T - len(c.tok)
        keep.update(off + q.context_len - 1 for q in qs)
        keep.update(range(off + T, N))
    return sorted(keep)


def _additive_rows(allowed, dtype):
    """(R, q, k) bool -> (R, 1, q, k) additive float mask (eager attention needs additive)."""
    return _additive(allowed, dtype)[0].transpose(0, 1)


def _layout_rows(items: list[Item], rows: list[tuple[int, _Copies]], N: int):
    """Ids, position ids and the (R, N, N) bool mask of a left-padded group, built as arrays.

    Each position gets a segment: its own for padding, 0 for the sequence prefix, one per query
    for that query's copies. A position sees the earlier positions of its segment (padding itself
    only, the prefix causally, a copy its query's earlier copies), and a copy also sees the prefix
    up to its context length. The same mask the per-row construction in :func:`score_packed`'s
    single pass builds, without R x N x N work in Python.
    """
    import torch

    R = len(items)
    ids = np.zeros((R, N), dtype=np.int64)
    pos = np.zeros((R, N), dtype=np.int64)
    seg = np.tile(-1 - np.arange(N, dtype=np.int64), (R, 1))  # padding: a segment per position
    lim = np.zeros((R, N), dtype=np.int64)  # a copy sees prefix positions [off, lim)
    offs = np.zeros(R, dtype=np.int64)
    for r, ((seq, _), (T, c)) in enumerate(zip(items, rows)):
        off = N - T - len(c.tok)
        offs[r] = off
        ids[r, off : off + T] = seq[:T]
        pos[r, off : off + T] = np.arange(T)
        seg[r, off : off + T] = 0
        lim[r, :] = off
        if c.tok:
            ids[r, off + T :] = c.tok
            pos[r, off + T :] = c.pos
            seg[r, off + T :] = np.asarray(c.qid) + 1
            lim[r, off + T :] = off + np.asarray(c.ctx)
    seg_t, lim_t = torch.from_numpy(seg), torch.from_numpy(lim)
    j = torch.arange(N)
    allowed = (seg_t[:, :, None] == seg_t[:, None, :]) & (j[None, None, :] <= j[None, :, None])
    allowed |= (j[None, None, :] >= torch.from_numpy(offs)[:, None, None]) & (j[None, None, :] < lim_t[:, :, None])
    return torch.from_numpy(ids), torch.from_numpy(pos), allowed


def _score_group(model, items: list[Item], layout, device) -> list[list[np.ndarray]]:
    import torch

    rows = [_row(s, q) for s, q in items]
    N = max(T + len(c.tok) for T, c in rows)
    ids, pos, allowed = _layout_rows(items, rows, N)
    ids, pos, allowed = ids.to(device), pos.to(device), allowed.to(device)
    if layout.sliding_window:
        within = (pos[:, :, None] - pos[:, None, :]) < layout.sliding_window
        attention_mask: Any = {"full_attention": _additive_rows(allowed, model.dtype), "sliding_attention": _additive_rows(allowed & within, model.dtype)}
    else:
        attention_mask = _additive_rows(allowed, model.dtype)
    keep = _kept(rows, [q for _, q in items], N)
    col = {p: k for k, p in enumerate(keep)}
    # Every log-prob the group's queries read, as (row, kept column, target): one gather and one
    # log-softmax normaliser per distinct logits row for the whole group (not per row and query).
    b_rows: list[int] = []
    b_cols: list[int] = []
    targets: list[int] = []
    spans: list[list[tuple[int, int]]] = []
    for r, ((_, qs), (T, c)) in enumerate(zip(items, rows)):
        off = N - T - len(c.tok)
        row_spans = []
        start = off + T  # the copies of query k follow those of queries < k
        for q in qs:
            a = len(targets)
            b_rows.append(r)
            b_cols.append(col[off + q.context_len - 1])
            targets.append(q.forced_ids[0])
            L = len(q.forced_ids)
            b_rows.extend([r] * (L - 1))
            b_cols.extend(col[p] for p in range(start, start + L - 1))
            targets.extend(q.forced_ids[1:])
            start += L - 1
            row_spans.append((a, a + L))
        spans.append(row_spans)
    with torch.inference_mode():
        logits = model(
            input_ids=ids, position_ids=pos, attention_mask=attention_mask,
            logits_to_keep=torch.tensor(keep, dtype=torch.long, device=device), use_cache=False,
        ).logits  # (R, K, V)
        lp = _gather_logprobs(logits, b_rows, b_cols, targets, device)
    return [[lp[a:b] for a, b in row_spans] for row_spans in spans]


def _gather_logprobs(logits, b_rows: list[int], b_cols: list[int], targets: list[int], device) -> np.ndarray:
    """``log_softmax(logits[b, k])[t]`` in fp32 for each (b, k, t), as float64 numpy; each distinct
    (b, k) row is normalised once, as :func:`~monitor.engine.scoring._logprobs_at` does."""
    import torch

    flat = [b * logits.shape[1] + k for b, k in zip(b_rows, b_cols)]
    uniq = sorted(set(flat))
    at = {f: i for i, f in enumerate(uniq)}
    flat_logits = logits.reshape(-1, logits.shape[-1])
    idx = torch.tensor(uniq, dtype=torch.long, device=device)
    tgt = torch.tensor(targets, dtype=torch.long, device=device)
    rows = torch.tensor([at[f] for f in flat], dtype=torch.long, device=device)
    # Normalised in blocks of rows: one logsumexp over thousands of vocabulary rows runs out of
    # cache and is slower on CPU than the same rows a block at a time (per-row results are equal).
    lse = torch.cat([torch.logsumexp(flat_logits[idx[i : i + _LSE_BLOCK]].float(), dim=-1) for i in range(0, len(uniq), _LSE_BLOCK)])
    return (flat_logits[idx[rows], tgt].float() - lse[rows]).double().cpu().numpy()


def _estimate(rows: int, n: int, kept_per_row: int, layout) -> int:
    """Bytes of one group: attention scores and masks (R x N x N), kept logits (R x K x V)."""
    return rows * n * n * (layout.heads + 2) * 4 + rows * kept_per_row * layout.vocab * 8


def fits_one_row(model: Any, seq_ids: Sequence[int], queries: Sequence[ForceQuery], *, memory_budget_mb: float = 2048) -> bool:
    """Whether one sequence with all its copies fits one pass under the budget (else score it
    with :func:`score_packed`, which chunks the copies)."""
    if not queries:
        return True
    T, c = _row(seq_ids, queries)
    return _estimate(1, T + len(c.tok), len(c.tok) + len({q.context_len for q in queries}), model_layout(model)) <= memory_budget_mb * 2**20


def _groups(items: Sequence[Item], order: list[int], layout, budget: int, max_rows: int, max_tokens: int) -> list[list[int]]:
    groups: list[list[int]] = []
    cur: list[int] = []
    kept = 0
    for i in order:
        seq, qs = items[i]
        T, c = _row(seq, qs)
        n = T + len(c.tok)  # ascending: the new item is the group's longest
        rows = len(cur) + 1
        kept = max(kept, len(c.tok) + len({q.context_len for q in qs}))
        est = _estimate(rows, n, kept, layout)
        # Padded tokens cap the group too: past a few thousand, the R x N x N mask costs more than
        # the per-pass overhead it saves.
        if cur and (est > budget or len(cur) >= max_rows or rows * n > max_tokens):
            groups.append(cur)
            cur = []
            kept = len(c.tok) + len({q.context_len for q in qs})
        cur.append(i)
    if cur:
        groups.append(cur)
    return groups


def score_packed_batch(
    model: Any, items: Sequence[Item], *, memory_budget_mb: float = 2048, max_rows: int = 256, max_tokens: int = 2048
) -> list[list[np.ndarray]]:
    """Per-token log-probs for each item's queries: ``items[i] = (seq_ids, queries)``, result
    ``[i][j]`` for ``items[i][1][j]``; as :func:`score_packed` would give one item at a time."""
    import torch

    for seq, qs in items:
        _validate(seq, qs)
    layout = model_layout(model)
    device = model.get_input_embeddings().weight.device
    results: dict[int, list[np.ndarray]] = {i: [] for i, (_, qs) in enumerate(items) if not qs}
    todo = [i for i, (_, qs) in enumerate(items) if qs]
    todo.sort(key=lambda i: max(q.context_len for q in items[i][1]) + sum(len(q.forced_ids) - 1 for q in items[i][1]))
    pending = _groups(items, todo, layout, int(memory_budget_mb * 2**20), max_rows, max_tokens)
    while pending:
        group = pending.pop(0)
        try:
            for i, res in zip(group, _score_group(model, [items[i] for i in group], layout, device)):
                results[i] = res
        except torch.OutOfMemoryError:
            if len(group) == 1:
                raise
            torch.cuda.empty_cache()
            log.warning("Out of GPU memory scoring %d sequences together; splitting them in two and retrying.", len(group))
            pending[:0] = [group[: len(group) // 2], group[len(group) // 2 :]]
    return [results[i] for i in range(len(items))]
