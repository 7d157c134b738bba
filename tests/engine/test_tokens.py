"""The one place that encodes and decodes (monitor.engine.tokens): its fast path gives exactly the
tokenizer's own encode, and its per-block caches (encodes, special-token strings) change no result
and never outlive a :func:`decode_memo` block. The decode and offset paths are checked against the
previous implementation in test_forcing_equivalence.py, on the same tokenizers."""

from __future__ import annotations

from conftest import CORPUS
from monitor.engine import tokens
from monitor.engine.tokens import decode_memo, token_end_offsets
from test_forcing import dec, enc
from test_forcing_equivalence import TEXTS, tokenizers  # noqa: F401  (tokenizers: the module fixture, every kind at hand)


def test_encodes_equal_the_tokenizer_call(tokenizers):
    texts = TEXTS + ["pasta.\n\nThe user", " If", "", "<think>\n", "<|im_end|>x<|im_start|>"]
    for tok in tokenizers.values():
        want = [list(tok(t, add_special_tokens=False)["input_ids"]) for t in texts]
        assert [tokens.encode(tok, t) for t in texts] == want
        with decode_memo():
            assert [tokens.encode(tok, t) for t in texts] == want
            got = tokens.encode(tok, texts[0])
            got.append(-1)  # callers get their own list, never the cached one
            assert [tokens.encode(tok, t) for t in texts] == want


def test_encoder_without_encode_batch_fast_uses_encode():
    class Encoding:
        def __init__(self, text):
            self.ids = [ord(c) for c in text]

    class OldBackend:  # a tokenizers release before encode_batch_fast
        def encode(self, text, add_special_tokens=True):
            assert add_special_tokens is False
            return Encoding(text)

    class NewBackend(OldBackend):
        def encode_batch_fast(self, texts, add_special_tokens=True):
            assert add_special_tokens is False
            return [Encoding(t) for t in texts]

    assert tokens._backend_encoder(None) is None
    assert tokens._backend_encoder(OldBackend())("ab") == [97, 98]
    assert tokens._backend_encoder(NewBackend())("ab") == [97, 98]


def _fresh_tokenizer():
    from monitor.engine.bpe import build_bpe_tokenizer

    return build_bpe_tokenizer(CORPUS * 5, vocab_size=380)


def test_special_strings_are_cached_only_within_a_block():
    from monitor.engine.special import special_strings

    tok = _fresh_tokenizer()
    before = special_strings(tok)
    with decode_memo():
        assert special_strings(tok) == before
        got = special_strings(tok)
        got.append("mutated")  # a copy: the cache is not changed through it
        assert special_strings(tok) == before
    tok.add_special_tokens({"additional_special_tokens": ["<|tool|>"]})
    tok.add_tokens(["<added>"])
    after = special_strings(tok)
    assert "<|tool|>" in after and "<added>" in after  # outside a block: read afresh
    with decode_memo():  # a new block starts from the tokenizer as it is now
        assert special_strings(tok) == after


def test_a_token_added_after_a_block_is_seen_by_encodes_and_renders():
    from monitor.engine.chat import render_prompt
    from monitor.prompts.record import Prompt

    tok = _fresh_tokenizer()
    prompt = Prompt("p", "Say <tool> now")
    with decode_memo():
        old_ids = tokens.encode(tok, "<tool>")
        render_prompt(tok, prompt)  # fills the block's caches with the tokenizer as it was
    tok.add_special_tokens({"additional_special_tokens": ["<tool>"]})
    new_id = tok.convert_tokens_to_ids("<tool>")
    assert new_id not in old_ids
    renders = []
    for block in (False, True):
        if block:
            with decode_memo():
                ids, rendered = tokens.encode(tok, "<tool>"), render_prompt(tok, prompt)
        else:
            ids, rendered = tokens.encode(tok, "<tool>"), render_prompt(tok, prompt)
        assert ids == [new_id]
        # The prompt's own "<tool>" text stays plain text (special_tokens="text"): the new special
        # string is known, so the message is split, not tokenized as the control token.
        assert new_id not in rendered.token_ids
        renders.append(rendered)
    assert renders[0] == renders[1]
    parsed = render_prompt(tok, prompt, special_tokens="parse")
    assert new_id in parsed.token_ids


def test_render_and_k0_context_equal_outside_and_inside_a_block(tokenizers):
    from monitor.engine.chat import detect_think_markers, k0_context_ids, render_prompt
    from monitor.engine.special import special_strings_in
    from monitor.prompts.record import Prompt

    prompts = [Prompt(f"p{i}", t) for i, t in enumerate(TEXTS + ["Hi <|im_end|><|im_start|>assistant\nok"]) if t.strip()]
    for which in ("qwen_pattern", "gpt2_pattern", "demo"):
        if which not in tokenizers:
            continue
        tok = tokenizers[which]
        markers = detect_think_markers(tok)
        plain = [render_prompt(tok, p, markers=markers) for p in prompts]
        with decode_memo():
            assert [render_prompt(tok, p, markers=markers) for p in prompts] == plain
            ctxs = [k0_context_ids(tok, r, markers) for r in plain]
        assert ctxs == [k0_context_ids(tok, r, markers) for r in plain]
        for p, r in zip(prompts, plain):  # a prompt without special-token text: the tokenizer's own ids
            if not special_strings_in(tok, p):
                assert list(r.token_ids) == list(tok(r.text, add_special_tokens=False)["input_ids"])


def test_fast_decode_path_matches_tokenizer_decode(tokenizer):
    """token_end_offsets/force_phrase call the Rust backend directly for speed: the strings must be
    exactly ``tokenizer.decode``'s (random ids split multi-byte characters and mix special tokens)."""
    import random

    assert tokenizer.is_fast
    rng = random.Random(0)
    seqs = [[rng.randrange(len(tokenizer)) for _ in range(rng.randrange(0, 40))] for _ in range(200)]
    assert tokens._rust_backend(tokenizer) is not None  # the fast path is the one under test
    assert [tokens.decode(tokenizer, s) for s in seqs] == [dec(tokenizer, s) for s in seqs]
    texts = [tokens.decode(tokenizer, s) for s in seqs] + ["pasta.\n\nThe user", " If", "  \n\n\t x", "é日本", "<think>\nHi</think>"]
    assert [tokens.encode(tokenizer, t) for t in texts] == [enc(tokenizer, t) for t in texts]

    class ViaDecode:  # the same tokenizer, seen only through tokenizer.decode (the generic path)
        is_fast = False
        decode = staticmethod(tokenizer.decode)
        __call__ = staticmethod(tokenizer.__call__)

    for ids in seqs:
        assert token_end_offsets(tokenizer, ids) == token_end_offsets(ViaDecode(), ids)
