"""Token-forced scoring of many items in one flat pass: no padding in the matmuls, shared prefixes once.

In a decoder only attention mixes positions; embeddings, norms, MLPs and the head act on each
position alone. :mod:`~monitor.engine.batch_scoring` pads items into rows, so every padding
position costs a full pass through the MLPs, and items that begin alike (one prompt's rollouts, a
prompt set with one system prompt or chat template) compute their common start once per item.
Here the positions of all items are laid out once, flat, as one ``(1, M)`` sequence whose position
ids are each token's position in its own item, and only attention is computed per item: the
item's positions are gathered into padded blocks (a few per pass, by size), attended with the
item's own mask, and scattered back. Items are sorted by their sequences; an item shares with the
one before it the positions of their longest common prefix (a token at the same place after the
same tokens has the same hidden states), so those are computed once and only read as keys.

Each item keeps exactly the single masked pass's attention pattern (:func:`score_packed`): its
sequence causally, a phrase copy forced after ``c`` tokens sees the sequence before ``c`` and its own
earlier copies. So it computes what the model computes for ``seq[:c] + phrase``, to float rounding
between shapes. The blocks go through the model's own ``sdpa`` attention function: the model runs
under a registered attention implementation (transformers' ``AttentionInterface``) that handles
the flat pass's marker mask and hands every other call to ``sdpa`` unchanged, so another thread
using the same model meanwhile is not affected. Models on another attention implementation
(``eager``) are scored by :mod:`~monitor.engine.batch_scoring`'s rows.

Shapes: ``M`` flat positions, ``U`` items in a block, ``Nq`` / ``Nk`` the block's query / key count.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np

from .scoring import ForceQuery, _Copies, _validate, model_layout

__all__ = ["tree_supported", "score_tree", "NotFlat"]

log = logging.getLogger(__name__)

Item = tuple[Sequence[int], Sequence[ForceQuery]]
_IMPL = "monitor_flat"
_BLOCK_SLACK = 1.3  # a block's items have at least 1/1.3 of its widest item's keys (padding bound)


@dataclass
class _Unit:
    """One item's attention: its key positions (flat indices) and which of them it computes."""

    keys: np.ndarray  # (Nk,) flat index of every position the item sees: sequence, then copies
    depth: np.ndarray  # (Nk,) position id of each key
    qid: np.ndarray  # (Nk,) -1 for sequence positions, else the copy's query index
    step: np.ndarray  # (Nk,) index of a copy within its query's copies (0 for the sequence)
    limit: np.ndarray  # (Nk,) as a query, the sequence positions below this depth are visible
    home: np.ndarray  # (Nq,) indices into ``keys`` of the positions this item computes


@dataclass
class _Block:
    """Items attended together: gather indices, masks by layer type, and where outputs go."""

    q_index: Any  # (U * Nq,) flat index of each query slot (padding slots repeat a real one)
    k_index: Any  # (U * Nk,)
    masks: dict[str, Any]  # layer type -> (U, 1, Nq, Nk) bool
    out_slots: Any  # slots (in U * Nq) that hold a real query
    targets: Any  # flat index of each of those queries
    U: int
    Nq: int
    Nk: int


@dataclass
class _Pass:
    blocks: list[_Block]
    markers: dict[str, Any]  # layer type -> the marker tensor the model passes to attention
    calls: int = 0  # attention calls that took the marker: one per layer, checked after the pass


class NotFlat(RuntimeError):
    """The model did not route every layer's attention through :func:`_attention`."""


_ACTIVE: ContextVar[_Pass | None] = ContextVar("monitor_tree_pass", default=None)
_SWITCH = threading.Lock()
_USERS: dict[int, int] = {}  # id(config) -> flat passes running on it
_REFUSED: "weakref.WeakSet[Any]" = weakref.WeakSet()  # models a flat pass found not to route attention through it


def _attention(module, query, key, value, attention_mask, **kwargs):
    """The registered attention function: a flat pass's marker mask attends block by block;
    anything else is ``sdpa`` exactly as the model would have called it."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    p = _ACTIVE.get()
    kind = None
    if p is not None:
        kind = next((k for k, m in p.markers.items() if attention_mask is m), None)
    if kind is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    p.calls += 1
    # (M, heads, d): the layout the projections wrote, so the gathers below read whole rows.
    q, k, v = query[0].transpose(0, 1), key[0].transpose(0, 1), value[0].transpose(0, 1)
    result = q.new_empty((q.shape[0], q.shape[1], v.shape[2]))
    dev = q.device  # layers split over devices (device_map) each get the indices where they run
    for b in p.blocks:
        k_index = b.k_index.to(dev)
        qb = q.index_select(0, b.q_index.to(dev)).unflatten(0, (b.U, b.Nq)).transpose(1, 2)
        kb = k.index_select(0, k_index).unflatten(0, (b.U, b.Nk)).transpose(1, 2)
        vb = v.index_select(0, k_index).unflatten(0, (b.U, b.Nk)).transpose(1, 2)
        out, _ = sdpa_attention_forward(module, qb, kb, vb, b.masks[kind].to(dev), **kwargs)  # (U, Nq, H, d)
        result.index_copy_(0, b.targets.to(dev), out.flatten(0, 1).index_select(0, b.out_slots.to(dev)))
    return result[None], None


def _register() -> None:
    """Our implementation's attention, and sdpa's mask builder for it: a call that is not a flat
    pass (generation in another thread, say) gets the masks and the attention sdpa would."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    if _IMPL not in AttentionInterface._global_mapping:
        AttentionInterface.register(_IMPL, _attention)
    if _IMPL not in AttentionMaskInterface._global_mapping:
        AttentionMaskInterface.register(_IMPL, sdpa_mask)


def _configs(model) -> list[Any]:
    seen: dict[int, Any] = {}
    for m in model.modules():
        cfg = getattr(m, "config", None)
        if cfg is not None and hasattr(cfg, "_attn_implementation"):
            seen.setdefault(id(cfg), cfg)
    return list(seen.values())


def tree_supported(model: Any) -> bool:
    """Whether ``model`` can be scored flat: every attention it runs is ``sdpa`` (the flat pass
    calls it block by block; ``eager`` is model-specific and stays on the padded rows)."""
    try:
        layout = model_layout(model)
    except Exception:
        return False
    return layout.layers > 0 and model not in _REFUSED and all(c._attn_implementation in ("sdpa", _IMPL) for c in _configs(model))


@contextmanager
def _flat_attention(model):
    """Within the block the model's attention goes through :func:`_attention` (which is ``sdpa``
    for any call that is not a flat pass); counted per config, so overlapping passes in several
    threads restore ``sdpa`` only when the last one ends."""
    _register()
    configs = _configs(model)
    with _SWITCH:
        for c in configs:
            if _USERS.get(id(c), 0) == 0:
                c._attn_implementation = _IMPL
            _USERS[id(c)] = _USERS.get(id(c), 0) + 1
    try:
        yield
    finally:
        with _SWITCH:
            for c in configs:
                _USERS[id(c)] -= 1
                if _USERS[id(c)] == 0:
                    del _USERS[id(c)]
                    c._attn_implementation = "sdpa"


def _lcp(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


@dataclass
class _Flat:
    ids: np.ndarray  # (M,) token of each flat position
    pos: np.ndarray  # (M,) its position id
    units: dict[int, _Unit]  # by item index
    reads: dict[int, list[tuple[list[int], list[int]]]]  # item -> per query (flat positions, targets)


def _head(item: Item) -> list[int]:
    """The part of an item's sequence its queries see: up to its longest context."""
    seq, qs = item
    return [int(t) for t in seq[: max(q.context_len for q in qs)]]


def _lay_out(items: Sequence[Item], todo: Sequence[int]) -> _Flat:
    """Flat positions of the items ``todo``: each item's sequence up to its longest context (less
    the prefix it shares with the item before it in sorted order), then its phrase copies."""
    heads = {i: _head(items[i]) for i in todo}
    order = sorted(todo, key=lambda i: heads[i])
    ids: list[np.ndarray] = []
    pos: list[np.ndarray] = []
    M = 0
    units: dict[int, _Unit] = {}
    reads: dict[int, list[tuple[list[int], list[int]]]] = {}
    seq_nodes: dict[int, np.ndarray] = {}
    prev = None
    for i in order:
        head = heads[i]
        T = len(head)
        shared = _lcp(heads[prev], head) if prev is not None else 0
        nodes = np.concatenate([seq_nodes[prev][:shared], np.arange(M, M + T - shared)]) if shared else np.arange(M, M + T)
        ids.append(np.asarray(head[shared:], dtype=np.int64))
        pos.append(np.arange(shared, T, dtype=np.int64))
        M += T - shared
        seq_nodes[i] = nodes
        queries = items[i][1]
        c = _Copies.of(queries, range(len(queries)))
        C = len(c.tok)
        copy_nodes = np.arange(M, M + C)
        ids.append(np.asarray(c.tok, dtype=np.int64))
        pos.append(np.asarray(c.pos, dtype=np.int64))
        M += C
        units[i] = _Unit(
            keys=np.concatenate([nodes, copy_nodes]),
            depth=np.concatenate([np.arange(T), np.asarray(c.pos, dtype=np.int64)]),
            qid=np.concatenate([np.full(T, -1), np.asarray(c.qid, dtype=np.int64)]),
            step=np.concatenate([np.zeros(T, dtype=np.int64), np.asarray(c.j, dtype=np.int64)]),
            limit=np.concatenate([np.arange(1, T + 1), np.asarray(c.ctx, dtype=np.int64)]),
            home=np.arange(shared, T + C),
        )
        item_reads = []
        k = 0
        for q in queries:
            L = len(q.forced_ids)
            at = [int(nodes[q.context_len - 1])] + [int(x) for x in copy_nodes[k : k + L - 1]]
            item_reads.append((at, list(q.forced_ids)))
            k += L - 1
        reads[i] = item_reads
        prev = i
    return _Flat(np.concatenate(ids), np.concatenate(pos), units, reads)


def _group_units(units: dict[int, _Unit], heads: int, budget: int) -> list[list[int]]:
    """Items into blocks: by key count, widest first; a block holds items of at least 1/1.3 of
    its widest one's keys, as many as its attention scores fit the budget."""
    order = sorted((i for i in units if len(units[i].home)), key=lambda i: (-len(units[i].keys), i))
    blocks: list[list[int]] = []
    cur: list[int] = []
    nk = nq = 0
    for i in order:
        u = units[i]
        k, q = len(u.keys), len(u.home)
        if cur and (k * _BLOCK_SLACK < nk or (len(cur) + 1) * max(nq, q) * nk * (heads + 2) * 4 > budget):
            blocks.append(cur)
            cur, nq = [], 0
        if not cur:
            nk = k
        cur.append(i)
        nq = max(nq, q)
    if cur:
        blocks.append(cur)
    return blocks


def _block(units: dict[int, _Unit], members: list[int], layout, device) -> _Block:
    """Gather indices and masks of one block: each item's own single-pass pattern."""
    import torch

    U = len(members)
    Nk = max(len(units[i].keys) for i in members)
    Nq = max(len(units[i].home) for i in members)
    k_index = np.zeros((U, Nk), dtype=np.int64)
    kvalid = np.zeros((U, Nk), dtype=bool)
    kdepth = np.zeros((U, Nk), dtype=np.int64)
    kqid = np.full((U, Nk), -2, dtype=np.int64)
    kstep = np.zeros((U, Nk), dtype=np.int64)
    klimit = np.zeros((U, Nk), dtype=np.int64)
    q_local = np.zeros((U, Nq), dtype=np.int64)
    qvalid = np.zeros((U, Nq), dtype=bool)
    for r, i in enumerate(members):
        u = units[i]
        n, m = len(u.keys), len(u.home)
        k_index[r, :n], kvalid[r, :n], kdepth[r, :n], kqid[r, :n], kstep[r, :n], klimit[r, :n] = u.keys, True, u.depth, u.qid, u.step, u.limit
        k_index[r, n:] = u.keys[0]
        q_local[r, :m], qvalid[r, :m] = u.home, True
        q_local[r, m:] = u.home[0] if m else 0
    rows = np.arange(U)[:, None]
    q_index = k_index[rows, q_local]
    qdepth, qqid, qstep, limit = kdepth[rows, q_local], kqid[rows, q_local], kstep[rows, q_local], klimit[rows, q_local]
    # A sequence position sees the sequence up to itself; a copy the sequence before its context
    # and its own query's copies up to itself.
    t = lambda a: torch.from_numpy(a)  # noqa: E731
    kd, qd = t(kdepth)[:, None, :], t(qdepth)[:, :, None]
    seq_key = (t(kqid) == -1)[:, None, :] & (kd < t(limit)[:, :, None])
    own_copy = (t(kqid)[:, None, :] == t(qqid)[:, :, None]) & (t(qqid) >= 0)[:, :, None] & (t(kstep)[:, None, :] <= t(qstep)[:, :, None])
    allowed = (seq_key | own_copy) & t(kvalid)[:, None, :]
    allowed[:, :, 0] |= ~t(qvalid)  # a padding query sees one key, so that its softmax is defined
    masks = {}
    for kind in layout.layer_types or ("full_attention",):
        a = allowed
        if kind == "sliding_attention" and layout.sliding_window:
            a = allowed & ((qd - kd) < layout.sliding_window)
            a[:, :, 0] |= ~t(qvalid)
        masks[kind] = a[:, None].to(device)
    out_slots = np.flatnonzero(qvalid.reshape(-1))
    return _Block(t(q_index.reshape(-1)).to(device), t(k_index.reshape(-1)).to(device), masks,
                  t(out_slots).to(device), t(q_index.reshape(-1)[out_slots]).to(device), U, Nq, Nk)


def score_tree(model: Any, items: Sequence[Item], *, memory_budget_mb: float = 2048, max_tokens: int = 3072) -> list[list[np.ndarray]]:
    """Per-token log-probs for each item's queries, as :func:`score_packed` gives one item at a
    time: ``items[i] = (seq_ids, queries)``, result ``[i][j]`` for ``items[i][1][j]``. Needs
    :func:`tree_supported`. Passes hold up to ``max_tokens`` flat positions; out of memory halves
    one. An item whose own attention block would not fit the budget (a very long prompt) is scored
    alone by :func:`score_packed`, which splits its queries into chunks."""
    import torch

    from .scoring import score_packed

    for seq, qs in items:
        _validate(seq, qs)
    layout = model_layout(model)
    device = model.get_input_embeddings().weight.device
    budget = int(memory_budget_mb * 2**20)
    results: dict[int, list[np.ndarray]] = {i: [] for i, (_, qs) in enumerate(items) if not qs}
    big = [i for i, (_, qs) in enumerate(items) if qs and _block_bytes(items[i], layout) > budget]
    for i in big:
        results[i] = score_packed(model, items[i][0], items[i][1], memory_budget_mb=memory_budget_mb)
    # Sorted before they are split into passes, so that items which begin alike share a pass.
    todo = sorted((i for i, (_, qs) in enumerate(items) if qs and i not in results), key=lambda i: _head(items[i]))
    pending = _split(items, todo, layout, budget, max_tokens)
    while pending:
        part = pending.pop(0)
        try:
            results.update(_score_pass(model, items, part, layout, device, budget))
        except torch.OutOfMemoryError:
            if len(part) == 1:
                raise
            torch.cuda.empty_cache()
            log.warning("Out of GPU memory scoring %d sequences in one pass; splitting them in two and retrying.", len(part))
            pending[:0] = [part[: len(part) // 2], part[len(part) // 2 :]]
    return [results[i] for i in range(len(items))]


def _block_bytes(item: Item, layout) -> int:
    """Attention scores and masks of the item alone (its queries x its keys, at worst all of them)."""
    n = _size(item)[0]
    return n * n * (layout.heads + 2) * 4


def _size(item: Item) -> tuple[int, int]:
    """Positions (upper bound) and logits rows one item adds to a pass."""
    seq, qs = item
    copies = sum(len(q.forced_ids) - 1 for q in qs)
    return max(q.context_len for q in qs) + copies, copies + len({q.context_len for q in qs})


def _split(items: Sequence[Item], todo: list[int], layout, budget: int, max_tokens: int) -> list[list[int]]:
    """Items into passes (in order) of at most ``max_tokens`` positions and, in the worst case of
    no sharing, logits under the budget."""
    parts: list[list[int]] = []
    cur: list[int] = []
    n = rows = 0
    for i in todo:
        a, r = _size(items[i])
        if cur and (n + a > max_tokens or (rows + r) * layout.vocab * 8 > budget):
            parts.append(cur)
            cur, n, rows = [], 0, 0
        cur.append(i)
        n += a
        rows += r
    if cur:
        parts.append(cur)
    return parts


def _last_layer_mlp(model) -> Any:
    """The MLP of the model's last decoder layer (``....layers[-1].mlp``), or None if not found."""
    layers = None
    for m in model.modules():
        if hasattr(m, "layers") and len(getattr(m, "layers")) == model_layout(model).layers:
            layers = m.layers
            break
    mlp = getattr(layers[-1], "mlp", None) if layers else None
    return mlp if hasattr(mlp, "register_forward_pre_hook") else None


@contextmanager
def _last_mlp_rows(model, rows: list[int], M: int):
    """Within the block, the last decoder layer's MLP runs on ``rows`` of the flat pass only (in
    this thread): after that layer only the head reads hidden states, and only at those rows; the
    other rows keep the residual alone (never read). The MLP is most of a layer's work; at k = 0
    a fifth of the positions are read."""
    mlp = _last_layer_mlp(model)
    if mlp is None or len(rows) == M:
        yield
        return
    import torch

    me = threading.get_ident()
    index = torch.tensor(rows, dtype=torch.long)
    active: list[Any] = []

    def pre(_module, args):
        h = args[0] if args else None
        if threading.get_ident() != me or active or h is None or getattr(h, "dim", lambda: 0)() != 3 or tuple(h.shape[:2]) != (1, M):
            return None
        active.append(h)
        return (h.index_select(1, index.to(h.device)),) + tuple(args[1:])

    def post(_module, _args, out):
        if threading.get_ident() != me or not active:
            return None
        h = active.pop()
        if not isinstance(out, torch.Tensor):  # e.g. a mixture of experts returning router logits too
            _REFUSED.add(model)
            raise NotFlat(f"the last layer's MLP returns {type(out).__name__}, not hidden states alone")
        full = h.new_zeros(h.shape[:2] + out.shape[2:])
        full.index_copy_(1, index.to(out.device), out)
        return full

    handles = [mlp.register_forward_pre_hook(pre), mlp.register_forward_hook(post)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _score_pass(model, items: Sequence[Item], part: list[int], layout, device, budget: int) -> dict[int, list[np.ndarray]]:
    import torch

    from .batch_scoring import _gather_logprobs

    lay = _lay_out(items, part)
    groups = _group_units(lay.units, layout.heads, budget)
    blocks = [_block(lay.units, members, layout, device) for members in groups]
    kinds = layout.layer_types or ("full_attention",)
    markers = {k: torch.zeros((1, 1, 1, 1), dtype=torch.bool, device=device) for k in kinds}
    # Models with per-layer-type masks take a dict; others take one 4D mask as it is.
    attention_mask: Any = dict(markers) if layout.layer_types else markers["full_attention"]
    keep = sorted({p for i in part for at, _ in lay.reads[i] for p in at})
    col = {p: k for k, p in enumerate(keep)}
    flat_rows: list[int] = []
    targets: list[int] = []
    spans: dict[int, list[tuple[int, int]]] = {}
    for i in part:
        s = []
        for at, tg in lay.reads[i]:
            a = len(targets)
            flat_rows.extend(col[p] for p in at)
            targets.extend(tg)
            s.append((a, len(targets)))
        spans[i] = s
    ids = torch.from_numpy(lay.ids)[None].to(device)
    pos = torch.from_numpy(lay.pos)[None].to(device)
    state = _Pass(blocks, markers)
    token = _ACTIVE.set(state)
    try:
        with torch.inference_mode(), _flat_attention(model), _last_mlp_rows(model, keep, len(lay.ids)):
            logits = model(
                input_ids=ids, position_ids=pos, attention_mask=attention_mask,
                logits_to_keep=torch.tensor(keep, dtype=torch.long, device=device), use_cache=False,
            ).logits[0]
    finally:
        _ACTIVE.reset(token)
    if state.calls != layout.layers:
        # A layer that computed attention some other way saw the marker as a mask: its output is
        # not the model's. Never seen with transformers' own decoders; refuse rather than guess.
        _REFUSED.add(model)
        raise NotFlat(f"{state.calls} of {layout.layers} layers attended through the flat pass")
    lp = _gather_logprobs(logits, flat_rows, targets, logits.device)
    return {i: [lp[a:b] for a, b in s] for i, s in spans.items()}
