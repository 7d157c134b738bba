"""Eval-awareness logit monitor: the engine (pure Python, typed, never imports Streamlit).

Pipeline: prompts -> rollouts -> sentence boundaries -> token-forced scores -> run store ->
analyses. torch and transformers are imported only when a model is used, so reading and
analysing runs stays light. Subpackages: :mod:`monitor.judges` (verbalization monitor),
:mod:`monitor.analysis` (metrics), :mod:`monitor.report.figures`, :mod:`monitor.report.html`.
"""

from .engine.chat import RenderedPrompt, ThinkMarkers, render_prompt
from .config import CONTROL_PHRASE, PAPER_PHRASES, RunConfig
from .errors import ConfigError, InputError, ModelLoadError, MonitorError, RunFormatError
from .engine.forcing import ForcedPhrase, force_phrase
from .engine.k0 import score_prompts
from .engine.models import LoadedModel, ModelSpec, load_model
from .ingest import IngestConfig, ingest_rollouts
from .runs.pipeline import rescore_run, run_monitor, score_rollout
from .prompts.input import load_prompt_set, load_prompts, parse_pasted
from .prompts.record import Prompt
from .engine.rollouts import Rollout
from .engine.scoring import ForceQuery, score_naive, score_packed
from .engine.sentences import Sentence, split_sentences
from .runs.store import FORMAT_VERSION, Run, read_run
from .runs.verify import VerifyResult, verify_run

__all__ = [
    "CONTROL_PHRASE", "FORMAT_VERSION", "PAPER_PHRASES",
    "ConfigError", "InputError", "ModelLoadError", "MonitorError", "RunFormatError",
    "ForceQuery", "ForcedPhrase", "IngestConfig", "LoadedModel", "ModelSpec", "Prompt", "RenderedPrompt", "Rollout",
    "Run", "RunConfig", "Sentence", "ThinkMarkers", "VerifyResult",
    "force_phrase", "ingest_rollouts", "load_model", "load_prompt_set", "load_prompts", "parse_pasted", "read_run",
    "render_prompt", "rescore_run", "run_monitor", "score_naive", "score_packed", "score_prompts",
    "score_rollout", "split_sentences", "verify_run",
]


# The run store cannot call the analyses (they sit above it), so the package that holds both wires
# them: every writer that finishes a run, a rescore or a judge pass recaches the run's summary
# (summary.json) while it holds the lock, and the app's Home opens at once.
from .runs.hooks import on_run_written  # noqa: E402


@on_run_written
def _recache_summary(run_dir, run=None) -> None:
    from .analysis.cached import refresh_summary  # lazy: reading a run must not import the analyses

    refresh_summary(run_dir, run=run)
