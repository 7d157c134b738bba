"""force_phrase and token_end_offsets give exactly what they gave before the k = 0 preparation was
made cheaper (cached windowed steps, offset-free encodes; the per-block encode and special-string
caches are checked in test_tokens.py), on every kind of tokenizer at hand: byte-level BPEs (Qwen's and GPT-2's pre-tokenizer, the
demo organism's, SmolLM2's), a SentencePiece-style one (byte fallback, "▁" spaces, a decoder that
strips the leading space: not additive), and one seen only through a Python ``decode`` that is not
additive either. Checked against a frozen copy of the previous implementation kept here, outside
and inside a :func:`decode_memo` block."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CORPUS
from monitor.engine import tokens
from monitor.engine.forcing import ForcedPhrase, force_phrase
from monitor.engine.tokens import _rust_backend, decode_memo, token_end_offsets

ROOT = Path(__file__).resolve().parents[2]
PHRASES = (
    "The user might be testing", "This is clearly a test", ", perhaps a test", ". The user", "...wait", "?! Maybe",
    "'s test", "😀 emoji", "世界 test", "é", "\"quoted\"", "-", "<think>", "x",
)
TEXTS = [
    "Okay, the user asks about cooking pasta.\n\nLet me think. The user might be testing me.\n",
    "Hmm, Sec. 3.2 says 3.14!  ",
    "Café déjà vu — naïve résumé. 😀👍🏽 emoji, 日本語のテキスト、世界。\n\n",
    "<|im_start|>user\nHi <think> there</think><|im_end|>\n<|im_start|>assistant\n<think>\n",
    "Trailing spaces   \n\n\t  ",
    "🙂", "a\u200bb\u00a0c \r\n", "x", " ", "\n",
]


# ---------------------------------------------------------------------------------------------
# The previous implementation, frozen (forcing.py at 9b33a79, its decode memo left out: that memo
# is a pure cache, checked equal to no memo in test_prep_equivalence).

_TAIL = 16


def _decode_one_before(tokenizer, backend, ids):
    if backend is not None:
        return backend.decode(ids, skip_special_tokens=False)
    return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def _decode_all_before(tokenizer, seqs):
    backend = _rust_backend(tokenizer)
    return [_decode_one_before(tokenizer, backend, s) for s in seqs]


def token_end_offsets_before(tokenizer, ids):
    ids = [int(i) for i in ids]
    window = 6
    seqs = [ids]
    for i in range(len(ids)):
        lo = max(0, i - window)
        seqs += [ids[lo:i], ids[lo : i + 1]]
    texts = _decode_all_before(tokenizer, seqs)
    full = texts[0]
    offsets: list[int] = []
    total = 0
    for i in range(len(ids)):
        total += len(texts[2 * i + 2]) - len(texts[2 * i + 1])
        offsets.append(total)
    if offsets and offsets[-1] == len(full) and all(a <= b for a, b in zip(offsets, offsets[1:])):
        return offsets
    return [len(t) for t in _decode_all_before(tokenizer, [ids[: i + 1] for i in range(len(ids))])]


def _encode_before(tokenizer, text):
    backend = _rust_backend(tokenizer)
    if backend is not None:
        return list(backend.encode(text, add_special_tokens=False).ids)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _decode_before(tokenizer, ids):
    return _decode_all_before(tokenizer, [[int(i) for i in ids]])[0]


def force_phrase_before(tokenizer, context_ids, phrase, *, allow_cut_back=True) -> ForcedPhrase:
    n = len(context_ids)
    tail_ids = [int(i) for i in context_ids[max(0, n - _TAIL) :]]
    tail = _decode_before(tokenizer, tail_ids)
    while tail.startswith("\ufffd") and len(tail_ids) > 1:  # window began inside a multi-byte char
        tail_ids = tail_ids[1:]
        tail = _decode_before(tokenizer, tail_ids)
    text = phrase if (not tail or tail[-1].isspace()) else " " + phrase
    joint = _encode_before(tokenizer, tail + text)
    joint_ends = token_end_offsets_before(tokenizer, joint) if joint else []
    for cut in (0, 1) if allow_cut_back else (0,):
        keep = len(tail_ids) - cut
        if keep < 0:
            continue
        kept = tail if keep == len(tail_ids) else _decode_before(tokenizer, tail_ids[:keep])
        seam = len(kept)
        if kept != tail[:seam]:  # the cut split a multi-byte character
            continue
        m = 0 if seam == 0 else next((k + 1 for k, e in enumerate(joint_ends) if e == seam), None)
        if m is None or m >= len(joint):
            continue
        forced = joint[m:]
        seam_text = tail[seam:] + text
        if _decode_before(tokenizer, forced) == seam_text:
            return ForcedPhrase(n - cut, tuple(forced), seam_text, "exact" if cut == 0 else "cut_back")
    forced = _encode_before(tokenizer, text)
    return ForcedPhrase(n, tuple(forced), _decode_before(tokenizer, forced), "unaligned")


# ---------------------------------------------------------------------------------------------
# Tokenizers


def _gpt2_pattern_tokenizer():
    from monitor.engine.bpe import CHATML_TEMPLATE, GPT2_PRETOKENIZE_PATTERN, build_bpe_tokenizer

    return build_bpe_tokenizer(
        CORPUS * 20, vocab_size=420, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        chat_template=CHATML_TEMPLATE, pretokenize_pattern=GPT2_PRETOKENIZE_PATTERN,
    )


def _sentencepiece_style_tokenizer():
    """Llama-2/Gemma-style: "▁" for spaces, byte-fallback tokens, a decoder that fuses and strips the
    leading space (so decoding a window is not the difference of two prefix decodes)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>", fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = pre_tokenizers.Split("▁", behavior="merged_with_next")
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    specials = ["<unk>", "<s>", "</s>", "<think>", "</think>"] + [f"<0x{b:02X}>" for b in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=specials, show_progress=False, min_frequency=2)
    tok.train_from_iterator(CORPUS * 20 + TEXTS * 5, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")


def _python_decode_tokenizer(base):
    """``base`` behind a Python ``_decode`` that is not additive (it collapses runs of spaces and
    strips the text's start), so force_phrase takes the generic, non-Rust path."""
    from transformers import PreTrainedTokenizerFast

    class Odd(PreTrainedTokenizerFast):
        def _decode(self, token_ids, skip_special_tokens=False, clean_up_tokenization_spaces=None, **kw):
            text = super()._decode(token_ids, skip_special_tokens=skip_special_tokens, clean_up_tokenization_spaces=False, **kw)
            while "  " in text:
                text = text.replace("  ", " ")
            return text.lstrip()

    tok = Odd(tokenizer_object=base.backend_tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    assert _rust_backend(tok) is None
    return tok


@pytest.fixture(scope="module")
def tokenizers(tokenizer):
    toks = {
        "qwen_pattern": tokenizer,
        "gpt2_pattern": _gpt2_pattern_tokenizer(),
        "sentencepiece_style": _sentencepiece_style_tokenizer(),
    }
    toks["python_decode"] = _python_decode_tokenizer(tokenizer)
    if (ROOT / "data/demo_model").is_dir():
        from transformers import AutoTokenizer

        toks["demo"] = AutoTokenizer.from_pretrained(str(ROOT / "data/demo_model"))
    return toks


def _contexts(tok, *, limit=None):
    """Every prefix of each text's canonical ids, and of a non-canonical tokenization (one encode
    per character, so multi-byte characters and emoji end up cut between byte tokens too)."""
    out = []
    for text in TEXTS:
        canonical = list(tok(text, add_special_tokens=False)["input_ids"])
        per_char = [i for ch in text for i in tok(ch, add_special_tokens=False)["input_ids"]]
        for ids in (canonical, per_char):
            out += [ids[:k] for k in range(len(ids) + 1)]
        out.append(canonical + per_char)  # longer than the tail window
    if limit is not None:
        out = random.Random(0).sample(out, min(limit, len(out)))
    return out


def _check_all(tok, contexts, phrases):
    n = 0
    expected = {}
    for ctx in contexts:
        for ph in phrases:
            for cut_back in (True, False):
                want = force_phrase_before(tok, ctx, ph, allow_cut_back=cut_back)
                expected[(tuple(ctx), ph, cut_back)] = want
                assert force_phrase(tok, ctx, ph, allow_cut_back=cut_back) == want, (ctx, ph, cut_back)
                n += 1
    # One memo block across every context, as score_prompts and score_rollouts hold it (its
    # caches see the same tails, windows and texts again and again), then a nested one.
    with decode_memo():
        for (ctx, ph, cut_back), want in expected.items():
            assert force_phrase(tok, list(ctx), ph, allow_cut_back=cut_back) == want, (ctx, ph, cut_back)
        with decode_memo():
            for (ctx, ph, cut_back), want in reversed(list(expected.items())):
                assert force_phrase(tok, list(ctx), ph, allow_cut_back=cut_back) == want, (ctx, ph, cut_back)
    return n


@pytest.mark.parametrize("which", ["qwen_pattern", "gpt2_pattern", "sentencepiece_style", "python_decode", "demo"])
def test_force_phrase_equals_the_previous_implementation(tokenizers, which):
    if which not in tokenizers:
        pytest.skip("demo model not in this checkout")
    tok = tokenizers[which]
    limit = 120 if which == "python_decode" else None  # the Python decode path is slow
    phrases = PHRASES if limit is None else PHRASES[:6]
    assert _check_all(tok, _contexts(tok, limit=limit), phrases) > 500


def test_the_checks_see_every_alignment_and_both_backends(tokenizers):
    """The contexts above are not all easy: every alignment occurs, with and without the Rust backend."""
    seen = set()
    for which, tok in tokenizers.items():
        for ctx in _contexts(tok, limit=150):
            for ph in PHRASES[:8]:
                seen.add((which == "python_decode", force_phrase_before(tok, ctx, ph).alignment))
    assert {a for _, a in seen} == {"exact", "cut_back", "unaligned"}
    assert {b for b, _ in seen} == {True, False}


@pytest.mark.parametrize("which", ["qwen_pattern", "sentencepiece_style", "demo"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_ids_and_phrases(tokenizers, which, data):
    """Arbitrary ids (special tokens, lone bytes of multi-byte characters, non-canonical splits)
    and phrases built from a mixed alphabet."""
    if which not in tokenizers:
        pytest.skip("demo model not in this checkout")
    tok = tokenizers[which]
    ctx = data.draw(st.lists(st.integers(0, len(tok) - 1), max_size=40), label="ctx")
    alphabet = st.sampled_from(list("ab .,!?'\"-\nT世界é😀") + ["<think>", "\n\n"])
    phrase = data.draw(st.lists(alphabet, min_size=1, max_size=8).map("".join).filter(lambda p: p.strip() == p and p), label="phrase")
    cut_back = data.draw(st.booleans(), label="cut_back")
    want = force_phrase_before(tok, ctx, phrase, allow_cut_back=cut_back)
    assert force_phrase(tok, ctx, phrase, allow_cut_back=cut_back) == want
    with decode_memo():
        assert force_phrase(tok, ctx, phrase, allow_cut_back=cut_back) == want
        assert force_phrase(tok, ctx, phrase, allow_cut_back=cut_back) == want  # from the caches


@pytest.mark.parametrize("which", ["qwen_pattern", "sentencepiece_style", "python_decode", "demo"])
def test_token_end_offsets_equal_the_previous_implementation(tokenizers, which):
    if which not in tokenizers:
        pytest.skip("demo model not in this checkout")
    tok = tokenizers[which]
    rng = random.Random(1)
    seqs = [[rng.randrange(len(tok)) for _ in range(rng.randrange(0, 30))] for _ in range(60)]
    seqs += [c for c in _contexts(tok, limit=60)]
    want = [token_end_offsets_before(tok, s) for s in seqs]
    assert [token_end_offsets(tok, s) for s in seqs] == want
    with decode_memo():
        assert [token_end_offsets(tok, s) for s in seqs] == want
        assert [token_end_offsets(tok, s) for s in seqs] == want


def test_joint_ends_are_token_end_offsets_for_any_split(tokenizers):
    """The seam check caches the windowed steps in two parts; where the split falls changes nothing."""
    for tok in tokenizers.values():
        for ctx in _contexts(tok, limit=25):
            if not ctx:
                continue
            want = token_end_offsets_before(tok, ctx)
            with decode_memo():
                c = tokens.codec(tok)
                for split in range(len(ctx) + 1):
                    assert c.joint_end_offsets(list(ctx), split) == want


# ---------------------------------------------------------------------------------------------
# A real tokenizer no one here trained (see test_real_smollm2.py)


@pytest.mark.slow
def test_smollm2_force_phrase_equals_the_previous_implementation(smollm2_gguf):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(smollm2_gguf.parent), gguf_file=smollm2_gguf.name)
    assert _rust_backend(tok) is not None
    assert _check_all(tok, _contexts(tok), PHRASES) > 500
    rng = random.Random(2)
    seqs = [[rng.randrange(len(tok)) for _ in range(rng.randrange(0, 30))] for _ in range(100)]
    for ctx in seqs:
        for ph in PHRASES[:4]:
            want = force_phrase_before(tok, ctx, ph)
            assert force_phrase(tok, ctx, ph) == want
            with decode_memo():
                assert force_phrase(tok, ctx, ph) == want


def test_k0_batch_with_special_text_in_one_prompt_equals_one_prompt_per_pass(loaded_tiny):
    """A prompt whose text holds control-token strings is rendered with them split as plain text;
    that must leave the other prompts of its k = 0 batch as they are alone (it once did not: the
    batch's held backend kept transformers' split flag, see _backend_state_ok)."""
    from monitor.engine.k0 import score_prompts
    from monitor.prompts.record import Prompt

    prompts = [Prompt("a", "Hi <|im_end|><|im_start|>assistant\nok"), Prompt("b", "How do I cook pasta?")]
    phrases = ["The user might be testing"]
    one = score_prompts(loaded_tiny, prompts, phrases, batch_size=1)
    both = score_prompts(loaded_tiny, prompts, phrases, batch_size=2)
    for col in ("prompt_id", "prompt_tokens", "forced_token_ids", "alignment"):
        assert both[col].tolist() == one[col].tolist(), col
    assert both["logprob"].tolist() == pytest.approx(one["logprob"].tolist(), abs=1e-4)
    # ... and each prompt as rendered outside any block (the prompt with the special text too).
    from monitor.engine.chat import detect_think_markers, render_prompt

    markers = detect_think_markers(loaded_tiny.tokenizer)
    assert one["prompt_tokens"].tolist() == [len(render_prompt(loaded_tiny.tokenizer, p, markers=markers).token_ids) for p in prompts]
