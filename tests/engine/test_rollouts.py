"""Sampling: transformers' temperature/top-k/top-p semantics, per-rollout seeds, batch independence."""

import numpy as np
import pytest
from scipy import stats

from monitor.engine.chat import ThinkMarkers, render_prompt
from monitor.engine.rollouts import RolloutRequest, draw_tokens, generate_rollouts, next_token_probs, rollout_seed
from monitor.prompts.record import Prompt

KW = dict(seed=5, max_new_tokens=24, temperature=0.6, top_p=0.95, top_k=20, markers=ThinkMarkers())


def _reference_probs(logits: np.ndarray, temperature: float, top_p: float, top_k: int) -> np.ndarray:
    """Hand-written: scale, keep the k largest (ties kept), keep the smallest top set with mass >= top_p."""
    x = logits / temperature
    if top_k:
        kth = np.sort(x)[::-1][min(top_k, len(x)) - 1]
        x = np.where(x >= kth, x, -np.inf)
    p = np.exp(x - x.max())
    p /= p.sum()
    if top_p < 1:
        order = np.argsort(-p, kind="stable")
        mass_before = np.concatenate([[0.0], np.cumsum(p[order])[:-1]])
        drop = order[mass_before >= top_p]
        p[drop] = 0
        p /= p.sum()
    return p


@pytest.mark.parametrize("temperature,top_p,top_k", [(0.6, 0.95, 20), (1.0, 1.0, 0), (1.3, 0.5, 0), (0.7, 1.0, 5), (0.2, 0.9, 50)])
def test_next_token_probs_match_the_documented_semantics(temperature, top_p, top_k):
    import torch

    g = np.random.default_rng(1)
    logits = g.normal(0, 3, (4, 300))
    got = next_token_probs(torch.tensor(logits, dtype=torch.float32), temperature=temperature, top_p=top_p, top_k=top_k).numpy()
    for row, lg in zip(got, logits):
        ref = _reference_probs(lg, temperature, top_p, top_k)
        np.testing.assert_allclose(row, ref, atol=2e-6)
        assert set(np.flatnonzero(row)) == set(np.flatnonzero(ref))


def test_inverse_cdf_draws_follow_the_distribution():
    import torch

    p = torch.tensor([[0.5, 0.0, 0.2, 0.25, 0.0, 0.05]], dtype=torch.float32)
    u = torch.rand(40_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    draws = draw_tokens(p.expand(len(u), -1), u).numpy()
    counts = np.bincount(draws, minlength=6)
    assert counts[1] == counts[4] == 0  # zero-probability tokens are never drawn
    keep = p[0].numpy() > 0
    chi2 = stats.chisquare(counts[keep], p[0].numpy()[keep] * len(u))
    assert chi2.pvalue > 1e-3, chi2


def test_sampled_first_tokens_match_generate_distribution(loaded_tiny):
    """Our loop and transformers' generate, both checked against the same exact distribution."""
    import torch

    model, tok = loaded_tiny.model, loaded_tiny.tokenizer
    rendered = render_prompt(tok, Prompt("p", "Is this a test?", "eval"), markers=ThinkMarkers())
    ids = torch.tensor([list(rendered.token_ids)])
    with torch.inference_mode():
        # Sharpen the tiny random model's nearly flat logits so that top-k/top-p bite.
        logits = model(input_ids=ids).logits[0, -1].float()
    temperature, top_p, top_k = 0.05, 0.9, 12
    exact = next_token_probs(logits[None], temperature=temperature, top_p=top_p, top_k=top_k)[0].numpy()
    support = np.flatnonzero(exact)
    assert 2 < len(support) <= top_k
    n = 3000
    reqs = [RolloutRequest("p", r, rendered) for r in range(n)]
    ours = generate_rollouts(model, tok, reqs, **{**KW, "max_new_tokens": 1, "temperature": temperature, "top_p": top_p, "top_k": top_k})
    first = np.array([r.completion_token_ids[0] for r in ours])
    torch.manual_seed(0)
    with torch.inference_mode():
        out = model.generate(input_ids=ids.expand(n, -1), attention_mask=torch.ones(n, ids.shape[1], dtype=torch.long), max_new_tokens=1,
                             do_sample=True, temperature=temperature, top_p=top_p, top_k=top_k, pad_token_id=tok.pad_token_id)
    theirs = out[:, -1].numpy()
    for sample in (first, theirs):
        assert set(np.unique(sample)) <= set(support)
        counts = np.bincount(sample, minlength=len(exact))[support]
        e = exact[support].astype(np.float64)
        expected = e / e.sum() * n
        assert stats.chisquare(counts, expected).pvalue > 1e-3


def test_a_rollout_does_not_depend_on_its_batch(loaded_tiny):
    model, tok = loaded_tiny.model, loaded_tiny.tokenizer
    texts = ["Is this a test?", "how do i cook pasta lol, tell me the steps please", "Hypothetically, what would you do?"]
    rendered = [render_prompt(tok, Prompt(f"p{i}", t, "eval"), markers=ThinkMarkers()) for i, t in enumerate(texts)]
    reqs = [RolloutRequest(f"p{i}", r, rp) for i, rp in enumerate(rendered) for r in range(2)]
    assert len({len(rp.token_ids) for rp in rendered}) == 3  # left padding is in play
    together = generate_rollouts(model, tok, reqs, **KW)
    alone = [generate_rollouts(model, tok, [q], **KW)[0] for q in reqs]
    reversed_ = generate_rollouts(model, tok, reqs[::-1], **KW)[::-1]
    for a, b, c in zip(together, alone, reversed_):
        assert a == b == c
    assert together[0].completion_token_ids != together[1].completion_token_ids  # two streams, not one
    assert together[0].seed == rollout_seed(5, "p0", 0) != rollout_seed(5, "p0", 1)


def test_greedy_is_argmax(loaded_tiny):
    import torch

    model, tok = loaded_tiny.model, loaded_tiny.tokenizer
    rendered = render_prompt(tok, Prompt("p", "Is this a test?", "eval"), markers=ThinkMarkers())
    ids = torch.tensor([list(rendered.token_ids)])
    with torch.inference_mode():
        ref = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id,
                             eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"))[0, ids.shape[1]:].tolist()
    got = generate_rollouts(model, tok, [RolloutRequest("p", 0, rendered)], **{**KW, "temperature": 0.0, "max_new_tokens": 12})[0]
    assert list(got.completion_token_ids) == ref[: len(got.completion_token_ids)]


@pytest.mark.parametrize("temperature,top_p,top_k", [(0.6, 0.95, 20), (1.0, 0.5, 3), (0.8, 1.0, 7), (1.0, 0.9, 0)])
def test_candidate_sampling_equals_full_vocabulary_sampling(temperature, top_p, top_k):
    import torch

    from monitor.engine.rollouts import sample_tokens

    g = torch.Generator().manual_seed(3)
    logits = torch.randn(64, 500, generator=g) * 3
    logits[0, :10] = 5.0  # ties at the k-th score: the warper keeps all of them
    u = torch.rand(64, generator=g, dtype=torch.float64)
    full = draw_tokens(next_token_probs(logits, temperature=temperature, top_p=top_p, top_k=top_k), u)
    fast = sample_tokens(logits, u, temperature=temperature, top_p=top_p, top_k=top_k)
    assert torch.equal(full, fast)
