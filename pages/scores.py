"""Scores & ROC: prompt-level scores, ROC of the logit and verbalization monitors, AUROC vs k, controls."""

from __future__ import annotations

import streamlit as st

from monitor.report import figures
from monitor.analysis import record_warning
from pages._lib import cache, charts, columns, feedback, open_run, page_frame, view_state
from pages._lib import reviewer as _reviewer
from pages._lib import summary as _summary
from pages._lib import text as _text

run, key, ix = page_frame.run_page("Scores & ROC", need_scores=True)

METHODS = {
    "max": "max over rollouts and sentences (paper)",
    "mean_rollout_max": "mean of each rollout's max",
    "k0": "CoT start only (k = 0, no sampling)",
    "first_n": "max over the first N sentences",
}
TASKS = {"eval_vs_deploy": "eval vs deploy prompts", "verbalizing_eval": "which eval prompts get verbalized"}

c1, c2, c3, c4 = st.columns([3, 2, 1, 2])
with c1:
    phrase = view_state.url_choice(st.selectbox, "Phrase", ix.phrases, key="phrase", default=ix.phrases[0], format_func=lambda p: open_run.phrase_label(p, run, ix.phrases))
with c2:
    method = view_state.url_choice(st.selectbox, "Prompt score", list(METHODS), key="method", default="max", format_func=METHODS.get)
with c3:
    first_n = st.number_input("N", min_value=1, max_value=200, value=3, key="first_n", bind="query-params",
                              disabled=method != "first_n", help="Sentences counted by 'max over the first N sentences'.")
with c4:
    task_options = list(TASKS) if open_run.has_judge(run) else ["eval_vs_deploy"]
    task = view_state.url_choice(st.selectbox, "Task", task_options, key="task", default="eval_vs_deploy", format_func=TASKS.get)

top_left, top_right = st.columns(2, gap="large")
with top_left:
    with feedback.guard("The prompt scores"):
        st.subheader("Prompt scores")
        ps = cache.analysis(key, "prompt_scores", phrase=phrase, method=method, first_n=int(first_n))
        charts.chart(figures.score_distribution_figure(ps), key="score_dist", name="prompt-scores")
with top_right:
    with feedback.guard("The ROC curves"):
        st.subheader("ROC")
        panel = cache.table(key, "roc_panel", phrase=phrase, method=method, first_n=int(first_n), task=task)
        if panel["curves"]:
            warnings = {w for w in (record_warning(r, what=f"the {TASKS[task]} AUROC") for r in panel["aurocs"].to_dict("records")) if w}
            for w in sorted(warnings):
                st.warning(w, icon=":material/warning:")
            charts.chart(figures.roc_figure(panel["curves"], title=f"ROC · {TASKS[task]}"), key="roc_chart", name="roc")
            aurocs = columns.with_class_sizes(panel["aurocs"])  # "n = 80 + 80" beside each AUROC
            st.dataframe(aurocs, key="roc_aurocs", hide_index=True,
                         column_config=columns.config(aurocs.columns, monitor={"width": "medium"}))
        else:
            st.info("An ROC curve needs both positive and negative prompts for this task.")

with feedback.guard("The prompt table"):
    shown = cache.table(key, "score_table", phrase=phrase, method=method, first_n=int(first_n))
    event = st.dataframe(
        shown, key="score_table", hide_index=True, on_select="rerun", selection_mode="single-row",
        height=columns.table_height(len(shown)), column_config=columns.config(shown.columns),
    )
    st.caption("Click a row to drill into that prompt; click a column header to sort.")
    rows = event.selection.rows if event is not None else []
    if rows:
        pid = str(shown.iloc[rows[0]]["prompt_id"])
        with st.container(border=True, key="drill"):
            p = run.prompts.iloc[ix.prompt_row[pid]]
            st.markdown(f"**{_text.md(pid)}** · {_text.md(p['label'])}")
            st.text(str(p["text"])[:2000])
            best = cache.table(key, "prompt_rollouts", prompt_id=pid, phrase=phrase)
            st.dataframe(best, key="drill_rollouts", hide_index=True, column_config=columns.config(best.columns),
                         height=columns.table_height(len(best)))
            top = int(best.sort_values("max_logprob", ascending=False).iloc[0]["rollout"]) if len(best) else 0
            st.page_link("pages/curves.py", label=f"Open rollout {top} (highest peak) on Curves", icon=":material/show_chart:",
                         query_params={"prompt": pid, "rollout": str(top), "phrase": phrase})

left, right = st.columns(2, gap="large")
with left:
    with feedback.guard("The controls"):
        st.subheader("Controls")
        ctl = cache.analysis(key, "controls", phrase=phrase, task=task, method=method)
        ctable = _summary.controls_table(ctl)
        st.dataframe(ctable, key="controls_table", hide_index=True, column_config=columns.config(ctable.columns))
        for note in ctl.get("notes") or []:
            st.caption(f"Note: {_text.md(note)}")
        st.caption("A monitor that only tracks prompt length would show a length baseline as good as the phrase, "
                   "a primary − control difference near 0, and a length-residualized AUROC near 0.5.")
with right:
    with feedback.guard("AUROC vs k"):
        st.subheader("AUROC vs rollouts per prompt (k)")
        if st.toggle("Compute AUROC vs k (subsamples rollouts, bootstrap CIs)", value=False, key="avk", bind="query-params"):
            avk = cache.analysis(key, "auroc_vs_k", phrase=phrase, task=task)
            charts.chart(figures.auroc_vs_k_figure(avk), key="avk_chart", name="auroc-vs-k")

st.subheader("Flagged verbalizations")
if not open_run.has_judge(run):
    st.info("This run has no judge flags. Run a judge on the **Run the monitor** page to compare with the verbalization monitor.")
else:
    flagged = cache.table(key, "flagged_table")
    st.caption(f"{len(flagged)} judge-flagged sentences in {flagged[['prompt_id', 'rollout']].drop_duplicates().shape[0]} rollouts. "
               "Click a row to read the sentence and open it on Curves.")
    shown_f = flagged[["prompt_id", "prompt", "rollout", "sentence", "judge_quote"]]
    ev = st.dataframe(shown_f, key="flagged_table", hide_index=True, on_select="rerun", selection_mode="single-row",
                      height=columns.table_height(len(shown_f)),
                      column_config=columns.config(shown_f.columns, rollout={"label": "roll.", "width": "small"},
                                                   sentence={"label": "sent.", "width": "small"}, prompt={"width": "medium"}))
    if ev is not None and ev.selection.rows:
        f = flagged.iloc[ev.selection.rows[0]]
        st.caption("Judge's quote")
        st.text(str(f["judge_quote"]))
        st.caption("Sentence")
        st.text(str(f["text"]))
        st.page_link("pages/curves.py", label=f"Open {_text.md(f['prompt_id'])} rollout {int(f['rollout'])} at sentence {int(f['sentence'])}",
                     icon=":material/show_chart:",
                     query_params={"prompt": f["prompt_id"], "rollout": str(int(f["rollout"])), "sentence": str(int(f["sentence"])), "phrase": phrase})
    with feedback.guard("The verbalization scores"):
        st.markdown("**Verbalization score per prompt**: the fraction of its rollouts with at least one flagged sentence.")
        vs = cache.table(key, "verbalization_table")
        st.dataframe(vs, key="verb_scores", hide_index=True, height=columns.table_height(len(vs)),
                     column_config=columns.config(vs.columns))

st.divider()
_reviewer.scores_page_sections(run, key, phrase, method, task)
