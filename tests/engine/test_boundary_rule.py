"""The boundary rule on a GPT-2-style BPE ("." and "\\n\\n" apart), whole-reply CoTs, cut-off CoTs, marker detection."""

import numpy as np
import pytest

from conftest import CORPUS, newline_rule_violations, tiny_model
from monitor.engine.boundaries import rollout_boundaries
from monitor.engine.chat import ThinkMarkers, detect_think_markers, k0_context_ids, markers_missing, render_prompt
from monitor.engine.k0 import score_prompts
from monitor.engine.models import LoadedModel, ModelSpec
from monitor.engine.rollouts import make_rollout
from monitor.engine.scoring import ForceQuery, score_naive
from monitor.prompts.record import Prompt
from monitor.runs.pipeline import score_rollout

COT = "Okay, the user asks about cooking pasta.\n\nLet me think. The user might be testing me.\nHmm, Sec. 3.2 says 3.14!"
PHRASES = ["The user might be testing", "This is clearly a test"]
NO_MARKERS = ThinkMarkers(None, None)


@pytest.fixture(scope="module")
def gpt2_tok():
    from monitor.engine.bpe import CHATML_TEMPLATE, GPT2_PRETOKENIZE_PATTERN, build_bpe_tokenizer

    return build_bpe_tokenizer(
        CORPUS * 20, vocab_size=420, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        chat_template=CHATML_TEMPLATE, pretokenize_pattern=GPT2_PRETOKENIZE_PATTERN,
    )


@pytest.fixture(scope="module")
def gpt2_loaded(gpt2_tok):
    model = tiny_model("llama", vocab_size=len(gpt2_tok))
    return LoadedModel(model=model, tokenizer=gpt2_tok, spec=ModelSpec("tiny-gpt2"), device=model.device, dtype=model.dtype)


def _rollout(tok, completion: str, markers: ThinkMarkers, *, eos: bool = True):
    rendered = render_prompt(tok, Prompt("p1", "How do I cook pasta?"), markers=markers)
    ids = tok(completion, add_special_tokens=False)["input_ids"]
    eos_id = tok.convert_tokens_to_ids("<|im_end|>")
    if eos:
        ids = ids + [eos_id]
    return make_rollout(tok, prompt_id="p1", rollout=0, seed=0, rendered=rendered, completion_ids=ids, eos_ids={eos_id}, markers=markers)


def _dec(tok, ids):
    return tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def test_gpt2_pattern_keeps_newlines_apart_from_the_period(gpt2_tok):
    pieces = [_dec(gpt2_tok, [i]) for i in gpt2_tok("pasta.\n\nLet me", add_special_tokens=False)["input_ids"]]
    assert "." in pieces and not any("." in p and "\n" in p for p in pieces)


def test_markers_detected_from_template_and_vocabulary(tokenizer, gpt2_tok):
    assert detect_think_markers(tokenizer) == ThinkMarkers()  # "<think>" is a token and in the template
    assert detect_think_markers(gpt2_tok) == NO_MARKERS  # plain ChatML, no "<think>" token
    # The vocabulary alone is enough (a template that leaves the marker to the model).
    from monitor.engine.bpe import CHATML_TEMPLATE, build_bpe_tokenizer

    only_vocab = build_bpe_tokenizer(CORPUS * 5, vocab_size=380, chat_template=CHATML_TEMPLATE)
    assert detect_think_markers(only_vocab) == ThinkMarkers()
    # Custom markers are kept when the model knows them, dropped when it does not.
    custom = ThinkMarkers("<reasoning>", "</reasoning>")
    assert detect_think_markers(gpt2_tok, custom) == NO_MARKERS


def test_whole_reply_cot_boundaries_keep_the_newlines_the_model_wrote(gpt2_tok):
    r = _rollout(gpt2_tok, COT, NO_MARKERS)
    assert r.cot_text == COT and not r.cot_truncated
    bs = rollout_boundaries(gpt2_tok, r, close_marker=None)
    assert [b.text for b in bs[1:]] == ["Okay, the user asks about cooking pasta.", "Let me think.", "The user might be testing me.", "Hmm, Sec. 3.2 says 3.14!"]
    ids = list(r.completion_token_ids)
    assert bs[0].boundary_token == 0  # whole reply: boundary 0 is the end of the prompt
    # "." and "\n\n" are separate tokens here; the context still ends after the newlines.
    assert _dec(gpt2_tok, ids[: bs[1].boundary_token]).endswith("pasta.\n\n")
    assert _dec(gpt2_tok, ids[: bs[2].boundary_token]).endswith("Let me think.")  # " The" carries the space
    assert _dec(gpt2_tok, ids[: bs[3].boundary_token]).endswith("testing me.\n")
    assert newline_rule_violations(gpt2_tok, r, bs, close_marker=None) == []


def test_last_sentence_reaches_the_close_marker(tokenizer):
    r = _rollout(tokenizer, f"<think>\n{COT}\n\n</think>\n\nBoil water.", ThinkMarkers())
    bs = rollout_boundaries(tokenizer, r)
    ids = list(r.completion_token_ids)
    assert _dec(tokenizer, ids[: bs[-1].boundary_token]).endswith("3.14!\n\n")
    assert _dec(tokenizer, ids[bs[-1].boundary_token : bs[-1].boundary_token + 1]) == "</think>"
    assert newline_rule_violations(tokenizer, r, bs) == []


@pytest.mark.parametrize("markers", [ThinkMarkers(), NO_MARKERS], ids=["think", "whole-reply"])
def test_unfinished_fragment_of_a_cut_off_cot_is_not_a_boundary(tokenizer, markers):
    opening = "<think>\n" if markers.open else ""
    r = _rollout(tokenizer, opening + "Okay, the user asks about cooking pasta.\n\nLet me think. The user might", markers, eos=False)
    assert r.finish_reason == "length" and r.cot_truncated
    bs = rollout_boundaries(tokenizer, r, close_marker=markers.close)
    assert [b.text for b in bs[1:]] == ["Okay, the user asks about cooking pasta.", "Let me think."]
    # A reply that stopped (EOS) inside the CoT keeps its last sentence: the model ended it.
    stopped = _rollout(tokenizer, opening + "Okay, the user asks about cooking pasta.\n\nLet me think. The user might", markers)
    assert [b.text for b in rollout_boundaries(tokenizer, stopped, close_marker=markers.close)][-1] == "The user might"


def test_every_score_matches_naive_on_gpt2_bpe(gpt2_loaded):
    tok = gpt2_loaded.tokenizer
    r = _rollout(tok, COT, NO_MARKERS)
    sentences, scores = score_rollout(gpt2_loaded, r, PHRASES, close_marker=None)
    assert len(sentences) == 5 and len(scores) == 10
    prompt, comp = list(r.prompt_token_ids), list(r.completion_token_ids)
    for row in scores:
        seq = prompt + comp[: row["boundary_token"]]
        ref = score_naive(gpt2_loaded.model, seq + row["forced_token_ids"], [ForceQuery(len(seq), tuple(row["forced_token_ids"]))])[0]
        assert np.abs(ref - np.array(row["token_logprobs"])).max() < 1e-4
        assert row["alignment"] == "exact"
        forced = _dec(tok, row["forced_token_ids"])
        ctx = _dec(tok, seq)
        # After a newline the phrase starts the line; after "." it follows a space.
        assert forced == (row["phrase"] if ctx[-1].isspace() else " " + row["phrase"])


def test_k0_context_is_the_runs_boundary_zero(gpt2_loaded, loaded_tiny):
    for loaded, reply in ((gpt2_loaded, COT), (loaded_tiny, "<think>\n" + COT + "\n</think>\n\nOk.")):
        tok = loaded.tokenizer
        markers = detect_think_markers(tok)
        r = _rollout(tok, reply, markers)
        sentences, scores = score_rollout(loaded, r, PHRASES, close_marker=markers.close)
        rendered = render_prompt(tok, Prompt("p1", "How do I cook pasta?"), markers=markers)
        b0 = list(r.prompt_token_ids) + list(r.completion_token_ids)[: sentences[0]["boundary_token"]]
        assert k0_context_ids(tok, rendered, markers) == b0
        k0 = score_prompts(loaded, [Prompt("p1", "How do I cook pasta?")], PHRASES)  # markers detected, as the run does
        for row in scores:
            if row["sentence"] == 0:
                got = k0[k0.phrase == row["phrase"]].iloc[0]
                assert list(got.forced_token_ids) == row["forced_token_ids"]
                assert abs(got.logprob - row["logprob"]) < 1e-4


def test_markers_missing_only_when_no_reply_has_them():
    m = ThinkMarkers()
    assert markers_missing(m, ["Sure, here it is.", "Fine."], [False, False])
    assert not markers_missing(m, ["Sure.", "<think>\nHm.</think>Ok"], [False, False])
    assert not markers_missing(m, ["Hm.</think>Ok"], [True])  # the template opened the block
    assert not markers_missing(NO_MARKERS, ["Sure."], [False])
    assert not markers_missing(m, [], [])
