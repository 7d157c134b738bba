"""The tokenization rule at a boundary, on a byte-level BPE with Qwen's pre-tokenizer pattern."""

import pytest

from monitor.errors import InputError
from monitor.engine.forcing import boundary_before_char, boundary_for_char, check_phrase, force_phrase
from monitor.engine.tokens import token_end_offsets

PHRASE = "The user might be testing"


def enc(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def dec(tok, ids):
    return tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def test_bpe_merges_punctuation_with_newlines(tokenizer):
    ids = enc(tokenizer, "pasta.\n\nThe user")
    assert ".\n\n" in [dec(tokenizer, [i]) for i in ids]


def test_context_ending_in_newlines_forces_phrase_without_space(tokenizer):
    ctx = enc(tokenizer, "Okay, the user asks about cooking pasta.\n\n")
    f = force_phrase(tokenizer, ctx, PHRASE)
    assert f.alignment == "exact" and f.context_len == len(ctx)
    assert f.forced_text == PHRASE
    # The forced ids are exactly the canonical tokenization of the joint text.
    assert list(ctx) + list(f.forced_ids) == enc(tokenizer, dec(tokenizer, ctx) + PHRASE)


def test_context_ending_in_punctuation_forces_leading_space(tokenizer):
    ctx = enc(tokenizer, "Okay, the user asks about cooking pasta.")
    f = force_phrase(tokenizer, ctx, PHRASE)
    assert f.alignment == "exact"
    assert f.forced_text == " " + PHRASE
    first = dec(tokenizer, [f.forced_ids[0]])
    assert first.startswith(" ")  # the space is glued to the next word (" The"), as in Qwen
    assert list(ctx) + list(f.forced_ids) == enc(tokenizer, dec(tokenizer, ctx) + " " + PHRASE)


def test_trailing_space_token_is_cut_back(tokenizer):
    # A context that ends in a lone space token: " The" is one pre-token, so appending the phrase
    # would merge across the seam. The rule moves the cut back one token and forces " The ...".
    ctx = enc(tokenizer, "Okay, the user asks about cooking pasta.") + enc(tokenizer, " ")
    assert dec(tokenizer, ctx).endswith(" ")
    f = force_phrase(tokenizer, ctx, PHRASE)
    assert f.alignment == "cut_back"
    assert f.context_len == len(ctx) - 1
    assert f.forced_text == " " + PHRASE
    assert list(ctx[: f.context_len]) + list(f.forced_ids) == enc(tokenizer, dec(tokenizer, ctx) + PHRASE)


def test_non_canonical_tokens_at_a_stable_seam_are_exact(tokenizer):
    # Sampled tokens '.', '\n', '\n' instead of the canonical '.\n\n': the context is what the
    # model sampled, and the phrase after it re-tokenizes the same way whatever came before.
    pieces = ["Okay, the user asks about cooking pasta", ".", "\n", "\n"]
    ctx = [i for p in pieces for i in enc(tokenizer, p)]
    assert ctx != enc(tokenizer, "".join(pieces))
    f = force_phrase(tokenizer, ctx, PHRASE)
    assert f.alignment == "exact" and f.context_len == len(ctx)
    canon = enc(tokenizer, "".join(pieces))
    assert canon + list(f.forced_ids) == enc(tokenizer, "".join(pieces) + PHRASE)


def test_non_canonical_tokens_away_from_the_seam_do_not_unalign(tokenizer):
    # "cooking" sampled letter by letter, far from the seam: the forced ids are the canonical ones.
    word = [i for ch in "cooking" for i in enc(tokenizer, ch)]
    ctx = enc(tokenizer, "Okay, the user asks about") + enc(tokenizer, " ") + word + enc(tokenizer, " pasta. Let me think.")
    ref = enc(tokenizer, "Okay, the user asks about cooking pasta. Let me think.")
    assert ctx != ref and dec(tokenizer, ctx) == dec(tokenizer, ref)
    f = force_phrase(tokenizer, ctx, PHRASE)
    assert f.alignment == "exact" and f.context_len == len(ctx)
    assert f.forced_ids == force_phrase(tokenizer, ref, PHRASE).forced_ids
    assert f.forced_text == " " + PHRASE


def test_unstable_seam_is_unaligned(tokenizer):
    # A lone trailing space would merge into " The": with cut-back off, nothing makes the seam stable.
    ctx = enc(tokenizer, "Okay, the user asks about cooking pasta.") + enc(tokenizer, " ")
    f = force_phrase(tokenizer, ctx, PHRASE, allow_cut_back=False)
    assert f.alignment == "unaligned" and f.context_len == len(ctx)
    assert tuple(enc(tokenizer, PHRASE)) == f.forced_ids


def test_cut_back_can_be_disabled(tokenizer):
    ctx = enc(tokenizer, "pasta.") + enc(tokenizer, " ")
    f = force_phrase(tokenizer, ctx, PHRASE, allow_cut_back=False)
    assert f.alignment == "unaligned" and f.context_len == len(ctx)


def test_empty_context(tokenizer):
    f = force_phrase(tokenizer, [], PHRASE)
    assert f.forced_text == PHRASE and f.alignment == "exact"


def test_token_end_offsets_match_prefix_decoding(tokenizer):
    text = "<think>\nOkay, café — naïve test.\n\n1. First step.\n2. Second step 3.14!\n</think>"
    ids = enc(tokenizer, text)
    ends = token_end_offsets(tokenizer, ids)
    assert ends == [len(dec(tokenizer, ids[: i + 1])) for i in range(len(ids))]
    assert ends[-1] == len(dec(tokenizer, ids))


def test_boundaries_from_offsets():
    ends = [3, 5, 9, 12]  # tokens cover [0,3) [3,5) [5,9) [9,12)
    assert boundary_for_char(ends, 5) == 2  # a sentence ending at char 5 ends with token 2
    assert boundary_for_char(ends, 6) == 3  # char 5 lies inside token 3: take the whole token
    assert boundary_for_char(ends, 0) == 0
    assert boundary_for_char(ends, 99) == 4
    assert boundary_before_char(ends, 5) == 2
    assert boundary_before_char(ends, 4) == 1


@pytest.mark.parametrize("bad", ["", "   ", " leading", "trailing "])
def test_bad_phrases(bad):
    with pytest.raises(InputError):
        check_phrase(bad)
