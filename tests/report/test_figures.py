"""Plotly figures: right traces, consistent colours, log axes, escaped model text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitor.analysis import auroc_vs_k, group_curves, phrase_correlation, prompt_scores, roc_curve_table, rollout_curve, task_labels
from monitor.report.figures import (
    GROUP_COLORS,
    MONITOR_COLORS,
    auroc_vs_k_figure,
    correlation_figure,
    escape_text,
    group_curve_figure,
    phrase_colors,
    roc_figure,
    rollout_curve_figure,
    score_distribution_figure,
)
from monitor.runs.store import read_run
from monitor.runs.handmade import make_tiny_run
from monitor.runs.synthetic import make_synthetic_run


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    return read_run(make_synthetic_run(tmp_path_factory.mktemp("fig") / "run", n_prompts=24, rollouts=3, seed=0))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return read_run(make_tiny_run(tmp_path_factory.mktemp("fig") / "tiny"))


def test_escape_text():
    assert escape_text("a < b && c > d") == "a &lt; b &amp;&amp; c &gt; d"
    assert escape_text("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;"
    wrapped = escape_text("x" * 10 + " " + "<" * 30, width=12)
    assert all(part.count("&") == part.count(";") for part in wrapped.split("<br>"))  # no entity cut in two
    assert "<" not in wrapped.replace("<br>", "")
    assert escape_text(None) == "" and escape_text(float("nan")) == ""
    assert escape_text("y" * 1000).endswith("…")


def test_rollout_curve_figure_escapes_and_marks_flags(syn):
    curve = rollout_curve(syn, syn.prompts["prompt_id"].iloc[0], 0)  # holds the <script> sentence
    fig = rollout_curve_figure(curve)
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert [t.name for t in lines] == [escape_text(p, width=60) for p in syn.phrases]
    colors = phrase_colors(syn.phrases)
    assert [t.line.color for t in lines] == [colors[p] for p in syn.phrases]
    hover = " ".join(h for t in lines for h in t.hovertext)
    assert "&lt;script&gt;" in hover and "<script" not in hover
    assert "tokens: id " in hover and "(CoT start)" in hover
    assert fig.layout.yaxis.type == "log"
    assert rollout_curve_figure(curve, log_scale=False).layout.yaxis.type != "log"
    np.testing.assert_allclose(lines[0].y, curve[curve["phrase"] == syn.phrases[0]]["prob"])
    # whole-number sentence ticks, at most ~12 of them
    n = int(curve["sentence"].max())
    assert fig.layout.xaxis.dtick == max(1, -(-n // 12)) and fig.layout.xaxis.tickformat == "d"
    two = curve[curve["sentence"] <= 1]
    assert rollout_curve_figure(two).layout.xaxis.dtick == 1


def test_flagged_markers(tiny):
    fig = rollout_curve_figure(rollout_curve(tiny, "a", 1))
    stars = [t for t in fig.data if t.name == "judge-flagged"]
    assert len(stars) == 2 and list(stars[0].x) == [2] and stars[0].showlegend and not stars[1].showlegend
    assert any(s.type == "line" for s in fig.layout.shapes)  # dotted line at the flagged sentence


def test_roc_figure(syn):
    y = task_labels(syn, "eval_vs_deploy")
    curves = {p: roc_curve_table(y, prompt_scores(syn, p).set_index("prompt_id")["score"].reindex(y.index)) for p in syn.phrases}
    fig = roc_figure(curves, title="ROC <task>")
    assert len(fig.data) == 1 + len(syn.phrases) and fig.data[0].name == "chance"
    assert fig.layout.title.text == "ROC &lt;task&gt;"
    np.testing.assert_allclose(fig.data[1].x, curves[syn.phrases[0]]["fpr"])


def test_auroc_vs_k_figure(syn):
    df = auroc_vs_k(syn, syn.phrases[0], n_boot=30, n_resamples=4)
    fig = auroc_vs_k_figure(df)
    named = [t for t in fig.data if t.showlegend is not False]
    assert [t.name for t in named] == ["logit", "verbalization"]
    assert [t.line.color for t in named] == [MONITOR_COLORS["logit"], MONITOR_COLORS["verbalization"]]
    bands = [t for t in fig.data if t.fill == "toself"]
    assert len(bands) == 2 and all(b.hoverinfo == "skip" for b in bands)
    # several phrases and tasks in one table: one line each
    both = pd.concat([df.assign(task="a", phrase="p1"), df.assign(task="b", phrase="p2")])
    assert len([t for t in auroc_vs_k_figure(both).data if t.showlegend is not False]) == 4


def test_group_curve_figure(syn):
    df = group_curves(syn, syn.phrases[0], n_boot=30)
    fig = group_curve_figure(df)
    lines = [t for t in fig.data if t.mode == "lines" and t.fill != "toself"]
    assert [t.name for t in lines] == ["eval", "deploy"]
    assert [t.line.color for t in lines] == [GROUP_COLORS["eval"], GROUP_COLORS["deploy"]]
    np.testing.assert_allclose(lines[0].y, np.exp(df[df["group"] == "eval"]["mean"]))
    assert fig.layout.yaxis.type == "log" and "sentence" in fig.layout.xaxis.title.text
    rel = group_curve_figure(group_curves(syn, syn.phrases[0], x="relative", n_boot=0))
    assert "relative" in rel.layout.xaxis.title.text


def test_distribution_and_correlation(syn):
    ps = prompt_scores(syn, syn.phrases[0])
    fig = score_distribution_figure(ps)
    assert [t.name for t in fig.data] == ["eval", "deploy"] and sum(len(t.y) for t in fig.data) == len(ps)
    corr = phrase_correlation(syn)
    hm = correlation_figure(corr)
    np.testing.assert_allclose(np.array(hm.data[0].z, dtype=float), corr.to_numpy())
    assert hm.data[0].zmin == -1 and hm.data[0].zmax == 1


def test_figures_serialise_without_raw_tags(syn):
    curve = rollout_curve(syn, syn.prompts["prompt_id"].iloc[0], 0)
    js = rollout_curve_figure(curve).to_json()
    assert "<" not in js  # Plotly writes < as \u003c in JSON ...
    assert "&lt;script&gt;alert" in js  # ... and the hover text was html-escaped before that
