"""Split a chain of thought into sentences with character offsets.

pysbd does the splitting (it handles abbreviations and decimals such as "Sec. 3.2" that a regex
gets wrong), one line at a time: newlines are sentence boundaries anyway, and pysbd is superlinear
on long text, so per-line splitting keeps it linear (NOTES-scoring.md). List items therefore end up
as sentences of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Sentence", "split_sentences"]


@dataclass(frozen=True)
class Sentence:
    """One CoT sentence. Offsets index into the CoT text; ``text == cot[char_start:char_end]``."""

    text: str
    """The sentence without surrounding whitespace."""
    char_start: int
    """Offset of the sentence's first character."""
    char_end: int
    """Offset just past the sentence's last (non-whitespace) character."""


# pysbd's English abbreviation list holds US state codes and short words ("me", "is", "ok", "no",
# "may", "ill", ...) that end sentences all the time in reasoning text: "The user might be testing
# me. I'll answer anyway." would stay one sentence and lose a boundary. Short entries are kept only
# where they are real abbreviations in prose, or number abbreviations ("No. 5", "p. 3"), which
# pysbd treats as abbreviations only before a number.
_SHORT_ABBREVIATIONS_KEPT = frozenset({
    "al", "apr", "aug", "dec", "dr", "e.g", "esp", "etc", "feb", "fig", "i.e", "inc", "jan", "jr",
    "jul", "jun", "ltd", "mr", "mrs", "ms", "nov", "oct", "sec", "sr", "st", "u.s", "viz", "vs",
})


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd
    from pysbd.lang.english import English

    class CotEnglish(English):
        class Abbreviation(English.Abbreviation):
            ABBREVIATIONS = [
                a
                for a in English.Abbreviation.ABBREVIATIONS
                if len(a) > 3 or a in _SHORT_ABBREVIATIONS_KEPT or a in English.Abbreviation.NUMBER_ABBREVIATIONS
            ]

    seg = pysbd.Segmenter(language="en", clean=False, char_span=True)
    seg.language_module = CotEnglish
    return seg


def _split_line(line: str, offset: int) -> list[Sentence]:
    out: list[Sentence] = []
    pos = 0
    for span in _segmenter().segment(line):
        piece = span.sent
        # pysbd has span edge cases: locate the piece ourselves, never trust offsets blindly.
        start = line.find(piece, pos) if line[span.start : span.end] != piece else span.start
        if start < 0:
            start = line.find(piece.strip(), pos)
            piece = piece.strip()
        if start < 0:  # give up on this segmenter output; keep the remainder whole
            break
        stripped = piece.strip()
        if stripped:
            s = start + (len(piece) - len(piece.lstrip()))
            out.append(Sentence(stripped, offset + s, offset + s + len(stripped)))
        pos = start + len(piece)
    rest = line[pos:]
    if rest.strip():
        s = pos + (len(rest) - len(rest.lstrip()))
        stripped = rest.strip()
        out.append(Sentence(stripped, offset + s, offset + s + len(stripped)))
    return out


def split_sentences(text: str) -> list[Sentence]:
    """Sentences of ``text`` in order; every newline ends a sentence; blank lines yield nothing."""
    sentences: list[Sentence] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        if body.strip():
            sentences.extend(_split_line(body, offset))
        offset += len(line)
    return sentences
