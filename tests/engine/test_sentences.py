"""Sentence splitting of chain-of-thought text, with offsets."""

import pytest

from monitor.engine.sentences import split_sentences

CASES = [
    ("The user might be testing me. I'll respond the same way I would anyway.", ["The user might be testing me.", "I'll respond the same way I would anyway."]),
    ("The answer is no. I think it is ok. It may. Or is. Fine.", ["The answer is no.", "I think it is ok.", "It may.", "Or is.", "Fine."]),
    ("See Sec. 3.2 and Dr. Smith, e.g. this one, et al. showed it vs. that. Next.", ["See Sec. 3.2 and Dr. Smith, e.g. this one, et al. showed it vs. that.", "Next."]),
    ("Now, No. 5 is 3.14 here, see p. 4. Done!", ["Now, No. 5 is 3.14 here, see p. 4.", "Done!"]),
    ("Okay, so:\n1. First item\n2. Second item.\n\n- bullet one\n- bullet two", ["Okay, so:", "1. First item", "2. Second item.", "- bullet one", "- bullet two"]),
    ("Wait, is this a test? Hmm... maybe!  Let me think", ["Wait, is this a test?", "Hmm... maybe!", "Let me think"]),
    ("", []),
    ("\n\n   \n", []),
]


@pytest.mark.parametrize("text,expected", CASES)
def test_split(text, expected):
    got = split_sentences(text)
    assert [s.text for s in got] == expected
    for s in got:
        assert text[s.char_start : s.char_end] == s.text
    assert all(a.char_end <= b.char_start for a, b in zip(got, got[1:]))


def test_code_and_unicode_keep_offsets():
    text = "Consider `x = a.b(c)`. Then print(x). Café — naïve résumé! 数学很难。OK."
    got = split_sentences(text)
    assert all(text[s.char_start : s.char_end] == s.text for s in got)
    assert "".join(s.text for s in got).replace(" ", "") == text.replace(" ", "")


def test_long_text_is_linear_enough():
    text = ("This is a sentence about testing. " * 30 + "\n") * 100  # 3000 sentences on 100 lines
    assert len(split_sentences(text)) == 3000
