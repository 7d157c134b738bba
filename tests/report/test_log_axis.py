"""Log-axis ticks: labelled at every decade, 1-2-5 under two decades, never fewer than two labels."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from monitor.report.log_axis import log_ticks, tick_label


@pytest.mark.parametrize("v, want", [(1e-3, "1e-3"), (5e-3, "5e-3"), (2e-5, "2e-5"), (1e-12, "1e-12"),
                                     (0.01, "0.01"), (0.02, "0.02"), (0.1, "0.1"), (0.5, "0.5"), (1.0, "1"), (20.0, "20")])
def test_tick_labels_read_as_probabilities(v, want):
    assert tick_label(v) == want


def test_every_decade_labelled_over_many_decades():
    t = log_ticks([1e-6, 3e-4, 0.2])
    assert t.values == (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
    assert t.labels == ("1e-6", "1e-5", "1e-4", "1e-3", "0.01", "0.1")


def test_one_two_five_under_two_decades():
    # the Scores plot of the issue: points from 0.004 to 0.3 (under two decades) had one label, 10^-2
    t = log_ticks([0.004, 0.03, 0.3])
    assert t.labels == ("5e-3", "0.01", "0.02", "0.05", "0.1", "0.2")
    assert log_ticks([0.002, 0.5]).labels == ("0.01", "0.1")  # 2.4 decades: every decade, no 1-2-5


def test_two_decades_or_more_get_decades_only():
    t = log_ticks([1e-3, 0.1])
    assert t.values == (1e-3, 1e-2, 1e-1)


@pytest.mark.parametrize("values", [[0.013, 0.018], [0.3], [0.0123], [7e-9, 8e-9], [1.0]])
def test_at_least_two_labels_and_the_range_covers_them(values):
    t = log_ticks(values)
    assert len(t.values) >= 2 and len(t.labels) == len(t.values)
    lo, hi = t.range
    assert lo <= math.log10(min(t.values)) and math.log10(max(t.values)) <= hi
    assert lo <= math.log10(min(values)) and math.log10(max(values)) <= hi
    # the added ticks are the nearest ones: 0.013-0.018 sits between 0.01 and 0.02
    if values == [0.013, 0.018]:
        assert t.labels == ("0.01", "0.02")


def test_non_positive_and_missing_values_are_ignored():
    assert log_ticks([0.0, -1.0, float("nan"), None]) is None
    assert log_ticks([0.0, 0.01, 0.1, float("inf")]).values[0] == 0.01


def test_very_wide_ranges_thin_the_decade_labels():
    t = log_ticks([1e-40, 1.0])
    assert 2 <= len(t.values) <= 13
    assert all(tick_label(v) in t.labels for v in t.values)


def test_every_figure_with_a_log_axis_labels_two_or_more_ticks():
    from monitor.report import figures

    ps = pd.DataFrame({"prompt_id": ["a", "b", "c", "d"], "label": ["eval", "eval", "deploy", "deploy"],
                       "score": np.log([0.004, 0.03, 0.3, 0.01])})
    fig = figures.score_distribution_figure(ps)
    assert fig.layout.yaxis.tickmode == "array" and len(fig.layout.yaxis.ticktext) >= 2
    assert "0.01" in fig.layout.yaxis.ticktext and "0.1" in fig.layout.yaxis.ticktext
    curve = pd.DataFrame({"phrase": ["p"] * 3, "sentence": [0, 1, 2], "text": ["", "a", "b"],
                          "prob": [0.0123, 0.0124, 0.0125], "logprob": np.log([0.0123, 0.0124, 0.0125])})
    fig = figures.rollout_curve_figure(curve)
    assert list(fig.layout.yaxis.ticktext) == ["0.01", "0.02"]
    gc = pd.DataFrame({"group": ["eval", "eval"], "x": [0, 1], "mean": np.log([1e-5, 1e-3]), "lo": np.log([5e-6, 5e-4]),
                       "hi": np.log([2e-5, 2e-3]), "n": [3, 3]})
    fig = figures.group_curve_figure(gc)
    assert list(fig.layout.yaxis.ticktext) == ["1e-5", "1e-4", "1e-3"]
    fig = figures.refusal_vs_score_figure([{"score_mean": math.log(0.02), "refusal_rate": 0.5, "lo": 0.3, "hi": 0.7,
                                            "n_prompts": 3, "n_rollouts": 9}])
    assert len(fig.layout.xaxis.ticktext) >= 2
    assert figures.rollout_curve_figure(curve, log_scale=False).layout.yaxis.tickmode is None
