"""Analyses over run tables: prompt scores, ROC/AUROC with bootstrap intervals, AUROC against
rollouts per prompt, group curves, variance explained, phrase correlations, controls, summary.

Pure and vectorised (pandas groupby / numpy over whole columns); never imports streamlit.
Module map: ``scores`` (prompt/rollout scores, verbalization), ``tasks``, ``metrics`` (ROC, AUROC,
bootstrap), ``kcurve`` (AUROC vs k), ``curves`` (group curves), ``variance``, ``correlation``,
``controls``, ``samplesize`` (when an AUROC rests on too few prompts), ``lowfpr`` (TPR at fixed
FPR), ``restricted`` (non-verbalizing rollouts only), ``structure`` (system prompt / turns
baselines), ``pairs`` (matched pairs), ``coverage`` (phrase coverage and discovery), ``behaviour``
(refusals), ``summary``; ``cli`` adds ``monitor analyze`` / ``monitor report``; ``bench`` times it all.
"""

from .behaviour import has_behaviour, refusal_by_verbalization, refusal_vs_score
from .controls import controls, prompt_length
from .coverage import discover_openings, phrase_coverage, run_discovery, run_phrase_coverage
from .lowfpr import bootstrap_tpr_at_fpr, tpr_at_fpr
from .pairs import has_pairs, paired_analysis
from .restricted import restricted_auroc
from .structure import structure_baselines
from .correlation import phrase_correlation
from .curves import GroupBy, XAxis, group_curves
from .kcurve import auroc_vs_k
from .metrics import AurocCI, auroc, bootstrap_auroc, roc_curve_table
from .scores import (
    PROMPT_SCORE_METHODS,
    JointHow,
    PromptScoreMethod,
    has_judge,
    joint_prompt_scores,
    prompt_scores,
    rollout_curve,
    rollout_verbalizes,
    run_phrases,
    verbalization_scores,
)
from .samplesize import MIN_PER_CLASS, is_small_sample, record_warning, sample_size_text, small_sample_warning
from .summary import format_summary, public_manifest, summarize
from .tasks import TASK_TITLES, TASKS, Task, task_labels
from .variance import variance_explained

__all__ = [
    "bootstrap_tpr_at_fpr",
    "discover_openings",
    "has_behaviour",
    "has_pairs",
    "paired_analysis",
    "phrase_coverage",
    "refusal_by_verbalization",
    "refusal_vs_score",
    "restricted_auroc",
    "run_discovery",
    "run_phrase_coverage",
    "structure_baselines",
    "tpr_at_fpr",
    "AurocCI",
    "MIN_PER_CLASS",
    "GroupBy",
    "JointHow",
    "PROMPT_SCORE_METHODS",
    "PromptScoreMethod",
    "TASKS",
    "TASK_TITLES",
    "Task",
    "XAxis",
    "auroc",
    "auroc_vs_k",
    "bootstrap_auroc",
    "controls",
    "format_summary",
    "group_curves",
    "has_judge",
    "is_small_sample",
    "joint_prompt_scores",
    "phrase_correlation",
    "prompt_length",
    "prompt_scores",
    "public_manifest",
    "record_warning",
    "roc_curve_table",
    "rollout_curve",
    "rollout_verbalizes",
    "run_phrases",
    "sample_size_text",
    "small_sample_warning",
    "summarize",
    "task_labels",
    "variance_explained",
    "verbalization_scores",
]
