"""Choosing a judge on a page and running it on a run directory (:mod:`monitor.judges`).

Two kinds, as on the command line (``monitor judge --kind``): the verbalization judge flags CoT
sentences that say the model may be tested; the behaviour judge labels each rollout's final answer
refused / partial / complied. Both run as background jobs with the same progress, Cancel and
resumability, and both keep a run's previous labels when a pass does not finish
(:func:`summary_lines` says so on the page).

API keys typed here stay in this browser session (``st.session_state``) and go to the judge object
only; what the run's manifest records (``judge.describe()``) never includes them. The ``hf`` judge
loads its model in the job thread through the app's model cache, so the page never blocks.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import streamlit as st

from monitor.errors import ConfigError

JudgeKind = Literal["verbalization", "behaviour"]
KINDS: dict[str, str] = {
    "verbalization": "Verbalization (flags CoT sentences that say the model may be tested)",
    "behaviour": "Behaviour (labels each final answer refused / partial / complied)",
}
JUDGE_NAMES = {
    "none": "No judge",
    "rules": "Pattern rules (offline, instant)",
    "openai": "LLM via an OpenAI-compatible API",
    "hf": "Local Hugging Face model (Yes/No logits)",
}


@dataclass(frozen=True)
class JudgeChoice:
    """What the user picked in :func:`judge_inputs`."""

    name: str
    """A key of :data:`JUDGE_NAMES`."""
    model: str = ""
    """Judge model: the endpoint's model name (``openai``) or an HF id/path (``hf``)."""
    base_url: str = ""
    """OpenAI-compatible endpoint (empty: OpenAI's)."""
    api_key: str = field(default="", repr=False)
    """Typed key (session only); empty means ``$OPENAI_API_KEY``."""
    kind: JudgeKind = "verbalization"
    """Which judge: sentences that verbalize eval awareness, or the final answer's refusal."""


def judge_inputs(prefix: str, *, default: str = "none", kinds: bool = False) -> JudgeChoice:
    """Judge selector plus the settings that judge needs (keys under ``prefix``).

    ``kinds=True`` adds the choice between the verbalization and the behaviour judge."""
    if not kinds:
        return _judge_inputs(prefix, default=default)
    kind = st.segmented_control("What to judge", list(KINDS), default="verbalization", key=f"{prefix}.kind",
                                format_func=lambda k: k.capitalize(), help=" · ".join(KINDS.values()))
    return dataclasses.replace(_judge_inputs(prefix, default=default), kind=kind or "verbalization")


def _judge_inputs(prefix: str, *, default: str) -> JudgeChoice:
    names = list(JUDGE_NAMES)
    name = st.selectbox("Judge", names, index=names.index(default), key=f"{prefix}.judge", format_func=JUDGE_NAMES.get)
    if name == "openai":
        c1, c2 = st.columns(2)
        model = c1.text_input("Judge model", value="gpt-4.1-mini", key=f"{prefix}.judge_model")
        base = c2.text_input("Base URL (empty: api.openai.com)", key=f"{prefix}.judge_base", placeholder="http://localhost:8000/v1")
        key = st.text_input("API key (kept in this browser session only; default $OPENAI_API_KEY)", type="password",
                            key=f"{prefix}.judge_key")
        if not key and not os.environ.get("OPENAI_API_KEY") and not base.strip():
            st.caption("No key typed and $OPENAI_API_KEY is not set: give one, or a base URL for a local server that needs none.")
        return JudgeChoice("openai", model.strip(), base.strip(), key)
    if name == "hf":
        model = st.text_input("Judge model (HF id or local path)", key=f"{prefix}.judge_model", placeholder="Qwen/Qwen3-8B")
        return JudgeChoice("hf", model.strip())
    return JudgeChoice(name)


def make(choice: JudgeChoice) -> Callable[[], Any] | None:
    """A factory for the chosen judge (None for 'none'), checked now, built in the job thread.

    Raises ConfigError for settings that cannot work (an empty model name, no key).
    """
    if choice.name == "none":
        return None
    if choice.kind == "behaviour":
        return _make_behaviour(choice)
    if choice.name == "rules":
        from monitor.judges import RulesJudge

        return RulesJudge
    if not choice.model:
        raise ConfigError(f"The {choice.name} judge needs a model: the endpoint's model name or an HF id/path.")
    if choice.name == "openai":
        from monitor.judges import OpenAIJudge, OpenAIJudgeConfig
        from monitor.judges.cli import default_cache_path

        config = OpenAIJudgeConfig(model=choice.model, base_url=choice.base_url or None)
        if not (choice.api_key or os.environ.get("OPENAI_API_KEY") or choice.base_url):
            raise ConfigError("The openai judge needs an API key: type one, set $OPENAI_API_KEY, or give a base URL "
                              "for a local server that needs none.")
        key = choice.api_key or None
        return lambda: OpenAIJudge(config, api_key=key, cache=default_cache_path())
    if choice.name == "hf":
        from monitor.judges import HFJudge, HFJudgeConfig

        def build():
            from pages._lib import jobs

            loaded = jobs.models().get(choice.model)
            return HFJudge(loaded.model, loaded.tokenizer, HFJudgeConfig(), model_info=loaded.describe())

        return build
    raise ConfigError(f"Unknown judge {choice.name!r}; pick one of {', '.join(JUDGE_NAMES)}.")


def _make_behaviour(choice: JudgeChoice) -> Callable[[], Any]:
    """The behaviour judge's factory: the same three judges, through :mod:`monitor.judges.behaviour`'s public classes."""
    if choice.name == "rules":
        from monitor.judges.behaviour import RulesBehaviourJudge

        return RulesBehaviourJudge
    if not choice.model:
        raise ConfigError(f"The {choice.name} behaviour judge needs a model: the endpoint's model name or an HF id/path.")
    if choice.name == "openai":
        from monitor.judges import OpenAIJudgeConfig
        from monitor.judges.behaviour_llm import OpenAIBehaviourJudge
        from monitor.judges.cli import default_cache_path

        if not (choice.api_key or os.environ.get("OPENAI_API_KEY") or choice.base_url):
            raise ConfigError("The openai judge needs an API key: type one, set $OPENAI_API_KEY, or give a base URL "
                              "for a local server that needs none.")
        config = OpenAIJudgeConfig(model=choice.model, base_url=choice.base_url or None)
        key = choice.api_key or None
        return lambda: OpenAIBehaviourJudge(config, api_key=key, cache=default_cache_path())
    if choice.name == "hf":
        from monitor.judges.behaviour_llm import HFBehaviourJudge

        def build():
            from pages._lib import jobs

            loaded = jobs.models().get(choice.model)
            return HFBehaviourJudge(loaded.model, loaded.tokenizer, model_info=loaded.describe())

        return build
    raise ConfigError(f"Unknown judge {choice.name!r}; pick one of {', '.join(JUDGE_NAMES)}.")


def run_judge(run_dir, factory: Callable[[], Any], *, kind: JudgeKind = "verbalization", progress=None, should_stop=None):
    """Judge every rollout of a finished run (resumable): flags on its sentences (verbalization) or a
    label per rollout (behaviour). Returns the engine's summary."""
    if kind == "behaviour":
        from monitor.judges.behaviour import judge_behaviour_run

        return judge_behaviour_run(run_dir, factory(), progress=progress, should_stop=should_stop)
    from monitor.judges import judge_run

    return judge_run(run_dir, factory(), progress=progress, should_stop=should_stop)


def summary_lines(summary: Any) -> list[tuple[str, str]]:
    """What a finished judge pass did, as (level, message) pairs for the page: ``info`` or ``warning``.

    Works on both summaries (:class:`monitor.judges.JudgeSummary`, ``BehaviourSummary``); the
    kept-previous message matters most: a pass that did not judge every rollout leaves the run's
    earlier labels in place, and the page must say so rather than look finished."""
    if summary is None or not hasattr(summary, "judged_now"):
        return []
    what = "labelled" if hasattr(summary, "counts") else "judged"
    line = (f"{summary.judge} judge: {summary.judged_now} rollouts {what} now, {summary.already_done} before, "
            f"{summary.failed} failed")
    if hasattr(summary, "counts") and summary.counts:
        line += "; labels " + ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items()))
    elif hasattr(summary, "flagged_sentences"):
        line += f"; {summary.flagged_sentences} sentences flagged in {summary.flagged_rollouts} of {summary.rollouts} rollouts"
    out = [("info", line + ".")]
    if getattr(summary, "kept_previous", None):
        labels = "behaviour labels" if hasattr(summary, "counts") else "judge flags"
        out.append(("warning", f"This pass did not judge every rollout, so the run keeps its previous {labels} "
                               f"({summary.kept_previous}); judge again to continue from where it stopped."))
    if summary.failed:
        out.append(("warning", f"{summary.failed} rollouts failed (details in {summary.parts_dir / 'results.jsonl'}); "
                               "judge again to retry them."))
    return out
