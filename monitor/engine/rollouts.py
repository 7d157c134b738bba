"""Sample chain-of-thought rollouts, keeping the sampled token ids.

A rollout's tokens depend only on (run seed, prompt id, rollout index) and the sampling settings,
never on which batch it was generated in or on its neighbours there. Each rollout owns a random
stream (a CPU ``torch.Generator`` seeded by :func:`rollout_seed`) that gives one uniform number
per generated token; the next token is the inverse-CDF draw of that number from the distribution
transformers' own warpers (temperature, then top-k, then top-p, as in ``generate``) leave.
So batches may mix prompts and rollouts freely (left-padded, length-bucketed), a resumed run
regenerates a missing rollout exactly, and workers on other machines reproduce it too.

What can still differ is floating-point rounding between batch shapes: a padded batch computes
the same logits to ~1e-6, not bit for bit, so a draw that lands within that distance of a
boundary between two tokens' probability intervals can flip. On CPU in fp32 this is rare; on a
GPU (other kernels per batch size, bf16) it is more frequent, and a rollout reproduces exactly only
with the same batch composition.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .chat import RenderedPrompt, ThinkMarkers, cot_span
from .scoring import _cache_argument

__all__ = [
    "FinishReason", "Rollout", "RolloutRequest", "rollout_seed", "generate_rollouts", "sample_rollouts",
    "RolloutKV", "make_rollout", "next_token_probs", "draw_tokens", "sample_tokens", "unapplied_generation_settings",
]

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class Rollout:
    """One sampled reply to a prompt."""

    prompt_id: str
    """The prompt it answers."""
    rollout: int
    """Index among the prompt's rollouts (0..k-1)."""
    seed: int
    """Seed of this rollout's random stream (:func:`rollout_seed`)."""
    prompt_token_ids: tuple[int, ...]
    """The rendered prompt's ids (the generation prompt included)."""
    completion_token_ids: tuple[int, ...]
    """Sampled ids, the end-of-sequence token included when one was sampled."""
    completion_text: str
    """Decoded completion (special tokens kept, the final EOS dropped)."""
    cot_char_start: int
    """Start of the CoT in ``completion_text``."""
    cot_char_end: int
    """End of the CoT in ``completion_text``."""
    finish_reason: FinishReason
    """``stop`` (EOS sampled) or ``length`` (max_new_tokens reached)."""
    cot_truncated: bool
    """True if the CoT never closed (cut off, or the model stopped inside it); a whole-reply CoT: cut off by the budget."""
    think_opened: bool
    """True if the chat template opened the think block (the reply starts inside the CoT)."""

    @property
    def cot_text(self) -> str:
        """The chain of thought, without markers and surrounding whitespace."""
        return self.completion_text[self.cot_char_start : self.cot_char_end]


@dataclass(frozen=True)
class RolloutRequest:
    """One rollout to generate: which prompt, which index, and the prompt's rendered ids."""

    prompt_id: str
    """The prompt's id (part of the rollout's seed)."""
    rollout: int
    """The rollout's index among the prompt's rollouts (part of its seed)."""
    rendered: RenderedPrompt
    """The prompt rendered by the chat template."""


def rollout_seed(seed: int, prompt_id: str, rollout: int) -> int:
    """A 63-bit seed for one rollout, stable across processes, machines and Python versions."""
    digest = hashlib.sha256(f"{seed}\x00{prompt_id}\x00{rollout}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


# generation_config fields whose logits processors our sampling loop does not apply, with the value
# at which each has no effect. Temperature / top-k / top-p and the EOS ids are applied.
_NEUTRAL_GENERATION_SETTINGS: dict[str, Any] = {
    "repetition_penalty": 1.0, "min_p": None, "typical_p": 1.0, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0,
    "no_repeat_ngram_size": 0, "bad_words_ids": None, "suppress_tokens": None, "begin_suppress_tokens": None,
    "sequence_bias": None, "forced_bos_token_id": None, "forced_eos_token_id": None, "min_new_tokens": None,
}


def unapplied_generation_settings(model: Any) -> dict[str, Any]:
    """The model's ``generation_config`` settings that change sampling but that this loop ignores.

    ``generate`` would apply them (a repetition penalty, suppressed tokens, ...); the monitor's
    rollouts follow temperature, top-k and top-p only, so a run says so rather than silently
    sampling from another distribution than the model's defaults describe.
    """
    cfg = getattr(model, "generation_config", None)
    out = {}
    for name, neutral in _NEUTRAL_GENERATION_SETTINGS.items():
        value = getattr(cfg, name, neutral)
        if value is not None and value != neutral and value != []:
            out[name] = value
    return out


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for src in (gen_eos, tokenizer.eos_token_id):
        if isinstance(src, int):
            ids.add(src)
        elif src:
            ids.update(int(i) for i in src)
    return ids


def make_rollout(
    tokenizer: Any,
    *,
    prompt_id: str,
    rollout: int,
    seed: int,
    rendered: RenderedPrompt,
    completion_ids: Sequence[int],
    eos_ids: set[int],
    markers: ThinkMarkers,
) -> Rollout:
    """Build the record for one completion: cut at the first EOS, decode, locate the CoT."""
    ids = [int(i) for i in completion_ids]
    stop = next((i for i, t in enumerate(ids) if t in eos_ids), None)
    finish: FinishReason = "stop" if stop is not None else "length"
    if stop is not None:
        ids = ids[: stop + 1]
    body = ids[:-1] if finish == "stop" else ids
    text = tokenizer.decode(body, skip_special_tokens=False, clean_up_tokenization_spaces=False)
    start, end, truncated = cot_span(text, markers, think_opened=rendered.think_opened)
    if markers.open is None and finish == "length":
        truncated = True  # a whole-reply CoT has no close marker: the budget cut it off
    return Rollout(
        prompt_id=prompt_id,
        rollout=rollout,
        seed=seed,
        prompt_token_ids=rendered.token_ids,
        completion_token_ids=tuple(ids),
        completion_text=text,
        cot_char_start=start,
        cot_char_end=end,
        finish_reason=finish,
        cot_truncated=truncated,
        think_opened=rendered.think_opened,
    )


def next_token_probs(logits: Any, *, temperature: float, top_p: float, top_k: int) -> Any:
    """(B, V) logits -> (B, V) fp32 sampling distribution, exactly as ``generate(do_sample=True)``
    builds it: transformers' temperature, top-k and top-p warpers in that order, then softmax."""
    import torch
    from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    scores = logits.float()
    if temperature != 1.0:
        scores = TemperatureLogitsWarper(temperature)(None, scores)
    if top_k and top_k < scores.shape[-1]:
        scores = TopKLogitsWarper(top_k)(None, scores)
    if top_p < 1.0:
        scores = TopPLogitsWarper(top_p)(None, scores)
    return torch.softmax(scores, dim=-1)


def draw_tokens(probs: Any, uniforms: Any) -> Any:
    """Inverse-CDF draws: row b takes the token whose probability interval holds ``uniforms[b]``.

    probs (B, V), uniforms (B,) in [0, 1) -> (B,) token ids. A token of probability 0 has an
    empty interval and is never drawn.
    """
    import torch

    cdf = probs.double().cumsum(dim=-1)
    x = (uniforms.to(cdf) * cdf[:, -1]).unsqueeze(-1)
    idx = torch.searchsorted(cdf, x, right=True).squeeze(-1)
    return idx.clamp_(max=probs.shape[-1] - 1)


def sample_tokens(logits: Any, uniforms: Any, *, temperature: float, top_p: float, top_k: int) -> Any:
    """(B, V) logits, (B,) uniforms -> (B,) tokens: ``draw_tokens(next_token_probs(...))``, but
    with top-k on, the top-p sort and the CDF run over the top-k candidates only (kept in vocabulary
    order, so each token's interval is the same as over the whole vocabulary).

    One ``topk`` of k + 1 serves both transformers' top-k warper and the candidate list: where every
    row's top k scores are finite and its k-th is strictly above its (k+1)-th, the warper keeps
    exactly those k tokens. Otherwise (a tie with the k-th score, which the warper keeps, or
    -inf/NaN scores) the rows go through the warper itself.
    """
    import torch
    from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    V = logits.shape[-1]
    if not top_k or top_k >= V:
        return draw_tokens(next_token_probs(logits, temperature=temperature, top_p=top_p, top_k=top_k), uniforms)
    scores = logits.float()
    if temperature != 1.0:
        scores = TemperatureLogitsWarper(temperature)(None, scores)
    vals, idx = scores.topk(top_k + 1, dim=-1)
    if bool(torch.isfinite(vals[:, :top_k]).all() and (vals[:, top_k - 1] > vals[:, top_k]).all()):
        cand, order = idx[:, :top_k].sort(dim=-1)  # vocabulary order
        sub = vals[:, :top_k].gather(-1, order)
    else:
        scores = TopKLogitsWarper(top_k)(None, scores)
        # The warper keeps ties with the k-th score, so a row may keep more than k candidates.
        width = int(torch.isfinite(scores).sum(-1).max())
        cand = scores.topk(width, dim=-1).indices.sort(dim=-1).values  # (B, width), vocabulary order
        sub = scores.gather(-1, cand)
    if top_p < 1.0:
        sub = TopPLogitsWarper(top_p)(None, sub)
    return cand.gather(-1, draw_tokens(torch.softmax(sub, dim=-1), uniforms)[:, None]).squeeze(-1)


RolloutKV = tuple[tuple[Any, Any], ...]
"""One rollout's keys and values, per cache layer: ``(keys, values)``, each ``(kv_heads, n, head_dim)``
for its ``n = len(prompt) + len(completion) - 1`` fed tokens (the last sampled token was never fed),
position ``j`` at index ``j`` (no padding)."""


_BUFFERED_LAYER: type | None = None  # built on first use: transformers is imported lazily


def _buffered_layer_class() -> type:
    """A ``DynamicLayer`` whose keys/values live in preallocated buffers.

    ``DynamicLayer.update`` concatenates every step, copying the whole cache each time (quadratic
    in the generated length); this layer writes the new step into spare capacity and returns views
    of the filled part, whose values are the same tensors' values the concatenation would give.
    Capacity doubles if ever exceeded.
    """
    global _BUFFERED_LAYER
    if _BUFFERED_LAYER is not None:
        return _BUFFERED_LAYER
    import torch
    from transformers.cache_utils import DynamicLayer

    class BufferedLayer(DynamicLayer):
        def __init__(self, capacity: int) -> None:
            super().__init__()
            self.capacity = capacity
            self.length = 0

        def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
            self.device = key_states.device
            self._k = self._empty(key_states, max(self.capacity, key_states.shape[-2]))
            self._v = self._empty(value_states, self._k.shape[-2])
            self.is_initialized = True

        @staticmethod
        def _empty(like: torch.Tensor, capacity: int, rows: int | None = None) -> torch.Tensor:
            b, h, _, d = like.shape
            return like.new_empty((b if rows is None else rows, h, capacity, d))

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            n = self.length + key_states.shape[-2]
            if n > self._k.shape[-2]:
                cap = max(n, 2 * self._k.shape[-2])
                for name in ("_k", "_v"):
                    old = getattr(self, name)
                    new = self._empty(old, cap)
                    new[:, :, : self.length].copy_(old[:, :, : self.length])
                    setattr(self, name, new)
            self._k[:, :, self.length : n].copy_(key_states)
            self._v[:, :, self.length : n].copy_(value_states)
            self.length = n
            self.keys, self.values = self._k[:, :, :n], self._v[:, :, :n]
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.length

        def lazy_initialization_rows(self, key_states: torch.Tensor, value_states: torch.Tensor, rows: int, length: int) -> None:
            # For a prefill written group by group: zeros where a group's padding falls, so masked
            # positions hold finite values (uninitialised memory could hold NaN, and 0 x NaN is NaN).
            self.device = key_states.device
            cap = max(self.capacity, length)
            self._k = self._empty(key_states, cap, rows=rows)
            self._v = self._empty(value_states, cap, rows=rows)
            self._k[:, :, :length].zero_()
            self._v[:, :, :length].zero_()
            self.is_initialized = True

        def write_rows(self, rows: torch.Tensor, start: int, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
            end = start + key_states.shape[-2]
            self._k[rows, :, start:end] = key_states
            self._v[rows, :, start:end] = value_states

        def batch_select_indices(self, indices: torch.Tensor) -> None:
            # Only the filled part is copied, straight into the new buffers.
            if not self.is_initialized:
                return
            n = self.length
            for name in ("_k", "_v"):
                old = getattr(self, name)
                new = self._empty(old, old.shape[-2], rows=len(indices))
                torch.index_select(old[:, :, :n], 0, indices, out=new[:, :, :n])
                setattr(self, name, new)
            self.keys, self.values = self._k[:, :, :n], self._v[:, :, :n]

        def batch_repeat_interleave(self, repeats: int) -> None:
            raise NotImplementedError("not used by generate_rollouts")

        def crop(self, tokens_to_remove: int) -> None:
            raise NotImplementedError("not used by generate_rollouts")

        def reset(self) -> None:
            raise NotImplementedError("not used by generate_rollouts")

    _BUFFERED_LAYER = BufferedLayer
    return BufferedLayer


def _buffered_cache(model: Any, capacity: int) -> Any:
    """A ``DynamicCache`` for ``model`` whose full-attention layers are buffered (see
    :func:`_buffered_layer_class`); sliding-window layers keep transformers' own layer. None (the
    model builds its usual cache) for a model whose cache has any other kind of layer (linear
    attention, quantized, ...), which this loop does not know."""
    try:
        from transformers.cache_utils import DynamicCache, DynamicLayer, DynamicSlidingWindowLayer

        cache = DynamicCache(config=model.config)
    except Exception:  # an exotic config: let the model build its own cache, as generate() would
        return None
    if not cache.layers or any(type(layer) not in (DynamicLayer, DynamicSlidingWindowLayer) for layer in cache.layers):
        return None
    layer_cls = _buffered_layer_class()
    cache.layers = [layer_cls(capacity) if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache


def _all_buffered(cache: Any) -> bool:
    """Whether every layer of ``cache`` is the buffered full-attention layer (no sliding window, no
    exotic layer): then its rows can be written in groups and sliced per rollout."""
    layer_cls = _buffered_layer_class()
    return cache is not None and all(type(layer) is layer_cls for layer in cache.layers)


_UNIFORM_CHUNK = 64
"""Uniforms drawn per rollout at a time: ``torch.rand(n)`` of a generator gives the same numbers as
``n`` draws of one, so drawing ahead only saves calls."""


_PASS_COST_TOKENS = 256
"""What one extra forward pass costs, in prompt tokens' worth of compute (a rough CPU/GPU figure:
launch and Python overhead of a pass against the per-token work of a small model)."""


def _prefill_chunks(lengths: Sequence[int], pass_cost: int = _PASS_COST_TOKENS) -> list[list[int]]:
    """Rows (indices into ``lengths``) grouped for the prefill, each group left-padded to its own
    longest prompt instead of the batch's.

    A batch of prompts of 23 to 116 tokens padded to 116 computes 2.6x the real tokens; groups of
    similar lengths compute about the real tokens, at one pass each. Rows are sorted by length and cut
    where the padded tokens saved pay for the extra pass (an exact dynamic programme over the cuts).
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    n = len(order)
    best = [0.0] + [float("inf")] * n  # best[j]: cost of the first j sorted rows
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        longest = lengths[order[j - 1]]
        for i in range(j):
            c = best[i] + (j - i) * longest + pass_cost
            if c < best[j]:
                best[j], cut[j] = c, i
    return groups_from_cuts(order, cut)


def groups_from_cuts(order: Sequence[int], cut: Sequence[int]) -> list[list[int]]:
    """The groups a cut-point dynamic programme chose: ``cut[j]`` is where the last group of the
    first ``j`` items of ``order`` starts (the programme's backtrack, shared by its users)."""
    groups = []
    j = len(order)
    while j > 0:
        groups.append(list(order[cut[j] : j]))
        j = cut[j]
    return groups[::-1]


def _chunked_prefill(model: Any, cache: Any, ids: Any, mask: Any, pos: Any, lengths: Sequence[int], cache_kw: str) -> Any | None:
    """The first step's forward pass in length groups (:func:`_prefill_chunks`), written into the
    buffered ``cache`` right-aligned as the whole padded batch would have been; returns the last
    position's logits ``(B, V)``, or None where it does not pay or the cache is not all buffered
    (sliding-window layers keep their own storage: the caller then runs the whole batch at once).

    Each row attends to exactly its own tokens either way (padding is masked), so its keys, values
    and logits are what the one padded pass computes, up to float rounding between shapes."""
    import torch
    from transformers.cache_utils import DynamicCache

    if not _all_buffered(cache):
        return None
    groups = _prefill_chunks(lengths)
    if len(groups) < 2:
        return None
    B, L = ids.shape
    logits = None
    for g in groups:
        Lg = max(lengths[i] for i in g)
        sel = torch.tensor(g, dtype=torch.long, device=ids.device)
        part = DynamicCache(config=model.config)
        res = model(input_ids=ids[sel, L - Lg :], attention_mask=mask[sel, L - Lg :], position_ids=pos[sel, L - Lg :],
                    use_cache=True, logits_to_keep=1, **{cache_kw: part})
        part = getattr(res, cache_kw)
        for layer, src in zip(cache.layers, part.layers):
            if not layer.is_initialized:
                layer.lazy_initialization_rows(src.keys, src.values, B, L)
            layer.write_rows(sel, L - Lg, src.keys, src.values)
        if logits is None:
            logits = res.logits.new_empty((B, res.logits.shape[-1]))
        logits[sel] = res.logits[:, -1, :]
    for layer in cache.layers:
        layer.length = L
        layer.keys, layer.values = layer._k[:, :, :L], layer._v[:, :, :L]
    return logits


def _compact_now(rows: int, finished: int) -> bool:
    """Whether to drop the finished rows from the batch now.

    Dropping copies every live row's cache; keeping a finished row costs its share of each later
    step's compute (its outputs are ignored). Copying on every finish cost more than it saved on
    the benchmark batch; waiting until a quarter of the rows are finished costs little of either.
    """
    return finished > 0 and 4 * finished >= rows


def generate_rollouts(
    model: Any,
    tokenizer: Any,
    requests: Sequence[RolloutRequest],
    *,
    seed: int,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    top_k: int,
    markers: ThinkMarkers,
    keep_kv: bool = False,
) -> Any:
    """Generate the requested rollouts in one left-padded batch (any mix of prompts and indices).

    Rows that sample an end-of-sequence token stop generating; they stay in the batch as inert
    padding (their outputs ignored, their random streams not advanced) until enough have finished
    that dropping them (their cache rows too) pays (:func:`_compact_now`), so a batch costs about
    what its longest rollouts need. Temperature 0 is greedy decoding.

    ``keep_kv``: return ``(rollouts, kvs)`` instead, ``kvs[i]`` the keys/values the generation
    computed for rollout ``i``'s fed tokens (see :data:`RolloutKV`), so that scoring need not
    recompute them (:func:`~monitor.engine.cache_scoring.score_against_cache`). A row's slice is
    taken when it leaves the batch (copied out before the compaction frees the old buffers) or,
    at the end, as views of the final buffers: the memory stays what the unit's cache budget
    planned. Only where every cache layer is the buffered full-attention layer; otherwise (a
    sliding-window model such as Gemma 3, an exotic cache) every entry is None.
    """
    import torch

    if not requests:
        return []
    device = model.get_input_embeddings().weight.device
    eos = _eos_ids(model, tokenizer)
    seeds = [rollout_seed(seed, r.prompt_id, r.rollout) for r in requests]
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    prompts = [list(r.rendered.token_ids) for r in requests]
    B, L = len(prompts), max(len(p) for p in prompts)
    ids = torch.full((B, L), pad, dtype=torch.long)
    # The attention mask of all steps, filled with ones ahead: step t passes its first L + t columns.
    mask_all = torch.ones((B, L + max_new_tokens), dtype=torch.long)
    for b, p in enumerate(prompts):
        ids[b, L - len(p) :] = torch.tensor(p, dtype=torch.long)
        mask_all[b, : L - len(p)] = 0
    ids, mask_all = ids.to(device), mask_all.to(device)
    pos = (mask_all[:, :L].cumsum(-1) - 1).clamp_(min=0)
    out: list[list[int]] = [[] for _ in range(B)]
    rows = list(range(B))  # request index of each batch row
    done = [False] * B  # by request: sampled EOS (its row, if still in the batch, is padding)
    uniforms = torch.empty((B, 0), dtype=torch.float64)  # by request: the draws for steps u_base..
    u_base = 0
    cache = _buffered_cache(model, L + max_new_tokens)
    cache_kw = _cache_argument(model)
    kv_ok = keep_kv and _all_buffered(cache)
    kvs: list[RolloutKV | None] = [None] * B

    def take_kv(row: int, r: int, copy: bool) -> None:
        # Fed: the prompt (right-aligned in the first L columns) and every sampled token but the
        # last; a finished row's later (padding) feeds lie after that and are not taken.
        a, b = L - len(prompts[r]), L + len(out[r]) - 1
        kvs[r] = tuple(
            (layer._k[row, :, a:b].clone(), layer._v[row, :, a:b].clone()) if copy else (layer._k[row, :, a:b], layer._v[row, :, a:b])
            for layer in cache.layers
        )

    with torch.inference_mode():
        for step in range(max_new_tokens):
            mask = mask_all[:, : L + step]
            first = _chunked_prefill(model, cache, ids, mask, pos, [len(p) for p in prompts], cache_kw) if step == 0 else None
            if first is not None:
                logits = first.float()
            else:
                res = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1, **{cache_kw: cache})
                cache = getattr(res, cache_kw)
                logits = res.logits[:, -1, :].float()
            live = [row for row, r in enumerate(rows) if not done[r]]
            live_reqs = [rows[row] for row in live]
            if len(live) < len(rows):
                logits = logits[torch.tensor(live, device=logits.device)]
            if temperature > 0:
                if step - u_base >= uniforms.shape[1]:
                    # Only live rollouts' streams are drawn from: a finished one's never matters again.
                    n = min(_UNIFORM_CHUNK, max_new_tokens - step)
                    uniforms = torch.zeros((B, n), dtype=torch.float64)
                    for r in live_reqs:
                        uniforms[r] = torch.rand(n, generator=gens[r], dtype=torch.float64)
                    u_base = step
                u = uniforms[live_reqs, step - u_base]
                nxt = sample_tokens(logits, u.to(logits.device), temperature=temperature, top_p=top_p, top_k=top_k).tolist()
            else:
                nxt = logits.argmax(dim=-1).tolist()
            finished = 0
            feed = [pad] * len(rows)
            for row, r, t in zip(live, live_reqs, nxt):
                t = int(t)
                out[r].append(t)
                feed[row] = t
                if t in eos:
                    done[r] = True
                    finished += 1
            n_live = len(live) - finished
            if n_live == 0 or step == max_new_tokens - 1:
                if kv_ok:
                    for row, r in enumerate(rows):
                        take_kv(row, r, copy=False)
                break
            if _compact_now(len(rows), len(rows) - n_live):
                keep = [row for row, r in enumerate(rows) if not done[r]]
                if kv_ok:
                    for row, r in enumerate(rows):
                        if done[r]:
                            take_kv(row, r, copy=True)
                sel = torch.tensor(keep, dtype=torch.long, device=device)
                cache.batch_select_indices(sel)
                mask_all, pos = mask_all[sel], pos[sel]
                feed = [feed[row] for row in keep]
                rows = [rows[row] for row in keep]
            ids = torch.tensor(feed, dtype=torch.long, device=device)[:, None]
            pos = pos[:, -1:] + 1
    rollouts = [
        make_rollout(
            tokenizer, prompt_id=r.prompt_id, rollout=r.rollout, seed=s, rendered=r.rendered,
            completion_ids=c, eos_ids=eos, markers=markers,
        )
        for r, s, c in zip(requests, seeds, out)
    ]
    return (rollouts, kvs) if keep_kv else rollouts


def sample_rollouts(
    model: Any,
    tokenizer: Any,
    rendered: RenderedPrompt,
    *,
    prompt_id: str,
    first_rollout: int,
    n: int,
    seed: int,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    top_k: int,
    markers: ThinkMarkers,
) -> list[Rollout]:
    """Rollouts ``first_rollout .. first_rollout + n - 1`` of one prompt, in one batch."""
    reqs = [RolloutRequest(prompt_id, first_rollout + i, rendered) for i in range(n)]
    return generate_rollouts(
        model, tokenizer, reqs, seed=seed, max_new_tokens=max_new_tokens, temperature=temperature,
        top_p=top_p, top_k=top_k, markers=markers,
    )
