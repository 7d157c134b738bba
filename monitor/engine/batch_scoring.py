"""Token-forced scoring of several sequences in one padded forward pass.

:func:`~monitor.engine.scoring.score_packed` scores one sequence (a rollout, or a prompt at
k = 0) in passes sized for long sequences; with many short ones (k = 0 over a prompt set, or many
short rollouts) the per-pass overhead dominates. Here sequences share the rows of a batch: each
item is its tokens followed by its phrase copies, with the same mask and position ids as the
single masked pass, so it computes exactly what the model computes for ``seq[:c] + phrase``.
Short items sit side by side in one row (a block-diagonal 4D mask, position ids restarting per
item), packed first fit decreasing into rows as long as the group's longest item, so little of a
pass is padding. The output head projects only the positions some query reads. Groups are capped
in tokens and by the memory budget; out of memory halves a group.
Shapes: ``R`` rows, ``N`` the row length, ``K`` columns some row reads, ``M`` positions read.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .last_layer import last_mlp_rows
from .scoring import ForceQuery, _additive, _Copies, _validate, model_layout

__all__ = ["score_packed_batch", "fits_one_row", "read_logprobs"]

log = logging.getLogger(__name__)

Item = tuple[Sequence[int], Sequence[ForceQuery]]
_LSE_BLOCK = 64  # logits rows normalised per logsumexp call (see _gather_logprobs)
# Rows at least this long (where that pads less, see score_packed_batch), so that many short items
# (prompts at k = 0) pack several to a row and leave little padding at a row's end: on the 160
# demo prompts at k = 0 the rows held 9.6k tokens for 9.1k real ones instead of 10.6k, and the
# scoring pass took 0.118 s instead of 0.134 s (interleaved medians of 15, 2 threads); longer
# minimums (192, 256) were slower, their masks grow as N^2.
MIN_ROW = 128


def _row(seq_ids: Sequence[int], queries: Sequence[ForceQuery]) -> tuple[int, _Copies]:
    return max(q.context_len for q in queries), _Copies.of(queries, range(len(queries)))


def _layout_rows(items: Sequence[Item], info: dict[int, tuple[int, _Copies]], rows: list[list[int]], N: int):
    """Ids, position ids, the (R, N, N) bool mask of a packed group, and where each item sits.

    Row ``r`` holds the items ``rows[r]`` side by side from position 0, each its sequence prefix
    then its copies, the rest padding. Each position gets a segment: its own for padding, one per
    item for that item's prefix, one per query for that query's copies. A position sees the
    earlier positions of its segment (padding itself only, a prefix causally, a copy its query's
    earlier copies), and a copy also sees its item's prefix up to its context length, so no item
    sees another: each computes what the single masked pass computes for it alone. Position ids
    restart at 0 for every item. Built as arrays, without R x N x N work in Python.
    """
    import torch

    R = len(rows)
    ids = np.zeros((R, N), dtype=np.int64)
    pos = np.zeros((R, N), dtype=np.int64)
    seg = np.tile(-1 - np.arange(N, dtype=np.int64), (R, 1))  # padding: a segment per position
    lo = np.zeros((R, N), dtype=np.int64)  # a copy sees prefix positions [lo, hi)
    hi = np.zeros((R, N), dtype=np.int64)
    place: dict[int, tuple[int, int]] = {}
    for r, row in enumerate(rows):
        off = 0
        s = 0  # segment ids of this row, unique per item and query
        for i in row:
            seq = items[i][0]
            T, c = info[i]
            place[i] = (r, off)
            ids[r, off : off + T] = seq[:T]
            pos[r, off : off + T] = np.arange(T)
            seg[r, off : off + T] = s
            lo[r, off : off + T] = hi[r, off : off + T] = off
            end = off + T + len(c.tok)
            if c.tok:
                ids[r, off + T : end] = c.tok
                pos[r, off + T : end] = c.pos
                seg[r, off + T : end] = s + 1 + np.asarray(c.qid)
                lo[r, off + T : end] = off
                hi[r, off + T : end] = off + np.asarray(c.ctx)
            s += 1 + len(items[i][1])
            off = end
    seg_t, lo_t, hi_t = torch.from_numpy(seg), torch.from_numpy(lo), torch.from_numpy(hi)
    j = torch.arange(N)
    allowed = (seg_t[:, :, None] == seg_t[:, None, :]) & (j[None, None, :] <= j[None, :, None])
    allowed |= (j[None, None, :] >= lo_t[:, :, None]) & (j[None, None, :] < hi_t[:, :, None])
    return torch.from_numpy(ids), torch.from_numpy(pos), allowed, place


def _additive_rows(allowed, dtype):
    """(R, q, k) bool -> (R, 1, q, k) additive float mask (eager attention needs additive)."""
    return _additive(allowed, dtype)[0].transpose(0, 1)


def _score_group(model, items: Sequence[Item], rows: list[list[int]], layout, device) -> dict[int, list[np.ndarray]]:
    """Log-probs of the items packed into ``rows`` (indices into ``items``), by item index."""
    import torch

    info = {i: _row(*items[i]) for row in rows for i in row}
    N = max(sum(info[i][0] + len(info[i][1].tok) for i in row) for row in rows)
    ids, pos, allowed, place = _layout_rows(items, info, rows, N)
    ids, pos, allowed = ids.to(device), pos.to(device), allowed.to(device)
    if layout.sliding_window:
        # Position ids restart per item, and items never see each other, so the distance of two
        # positions that see each other is their distance within the item.
        within = (pos[:, :, None] - pos[:, None, :]) < layout.sliding_window
        attention_mask: Any = {"full_attention": _additive_rows(allowed, model.dtype), "sliding_attention": _additive_rows(allowed & within, model.dtype)}
    else:
        attention_mask = _additive_rows(allowed, model.dtype)
    # Every log-prob the group's queries read, as (flat position r * N + column, target).
    flat: list[int] = []
    targets: list[int] = []
    spans: dict[int, list[tuple[int, int]]] = {}
    for row in rows:
        for i in row:
            r, off = place[i]
            T, _ = info[i]
            base = r * N + off
            item_spans = []
            start = base + T  # the copies of query k follow those of queries < k
            for q in items[i][1]:
                a = len(targets)
                flat.append(base + q.context_len - 1)
                targets.append(q.forced_ids[0])
                L = len(q.forced_ids)
                flat.extend(range(start, start + L - 1))
                targets.extend(q.forced_ids[1:])
                start += L - 1
                item_spans.append((a, a + L))
            spans[i] = item_spans
    keep = sorted({f % N for f in flat})  # columns some row reads: what logits_to_keep projects
    col = {p: k for k, p in enumerate(keep)}
    kflat = [(f // N) * len(keep) + col[f % N] for f in flat]  # in the (R, K) kept layout
    read = torch.tensor(sorted(set(flat)), dtype=torch.long, device=device)
    with last_mlp_rows(model, read, (len(rows), N)):
        lp = read_logprobs(
            model, lambda: model(
                input_ids=ids, position_ids=pos, attention_mask=attention_mask,
                logits_to_keep=torch.tensor(keep, dtype=torch.long, device=device), use_cache=False,
            ).logits,
            kflat, targets, (len(rows), len(keep)), device,
        )
    return {i: [lp[a:b] for a, b in s] for i, s in spans.items()}


def read_logprobs(model, forward, flat: list[int], targets: list[int], shape: tuple[int, int], device) -> np.ndarray:
    """``log_softmax(logits)[target]`` at each flat position of ``forward()``'s ``shape`` = (R, K)
    head positions, the head projecting only the distinct positions read (:func:`_only_rows`; each
    normalised once). ``forward`` is a model call returning its logits."""
    import torch

    uniq = sorted(set(flat))
    at = {f: u for u, f in enumerate(uniq)}
    idx = torch.tensor(uniq, dtype=torch.long, device=device)
    with torch.inference_mode(), _only_rows(model, idx, shape) as hooked:
        logits = forward()
        if hooked():
            logits = logits[0]  # (M, V): the head projected exactly the rows read
        else:  # (R, K, V): a model whose head the hook did not see
            logits = logits.reshape(-1, logits.shape[-1])[idx]
        return _gather_logprobs(logits, [at[f] for f in flat], targets, device)


@contextmanager
def _only_rows(model, rows, shape: tuple[int, int]):
    """Within the block, the output head of ``model`` projects only ``rows`` of its flattened
    input (in this thread): a packed row's items read logits at different columns, and the union
    of columns times the rows would project many logits nobody reads. The model's own head and
    its post-processing (e.g. Gemma's logit soft-capping) still run, on ``(1, M, H)``. Yields a
    callable telling whether the head was called on the ``shape`` = (R, K) kept positions (a model
    without ``get_output_embeddings``, or one that projects other hidden states, keeps its
    ``(R, K, V)`` logits; a head input of any other shape is left alone)."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is None:
        yield lambda: False
        return
    me = threading.get_ident()
    fired = []

    def pre(_module, args):
        if threading.get_ident() != me or fired or not args or getattr(args[0], "dim", lambda: 0)() != 3 or tuple(args[0].shape[:2]) != shape:
            return None
        fired.append(True)
        h = args[0]
        return (h.reshape(-1, h.shape[-1])[rows][None],) + tuple(args[1:])

    handle = head.register_forward_pre_hook(pre)
    try:
        yield lambda: bool(fired)
    finally:
        handle.remove()


def _gather_logprobs(logits, rows: list[int], targets: list[int], device) -> np.ndarray:
    """``log_softmax(logits[r])[t]`` in fp32 for each (r, t), as float64 numpy; each logits row is
    normalised once, as :func:`~monitor.engine.scoring._logprobs_at` does."""
    import torch

    rows_t = torch.tensor(rows, dtype=torch.long, device=device)
    tgt = torch.tensor(targets, dtype=torch.long, device=device)
    # Normalised in blocks of rows: one logsumexp over thousands of vocabulary rows runs out of
    # cache and is slower on CPU than the same rows a block at a time (per-row results are equal).
    lse = torch.cat([torch.logsumexp(logits[i : i + _LSE_BLOCK].float(), dim=-1) for i in range(0, logits.shape[0], _LSE_BLOCK)])
    return (logits[rows_t, tgt].float() - lse[rows_t]).double().cpu().numpy()


def _estimate(rows: int, n: int, kept: int, layout) -> int:
    """Bytes of one group: attention scores and masks (R x N x N), ``kept`` logits rows (x V)."""
    return rows * n * n * (layout.heads + 2) * 4 + kept * layout.vocab * 8


def _kept_rows(queries: Sequence[ForceQuery], copies: _Copies) -> int:
    return len(copies.tok) + len({q.context_len for q in queries})


def fits_one_row(model: Any, seq_ids: Sequence[int], queries: Sequence[ForceQuery], *, memory_budget_mb: float = 2048) -> bool:
    """Whether one sequence with all its copies fits one pass under the budget (else score it
    with :func:`score_packed`, which chunks the copies)."""
    if not queries:
        return True
    T, c = _row(seq_ids, queries)
    return _estimate(1, T + len(c.tok), _kept_rows(queries, c), model_layout(model)) <= memory_budget_mb * 2**20


@dataclass
class _Group:
    n: int  # row length: the group's longest item
    rows: list[list[int]] = field(default_factory=list)
    fill: list[int] = field(default_factory=list)
    kept: int = 0


def _sizes(items: Sequence[Item], todo: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Each item's row tokens (sequence prefix + copies) and kept logits rows."""
    size = {}
    for i in todo:
        T, c = _row(*items[i])
        size[i] = (T + len(c.tok), _kept_rows(items[i][1], c))
    return size


def _plan(items: Sequence[Item], todo: list[int], layout, budget: int, max_rows: int, max_tokens: int,
          min_row: int = 0, size: dict[int, tuple[int, int]] | None = None) -> list[list[list[int]]]:
    """Groups of rows of item indices: first fit decreasing into rows as long as each group's longest
    item, and at least ``min_row`` tokens.

    Items are taken longest first; each goes into the first row of any group with room left for
    it (the padding it replaces is computed anyway, so filling it costs nothing but its logits),
    else into a new row of the newest group, else it opens a group of its own length. Rows × length
    is capped by ``max_tokens`` (past a few thousand the R x N x N mask costs more than the
    per-pass overhead it saves), rows by ``max_rows``, and the estimate by the budget. The group's
    row length never grows, so its attention cost is fixed when it opens.
    """
    size = size if size is not None else _sizes(items, todo)
    groups: list[_Group] = []
    for i in sorted(todo, key=lambda i: (-size[i][0], i)):
        n, k = size[i]
        placed = False
        for g in groups:
            if _estimate(len(g.rows), g.n, g.kept + k, layout) > budget:
                continue
            r = next((r for r, f in enumerate(g.fill) if f + n <= g.n), None)
            if r is not None:
                g.rows[r].append(i)
                g.fill[r] += n
                g.kept += k
                placed = True
                break
        if placed:
            continue
        g = groups[-1] if groups else None
        R = len(g.rows) + 1 if g else 0
        if g is None or R > max_rows or R * g.n > max_tokens or _estimate(R, g.n, g.kept + k, layout) > budget:
            g = _Group(max(n, min(min_row, max_tokens)))
            groups.append(g)
        g.rows.append([i])
        g.fill.append(n)
        g.kept += k
    return [g.rows for g in groups]


def _padded(plan: list[list[list[int]]], size: dict[int, tuple[int, int]]) -> int:
    """Tokens the plan's passes compute: each group's rows x its longest row (as _score_group lays
    them out); ``size`` from :func:`_sizes`."""
    return sum(len(g) * max(sum(size[i][0] for i in r) for r in g) for g in plan)


def score_packed_batch(
    model: Any, items: Sequence[Item], *, memory_budget_mb: float = 2048, max_rows: int = 256, max_tokens: int = 2048,
    min_row: int = MIN_ROW,
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
    budget = int(memory_budget_mb * 2**20)
    # Rows of at least ``min_row`` tokens pack short items more tightly when there are many of them
    # and waste a row's end when there are few: the plan with fewer padded tokens is taken.
    size = _sizes(items, todo)
    pending = min((_plan(items, todo, layout, budget, max_rows, max_tokens, m, size) for m in {0, min_row}),
                  key=lambda plan: (_padded(plan, size), -len(plan)))
    while pending:
        rows = pending.pop(0)
        try:
            results.update(_score_group(model, items, rows, layout, device))
        except torch.OutOfMemoryError:
            n = sum(len(row) for row in rows)
            if n == 1:
                raise
            torch.cuda.empty_cache()
            log.warning("Out of GPU memory scoring %d sequences together; splitting them in two and retrying.", n)
            if len(rows) > 1:
                pending[:0] = [rows[: len(rows) // 2], rows[len(rows) // 2 :]]
            else:
                pending[:0] = [[rows[0][: len(rows[0]) // 2]], [rows[0][len(rows[0]) // 2 :]]]
    return [results[i] for i in range(len(items))]
