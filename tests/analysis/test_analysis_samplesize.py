"""The small-sample rule (monitor.analysis.samplesize) and where it shows: summary records, `monitor analyze`."""

from __future__ import annotations

import pytest

from monitor.analysis import MIN_PER_CLASS, format_summary, is_small_sample, small_sample_warning, summarize
from monitor.analysis.samplesize import record_warning, sample_size_text
from monitor.runs.store import read_run
from monitor.runs.synthetic import make_synthetic_run


@pytest.mark.parametrize(("n_pos", "n_neg", "small"), [(2, 2, True), (9, 50, True), (50, 9, True), (10, 10, False), (80, 71, False),
                                                       (None, 10, True), ("x", 10, True)])
def test_rule_is_fewer_than_ten_per_class(n_pos, n_neg, small):
    assert MIN_PER_CLASS == 10
    assert is_small_sample(n_pos, n_neg) is small
    assert (small_sample_warning(n_pos, n_neg) is not None) is small


def test_warning_names_the_counts_and_threshold():
    w = small_sample_warning(2, 3, what="the eval vs deploy AUROC")
    assert w.startswith("Too few prompts: the eval vs deploy AUROC rests on 2 positive and 3 negative")
    assert "fewer than 10 per class" in w
    assert record_warning({"n_pos": 12, "n_neg": 30}) is None and record_warning({"n_pos": 1, "n_neg": 30})
    assert sample_size_text(2, 3) == "n = 2 + 3"
    assert small_sample_warning(3, 3, min_per_class=3) is None


def test_summary_and_analyze_carry_the_warning(tmp_path):
    run = read_run(make_synthetic_run(tmp_path / "tiny", n_prompts=4, rollouts=3, sentences=(4, 8), seed=2))
    s = summarize(run, n_boot=50, n_boot_k=10, n_resamples=3)
    task = s["tasks"]["eval_vs_deploy"]
    assert (task["n_pos"], task["n_neg"]) == (2, 2) and task["small_sample"] is True
    assert "2 positive and 2 negative" in task["warning"]
    recs = [a for a in s["auroc"] if a["task"] == "eval_vs_deploy"]
    assert recs and all(a["small_sample"] is True for a in recs)
    text = format_summary(s)
    assert "WARNING: Too few prompts" in text


def test_large_enough_run_has_no_warning(tmp_path):
    run = read_run(make_synthetic_run(tmp_path / "big", n_prompts=40, rollouts=2, sentences=(3, 5), seed=0))
    s = summarize(run, n_boot=20, n_boot_k=5, n_resamples=2)
    task = s["tasks"]["eval_vs_deploy"]
    assert min(task["n_pos"], task["n_neg"]) >= 10
    assert task["small_sample"] is False and "warning" not in task
    assert "Too few prompts" not in format_summary(s).split("verbalizing_eval")[0]
