"""Search: find CoT sentences across a run by text, judge flag, prompt label and score range."""

from __future__ import annotations

import math

import numpy as np
import streamlit as st

from pages._lib import cache, columns, open_run, page_frame, view_state
from pages._lib import tables as _tables
from pages._lib import text as _text

run, key, ix = page_frame.run_page("Search CoT sentences")
if not len(run.sentences):
    st.info("This run has no sentences yet.")
    st.stop()

MAX_ROWS = 1000
c1, c2, c3 = st.columns([3, 2, 2])
with c1:
    q = st.text_input("Text contains", key="q", bind="query-params", placeholder="e.g. test, benchmark, evaluat")
with c2:
    flag = st.segmented_control("Judge flag", ["any", "flagged", "unflagged"], default="any", key="flag", bind="query-params",
                                disabled=not open_run.has_judge(run), help=None if open_run.has_judge(run) else "This run has no judge flags.")
with c3:
    label_options = sorted(run.prompts["label"].dropna().unique().tolist())
    labels = st.multiselect("Prompt label", label_options, key="labels", bind="query-params")
d1, d2, d3 = st.columns([3, 1, 1])
with d1:
    phrase = view_state.url_choice(st.selectbox, "Score by phrase", ix.phrases, key="phrase", default=ix.phrases[0], format_func=lambda p: open_run.phrase_label(p, run, ix.phrases))
lo_b, hi_b = cache.table(key, "logprob_bounds", phrase=phrase)
with d2:
    lp_min = st.number_input("min log-prob", value=None, step=0.5, key="lp_min", bind="query-params", placeholder=f"{lo_b:g}")
with d3:
    lp_max = st.number_input("max log-prob", value=None, step=0.5, key="lp_max", bind="query-params", placeholder=f"{hi_b:g}")

if lp_min is not None and lp_max is not None and lp_min > lp_max:
    st.error(f"The score range is empty: min log-prob {lp_min:g} is above max log-prob {lp_max:g}.")
    st.stop()
rng = None
if lp_min is not None or lp_max is not None:
    rng = (-math.inf if lp_min is None else float(lp_min), math.inf if lp_max is None else float(lp_max))

table = cache.sentence_table(key, phrase)
hits = _tables.filter_sentences(table, text=q or "", flag=flag or "any", labels=labels, logprob_range=rng)
n_roll = hits[["prompt_id", "rollout"]].drop_duplicates().shape[0] if len(hits) else 0
st.markdown(f"**{len(hits):,}** of {len(table):,} sentences match, in {n_roll:,} rollouts"
            + (f" (showing the first {MAX_ROWS:,}, highest score first)" if len(hits) > MAX_ROWS else ""))
shown = hits.nlargest(MAX_ROWS, "logprob") if len(hits) > MAX_ROWS else hits.sort_values("logprob", ascending=False)
shown = _tables.with_prompt_text(shown.assign(probability=np.exp(shown["logprob"].to_numpy(dtype=float))), run, width=160)
order = ["prompt_id", "prompt", "label", "rollout", "sentence", "text", "judge_flag", "logprob", "probability"]
event = st.dataframe(
    shown, key="search_results", hide_index=True, on_select="rerun", selection_mode="single-row",
    height=columns.table_height(len(shown), max_height=520), column_order=order,
    column_config=columns.config(order, prompt={"width": "medium"}),
)
if event is not None and event.selection.rows:
    r = shown.iloc[event.selection.rows[0]]
    st.page_link("pages/curves.py", label=f"Open {_text.md(r['prompt_id'])} rollout {int(r['rollout'])} at sentence {int(r['sentence'])} on Curves",
                 icon=":material/show_chart:",
                 query_params={"prompt": r["prompt_id"], "rollout": str(int(r["rollout"])), "sentence": str(int(r["sentence"])), "phrase": phrase})
st.download_button("Download matches (CSV)", data=lambda: hits.to_csv(index=False).encode(), file_name="sentences.csv", mime="text/csv",
                   key="search.csv", icon=":material/download:", on_click="ignore")
