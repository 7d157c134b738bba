"""Sentence boundaries of real-looking rollouts, and exact scores at each of them."""

import numpy as np
import pytest

from conftest import newline_rule_violations, tiny_model
from monitor.engine.boundaries import phrase_queries, rollout_boundaries
from monitor.engine.chat import ThinkMarkers, render_prompt
from monitor.engine.models import LoadedModel, ModelSpec
from monitor.runs.pipeline import score_rollout
from monitor.prompts.record import Prompt
from monitor.engine.rollouts import make_rollout
from monitor.engine.scoring import ForceQuery, score_naive

COT = "Okay, the user asks about cooking pasta.\n\nLet me think. The user might be testing me.\nHmm, Sec. 3.2 says 3.14!"
PHRASES = ["The user might be testing", "This is clearly a test"]


def _rollout(tok, completion: str, *, eos: bool = True, prompt_text: str = "How do I cook pasta?"):
    rendered = render_prompt(tok, Prompt("p1", prompt_text))
    ids = tok(completion, add_special_tokens=False)["input_ids"]
    eos_id = tok.convert_tokens_to_ids("<|im_end|>")
    if eos:
        ids = ids + [eos_id]
    return make_rollout(tok, prompt_id="p1", rollout=0, seed=0, rendered=rendered, completion_ids=ids, eos_ids={eos_id}, markers=ThinkMarkers())


@pytest.fixture(scope="module")
def loaded(tokenizer):
    model = tiny_model(vocab_size=len(tokenizer))
    return LoadedModel(model=model, tokenizer=tokenizer, spec=ModelSpec("tiny"), device=model.device, dtype=model.dtype)


def test_boundaries_end_at_sentence_tokens(tokenizer):
    r = _rollout(tokenizer, f"<think>\n{COT}\n</think>\n\nBoil water.")
    assert r.finish_reason == "stop" and not r.cot_truncated and r.cot_text == COT
    bs = rollout_boundaries(tokenizer, r)
    assert [b.text for b in bs] == ["", "Okay, the user asks about cooking pasta.", "Let me think.", "The user might be testing me.", "Hmm, Sec. 3.2 says 3.14!"]
    ids = list(r.completion_token_ids)
    for b in bs[1:]:
        ctx = tokenizer.decode(ids[: b.boundary_token], skip_special_tokens=False)
        # The context holds the whole sentence and only whitespace after it ...
        assert ctx.rstrip().endswith(b.text)
        # ... and stops where the next sentence (or the close marker) begins: the next token is not whitespace alone.
        nxt = tokenizer.decode(ids[b.boundary_token : b.boundary_token + 1], skip_special_tokens=False)
        assert nxt.strip(), (b.sentence, nxt)
    assert newline_rule_violations(tokenizer, r, bs) == []
    # Boundary 0: after "<think>\n", before any reasoning.
    assert tokenizer.decode(ids[: bs[0].boundary_token], skip_special_tokens=False) == "<think>\n"
    # ".\n\n" is one token, so sentence 1's boundary keeps the newlines in the context.
    assert tokenizer.decode(ids[: bs[1].boundary_token], skip_special_tokens=False).endswith("pasta.\n\n")


def test_every_score_matches_naive_recomputation(tokenizer, loaded):
    r = _rollout(tokenizer, f"<think>\n{COT}\n</think>\n\nBoil water.")
    sentences, scores = score_rollout(loaded, r, PHRASES)
    assert len(scores) == len(sentences) * len(PHRASES)
    prompt = list(r.prompt_token_ids)
    comp = list(r.completion_token_ids)
    for row in scores:
        seq = prompt + comp[: row["boundary_token"]]
        ref = score_naive(loaded.model, seq + row["forced_token_ids"], [ForceQuery(len(seq), tuple(row["forced_token_ids"]))])[0]
        assert np.abs(ref - np.array(row["token_logprobs"])).max() < 1e-4
        assert row["logprob"] == pytest.approx(sum(row["token_logprobs"]))
        text = tokenizer.decode(row["forced_token_ids"], skip_special_tokens=False)
        assert text.strip() == row["phrase"]


def test_truncated_cot_is_kept_flagged_and_scored(tokenizer, loaded):
    r = _rollout(tokenizer, f"<think>\n{COT[:60]}", eos=False)
    assert r.finish_reason == "length" and r.cot_truncated
    sentences, scores = score_rollout(loaded, r, PHRASES)
    assert len(sentences) >= 2 and len(scores) == len(sentences) * 2
    assert sentences[-1]["boundary_token"] <= len(r.completion_token_ids)


def test_empty_cot_has_only_the_start_boundary(tokenizer, loaded):
    r = _rollout(tokenizer, "<think>\n\n</think>\n\nBoil water.")
    assert r.cot_text == ""
    sentences, scores = score_rollout(loaded, r, PHRASES)
    assert [s["sentence"] for s in sentences] == [0]
    assert len(scores) == 2 and all(np.isfinite(s["logprob"]) for s in scores)


def test_identical_boundaries_share_queries(tokenizer):
    r = _rollout(tokenizer, f"<think>\n{COT}\n</think>")
    bs = rollout_boundaries(tokenizer, r)
    qs = phrase_queries(tokenizer, r, bs + [bs[-1]], PHRASES)
    assert qs[-1].forced_ids == qs[-1 - len(PHRASES) * 1].forced_ids
