"""Plotly figures drawn from analysis tables; the app and the HTML report show the same pictures.

Conventions: one colour per phrase (by its position in the run's phrase list) and per group
(eval red, deploy blue, verbalizing orange, not verbalizing grey) in every figure; probabilities on
a log axis (they span orders of magnitude); every piece of model or user text that reaches a label
or hover is HTML-escaped, because Plotly renders a subset of HTML in hover text and legends.
"""

from __future__ import annotations

import html
import textwrap
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .log_axis import apply_log_axes

__all__ = [
    "PHRASE_PALETTE",
    "GROUP_COLORS",
    "MONITOR_COLORS",
    "escape_text",
    "phrase_colors",
    "rollout_curve_figure",
    "roc_figure",
    "auroc_vs_k_figure",
    "group_curve_figure",
    "score_distribution_figure",
    "correlation_figure",
    "refusal_vs_score_figure",
    "paired_difference_figure",
    "apply_log_axes",
]

PHRASE_PALETTE = ("#1f77b4", "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#e377c2", "#2ca02c", "#ff7f0e", "#7f7f7f", "#d62728")
GROUP_COLORS: dict[str, str] = {
    "eval": "#d62728",
    "deploy": "#1f77b4",
    "unknown": "#7f7f7f",
    "verbalizing": "#ff7f0e",
    "not verbalizing": "#7f7f7f",
}
MONITOR_COLORS: dict[str, str] = {"logit": "#9467bd", "verbalization": "#2ca02c"}
# the labelled ticks come from the data (log_axis.apply_log_axes, called by every figure with a log
# axis); unlabelled minor ticks at every digit keep the scale's rhythm visible between them, and the
# labelled ticks are longer so a label never sits on a minor dash
_LOG_AXIS = dict(type="log", ticks="outside", ticklen=6, minor=dict(ticks="outside", ticklen=3, dtick="D1", showgrid=False))
_LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=20, t=50, b=50), hoverlabel=dict(align="left"))


def escape_text(text: Any, *, width: int = 80, max_chars: int = 600) -> str:
    """Model/user text made safe for Plotly labels: wrapped, truncated, ``& < >`` escaped.

    Wrapping happens before escaping, so a line break never splits an entity like ``&lt;``.
    """
    s = "" if text is None or (isinstance(text, float) and np.isnan(text)) else str(text)
    if len(s) > max_chars:
        s = s[: max_chars - 1] + "…"
    lines = textwrap.wrap(s, width=width, break_long_words=True, replace_whitespace=True) or [""]
    return "<br>".join(html.escape(line, quote=False) for line in lines)


def phrase_colors(phrases: Iterable[str]) -> dict[str, str]:
    """Colour per phrase by position (pass the run's phrase list so every figure agrees)."""
    return {p: PHRASE_PALETTE[i % len(PHRASE_PALETTE)] for i, p in enumerate(dict.fromkeys(phrases))}


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _group_color(name: str, i: int) -> str:
    return GROUP_COLORS.get(str(name), PHRASE_PALETTE[i % len(PHRASE_PALETTE)])


def _token_hover(token_logprobs: Any, token_ids: Any, token_text: Callable[[Sequence[int]], list[str]] | None = None) -> str:
    if token_logprobs is None or (isinstance(token_logprobs, float) and np.isnan(token_logprobs)):
        return ""
    lps = list(np.asarray(token_logprobs, dtype=float))
    ids = list(token_ids) if token_ids is not None and not isinstance(token_ids, float) else [None] * len(lps)
    names: list[str] = []
    if token_text is not None and ids and all(t is not None for t in ids):
        names = [escape_text(repr(t)) for t in token_text([int(t) for t in ids])]
    if len(names) != len(lps):
        names = ["tok" if tid is None else f"id {int(tid)}" for tid in ids]
    parts = [f"{n}: {np.exp(lp):.3g}" for n, lp in zip(names, lps)]
    return "<br>tokens: " + " · ".join(parts[:12]) + (" …" if len(parts) > 12 else "")


def rollout_curve_figure(curve_df: pd.DataFrame, *, log_scale: bool = True, title: str | None = None,
                         colors: Mapping[str, str] | None = None,
                         token_text: Callable[[Sequence[int]], list[str]] | None = None) -> go.Figure:
    """One line per phrase over the rollout's sentence boundaries (``analysis.rollout_curve`` table).

    Hover shows the sentence text (escaped), the phrase's probability and each forced token's
    probability, by its string when ``token_text`` (ids -> strings, the run's tokenizer) is given,
    else by id; judge-flagged sentences get a dotted vertical line and a star marker.
    """
    df = curve_df
    phrases = list(dict.fromkeys(df["phrase"]))
    colors = dict(colors) if colors else phrase_colors(phrases)
    fig = go.Figure()
    for p in phrases:
        d = df[df["phrase"] == p].sort_values("sentence")
        tok = [_token_hover(lp, ids, token_text) for lp, ids in zip(d.get("token_logprobs", [None] * len(d)), d.get("forced_token_ids", [None] * len(d)))]
        hover = [f"sentence {int(s)}<br>{escape_text(t) if t else '<i>(CoT start)</i>'}<br><b>p = {pr:.3g}</b> (log p = {lp:.2f}){th}"
                 for s, t, pr, lp, th in zip(d["sentence"], d["text"], d["prob"], d["logprob"], tok)]
        fig.add_trace(go.Scatter(x=d["sentence"], y=d["prob"], mode="lines+markers", name=escape_text(p, width=60),
                                 line=dict(color=colors.get(p)), marker=dict(size=5), hovertext=hover, hoverinfo="text",
                                 legendgroup=p))
        flagged = d[d["judge_flag"].astype(bool)] if "judge_flag" in d else d.iloc[:0]
        if len(flagged):
            fig.add_trace(go.Scatter(x=flagged["sentence"], y=flagged["prob"], mode="markers", name="judge-flagged",
                                     marker=dict(symbol="star", size=13, color=colors.get(p), line=dict(color="black", width=1)),
                                     hoverinfo="skip", legendgroup="flagged", showlegend=p == phrases[0]))
    if "judge_flag" in df:
        for s in sorted(df.loc[df["judge_flag"].astype(bool), "sentence"].unique()):
            fig.add_vline(x=float(s), line=dict(color=GROUP_COLORS["verbalizing"], dash="dot", width=1))
    fig.update_layout(title=escape_text(title) if title else "Probe probability at each sentence boundary",
                      xaxis_title="sentence boundary (0 = CoT start)", yaxis_title="probability of the phrase", **_LAYOUT)
    # sentence indices are whole numbers: ticks at integers (at most ~12 of them), never 0.2, 0.4, ...
    n = int(df["sentence"].max()) if len(df) else 0
    fig.update_xaxes(tick0=0, dtick=max(1, -(-n // 12)), tickformat="d")
    if log_scale:
        fig.update_yaxes(**_LOG_AXIS)
    return apply_log_axes(fig)


def roc_figure(curves: Mapping[str, pd.DataFrame], *, title: str = "ROC", colors: Mapping[str, str] | None = None) -> go.Figure:
    """ROC curves (tables from ``analysis.roc_curve_table``) keyed by legend name; chance diagonal."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="#bbbbbb", dash="dash"), name="chance", hoverinfo="skip"))
    for i, (name, df) in enumerate(curves.items()):
        color = (colors or {}).get(name, PHRASE_PALETTE[i % len(PHRASE_PALETTE)])
        fig.add_trace(go.Scatter(x=df["fpr"], y=df["tpr"], mode="lines", name=escape_text(name, width=70),
                                 line=dict(color=color, shape="hv"),
                                 hovertemplate="FPR %{x:.3f}<br>TPR %{y:.3f}<extra></extra>"))
    fig.update_layout(title=escape_text(title), xaxis_title="false positive rate", yaxis_title="true positive rate", **_LAYOUT)
    fig.update_xaxes(range=[-0.01, 1.01], constrain="domain")
    fig.update_yaxes(range=[-0.01, 1.02], constrain="domain")
    return fig


def _band(fig: go.Figure, x: Sequence, lo: Sequence, hi: Sequence, color: str, group: str) -> None:
    x = list(x)
    lo_l, hi_l = list(lo), list(hi)
    fig.add_trace(go.Scatter(x=x + x[::-1], y=hi_l + lo_l[::-1], mode="lines", fill="toself", fillcolor=_rgba(color, 0.18),
                             line=dict(width=0), hoverinfo="skip", showlegend=False, legendgroup=group))


def auroc_vs_k_figure(df: pd.DataFrame, *, title: str = "AUROC against rollouts per prompt (k)") -> go.Figure:
    """AUROC (with CI band) against k, one line per monitor (and per phrase/task when the table has them)."""
    fig = go.Figure()
    keys = [c for c in ("task", "phrase", "monitor") if c in df.columns]
    multi_phrase = "phrase" in df.columns and df["phrase"].nunique() > 1
    multi_task = "task" in df.columns and df["task"].nunique() > 1
    pcolors = phrase_colors(df["phrase"]) if multi_phrase else {}
    for i, (key, d) in enumerate(df.groupby(keys, sort=False) if keys else [((), df)]):
        key = key if isinstance(key, tuple) else (key,)
        rec = dict(zip(keys, key))
        mon = rec.get("monitor", "logit")
        name = mon if mon != "logit" or not multi_phrase else f"logit: {rec['phrase']}"
        if multi_task:
            name = f"{rec['task']} · {name}"
        color = pcolors.get(rec.get("phrase"), MONITOR_COLORS.get(mon)) if mon == "logit" and multi_phrase else MONITOR_COLORS.get(mon, PHRASE_PALETTE[i % 10])
        d = d.sort_values("k")
        ok = d["lo"].notna() & d["hi"].notna()
        if ok.any():
            _band(fig, d.loc[ok, "k"], d.loc[ok, "lo"], d.loc[ok, "hi"], color, name)
        fig.add_trace(go.Scatter(x=d["k"], y=d["auroc"], mode="lines+markers", name=escape_text(name, width=70), legendgroup=name,
                                 line=dict(color=color, dash="dash" if multi_task and rec.get("task") != df["task"].iloc[0] else None),
                                 customdata=np.column_stack([d["lo"], d["hi"]]),
                                 hovertemplate="k = %{x}<br>AUROC %{y:.3f} [%{customdata[0]:.3f}, %{customdata[1]:.3f}]<extra></extra>"))
    fig.add_hline(y=0.5, line=dict(color="#bbbbbb", dash="dash"))
    fig.update_layout(title=escape_text(title), xaxis_title="rollouts per prompt k (k = 0: CoT start, no rollout)",
                      yaxis_title="AUROC", **_LAYOUT)
    return fig


def group_curve_figure(df: pd.DataFrame, *, title: str = "Mean probe score along the CoT", log_scale: bool = True,
                       relative: bool | None = None) -> go.Figure:
    """Mean line and CI band per group (``analysis.group_curves`` table).

    The table's means are of log-probabilities; plotted as exp(mean), i.e. the geometric-mean
    probability, on a log axis (or as log p on a linear axis with ``log_scale=False``).
    """
    fig = go.Figure()
    if relative is None:  # group_curves puts relative positions at bin centres strictly inside (0, 1)
        relative = bool(len(df)) and not np.allclose(df["x"], np.round(df["x"]))
    tf = np.exp if log_scale else (lambda v: v)
    for i, (g, d) in enumerate(df.groupby("group", sort=False)):
        color = _group_color(g, i)
        d = d.sort_values("x")
        ok = d["lo"].notna() & d["hi"].notna()
        if ok.any():
            _band(fig, d.loc[ok, "x"], tf(d.loc[ok, "lo"]), tf(d.loc[ok, "hi"]), color, str(g))
        fig.add_trace(go.Scatter(x=d["x"], y=tf(d["mean"]), mode="lines", name=escape_text(g), legendgroup=str(g),
                                 line=dict(color=color), customdata=np.column_stack([d["mean"], d["n"]]),
                                 hovertemplate="x %{x:.3g}<br>mean log p %{customdata[0]:.2f}<br>rollouts %{customdata[1]}<extra></extra>"))
    fig.update_layout(title=escape_text(title),
                      xaxis_title="relative position in the CoT" if relative else "sentence boundary (0 = CoT start)",
                      yaxis_title="geometric-mean probability (95% bootstrap band)" if log_scale else "mean log probability", **_LAYOUT)
    if log_scale:
        fig.update_yaxes(**_LOG_AXIS)
    return apply_log_axes(fig)


def score_distribution_figure(prompt_scores_df: pd.DataFrame, *, title: str = "Prompt scores by label", log_scale: bool = True) -> go.Figure:
    """Box plot with every prompt as a point, one box per label (``analysis.prompt_scores`` table)."""
    fig = go.Figure()
    df = prompt_scores_df
    labels = sorted(df["label"].unique(), key=lambda x: ({"eval": 0, "deploy": 1}.get(x, 2), x))
    for i, lab in enumerate(labels):
        d = df[df["label"] == lab]
        y = np.exp(d["score"]) if log_scale else d["score"]
        fig.add_trace(go.Box(y=y, name=escape_text(lab), boxpoints="all", jitter=0.4, pointpos=0,
                             marker=dict(color=_group_color(lab, i), size=4, opacity=0.6), line=dict(color=_group_color(lab, i)),
                             hovertext=[f"{escape_text(p, width=40)}<br>log p = {s:.2f}" for p, s in zip(d["prompt_id"], d["score"])],
                             hoverinfo="text"))
    fig.update_layout(title=escape_text(title), yaxis_title="prompt score (probability)" if log_scale else "prompt score (log p)",
                      showlegend=False, **_LAYOUT)
    if log_scale:
        fig.update_yaxes(**_LOG_AXIS)
    return apply_log_axes(fig)


def correlation_figure(corr_df: pd.DataFrame, *, title: str = "Correlation between phrases (Spearman, per boundary)") -> go.Figure:
    """Heatmap of a phrase x phrase correlation matrix, values written in the cells."""
    names = [escape_text(p, width=30) for p in corr_df.columns]
    z = corr_df.to_numpy(dtype=float)
    fig = go.Figure(go.Heatmap(z=z, x=names, y=names, zmin=-1, zmax=1, colorscale="RdBu", reversescale=True,
                               text=np.vectorize(lambda v: "" if np.isnan(v) else f"{v:.2f}")(z) if z.size else None,
                               texttemplate="%{text}", hovertemplate="%{y}<br>%{x}<br>r = %{z:.3f}<extra></extra>"))
    fig.update_layout(title=escape_text(title), **_LAYOUT)
    fig.update_yaxes(autorange="reversed")
    return fig


def refusal_vs_score_figure(bins: Sequence[Mapping[str, Any]], *, title: str = "Refusal rate by the prompt's logit score") -> go.Figure:
    """Refusal rate of rollouts in quantile bins of their prompt's score (``refusal_vs_score``'s bins),
    with the bins' 95% cluster-bootstrap intervals; x is the bin's mean score as a probability."""
    df = pd.DataFrame(list(bins))
    fig = go.Figure()
    if len(df):
        x = np.exp(df["score_mean"].to_numpy(dtype=float))
        y = df["refusal_rate"].to_numpy(dtype=float)
        lo = df["lo"].to_numpy(dtype=float)
        hi = df["hi"].to_numpy(dtype=float)
        fig.add_trace(go.Scatter(
            x=x, y=y, mode="lines+markers", name="refusal rate", line=dict(color=GROUP_COLORS["eval"]),
            error_y=dict(type="data", symmetric=False, array=np.nan_to_num(hi - y), arrayminus=np.nan_to_num(y - lo)),
            customdata=np.c_[df["n_prompts"], df["n_rollouts"]],
            hovertemplate="score ≈ %{x:.2e}<br>refusal rate %{y:.2f}<br>%{customdata[0]} prompts, %{customdata[1]} rollouts<extra></extra>"))
    fig.update_layout(title=title, xaxis=dict(title="prompt score (probability, bin mean)", **_LOG_AXIS),
                      yaxis=dict(title="share of rollouts refusing", range=[-0.02, 1.02]), **_LAYOUT)
    return apply_log_axes(fig)


def paired_difference_figure(pairs: Sequence[Mapping[str, Any]], *, title: str = "Within-pair score difference") -> go.Figure:
    """Histogram of (positive - negative) prompt score per matched pair (``paired_comparison``'s pairs);
    pair ids are escaped in the hover."""
    df = pd.DataFrame(list(pairs))
    fig = go.Figure()
    if len(df):
        fig.add_trace(go.Histogram(x=df["difference"].to_numpy(dtype=float), nbinsx=30, name="pairs",
                                   marker_color=MONITOR_COLORS["logit"], hovertemplate="%{y} pairs<extra></extra>"))
        fig.add_vline(x=0, line=dict(color="#444", dash="dot"))
    fig.update_layout(title=title, xaxis_title="positive − negative member (log-prob, nats)", yaxis_title="pairs",
                      bargap=0.05, **_LAYOUT)
    return fig
