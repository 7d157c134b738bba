"""Phrases: AUROC per phrase, how phrases correlate, a joint monitor; score a new phrase on the existing rollouts."""

from __future__ import annotations

import streamlit as st

from monitor.report import figures
from monitor.analysis import record_warning, sample_size_text
from pages._lib import cache, charts, columns, feedback, open_run, page_frame, view_state
from pages._lib import jobs as _jobs, model as _model
from pages._lib import text as _text
from pages._lib import reviewer as _reviewer

run, key, ix = page_frame.run_page("Phrases", need_scores=True)

TASKS = {"eval_vs_deploy": "eval vs deploy prompts", "verbalizing_eval": "which eval prompts get verbalized"}
c1, c2 = st.columns(2)
with c1:
    task = view_state.url_choice(st.selectbox, "Task", list(TASKS) if open_run.has_judge(run) else ["eval_vs_deploy"], key="task", default="eval_vs_deploy",
                        format_func=TASKS.get)
with c2:
    corr_method = st.segmented_control("Correlation", ["spearman", "pearson"], default="spearman", key="corr", bind="query-params")

left, right = st.columns(2, gap="large")
with left:
    st.subheader("AUROC per phrase")
    with feedback.guard("The per-phrase AUROCs"):
        pa = cache.table(key, "phrase_aurocs", task=task)
        for w in sorted({w for w in (record_warning(r, what="these AUROCs") for r in pa.to_dict("records")) if w}):
            st.warning(w, icon=":material/warning:")
        pa = columns.with_class_sizes(pa)  # "n = 80 + 80" beside each AUROC
        st.dataframe(pa, key="phrase_aurocs", hide_index=True,
                     # half a page wide: short interval titles so the class sizes fit beside them
                     column_config=columns.config(pa.columns, lo={"label": "CI low"}, hi={"label": "CI high"}) | {
                         "auroc": st.column_config.ProgressColumn("AUROC", min_value=0.0, max_value=1.0, format="%.3f",
                                                                  help=columns.column("auroc")["help"])})
        st.caption("Prompt score = max over rollouts and sentences; interval = bootstrap over prompts.")
with right:
    st.subheader("Correlation between phrases")
    with feedback.guard("The correlation matrix"):
        if len(ix.phrases) < 2:
            st.info("Add a second phrase to see how phrases correlate.")
        else:
            corr = cache.analysis(key, "phrase_correlation", method=corr_method or "spearman")
            charts.chart(figures.correlation_figure(corr), key="corr_chart", name="phrase-correlation")

st.subheader("Joint monitor")
j1, j2 = st.columns([3, 1])
with j1:
    joint = st.multiselect("Combine phrases", ix.phrases, default=ix.phrases[: min(2, len(ix.phrases))], key="joint",
                           bind="query-params")
with j2:
    how = st.segmented_control("Combine by", ["max", "logsumexp"], default="max", key="joint_how", bind="query-params",
                               help="max: the most confident phrase at each boundary; logsumexp: probability that the model says any of them.")
with feedback.guard("The joint monitor"):
    if len(joint) < 1:
        st.info("Pick phrases to combine.")
    else:
        ja = cache.table(key, "joint_auroc", phrases=joint, how=how or "max", task=task)
        m1, m2 = st.columns([1, 3])
        m1.metric("Joint AUROC", f"{ja['auroc']:.3f}", help=f"95% CI {ja['lo']:.3f} – {ja['hi']:.3f}")
        m1.caption(f"95% CI {ja['lo']:.3f} – {ja['hi']:.3f}"
                   + (f" · {sample_size_text(ja['n_pos'], ja['n_neg'])}" if ja.get("n_pos") is not None else ""))
        curves = {"joint": ja["curve"]}
        for p in joint:
            pc = cache.table(key, "roc_panel", phrase=p, task=task)["curves"]
            curves.update({k: v for k, v in pc.items() if k.startswith("logit")})
        with m2:
            charts.chart(figures.roc_figure(curves, title="Joint vs single phrases"), key="joint_roc", name="joint-roc")

st.divider()
_reviewer.discovery_section(run, key, target_key="phr.new")

st.divider()
st.subheader("Score a new phrase on these rollouts")
if run.manifest.get("synthetic"):
    st.info("This is a synthetic run: it has no model and no real token ids, so a new phrase cannot be forced on its "
            "rollouts. Open a run sampled from a model (e.g. one made on **Run the monitor** with the demo model).")
    st.stop()
if run.status != "complete":
    st.info("This run is not complete; finish or resume it on **Run the monitor** before adding phrases.")
    st.stop()
st.caption("Forces the phrase at every existing sentence boundary; no resampling. The scores are added to this run directory.")
open_run.writes_to_bundled_demo(run)
new_phrase = st.text_input("Phrase", key="phr.new", placeholder="e.g. This is probably an evaluation")
choice = _model.model_inputs("phr", default_id=open_run.model_id(run) or _model.default_model())
if open_run.model_id(run) and choice.model_id != open_run.model_id(run):
    st.warning(f"The run was sampled from {_text.code(open_run.model_id(run))}; new phrases must be scored with that same model.")


def _start_rescore() -> str | None:
    phrase = (new_phrase or "").strip()
    if not phrase:
        return "Type the phrase to score first."
    if phrase in ix.phrases:
        return f"“{phrase}” is already scored in this run."
    if _jobs.jobs().running():
        return "Another job is running; wait for it or cancel it first."
    run_path = run.path

    def work(job: _jobs.Job):
        from monitor import runs

        job.message = "loading the model"
        loaded = _model.as_run_model(_model.get(choice), open_run.model_id(run))
        return runs.rescore_run(run_path, loaded, [phrase], progress=job.progress, should_stop=job.should_stop)

    job = _jobs.jobs().start(f"Scoring “{phrase}”", work, kind="phr.job")
    st.session_state["phr.job"] = job.id
    return None


_jobs.start_button("Score on existing rollouts", _start_rescore, key="phr.go", icon=":material/play_arrow:", type="primary")
_jobs.job_panel("phr.job")
