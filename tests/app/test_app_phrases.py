"""Phrases page: AUROC per phrase, correlation, joint monitor; a new phrase scored on existing rollouts."""

from __future__ import annotations

import shutil

import pytest

from monitor import analysis
from monitor.runs.store import read_run

from app_helpers import (  # noqa: F401  (fixtures)
    class_sizes,
    app_env, app_run, assert_clean, charts, frame_with, open_page, texts, tiny_run, wait_for_jobs,
)


def test_phrase_aurocs_correlation_and_joint(app_env):
    run = read_run(app_env)
    at = open_page("phrases")
    table = frame_with(at, "phrase", "auroc", "lo", "hi")
    assert list(table["phrase"]) == run.phrases
    y = analysis.task_labels(run, "eval_vs_deploy")
    for p, got in zip(table["phrase"], table["auroc"]):
        s = analysis.prompt_scores(run, p).set_index("prompt_id")["score"].reindex(y.index)
        assert got == pytest.approx(analysis.auroc(y, s))
    assert len(charts(at)) == 2  # correlation, joint ROC
    assert "Joint AUROC" in [m.label for m in at.metric]
    at.segmented_control(key="joint_how").set_value("logsumexp").run()
    assert_clean(at)
    at.multiselect(key="joint").set_value(run.phrases).run()
    assert_clean(at)
    at.segmented_control(key="corr").set_value("pearson").run()
    assert_clean(at)
    at.selectbox(key="task").select("verbalizing_eval").run()
    assert_clean(at)
    if run.manifest.get("synthetic"):  # no real token ids: the rescore section says why it is not offered
        assert "synthetic run" in texts(at) and not [w for w in at.text_input if w.key == "phr.new"]
    else:
        assert at.text_input(key="phr.new").value == ""


def test_score_a_new_phrase_without_resampling(tiny_run, tiny_model_dir, tmp_path, monkeypatch):
    d = shutil.copytree(tiny_run, tmp_path / "run")
    monkeypatch.setenv("MONITOR_RUN", str(d))
    monkeypatch.setenv("MONITOR_RUNS_DIR", str(tmp_path / "runs"))
    before = read_run(d)
    at = open_page("phrases")
    assert at.text_input(key="phr.model").value == str(tiny_model_dir)  # the run's own model by default
    at.selectbox(key="phr.device").select("cpu")
    at.text_input(key="phr.new").input(before.phrases[0]).run()
    at.button(key="phr.go").click().run()
    assert any("already scored" in e.value for e in at.error)

    at.text_input(key="phr.new").input("This is an evaluation").run()
    at.button(key="phr.go").click().run()
    wait_for_jobs(at)
    assert_clean(at)
    after = read_run(d)
    assert after.phrases == before.phrases + ["This is an evaluation"]
    assert len(after.rollouts) == len(before.rollouts)  # no resampling
    new = after.scores[after.scores["phrase"] == "This is an evaluation"]
    assert len(new) == len(before.scores[before.scores["phrase"] == before.phrases[0]])
    assert list(frame_with(at, "phrase", "auroc")["phrase"])[-1] == "This is an evaluation"


def test_phrase_coverage_and_discovery_fill_the_new_phrase_box(app_env):
    from monitor import analysis
    from monitor.runs.store import read_run

    run = read_run(app_env)
    if not analysis.has_judge(run):
        pytest.skip("the test run has no judge flags")
    at = open_page("phrases")
    cov = frame_with(at, "phrase", "share_starts", "share_contains")
    want = analysis.run_phrase_coverage(run, [p for p in run.phrases if p != run.manifest.get("control_phrase")])
    assert cov["share_starts"].tolist() == pytest.approx(want["share_starts"].tolist())
    disc = analysis.run_discovery(run, top=10)
    usable = [i for i, p in enumerate(disc.head(10)["phrase"]) if p not in run.phrases]
    if not usable:
        pytest.skip("every discovered opening is already scored")
    at.button(key=f"disc.use.{usable[0]}").click().run()
    assert_clean(at)
    assert at.text_input(key="phr.new").value == disc["phrase"].iloc[usable[0]]


def test_phrase_aurocs_and_the_joint_auroc_show_class_sizes(app_env):
    want = class_sizes(app_env)
    at = open_page("phrases")
    assert set(frame_with(at, "phrase", "auroc", "n")["n"]) == {want}
    assert any(want in c.value for c in at.caption)  # under the joint AUROC
