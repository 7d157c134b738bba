"""The judge interface: numbered CoT sentences in, one verdict per sentence out.

A *judge* is the verbalization monitor (DESIGN.md §2.5): it reads the sentences of one rollout's
chain of thought and says which of them explicitly mention that the model may be tested,
evaluated, benchmarked or red-teamed, quoting only that clause. Every judge (pattern rules, an
OpenAI-compatible API, a local Hugging Face model) implements :class:`Judge`, so
:func:`monitor.judges.run.judge_run` and the labelled-set evaluation treat them alike.

Sentence numbering follows the run's ``sentences`` table: sentence 0 is the CoT start (empty text,
never judged), the CoT sentences are 1..n. A judge receives the texts of sentences 1..n in order
and returns results in the same order.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import MonitorError

__all__ = ["JudgeResult", "JudgeFailure", "JudgeError", "Judge", "unflagged", "one_by_one", "check_results"]


@dataclass(frozen=True)
class JudgeResult:
    """A judge's verdict on one CoT sentence."""

    sentence: int
    """The sentence number in the rollout (1..n; 0 is the CoT start and is never judged)."""
    flag: bool
    """True when the sentence explicitly says the model may be tested/evaluated/benchmarked/red-teamed."""
    quote: str = ""
    """Only the eval-aware clause of the sentence (empty when not flagged)."""
    rationale: str = ""
    """A short reason for the verdict (which rule fired, the LLM's explanation, the Yes/No odds)."""
    score: float | None = None
    """A graded score where the judge has one (the ``hf`` judge's Yes-minus-No logit); else None."""

    def score_or_nan(self) -> float:
        """The score as a float column value (NaN when the judge gives none)."""
        return math.nan if self.score is None else float(self.score)


def unflagged(sentence: int, rationale: str = "") -> JudgeResult:
    """The verdict for a sentence with nothing eval-aware in it."""
    return JudgeResult(sentence=sentence, flag=False, quote="", rationale=rationale)


@dataclass(frozen=True)
class JudgeFailure:
    """A rollout the judge could not judge this time (it is retried on the next pass)."""

    error: str
    """What went wrong (error type and message; never an API key)."""
    attempts: int = 1
    """How many requests were made before giving up."""


class JudgeError(MonitorError):
    """A judge setting that cannot work (bad credentials, unknown model, missing dependency).

    Unlike a :class:`JudgeFailure` (one rollout failed, retry later), this stops the pass: every
    further request would fail the same way. Work already written is kept.
    """


class Judge(ABC):
    """A verbalization judge. Subclasses set :attr:`name` and implement :meth:`judge`."""

    name: str = "judge"
    """Short name recorded in the manifest (``rules``, ``openai``, ``hf``)."""

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """Everything that determines the verdicts, JSON-serialisable; never an API key."""

    @abstractmethod
    def judge(self, sentences: Sequence[str]) -> list[JudgeResult]:
        """Judge one rollout: ``sentences[i]`` is sentence ``i + 1``; one result per sentence.

        Raises :class:`JudgeError` for a setting that cannot work; any other failure of this one
        rollout may raise too (``judge_many`` turns it into a :class:`JudgeFailure`).
        """

    def judge_many(self, rollouts: Sequence[Sequence[str]]) -> Iterator[tuple[int, list[JudgeResult] | JudgeFailure]]:
        """Judge several rollouts, yielding ``(index, results or failure)`` as each finishes.

        The default runs them one after another; judges that wait on a server override this to run
        requests concurrently. A :class:`JudgeError` propagates (it would fail every rollout).
        """
        yield from one_by_one(self.judge, rollouts)

    def verdict_settings(self) -> dict[str, Any]:
        """The settings that can change a verdict (not concurrency, timeouts, prices, batch sizes).

        ``judge_run`` keeps results per distinct value of these, so a rerun with, say, a higher
        concurrency resumes the same work while a different model or rubric starts afresh.
        """
        return self.settings()

    def redact(self, text: str) -> str:
        """``text`` with any secret the judge holds (an API key) masked; used on everything written."""
        return text

    def describe(self) -> dict[str, Any]:
        """The ``judge`` entry of the run manifest: name and settings (never a key)."""
        return {"name": self.name, "settings": self.settings()}


def one_by_one(fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
    """``fn(item)`` for each item in turn, yielding ``(index, result)``: a judge's default fan-out
    (:func:`monitor.judges.openai_api.fan_out` is the concurrent one).

    A :class:`JudgeError` propagates (it would fail every rollout); any other exception becomes that
    item's :class:`JudgeFailure`, so one bad rollout does not stop the pass (it is retried later)."""
    for i, item in enumerate(items):
        try:
            yield i, fn(item)
        except JudgeError:
            raise
        except Exception as e:
            yield i, JudgeFailure(error=f"{type(e).__name__}: {e}")


def check_results(results: Sequence[JudgeResult], n: int) -> list[JudgeResult]:
    """Check a judge returned exactly sentences 1..n in order (a bug otherwise)."""
    got = [r.sentence for r in results]
    if got != list(range(1, n + 1)):
        raise AssertionError(f"judge returned sentences {got[:10]}..., expected 1..{n} in order")
    return list(results)
