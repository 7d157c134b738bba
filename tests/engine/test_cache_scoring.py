"""Scoring rollouts against the keys/values their generation kept gives the log-probs of scoring
them from scratch: checked on real inputs (the demo organism's rollouts on held-out prompts, k = 1
and 2, phrases of one and several tokens) against ``score_naive`` and ``score_packed_batch``, on a
tiny Llama, and Gemma 3 (sliding-window layers) falls back to today's scoring."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from conftest import tiny_model
from monitor.engine.batch_scoring import score_packed_batch
from monitor.engine.cache_scoring import cache_covers, score_against_cache
from monitor.engine.chat import ThinkMarkers, render_prompt
from monitor.engine.rollouts import RolloutRequest, generate_rollouts
from monitor.engine.scoring import ForceQuery, score_naive
from monitor.prompts.record import Prompt

ROOT = Path(__file__).resolve().parents[2]
# Multi-token phrases, and one the demo tokenizer encodes as a single token (" so"), so that some
# queries have no copies at all and read only the boundary token's logits.
PHRASES = ("The user might be testing", "This is clearly a test", "so")


def _max_diff(a, b) -> float:
    return max((float(np.abs(x - y).max()) for ra, rb in zip(a, b) for x, y in zip(ra, rb)), default=0.0)


@pytest.fixture(scope="module")
def demo_loaded():
    if not (ROOT / "data/demo_model").is_dir():
        pytest.skip("demo model not in this checkout")
    from monitor.engine.models import load_model

    return load_model(str(ROOT / "data/demo_model"), device="cpu", dtype="float32")


def _demo_unit(loaded, k: int, n_prompts: int, max_new_tokens: int):
    from monitor.config import RunConfig
    from monitor.engine.chat import detect_think_markers
    from monitor.prompts.input import load_prompts
    from monitor.runs.pipeline import _generate_with_backoff, plan_units

    prompts = list(load_prompts(str(ROOT / "data/prompts/demo_heldout.jsonl")))
    picked = [prompts[i * len(prompts) // n_prompts] for i in range(n_prompts)]
    cfg = RunConfig(PHRASES, rollouts=k, max_new_tokens=max_new_tokens, seed=0, batch_size=64, temperature=0.6, top_p=0.95, top_k=20)
    cfg = replace(cfg, markers=detect_think_markers(loaded.tokenizer))
    rendered = {p.prompt_id: render_prompt(loaded.tokenizer, p, markers=cfg.markers) for p in picked}
    (unit,) = plan_units(picked, rendered, cfg)
    plain = _generate_with_backoff(loaded, list(unit.requests), cfg)
    rolls, kvs = _generate_with_backoff(loaded, list(unit.requests), cfg, keep_kv=True)
    assert rolls == plain  # keeping the cache changes no sampled token
    return cfg, rolls, kvs


# 160 new tokens: every row samples EOS (caches taken at compactions); 40: rows are cut by the
# budget (caches taken from the final buffers).
@pytest.mark.parametrize("k,n_prompts,max_new", [(1, 24, 160), (2, 16, 160), (2, 16, 40)])
def test_demo_rollouts_score_as_from_scratch(demo_loaded, k, n_prompts, max_new):
    from monitor.runs.pipeline import _prepare, score_rollouts

    cfg, rolls, kvs = _demo_unit(demo_loaded, k, n_prompts, max_new)
    for r, kv in zip(rolls, kvs):
        fed = len(r.prompt_token_ids) + len(r.completion_token_ids) - 1
        assert kv is not None and all(kk.shape[-2] == vv.shape[-2] == fed for kk, vv in kv)
    preps = [_prepare(demo_loaded, r, PHRASES, None, cfg.markers.close) for r in rolls]
    items = [(p.seq, p.uniq) for p in preps]
    assert any(len(q.forced_ids) == 1 for _, qs in items for q in qs) and any(len(q.forced_ids) > 1 for _, qs in items for q in qs)
    got = score_against_cache(demo_loaded.model, items, kvs)
    assert [len(g) for g in got] == [len(qs) for _, qs in items]
    assert _max_diff(got, score_packed_batch(demo_loaded.model, items)) < 1e-5
    assert _max_diff(got, [score_naive(demo_loaded.model, s, qs) for s, qs in items]) < 1e-5
    # Small groups (budget, row cap) give the same numbers.
    assert _max_diff(got, score_against_cache(demo_loaded.model, items, kvs, max_rows=3)) < 1e-5
    assert _max_diff(got, score_against_cache(demo_loaded.model, items, kvs, memory_budget_mb=0.05)) < 1e-5
    # The pipeline's rows: same structure and values whether scored from the caches or not.
    a = score_rollouts(demo_loaded, rolls, PHRASES, close_marker=cfg.markers.close)
    b = score_rollouts(demo_loaded, rolls, PHRASES, close_marker=cfg.markers.close, kv=kvs)
    _same_rows(a, b)


def _same_rows(a, b) -> None:
    """Same sentence rows; same score rows, log-probs to 1e-5."""
    assert [s for s, _ in a] == [s for s, _ in b]
    for (_, sa), (_, sb) in zip(a, b):
        assert [{**x, "token_logprobs": None, "logprob": None} for x in sa] == [{**x, "token_logprobs": None, "logprob": None} for x in sb]
        assert all(abs(x["logprob"] - y["logprob"]) < 1e-5 for x, y in zip(sa, sb))
        assert all(np.abs(np.subtract(x["token_logprobs"], y["token_logprobs"])).max() < 1e-5 for x, y in zip(sa, sb))


def test_rollouts_without_a_cache_fall_back(demo_loaded):
    from monitor.runs.pipeline import score_rollouts

    cfg, rolls, kvs = _demo_unit(demo_loaded, 1, 6, 60)
    mixed = [kv if i % 2 else None for i, kv in enumerate(kvs)]
    a = score_rollouts(demo_loaded, rolls, PHRASES, close_marker=cfg.markers.close)
    b = score_rollouts(demo_loaded, rolls, PHRASES, close_marker=cfg.markers.close, kv=mixed)
    _same_rows(a, b)
    # A cache shorter than a query's context is not used.
    s, kv = list(rolls[0].prompt_token_ids) + list(rolls[0].completion_token_ids), kvs[0]
    short = tuple((k[:, :5], v[:, :5]) for k, v in kv)
    assert cache_covers(s, [ForceQuery(6, (1,))], short) and not cache_covers(s, [ForceQuery(7, (1,))], short)
    with pytest.raises(ValueError):
        score_against_cache(demo_loaded.model, [(s, [ForceQuery(7, (1,))])], [short])


def _tiny_requests(tokenizer):
    texts = ["Is this a test?", "how do i cook pasta lol, tell me the steps please", "Hypothetically, what would you do?", "Hi"]
    rendered = [render_prompt(tokenizer, Prompt(f"p{i}", t, "eval"), markers=ThinkMarkers()) for i, t in enumerate(texts)]
    return [RolloutRequest(f"p{i}", r, rp) for i, rp in enumerate(rendered) for r in range(2)]


def _random_queries(rolls, seed: int):
    g = np.random.default_rng(seed)
    items = []
    for r in rolls:
        seq = list(r.prompt_token_ids) + list(r.completion_token_ids)
        # Contexts 1 (nothing cached before the boundary token) and len(seq) (the boundary token is
        # the last sampled one, never fed during generation) included.
        ctx = sorted({int(c) for c in g.integers(1, len(seq) + 1, 6)} | {len(seq), 1})
        qs = [ForceQuery(c, tuple(int(x) for x in g.integers(0, 200, int(g.integers(1, 5))))) for c in ctx for _ in range(2)]
        items.append((seq, qs))
    return items


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_tiny_llama_scores_as_from_scratch(tokenizer, attn):
    model = tiny_model("llama", vocab_size=len(tokenizer), attn=attn)
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    kw = dict(seed=1, max_new_tokens=30, temperature=0.05, top_p=0.95, top_k=8)
    rolls, kvs = generate_rollouts(model, tokenizer, _tiny_requests(tokenizer), markers=ThinkMarkers(), keep_kv=True, **kw)
    items = _random_queries(rolls, 0)
    got = score_against_cache(model, items, kvs)
    assert _max_diff(got, [score_naive(model, s, q) for s, q in items]) < 1e-5
    assert _max_diff(got, score_packed_batch(model, items)) < 1e-5


def test_gemma3_sliding_window_keeps_no_cache_and_falls_back(tokenizer):

    from monitor.runs.pipeline import score_rollouts

    model = tiny_model("gemma3", vocab_size=len(tokenizer))
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    reqs = _tiny_requests(tokenizer)
    kw = dict(seed=1, max_new_tokens=20, temperature=0.05, top_p=0.95, top_k=8)
    rolls, kvs = generate_rollouts(model, tokenizer, reqs, markers=ThinkMarkers(), keep_kv=True, **kw)
    assert kvs == [None] * len(reqs)  # sliding-window layers keep only the window: nothing kept
    assert rolls == generate_rollouts(model, tokenizer, reqs, markers=ThinkMarkers(), **kw)
    # score_rollouts then takes today's path for every rollout: the same rows, bit for bit.
    loaded = SimpleNamespace(model=model, tokenizer=tokenizer)
    a = score_rollouts(loaded, rolls, ("is this a test",), close_marker=None)
    assert sum(len(s) for _, s in a) > 0
    assert a == score_rollouts(loaded, rolls, ("is this a test",), close_marker=None, kv=kvs)
