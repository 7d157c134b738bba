"""Compare two runs side by side (two models, two prompt versions, two phrase sets)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from monitor import runs
from monitor.report import figures
from monitor.errors import MonitorError
from monitor.analysis import record_warning
from pages._lib import cache, charts, columns, feedback, open_run, view_state
from pages._lib import tables as _tables
from pages._lib import text as _text

view_state.ensure_router()

st.title("Compare runs")
run_a, key_a = open_run.require_run()

found = runs.list_runs(open_run.runs_dir())["run"].tolist() if open_run.runs_dir().is_dir() else []
candidates = [p for p in dict.fromkeys([*found, open_run.default_run_path()]) if open_run.resolve_path(p) != open_run.resolve_path(run_a.path)]
b1, b2 = st.columns([3, 2])
with b1:
    typed = st.text_input("Run B (directory)", key="run_b", bind="query-params",
                          placeholder=candidates[0] if candidates else "runs/other-run",
                          help="Any run directory; the open run is run A.")
with b2:
    picked = st.selectbox("…or one found", candidates, index=None, key="cmp.found", placeholder="runs found under " + str(open_run.runs_dir()))
path_b = (typed or "").strip() or picked
if not path_b:
    st.info("Choose a second run to compare with the open run "
            f"({_text.code(st.session_state['run_path'])}). New runs appear here once made on the **Run the monitor** page.")
    st.stop()
try:
    key_b = open_run.run_key(path_b)
    run_b = open_run.load_run(key_b)
except MonitorError as e:
    st.error(f"Cannot open run B {_text.code(path_b)}: {_text.md(e)}")
    st.stop()

phrases_a, phrases_b = cache.index(key_a).phrases, cache.index(key_b).phrases
common = [p for p in phrases_a if p in phrases_b]
if not common:
    st.warning("The two runs share no phrase; comparing each run's primary phrase.")
p1, p2 = st.columns(2)
with p1:
    phrase_a = view_state.url_choice(st.selectbox, "Phrase (run A)", phrases_a, key="phrase", default=phrases_a[0])
with p2:
    opts_b = phrases_b
    phrase_b = st.selectbox("Phrase (run B)", opts_b, index=opts_b.index(phrase_a) if phrase_a in opts_b else 0, key="phrase_b")

cols = st.columns(2, gap="large")
scores: dict[str, pd.DataFrame] = {}
rocs: dict[str, pd.DataFrame] = {}
for col, name, run, key, phrase in ((cols[0], "A", run_a, key_a, phrase_a), (cols[1], "B", run_b, key_b, phrase_b)):
    with col:
        model = (run.manifest.get("model") or {}).get("id", "?")
        st.subheader(f"Run {name}")
        st.caption(_text.code(run.path))
        open_run.demo_banner(run)
        st.markdown(f"**Model**: {_text.code(model)}")  # in full: a truncated metric hid which model it was
        m = st.columns(2)
        m[0].metric("Prompts", len(run.prompts))
        m[1].metric("Rollouts", len(run.rollouts))
        with feedback.guard(f"Run {name}"):
            panel = cache.table(key, "roc_panel", phrase=phrase)
            for w in sorted({w for w in (record_warning(r, what=f"run {name}'s AUROC") for r in panel["aurocs"].to_dict("records")) if w}):
                st.warning(w, icon=":material/warning:")
            aurocs = columns.with_class_sizes(panel["aurocs"])
            st.dataframe(aurocs, key=f"cmp.auroc.{name}", hide_index=True, column_config=columns.config(aurocs.columns))
            scores[name] = cache.analysis(key, "prompt_scores", phrase=phrase)
            rocs.update({f"run {name} · {curve_name}": curve for curve_name, curve in panel["curves"].items()})

if scores:
    # both runs in one figure each, on one y-axis, so their scores can be read against each other
    g1, g2 = st.columns(2, gap="large")
    with g1:
        both_scores = pd.concat([ps.assign(label=ps["label"].astype(str) + f" · run {name}") for name, ps in scores.items()], ignore_index=True)
        charts.chart(figures.score_distribution_figure(both_scores, title="Prompt scores by label, both runs"), key="cmp.dist",
                     name="prompt-scores-both-runs")
    with g2:
        if rocs:
            charts.chart(figures.roc_figure(rocs, title="ROC, both runs"), key="cmp.roc", name="roc-both-runs")

if len(scores) == 2:
    both = scores["A"][["prompt_id", "label", "score"]].merge(scores["B"][["prompt_id", "score"]], on="prompt_id", suffixes=(" A", " B"))
    st.subheader("Prompts in both runs")
    if not len(both):
        st.caption("No prompt id appears in both runs.")
    else:
        both["B − A"] = both["score B"] - both["score A"]
        st.caption(f"{len(both)} shared prompts; scores are log-probabilities (B − A > 0: run B rates the prompt more test-like).")
        both = _tables.with_prompt_text(both.sort_values("B − A", key=np.abs, ascending=False), run_a)
        st.dataframe(both, key="cmp.both", hide_index=True, height=columns.table_height(len(both)),
                     column_config=columns.config(both.columns) | {c: st.column_config.NumberColumn(c, format="%.3f") for c in ("score A", "score B", "B − A")})
