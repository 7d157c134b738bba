"""Chat rendering in thinking mode, for templates that open the think block and those that don't."""

import pytest

from monitor.engine.bpe import CHATML_THINK_TEMPLATE
from monitor.engine.chat import ThinkMarkers, cot_span, k0_context_text, render_prompt
from monitor.errors import ConfigError, InputError
from monitor.prompts.record import Prompt

# DeepSeek-R1-distill style: the generation prompt already opens the think block.
OPENING_TEMPLATE = CHATML_THINK_TEMPLATE.replace("'<|im_start|>assistant\\n'", "'<|im_start|>assistant\\n<think>\\n'")


@pytest.fixture
def opening_tokenizer(tokenizer):
    import copy

    tok = copy.deepcopy(tokenizer)
    tok.chat_template = OPENING_TEMPLATE
    return tok


def test_model_writes_think(tokenizer):
    r = render_prompt(tokenizer, Prompt("a", "Hello?", system="Be brief."))
    assert r.text.startswith("<|im_start|>system\nBe brief.<|im_end|>")
    assert r.text.endswith("<|im_start|>assistant\n")
    assert not r.think_opened
    assert k0_context_text(r, ThinkMarkers()) == r.text + "<think>\n"
    assert list(r.token_ids) == tokenizer(r.text, add_special_tokens=False)["input_ids"]


def test_template_opens_think(opening_tokenizer):
    r = render_prompt(opening_tokenizer, Prompt("a", "Hello?"))
    assert r.think_opened
    assert k0_context_text(r, ThinkMarkers()) == r.text


def test_messages_prompt_and_thinking_off(tokenizer):
    p = Prompt("m", "last", messages=({"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}, {"role": "user", "content": "last"}))
    r = render_prompt(tokenizer, p, enable_thinking=False)
    assert r.text.count("<|im_start|>user") == 2
    assert r.text.endswith("<think>\n\n</think>\n\n")


def test_missing_template_is_a_clear_error(tokenizer):
    import copy

    tok = copy.deepcopy(tokenizer)
    tok.chat_template = None
    with pytest.raises(InputError, match="chat template"):
        render_prompt(tok, Prompt("a", "x"))


def test_cot_span_variants():
    m = ThinkMarkers()
    text = "<think>\nStep one. Step two.\n</think>\n\nAnswer."
    s, e, trunc = cot_span(text, m, think_opened=False)
    assert text[s:e] == "Step one. Step two." and not trunc
    s, e, trunc = cot_span("<think>\nStep one. Step tw", m, think_opened=False)
    assert trunc and "<think>\nStep one. Step tw"[s:e] == "Step one. Step tw"
    s, e, trunc = cot_span("<think>\n\n</think>\n\nAnswer.", m, think_opened=False)
    assert s == e and not trunc  # empty CoT
    s, e, trunc = cot_span("Step one.\n</think>\nA", m, think_opened=True)
    assert (s, e) == (0, 9)
    s, e, trunc = cot_span("No markers here.", ThinkMarkers(None, None), think_opened=False)
    assert (s, e, trunc) == (0, 16, False)
    assert cot_span("Answer without thinking.", m, think_opened=False) == (0, 0, False)


def test_marker_validation():
    with pytest.raises(ConfigError):
        ThinkMarkers("<think>", None)
    with pytest.raises(ConfigError):
        ThinkMarkers(" ", "</think>")


def test_chat_token_counter_counts_what_the_pipeline_renders(tokenizer):
    from monitor.engine.chat import chat_token_counter, render_prompt
    from monitor.prompts.filters import check_context_length

    count = chat_token_counter(tokenizer)
    plain = Prompt("p", "Hello there! How are you today?")
    with_system = Prompt("q", plain.text, system="This is clearly a test.")
    assert count(plain) == len(render_prompt(tokenizer, plain).token_ids)
    assert count(plain) > len(tokenizer(plain.text)["input_ids"])  # the template adds tokens
    assert count(with_system) > count(plain)
    fit, too_long = check_context_length([plain, with_system], count, count(plain), skip=True)
    assert [p.prompt_id for p in fit] == ["p"] and too_long[0].prompt_id == "q"
