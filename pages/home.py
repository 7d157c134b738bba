"""Home: what run is open, what it holds, its headline AUROCs; open another run."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from monitor import runs
from monitor.errors import MonitorError
from pages._lib import cache, columns, feedback, open_run, view_state
from pages._lib import summary as _summary
from pages._lib import text as _text

view_state.ensure_router()

st.title("Eval-awareness logit monitor")
st.caption(
    "At every sentence boundary of a model's chain of thought, the monitor token-forces a probe phrase "
    "such as *“The user might be testing”* and reads the exact probability the model gives it."
)


def _open_path() -> None:
    raw = st.session_state.get("home.path", "").strip()
    if not raw:
        st.session_state["home.msg"] = ("error", "Type a run directory first.")
        return
    try:
        runs.read_manifest(open_run.resolve_path(raw))
    except MonitorError as e:
        st.session_state["home.msg"] = ("error", _text.md(e))
        return
    open_run.set_run_path(raw)
    st.session_state["home.msg"] = ("success", f"Opened {_text.code(raw)}.")


with st.expander("Open another run", expanded=False, icon=":material/folder_open:"):
    c1, c2 = st.columns(2)
    with c1:
        st.text_input("Run directory", key="home.path", placeholder="runs/my-run or /abs/path/to/run",
                      help="A directory holding manifest.json and the Parquet tables (written by the app or `python -m monitor run`).")
        st.button("Open directory", key="home.open", on_click=_open_path, icon=":material/folder_open:")
        found = runs.list_runs(open_run.runs_dir()) if open_run.runs_dir().is_dir() else pd.DataFrame()
        if len(found):
            choice = st.selectbox("…or a run found under " + f"`{open_run.runs_dir()}`", found["run"].tolist(), key="home.found",
                                  format_func=lambda p: f"{Path(p).name} ({found.set_index('run').loc[p, 'status']})")
            if st.button("Open selected", key="home.open_found", icon=":material/check:"):
                open_run.set_run_path(choice)
                st.rerun()
        if st.button("Back to the demo run", key="home.demo", icon=":material/science:"):
            open_run.set_run_path(open_run.default_run_path())
            st.rerun()
    with c2:
        up = st.file_uploader("Upload a run bundle (.zip made by Share & export or `monitor export`)", type=["zip"], key="home.bundle")
        if up is not None:
            data = up.getvalue()
            digest = hashlib.sha256(data).hexdigest()[:12]
            dest = open_run.runs_dir() / "imported" / f"{Path(up.name).stem}-{digest}"
            with feedback.guard("Importing the bundle"):
                if not (dest / "manifest.json").exists():
                    with st.spinner("Unpacking the bundle…"), tempfile.TemporaryDirectory() as tmp:
                        zpath = Path(tmp) / "bundle.zip"
                        zpath.write_bytes(data)
                        runs.import_bundle(zpath, dest)
                if st.button(f"Open the imported run ({_text.md(dest.name)})", key="home.open_bundle", icon=":material/unarchive:"):
                    open_run.set_run_path(str(dest))
                    st.rerun()
    msg = st.session_state.pop("home.msg", None)
    if msg:
        (st.error if msg[0] == "error" else st.success)(msg[1])

run, key = open_run.require_run()
ix = cache.index(key)  # phrases, labels and row positions without rescanning big tables
open_run.demo_banner(run)
if run.status == "running":
    st.warning("This run is still going (or was stopped before it finished): the tables show the units written so far. "
               "Resume it on the **Run the monitor** page.", icon=":material/hourglass_top:")

m = run.manifest
model = m.get("model") or {}
sampling = m.get("sampling") or {}
labels = run.prompts["label"].value_counts()
cols = st.columns(5)
cols[0].metric("Prompts", len(run.prompts), help=", ".join(f"{v} {k}" for k, v in labels.items()))
cols[1].metric("Rollouts", len(run.rollouts), help=f"k = {sampling.get('rollouts', '?')} per prompt")
cols[2].metric("CoT sentences", int((run.sentences["sentence"] > 0).sum()))
cols[3].metric("Phrases", len(ix.phrases))
cols[4].metric("Judge", (m.get("judge") or {}).get("name", "none") if open_run.has_judge(run) else "none")
if m.get("chat"):
    from monitor.engine.chat import describe_cot_mode

    st.caption(describe_cot_mode(m["chat"]))

headline_box, right = st.container(), st.container()  # the table gets the full width: nine columns, none clipped
with headline_box:
    st.subheader("Headline AUROCs")
    with feedback.guard("The summary"):
        summ = cache.summary(key)
        headline = _summary.headline_table(summ)
        for why in _summary.unavailable_tasks(summ):
            st.caption(f"Not scored: {_text.md(why)}")
        for warning in _summary.small_sample_warnings(summ):
            st.warning(warning, icon=":material/warning:")
        if len(headline):
            st.dataframe(headline, key="home.headline", hide_index=True, column_config=columns.config(headline.columns),
                         height=columns.table_height(len(headline), max_height=600))
            st.caption("AUROC with a 95% bootstrap interval over prompts. Eval vs deploy: does the score separate "
                       "evaluation prompts from real-user prompts? Verbalizing eval: among evaluation prompts, does it "
                       "predict which ones produce a rollout that says it is being tested?")
        else:
            st.info("No headline numbers: the run needs both eval and deploy prompts (and scores) for an AUROC.")
        with st.expander("All summary numbers (JSON)", icon=":material/data_object:"):
            st.json(summ, expanded=False)
with right:
    st.subheader("Run")
    st.markdown(
        f"- **Model**: {_text.code(model.get('id', '?'))}" + (f" @ {_text.code(model['revision'])}" if model.get("revision") else "")
        + f" ({_text.md(model.get('dtype', '?'))}, {_text.md(model.get('device', '?'))})\n"
        f"- **Sampling**: k = {_text.md(sampling.get('rollouts', '?'))}, temperature {_text.md(sampling.get('temperature', '?'))}, "
        f"top-p {_text.md(sampling.get('top_p', '?'))}, top-k {_text.md(sampling.get('top_k', '?'))}, ≤ {_text.md(sampling.get('max_new_tokens', '?'))} new tokens, seed {_text.md(sampling.get('seed', '?'))}\n"
        f"- **Status**: {_text.md(run.status)}\n"
        f"- **Directory**: {_text.code(run.path)}"
    )
    st.markdown("**Phrases**")
    st.markdown("\n".join(f"- {_text.md(open_run.phrase_label(p, run, ix.phrases))}" for p in ix.phrases) or "_none_")

st.subheader("Explore")
links = st.columns(4)
links[0].page_link("pages/curves.py", label="Curves: one rollout, sentence by sentence", icon=":material/show_chart:")
links[1].page_link("pages/scores.py", label="Scores & ROC", icon=":material/leaderboard:")
links[2].page_link("pages/phrases.py", label="Compare phrases", icon=":material/text_fields:")
links[3].page_link("pages/search.py", label="Search CoT sentences", icon=":material/search:")
