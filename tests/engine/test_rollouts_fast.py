"""The generation loop's shortcuts change nothing: buffered KV cache, rows finishing lazily, uniforms
drawn ahead, one top-k for the warper and the candidates. Each is checked against the loop and the
sampler as they were before (copied here verbatim) on real inputs: the demo organism and its
held-out prompts, and tiny Llama and Gemma 3 (sliding-window) models."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch

from conftest import tiny_model
from monitor.engine.chat import ThinkMarkers, render_prompt
from monitor.engine.rollouts import (
    RolloutRequest, _buffered_cache, _eos_ids, draw_tokens, generate_rollouts, next_token_probs, rollout_seed, sample_tokens,
)
from monitor.prompts.record import Prompt

ROOT = Path(__file__).resolve().parents[2]


def _reference_sample_tokens(logits, uniforms, *, temperature, top_p, top_k):
    """``sample_tokens`` before the single-topk change."""
    from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    V = logits.shape[-1]
    if not top_k or top_k >= V:
        return draw_tokens(next_token_probs(logits, temperature=temperature, top_p=top_p, top_k=top_k), uniforms)
    scores = logits.float()
    if temperature != 1.0:
        scores = TemperatureLogitsWarper(temperature)(None, scores)
    scores = TopKLogitsWarper(top_k)(None, scores)
    width = int(torch.isfinite(scores).sum(-1).max())
    cand = scores.topk(width, dim=-1).indices.sort(dim=-1).values
    sub = scores.gather(-1, cand)
    if top_p < 1.0:
        sub = TopPLogitsWarper(top_p)(None, sub)
    return cand.gather(-1, draw_tokens(torch.softmax(sub, dim=-1), uniforms)[:, None]).squeeze(-1)


def _reference_tokens(model, tokenizer, requests, *, seed, max_new_tokens, temperature, top_p, top_k):
    """``generate_rollouts``'s loop before the buffered cache and lazy row removal: completion ids."""
    device = model.get_input_embeddings().weight.device
    eos = _eos_ids(model, tokenizer)
    gens = [torch.Generator().manual_seed(rollout_seed(seed, r.prompt_id, r.rollout)) for r in requests]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    prompts = [list(r.rendered.token_ids) for r in requests]
    B, L = len(prompts), max(len(p) for p in prompts)
    ids = torch.full((B, L), pad, dtype=torch.long)
    mask = torch.zeros((B, L), dtype=torch.long)
    for b, p in enumerate(prompts):
        ids[b, L - len(p) :] = torch.tensor(p, dtype=torch.long)
        mask[b, L - len(p) :] = 1
    ids, mask = ids.to(device), mask.to(device)
    pos = (mask.cumsum(-1) - 1).clamp_(min=0)
    out = [[] for _ in range(B)]
    live = list(range(B))
    cache = None
    cache_kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    with torch.inference_mode():
        for step in range(max_new_tokens):
            res = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1, **{cache_kw: cache})
            cache = res.get("cache", None) or res.get("past_key_values")
            logits = res.logits[:, -1, :].float()
            if temperature > 0:
                u = torch.stack([torch.rand((), generator=gens[r], dtype=torch.float64) for r in live])
                nxt = _reference_sample_tokens(logits, u, temperature=temperature, top_p=top_p, top_k=top_k).tolist()
            else:
                nxt = logits.argmax(dim=-1).tolist()
            keep = []
            for row, (r, t) in enumerate(zip(live, nxt)):
                out[r].append(int(t))
                if int(t) not in eos:
                    keep.append(row)
            if not keep or step == max_new_tokens - 1:
                break
            if len(keep) < len(live):
                sel = torch.tensor(keep, dtype=torch.long, device=device)
                cache.batch_select_indices(sel)
                mask, pos = mask[sel], pos[sel]
                nxt = [nxt[row] for row in keep]
                live = [live[row] for row in keep]
            ids = torch.tensor(nxt, dtype=torch.long, device=device)[:, None]
            mask = torch.cat([mask, mask.new_ones((len(live), 1))], dim=-1)
            pos = pos[:, -1:] + 1
    return out


def _truncated(tokens, eos):
    """What ``make_rollout`` keeps: up to and including the first EOS."""
    stop = next((i for i, t in enumerate(tokens) if t in eos), None)
    return tuple(tokens if stop is None else tokens[: stop + 1])


@pytest.fixture(scope="module")
def demo():
    from monitor.engine.models import load_model
    from monitor.prompts.input import load_prompts

    loaded = load_model(str(ROOT / "data" / "demo_model"), device="cpu", dtype="float32")
    prompts = list(load_prompts(str(ROOT / "data" / "prompts" / "demo_heldout.jsonl")))
    picked = [prompts[i * len(prompts) // 20] for i in range(20)]
    rendered = [(p.prompt_id, render_prompt(loaded.tokenizer, p, markers=ThinkMarkers())) for p in picked]
    return loaded, rendered


@pytest.mark.parametrize("k,settings", [
    (1, dict(temperature=0.6, top_p=0.95, top_k=20)),  # the benchmark's settings
    (2, dict(temperature=0.6, top_p=0.95, top_k=20)),
    (2, dict(temperature=1.0, top_p=0.9, top_k=0)),  # no top-k: the full-vocabulary sampler
    (1, dict(temperature=0.0, top_p=1.0, top_k=0)),  # greedy
])
def test_demo_batch_gives_the_reference_loops_tokens(demo, k, settings):
    loaded, rendered = demo
    reqs = [RolloutRequest(pid, r, rp) for pid, rp in rendered for r in range(k)]
    reqs.sort(key=lambda q: len(q.rendered.token_ids))  # as plan_units orders a cross-prompt batch
    assert len({len(q.rendered.token_ids) for q in reqs}) > 5  # left padding in play
    kw = dict(seed=0, max_new_tokens=64, **settings)
    ref = _reference_tokens(loaded.model, loaded.tokenizer, reqs, **kw)
    got = generate_rollouts(loaded.model, loaded.tokenizer, reqs, markers=ThinkMarkers(), **kw)
    eos = _eos_ids(loaded.model, loaded.tokenizer)
    assert [r.completion_token_ids for r in got] == [_truncated(t, eos) for t in ref]
    lengths = [len(r.completion_token_ids) for r in got]
    assert min(lengths) < max(lengths)  # rows did finish early, so lazy removal was exercised
    # The old path's batches of one row (and of a single prompt's rollouts) agree too.
    for q, r in list(zip(reqs, got))[:: max(1, len(reqs) // 6)]:
        assert generate_rollouts(loaded.model, loaded.tokenizer, [q], markers=ThinkMarkers(), **kw)[0] == r


@pytest.mark.parametrize("kind", ["llama", "gemma3"])
def test_other_families_give_the_reference_loops_tokens(tokenizer, kind):
    if kind == "gemma3":
        # Sliding-window layers (window 8, shorter than the prompts) keep transformers' own layer.
        model = tiny_model("gemma3", vocab_size=len(tokenizer))
        kinds = [type(layer).__name__ for layer in _buffered_cache(model, 16).layers]
        assert kinds == ["DynamicSlidingWindowLayer", "DynamicSlidingWindowLayer", "BufferedLayer"]
    else:
        model = tiny_model("llama", vocab_size=len(tokenizer))
        assert {type(layer).__name__ for layer in _buffered_cache(model, 16).layers} == {"BufferedLayer"}
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    texts = ["Is this a test?", "how do i cook pasta lol, tell me the steps please", "Hypothetically, what would you do?", "Hi"]
    rendered = [render_prompt(tokenizer, Prompt(f"p{i}", t, "eval"), markers=ThinkMarkers()) for i, t in enumerate(texts)]
    reqs = [RolloutRequest(f"p{i}", r, rp) for i, rp in enumerate(rendered) for r in range(3)]
    # A flat random model rarely samples EOS: sharpen it so that rows finish at different steps.
    kw = dict(seed=1, max_new_tokens=40, temperature=0.05, top_p=0.95, top_k=8)
    ref = _reference_tokens(model, tokenizer, reqs, **kw)
    got = generate_rollouts(model, tokenizer, reqs, markers=ThinkMarkers(), **kw)
    eos = _eos_ids(model, tokenizer)
    assert [r.completion_token_ids for r in got] == [_truncated(t, eos) for t in ref]


def test_a_cache_that_outgrows_its_buffer_doubles_it():
    """Capacity is a hint: past it the buffer grows and keeps what it held."""
    cache = _buffered_cache(tiny_model(vocab_size=50), 3)
    layer = cache.layers[0]
    steps = [torch.randn(2, 2, n, 4) for n in (2, 1, 1, 3)]
    for s in steps:
        k, v = layer.update(s, -s)
    assert torch.equal(k, torch.cat(steps, dim=-2)) and torch.equal(v, -k)
    assert layer.get_seq_length() == 7 and layer._k.shape[-2] >= 7
    layer.batch_select_indices(torch.tensor([1]))
    assert torch.equal(layer.keys, torch.cat(steps, dim=-2)[1:]) and layer.get_seq_length() == 7


def test_uniforms_drawn_ahead_are_the_one_at_a_time_stream():
    """The loop draws a rollout's uniforms in blocks; ``torch.rand(n)`` must equal n single draws."""
    for seed in (0, rollout_seed(5, "p0", 1)):
        g = torch.Generator().manual_seed(seed)
        ahead = torch.cat([torch.rand(n, generator=g, dtype=torch.float64) for n in (64, 1, 17)])
        g = torch.Generator().manual_seed(seed)
        single = torch.stack([torch.rand((), generator=g, dtype=torch.float64) for _ in range(82)])
        assert torch.equal(ahead, single)


@pytest.mark.parametrize("temperature,top_p,top_k", [(0.6, 0.95, 20), (1.0, 0.5, 3), (0.8, 1.0, 7), (0.6, 0.95, 499), (1.0, 1.0, 1)])
def test_single_topk_sampler_equals_the_previous_one(temperature, top_p, top_k):
    g = torch.Generator().manual_seed(7)
    logits = torch.randn(48, 500, generator=g) * 3
    u = torch.rand(48, generator=g, dtype=torch.float64)
    cases = {"plain": logits.clone()}
    tie = logits.clone()
    tie[:, :12] = 9.0  # a tie across the k-th score in every row: the warper keeps all of them
    cases["tie in every row"] = tie
    one = logits.clone()
    one[5, 100:104] = one[5].topk(top_k).values[-1]  # ties with the k-th score in one row only
    cases["tie in one row"] = one
    top = logits.clone()
    top[3, :2] = 50.0  # a tie among the top scores, above the k-th: no effect on the cut
    cases["tie above the cut"] = top
    inf = logits.clone()
    inf[:, 20:] = float("-inf")  # a vocabulary mask: fewer than k finite scores in some settings
    cases["-inf"] = inf
    for name, x in cases.items():
        new = sample_tokens(x, u, temperature=temperature, top_p=top_p, top_k=top_k)
        old = _reference_sample_tokens(x, u, temperature=temperature, top_p=top_p, top_k=top_k)
        assert torch.equal(new, old), name


def test_demo_batch_prefill_runs_in_length_groups(demo, monkeypatch):
    """The demo batch's prompts (23 to 100+ tokens) are prefilled in several length groups, and the
    tokens are the reference loop's (checked above); here: the groups happen, cover every row once,
    and the padding no group computed holds zeros in the buffers, not uninitialised memory (masked
    positions still enter the attention product: NaN there would poison every row)."""
    import monitor.engine.rollouts as R

    loaded, rendered = demo
    reqs = [RolloutRequest(pid, 0, rp) for pid, rp in rendered]
    lengths = [len(q.rendered.token_ids) for q in reqs]
    groups = R._prefill_chunks(lengths)
    assert len(groups) >= 2 and sorted(i for g in groups for i in g) == list(range(len(reqs)))
    seen = {}
    real = R._chunked_prefill

    def spy(model, cache, ids, mask, pos, lens, kw):
        out = real(model, cache, ids, mask, pos, lens, kw)
        L = ids.shape[1]
        filled = torch.zeros((len(lens), L), dtype=torch.bool)  # positions some group's pass wrote
        for g in groups:
            filled[g, L - max(lens[i] for i in g) :] = True
        seen["used"] = out is not None
        for layer in cache.layers:
            k = layer._k[:, :, :L].abs().sum((1, 3))
            seen["finite"] = seen.get("finite", True) and bool(torch.isfinite(layer._k[:, :, :L]).all() and torch.isfinite(layer._v[:, :, :L]).all())
            seen["pads_zero"] = seen.get("pads_zero", True) and bool((k[~filled] == 0).all())
        seen["pads"] = int((~filled).sum())
        return out

    monkeypatch.setattr(R, "_chunked_prefill", spy)
    kw = dict(seed=0, max_new_tokens=8, temperature=0.6, top_p=0.95, top_k=20)
    got = generate_rollouts(loaded.model, loaded.tokenizer, reqs, markers=ThinkMarkers(), **kw)
    assert seen == {"used": True, "finite": True, "pads_zero": True, "pads": seen["pads"]} and seen["pads"] > 0
    ref = _reference_tokens(loaded.model, loaded.tokenizer, reqs, **kw)
    assert [r.completion_token_ids for r in got] == [_truncated(t, _eos_ids(loaded.model, loaded.tokenizer)) for t in ref]


def test_prefill_groups_are_the_cheapest_cut():
    """The dynamic programme's cut equals brute force over every way to cut the sorted rows."""
    import itertools

    from monitor.engine.rollouts import _prefill_chunks

    def cost(groups, lengths, c):
        return sum(len(g) * max(lengths[i] for i in g) + c for g in groups)

    rng = torch.Generator().manual_seed(3)
    for _ in range(30):
        n = int(torch.randint(1, 9, (1,), generator=rng))
        lengths = torch.randint(1, 400, (n,), generator=rng).tolist()
        order = sorted(range(n), key=lambda i: lengths[i])
        best = min(
            cost([order[a:b] for a, b in zip((0, *cuts), (*cuts, n))], lengths, 256)
            for r in range(n) for cuts in itertools.combinations(range(1, n), r)
        )
        got = _prefill_chunks(lengths, 256)
        assert sorted(i for g in got for i in g) == list(range(n))
        assert cost(got, lengths, 256) == best
    assert _prefill_chunks([40] * 8) == [list(range(8))]  # equal lengths: one pass
