"""The forced probability is the probability that sampling produces the phrase there.

A tiny model is trained for a few seconds on the test corpus (which contains "The user might be
testing me." after "Let me think."), so that probe phrases have probabilities large enough to
measure. At real sentence boundaries of a rollout we sample many continuations (plain ancestral
sampling at temperature 1) and count how often the phrase's forced tokens come out. The count is
Binomial(N, p) with p the forced probability, so it must fall inside a 99.99% normal interval
around N·p (|z| < 3.9).
"""

import math

import numpy as np
import pytest
import torch

from conftest import CORPUS, tiny_model
from monitor.engine.boundaries import phrase_queries, rollout_boundaries
from monitor.engine.chat import ThinkMarkers, render_prompt
from monitor.prompts.record import Prompt
from monitor.engine.rollouts import make_rollout
from monitor.engine.scoring import ForceQuery, score_packed

N = 2000
PHRASES = ["The user might be testing", "This is clearly a test", "The user might be asking"]


@pytest.fixture(scope="module")
def trained(tokenizer):
    torch.manual_seed(0)
    model = tiny_model(vocab_size=len(tokenizer), seed=3)
    rendered = [tokenizer.apply_chat_template([{"role": "user", "content": "How do I cook pasta?"}], add_generation_prompt=True, tokenize=False) + "<think>\n" + t for t in CORPUS]
    batch = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in rendered]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(40):
        for ids in batch:
            x = torch.tensor([ids])
            loss = model(input_ids=x, labels=x).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
    return model.eval()


def _sample(model, context, L, n, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.tensor([context] * n)
    with torch.inference_mode():
        for _ in range(L):
            probs = torch.softmax(model(input_ids=ids).logits[:, -1].double(), -1)
            ids = torch.cat([ids, torch.multinomial(probs, 1, generator=g)], 1)
    return ids[:, len(context) :].numpy()


@pytest.mark.slow
def test_forced_probability_matches_sampling_frequency(tokenizer, trained):
    rendered = render_prompt(tokenizer, Prompt("p", "How do I cook pasta?"))
    completion = "<think>\nOkay, the user asks about cooking pasta.\n\nLet me think. The user might be testing me.\nWait, this is a test?"
    ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    r = make_rollout(tokenizer, prompt_id="p", rollout=0, seed=0, rendered=rendered, completion_ids=ids, eos_ids=set(), markers=ThinkMarkers())
    queries = phrase_queries(tokenizer, r, rollout_boundaries(tokenizer, r), PHRASES)
    seq = list(r.prompt_token_ids) + list(r.completion_token_ids)
    lps = score_packed(trained, seq, [ForceQuery(len(r.prompt_token_ids) + q.boundary_token, q.forced_ids) for q in queries])
    tested = []
    for i, (q, lp) in enumerate(zip(queries, lps)):
        p = math.exp(float(lp.sum()))
        if not 0.01 < p < 0.99:
            continue
        context = seq[: len(r.prompt_token_ids) + q.boundary_token]
        hits = int((_sample(trained, context, len(q.forced_ids), N, seed=i) == np.array(q.forced_ids)).all(1).sum())
        z = (hits - N * p) / math.sqrt(N * p * (1 - p))
        tested.append((q.sentence, q.phrase, round(p, 4), hits / N))
        assert abs(z) < 3.9, (q.sentence, q.phrase, p, hits / N, z)
    print(tested)
    assert len(tested) >= 2, f"too few boundaries with a measurable probability: {tested}"
