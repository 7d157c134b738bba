"""How well do the monitored phrases cover what the model actually says, and what to monitor instead?

The paper notes that of the sentences its judge flagged, only 13.3% and 0.2% start with "The user
might be testing" and "This is clearly a test". ``phrase_coverage`` measures that on a run: the
share of judge-flagged sentences that start with, and that contain, each phrase. ``discover_openings``
lists the most frequent openings of flagged sentences (their first n words, normalised), with how
often the same opening starts an *unflagged* sentence: an opening that is frequent among flagged
sentences and rare elsewhere is a candidate phrase to score (the app's Phrases page and
``monitor analyze --score-discovered`` score it on the run's existing boundaries).

Normalisation: lower case, curly quotes made straight, every run of characters other than letters,
digits and apostrophes becomes one space, leading and trailing space removed. Matching is on whole
words: "the user might be test" does not start "The user might be testing ...".
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

import pandas as pd

from ..runs.store import Run
from .scores import has_judge

__all__ = ["normalize_text", "phrase_coverage", "discover_openings", "flagged_sentences", "run_phrase_coverage", "run_discovery"]

_NON_WORD = re.compile(r"[^\w']+")


def normalize_text(text: str) -> str:
    """Lower case, straight apostrophes, one space between words, no punctuation."""
    t = str(text).replace("\u2019", "'").replace("\u2018", "'").lower().replace("_", " ")
    return _NON_WORD.sub(" ", t).strip()


def _starts(sentence: str, phrase: str) -> bool:
    return bool(phrase) and (sentence == phrase or sentence.startswith(phrase + " "))


def _contains(sentence: str, phrase: str) -> bool:
    return bool(phrase) and f" {phrase} " in f" {sentence} "


def phrase_coverage(flagged: Sequence[str], phrases: Sequence[str]) -> pd.DataFrame:
    """phrase, n_flagged, n_starts, share_starts, n_contains, share_contains (one row per phrase)."""
    norm = [normalize_text(s) for s in flagged]
    rows = []
    for p in phrases:
        q = normalize_text(p)
        n_s = sum(_starts(s, q) for s in norm)
        n_c = sum(_contains(s, q) for s in norm)
        n = len(norm)
        rows.append((p, n, n_s, n_s / n if n else float("nan"), n_c, n_c / n if n else float("nan")))
    return pd.DataFrame(rows, columns=["phrase", "n_flagged", "n_starts", "share_starts", "n_contains", "share_contains"])


def _opening(raw: str, n: int) -> tuple[str, str] | None:
    """(normalised first n words, the same words as written, trailing punctuation dropped)."""
    words = normalize_text(raw).split(" ")
    if len(words) < n or not words[0]:
        return None
    raw_words = str(raw).strip().split()
    shown = " ".join(raw_words[:n]).rstrip(".,;:!?\"')") if len(raw_words) >= n else " ".join(words[:n])
    return " ".join(words[:n]), shown


def discover_openings(
    flagged: Sequence[str],
    unflagged: Sequence[str] = (),
    *,
    n_words: Sequence[int] = (3, 4, 5),
    top: int = 15,
    min_count: int = 2,
    collapse: bool = True,
) -> pd.DataFrame:
    """The most frequent openings of flagged sentences.

    Columns: opening (normalised), phrase (its most common written form: what to score), n_words,
    count (flagged sentences starting with it), share (of flagged sentences), count_unflagged,
    precision (count / (count + count_unflagged): how often a sentence that opens this way is
    flagged). Sorted by count, then by longer openings first; at most ``top`` rows per length.
    ``collapse`` drops an opening when one word more gives a listed opening with the same count.
    """
    rows = []
    for n in n_words:
        counts: Counter[str] = Counter()
        forms: dict[str, Counter[str]] = {}
        for s in flagged:
            o = _opening(s, n)
            if o:
                counts[o[0]] += 1
                forms.setdefault(o[0], Counter())[o[1]] += 1
        other: Counter[str] = Counter()
        for s in unflagged:
            o = _opening(s, n)
            if o and o[0] in counts:
                other[o[0]] += 1
        for opening, c in counts.most_common():
            if c < min_count or len([r for r in rows if r[2] == n]) >= top:
                break
            rows.append((opening, forms[opening].most_common(1)[0][0], n, c, c / len(flagged), other[opening],
                         c / (c + other[opening])))
    df = pd.DataFrame(rows, columns=["opening", "phrase", "n_words", "count", "share", "count_unflagged", "precision"])
    if collapse:  # "the user might" adds nothing when every such sentence goes on "the user might be testing"
        longer = {(o, c) for o, c in zip(df["opening"], df["count"])}
        redundant = [any((f"{o} {w}", c) in longer for w in _next_words(o, flagged)) for o, c in zip(df["opening"], df["count"])]
        df = df[~pd.Series(redundant, index=df.index, dtype=bool)]
    return df.sort_values(["count", "n_words"], ascending=[False, False], kind="stable").reset_index(drop=True)


def _next_words(opening: str, flagged: Sequence[str]) -> set[str]:
    n = len(opening.split(" "))
    out = set()
    for s in flagged:
        w = normalize_text(s).split(" ")
        if len(w) > n and " ".join(w[:n]) == opening:
            out.add(w[n])
    return out


def flagged_sentences(run: Run) -> tuple[list[str], list[str]]:
    """(texts of judge-flagged sentences, texts of the other judged CoT sentences) of a run."""
    s = run.sentences
    s = s[s["sentence"] > 0]
    if "judge_ok" in s.columns:
        s = s[s["judge_ok"].fillna(False).astype(bool)]
    flag = s["judge_flag"].fillna(False).astype(bool)
    return s.loc[flag, "text"].fillna("").astype(str).tolist(), s.loc[~flag, "text"].fillna("").astype(str).tolist()


def run_phrase_coverage(run: Run, phrases: Sequence[str]) -> pd.DataFrame | None:
    """:func:`phrase_coverage` on the run's flagged sentences (``None`` without a judge)."""
    if not has_judge(run):
        return None
    return phrase_coverage(flagged_sentences(run)[0], phrases)


def run_discovery(run: Run, *, top: int = 15, **kw) -> pd.DataFrame | None:
    """:func:`discover_openings` on the run's flagged vs unflagged sentences (``None`` without a judge)."""
    if not has_judge(run):
        return None
    flagged, other = flagged_sentences(run)
    return discover_openings(flagged, other, top=top, **kw)
