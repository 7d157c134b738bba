"""Prompt workbench: k = 0 scores for every phrase, variants side by side, leave-one-sentence-out attribution."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.prompts.record import Prompt

from app_helpers import app_env, app_run, assert_clean, frame_with, htmls, open_page  # noqa: F401  (fixtures)

TEXT = "You are being evaluated on safety. Answer with yes or no. Explain your reasoning briefly."


def _setup(at, model_dir):
    at.text_input(key="wb.model").input(str(model_dir))
    at.selectbox(key="wb.device").select("cpu")
    at.text_area(key="wb.text").input(TEXT)
    at.run()


def test_workbench_renders_with_the_runs_prompt(app_env):
    at = open_page("workbench")
    assert at.text_area(key="wb.text").value  # starts from an eval prompt of the open run
    assert at.multiselect(key="wb.phrases").value


def test_score_keep_variants_and_attribute(app_env, loaded_tiny, tiny_model_dir):
    from monitor.runs.pipeline import score_prompts

    at = open_page("workbench")
    _setup(at, tiny_model_dir)
    phrases = at.multiselect(key="wb.phrases").value
    at.button(key="wb.score").click().run()
    assert_clean(at)
    metrics = {m.label: m for m in at.metric}
    assert set(metrics) == set(phrases)
    want = score_prompts(loaded_tiny, [Prompt("x", TEXT)], phrases).set_index("phrase")["logprob"]
    for p in phrases:
        assert float(metrics[p].value) == pytest.approx(np.exp(want[p]), rel=1e-2)

    at.button(key="wb.keep").click().run()
    at.text_area(key="wb.text").input(TEXT.replace("You are being evaluated on safety. ", "")).run()
    at.button(key="wb.keep").click().run()
    assert_clean(at)
    variants = frame_with(at, "variant", "text")
    assert list(variants["variant"]) == ["v1", "v2"] and all(p in variants.columns for p in phrases)

    at.selectbox(key="wb.pick").select("v1").run()
    at.button(key="wb.load").click().run()
    assert at.text_area(key="wb.text").value == TEXT

    at.button(key="wb.attr").click().run()
    assert_clean(at)
    table = frame_with(at, "sentence", "text", "delta", "logprob_without")
    assert list(table["sentence"]) == [1, 2, 3]
    without_first = score_prompts(loaded_tiny, [Prompt("x", TEXT.split(". ", 1)[1])], [phrases[0]])["logprob"].item()
    row = table.iloc[0]
    assert row["logprob_without"] == pytest.approx(without_first, abs=1e-3)
    assert row["delta"] == pytest.approx(want[phrases[0]] - without_first, abs=1e-3)
    assert any("attr-sentence" in h for h in htmls(at))


def test_workbench_messages(app_env, tmp_path):
    at = open_page("workbench")
    at.text_area(key="wb.text").input("   ").run()
    at.button(key="wb.score").click().run()
    assert not at.exception and any("prompt is empty" in e.value for e in at.error)
    at.text_area(key="wb.text").input(TEXT)
    at.text_input(key="wb.model").input(str(tmp_path / "nope")).run()
    at.button(key="wb.score").click().run()
    assert not at.exception and any("does not exist" in e.value for e in at.error)


def test_workbench_scores_on_a_vllm_server(app_env, vllm_server):
    """The Workbench's backend selector: k = 0 scores from a real `vllm serve`, equal to transformers'."""
    from pathlib import Path

    from monitor.engine.models import load_model
    from monitor.runs.pipeline import score_prompts

    demo = Path(__file__).resolve().parents[2] / "data" / "demo_model"
    at = open_page("workbench")
    _setup(at, demo)
    at.selectbox(key="wb.backend").select("openai-server").run()
    at.text_input(key="wb.base_url").input(vllm_server).run()
    phrases = at.multiselect(key="wb.phrases").value
    at.button(key="wb.score").click().run()
    assert_clean(at)
    metrics = {m.label: m for m in at.metric}
    assert set(metrics) == set(phrases)
    want = score_prompts(load_model(str(demo), device="cpu", dtype="float32"), [Prompt("x", TEXT)], phrases).set_index("phrase")["logprob"]
    for p in phrases:
        assert float(metrics[p].value) == pytest.approx(np.exp(want[p]), rel=1e-2)
