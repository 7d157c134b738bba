"""Verbalization judges: flag CoT sentences that explicitly mention being tested (DESIGN.md §2.5).

- :class:`RulesJudge` (``rules``): offline, transparent patterns; the default.
- :class:`OpenAIJudge` (``openai``): any OpenAI-compatible chat-completions endpoint, cached.
- :class:`HFJudge` (``hf``): a local causal LM's Yes-vs-No logit difference (graded score).

Behaviour judges (refused / partial / complied on the final answer) are in
:mod:`monitor.judges.behaviour` (rules) and :mod:`monitor.judges.behaviour_llm` (openai, hf).

:func:`judge_run` judges a run directory resumably and writes the ``judge_*`` columns (the pass
both judge kinds share is :mod:`monitor.judges.passes`);
:mod:`monitor.judges.evaluate` measures a judge on the labelled sentence set.
"""

from .base import Judge, JudgeError, JudgeFailure, JudgeResult
from .hf import HFJudge, HFJudgeConfig
from .openai_api import OpenAIJudge, OpenAIJudgeConfig, Usage
from .rules import RulesJudge, find_eval_awareness
from .run import JUDGE_COLUMNS, JudgeSummary, judge_run

__all__ = [
    "Judge", "JudgeResult", "JudgeFailure", "JudgeError",
    "RulesJudge", "find_eval_awareness",
    "OpenAIJudge", "OpenAIJudgeConfig", "Usage",
    "HFJudge", "HFJudgeConfig",
    "judge_run", "JudgeSummary", "JUDGE_COLUMNS",
]
