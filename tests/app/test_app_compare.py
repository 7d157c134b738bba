"""Compare page: two runs side by side."""

from __future__ import annotations

from monitor.runs.store import read_run
from monitor.runs.synthetic import make_synthetic_run

from app_helpers import app_env, app_run, assert_clean, charts, frame_with, open_page, texts  # noqa: F401  (fixtures)


def test_compare_asks_for_a_second_run(app_env):
    at = open_page("compare")
    assert "Choose a second run" in texts(at)


def test_compare_two_runs(app_env, tmp_path):
    other = make_synthetic_run(tmp_path / "b", n_prompts=12, rollouts=3, sentences=(3, 6), seed=3)
    at = open_page("compare", query={"run_b": str(other)})
    assert at.text_input(key="run_b").value == str(other)
    a, b = read_run(app_env), read_run(other)
    prompts = [m.value for m in at.metric if m.label == "Prompts"]
    assert prompts == [str(len(a.prompts)), str(len(b.prompts))]
    figs = charts(at)
    assert len(figs) == 2  # one distribution and one ROC, each drawing both runs on the same axes
    for fig in figs:
        spec = fig.proto.spec
        assert "run A" in spec and "run B" in spec
    shared = set(a.prompts["prompt_id"]) & set(b.prompts["prompt_id"])
    if shared:
        both = frame_with(at, "score A", "score B", "B − A")
        assert set(both["prompt_id"]) == shared
        assert (both["B − A"] - (both["score B"] - both["score A"])).abs().max() < 1e-9
    if b.phrases[-1] in a.phrases:
        at.selectbox(key="phrase").select(b.phrases[-1]).run()
        assert_clean(at)


def test_compare_with_a_bad_path(app_env, tmp_path):
    at = open_page("compare", query={"run_b": str(tmp_path / "missing")}, clean=False)
    assert not at.exception
    assert any("Cannot open run B" in e.value for e in at.error)
