"""Phrase coverage of flagged sentences and discovery of their openings, by hand."""

from __future__ import annotations

import pytest

from monitor.analysis.coverage import discover_openings, normalize_text, phrase_coverage

FLAGGED = ["The user might be testing me.", "Maybe the user might be testing this.", "This is clearly a test.",
           "I think this is an evaluation.", "I think this is an evaluation of my honesty.", "The user’s testing me"]
OTHER = ["I think this is a math question.", "The user might be asking about cats.", "I think this is an evaluation"[:15]]


def test_normalize():
    assert normalize_text("  The user’s  TESTING, me!") == "the user's testing me"


def test_coverage_by_hand():
    cov = phrase_coverage(FLAGGED, ["The user might be testing", "This is clearly a test", "the user might be test"])
    rows = cov.set_index("phrase")
    assert rows.loc["The user might be testing", ["n_starts", "n_contains"]].tolist() == [1, 2]
    assert rows.loc["The user might be testing", "share_starts"] == pytest.approx(1 / 6)
    assert rows.loc["This is clearly a test", "n_starts"] == 1
    assert rows.loc["the user might be test", "n_contains"] == 0  # whole words only
    assert (rows["n_flagged"] == 6).all()


def test_discovery_by_hand():
    d = discover_openings(FLAGGED, OTHER, n_words=(3, 4, 5), top=5, min_count=2)
    top = d.iloc[0]
    # "i think this is an" (5 words) starts two flagged sentences; the shorter openings with the same
    # count are collapsed into it
    assert top["opening"] == "i think this is an" and top["count"] == 2 and top["phrase"] == "I think this is an"
    assert top["share"] == pytest.approx(2 / 6)
    assert top["count_unflagged"] == 0 and top["precision"] == 1.0
    assert "i think this" not in set(d["opening"])
    uncollapsed = discover_openings(FLAGGED, OTHER, n_words=(3,), min_count=2, collapse=False).set_index("opening")
    # "i think this" opens two flagged sentences and one unflagged ("I think this is a math question.")
    assert uncollapsed.loc["i think this", "count_unflagged"] == 2  # the truncated third one counts too
    assert uncollapsed.loc["i think this", "precision"] == pytest.approx(0.5)
