"""Run the monitor: sample rollouts and score phrases on the prompt set, in the background, with resume."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import streamlit as st

from monitor import runs
from monitor.config import CONTROL_PHRASE, PAPER_PHRASES, RunConfig
from monitor.errors import ConfigError, MonitorError
from monitor.prompts import prompts_from_frame
from pages._lib import feedback, open_run, view_state
from pages._lib import ingest as _ingest, jobs as _jobs, judge as _judge, model as _model
from pages._lib import text as _text

view_state.ensure_router()

st.title("Run the monitor")
st.caption("Samples k rollouts per prompt, splits each chain of thought into sentences, and token-forces every phrase at "
           "every sentence boundary. The run goes on in the background: you can keep exploring while it runs, cancel it "
           "(finished prompts are kept) and resume it later.")

# ---------------------------------------------------------------- the job in progress (if any)


def _open_result(job: _jobs.Job) -> None:
    out = st.session_state.get("run.job_out")
    if out and job.state in ("done", "cancelled") and st.button("Open this run", key="run.open_result", icon=":material/open_in_new:"):
        open_run.set_run_path(out)
        st.switch_page("pages/home.py")


busy = bool(_jobs.jobs().running())

# ---------------------------------------------------------------- new run
st.subheader("New run")
ready: pd.DataFrame | None = st.session_state.get("prompts.ready")
if ready is None:
    st.info("No prompt set yet. Build one on the **Prompts** page (paste, upload or load), or use the open run's prompts.")
    r1, r2 = st.columns([1, 3])
    r1.page_link("pages/prompts.py", label="Go to Prompts", icon=":material/edit_note:")
    if r2.button("Use the open run's prompts", key="run.use_run_prompts", icon=":material/input:"):
        with feedback.guard("Loading the open run's prompts"):
            open_run = open_run.load_run(open_run.current_key())
            st.session_state["prompts.ready"] = open_run.prompts
            st.session_state["prompts.origin"] = f"run {Path(open_run.path).name}"
            st.rerun()
else:
    counts = ready["label"].value_counts()
    st.markdown(f"**Prompts**: {len(ready)} from {_text.md(st.session_state.get('prompts.origin', 'the Prompts page'))} ("
                + ", ".join(f"{v} {_text.md(k)}" for k, v in counts.items()) + ")")

st.markdown("**Model**")
choice = _model.model_inputs("run", default_id=_model.default_model(), backends=True)
if choice.model_id == str(open_run.DEMO_MODEL.relative_to(open_run.ROOT)) and _model.demo_model_missing():
    st.warning("The demo model (`data/demo_model`) is not in this checkout; give another model.")

st.markdown("**Phrases**")
default_phr = pd.DataFrame({"phrase": list(PAPER_PHRASES[:2])})
phr_df = st.data_editor(view_state.kept("run.phrases", default_phr), key="run.phrases", num_rows="dynamic", hide_index=True,
                        column_config={"phrase": st.column_config.TextColumn("phrase (first = primary)", width="large", required=True)})
phrases = [str(p).strip() for p in phr_df["phrase"].tolist() if isinstance(p, str) and p.strip()]
control = st.text_input("Control phrase (same form, no eval content; empty for none)", value=view_state.kept("run.control", CONTROL_PHRASE), key="run.control")

st.markdown("**Sampling**")
s1, s2, s3, s4 = st.columns(4)
k = s1.number_input("Rollouts per prompt (k)", min_value=1, max_value=1000, value=view_state.kept("run.k", 10), key="run.k")
max_new = s2.number_input("Max new tokens", min_value=16, max_value=32768, value=view_state.kept("run.max_new", 512), step=64, key="run.max_new")
temperature = s3.number_input("Temperature", min_value=0.0, max_value=2.0, value=view_state.kept("run.temperature", 0.6), step=0.05, key="run.temperature")
top_p = s4.number_input("Top-p", min_value=0.01, max_value=1.0, value=view_state.kept("run.top_p", 0.95), step=0.01, key="run.top_p")
s5, s6, s7, s8 = st.columns(4)
top_k = s5.number_input("Top-k (0: off)", min_value=0, max_value=1000, value=view_state.kept("run.top_k", 20), key="run.top_k")
seed = s6.number_input("Seed", min_value=0, max_value=2**31 - 1, value=view_state.kept("run.seed", 0), key="run.seed")
batch = s7.number_input("Batch size", min_value=1, max_value=256, value=view_state.kept("run.batch", 64), key="run.batch", help="Rollouts generated together; a batch mixes prompts (the rollouts are the same whatever the batch).")
skip_long = s8.checkbox("Skip prompts too long for the context", value=view_state.kept("run.skip_long", False), key="run.skip_long")

from monitor.runs.ray_executor import ray_available  # noqa: E402  (light: imports Ray only when used)

use_ray, workers = False, 1
if ray_available() and choice.backend == "transformers":  # the switch exists only where the [ray] extra is installed (vLLM spreads itself)
    r1, r2, _r3, _r4 = st.columns(4)
    use_ray = r1.checkbox("Run on Ray workers", value=view_state.kept("run.ray", False), key="run.ray",
                          help="Starts a local Ray cluster; each worker holds the model and takes whole batches. Same rollouts as without Ray.")
    workers = r2.number_input("Ray CPU workers", min_value=1, max_value=64, value=view_state.kept("run.workers", 2), key="run.workers", disabled=not use_ray)
    view_state.keep("run.ray", use_ray)
    view_state.keep("run.workers", workers)

for _k, _v in (("run.phrases", phr_df), ("run.control", control), ("run.k", k), ("run.max_new", max_new), ("run.temperature", temperature),
               ("run.top_p", top_p), ("run.top_k", top_k), ("run.seed", seed), ("run.batch", batch), ("run.skip_long", skip_long)):
    view_state.keep(_k, _v)  # so the form is as the user left it after a visit to another page

st.markdown("**Judge** (verbalization monitor; flags CoT sentences that say the model may be tested)")
judge_choice = _judge.judge_inputs("run")

if st.session_state.pop("run.out_used", False):  # the last run took this directory: offer a new one
    st.session_state.pop("run.out", None)
    st.session_state.pop(view_state.KEPT_PREFIX + "run.out", None)
if "run.out" not in st.session_state:  # a fresh default per session, stable across reruns and page switches
    new_dir = open_run.runs_dir() / time.strftime("run-%Y%m%d-%H%M%S")
    fresh = str(new_dir.relative_to(open_run.ROOT)) if new_dir.is_relative_to(open_run.ROOT) else str(new_dir)
    st.session_state["run.out"] = st.session_state.get(view_state.KEPT_PREFIX + "run.out", fresh)
out = view_state.keep("run.out", st.text_input("Output directory", key="run.out"))


def _start() -> str | None:
    """Start the job; returns an error message instead when the settings cannot work."""
    if _jobs.jobs().running():
        return "A job is already running; wait for it or cancel it."
    frame = st.session_state.get("prompts.ready")
    if frame is None or not len(frame):
        return "No prompts: build a prompt set on the Prompts page first."
    try:
        config = RunConfig(
            tuple(phrases), rollouts=int(k), max_new_tokens=int(max_new), temperature=float(temperature), top_p=float(top_p),
            top_k=int(top_k), seed=int(seed), batch_size=int(batch), control_phrase=control.strip() or None,
            long_prompts="skip" if skip_long else "error",
        )
        judge = _judge.make(judge_choice)
    except MonitorError as e:
        return str(e)
    try:
        out_dir = open_run.resolve_path(out, what="output directory", write=True)
        if (out_dir / "manifest.json").exists():
            return f"{_text.md(out)} already holds a run; resume it below, or choose another output directory."
        runs.store.check_new_run_dir(out_dir)  # never into a folder that holds anything
    except MonitorError as e:
        return _text.md(e)
    prompts = prompts_from_frame(frame)
    st.session_state["run.job_out"] = str(out_dir)

    def work(job: _jobs.Job):
        from monitor import runs

        job.message = f"loading {choice.model_id}"
        loaded = _model.get(choice)
        executor = None
        if use_ray:
            from monitor.runs.ray_executor import RayExecutor

            job.message = f"starting {int(workers)} Ray worker(s)"
            executor = RayExecutor(loaded.spec, workers=int(workers))
        try:
            run = runs.run_monitor(loaded, prompts, config, out_dir, progress=job.progress, should_stop=job.should_stop, executor=executor)
        finally:
            if executor is not None:
                executor.shutdown()
        if judge is not None and run.status == "complete" and not job.should_stop():
            job.label += " + judge"
            _judge.run_judge(out_dir, judge, progress=job.progress, should_stop=job.should_stop)
        return run

    started = _jobs.jobs().start(f"Monitor run → {out}", work, kind="run.job")
    st.session_state["run.job"] = started.id
    st.session_state["run.out_used"] = True
    return None


_jobs.start_button("Start the run", _start, key="run.start", type="primary", icon=":material/play_arrow:",
                   disabled=busy or ready is None or not phrases)
job = _jobs.job_panel("run.job", on_done=_open_result)  # here, under Start, where the eye is after a click

# ---------------------------------------------------------------- import rollouts generated elsewhere
_ingest.import_section(choice, phrases, control, busy=busy)

# ---------------------------------------------------------------- resume
st.subheader("Resume a stopped run")
found = runs.list_runs(open_run.runs_dir()) if open_run.runs_dir().is_dir() else pd.DataFrame(columns=["run", "status"])
open_path = str(open_run.resolve_path(st.session_state.get("run_path") or open_run.default_run_path()))
stopped = [r for r in found.loc[found["status"] == "running", "run"].tolist()]
try:  # the open run too, when it is one that stopped (e.g. opened from elsewhere)
    if runs.read_manifest(open_path).get("status") == "running" and open_path not in {str(open_run.resolve_path(p)) for p in stopped}:
        stopped.append(open_path)
except MonitorError:
    pass
if not stopped:
    st.caption(f"No stopped runs under {_text.code(open_run.runs_dir())}. A cancelled or interrupted run appears here; resuming skips the "
               "prompts already written.")
else:
    target = st.selectbox("Run to resume", stopped, key="run.resume_target", format_func=lambda p: Path(p).name)
    try:
        manifest = runs.read_manifest(target)
        rmodel = str((manifest.get("model") or {}).get("id", ""))
        st.caption(f"model {_text.code(rmodel)} · phrases {_text.md(manifest.get('phrases'))} · k = {_text.md((manifest.get('sampling') or {}).get('rollouts'))}")
    except MonitorError as e:
        st.error(_text.md(e))
        rmodel = ""

    def _resume() -> str | None:
        if _jobs.jobs().running():
            return "A job is already running; wait for it or cancel it."
        stored = (manifest.get("model") or {}).get("backend") or {}  # a run resumes on the backend that sampled it
        rchoice = _model.ModelChoice(rmodel, choice.device, choice.dtype, choice.trust_remote_code,
                                     backend=stored.get("name", "transformers"), base_url=stored.get("server_url", ""))
        st.session_state["run.job_out"] = target

        def work(job: _jobs.Job):
            from monitor import runs

            job.message = f"loading {rmodel}"
            loaded = _model.as_run_model(_model.get(rchoice), rmodel)
            if "imported" in manifest:  # rollouts from a file: continue scoring them, never sample
                from monitor.ingest.driver import imported_source, ingest_rollouts

                return ingest_rollouts(loaded, imported_source(target), None, target, resume=True, progress=job.progress,
                                       should_stop=job.should_stop).run
            return runs.run_monitor(loaded, None, None, target, resume=True, progress=job.progress, should_stop=job.should_stop)

        if not rmodel:
            return "The run's manifest names no model; it cannot be resumed from here."
        st.session_state["run.job"] = _jobs.jobs().start(f"Resume → {Path(target).name}", work, kind="run.job").id
        return None

    _jobs.start_button("Resume", _resume, key="run.resume", icon=":material/resume:", disabled=busy)

# ---------------------------------------------------------------- judge an existing run
st.subheader("Judge the open run")
st.caption("Adds (or replaces) judge flags on the open run's sentences, without touching its scores. A judge pass "
           "resumes where a stopped one ended.")
j_choice = _judge.judge_inputs("run.judge_open", default="rules")
try:
    open_run.writes_to_bundled_demo(open_run.load_run(open_run.current_key()))
except MonitorError:
    pass


def _judge_open() -> str | None:
    if _jobs.jobs().running():
        return "A job is already running; wait for it or cancel it."
    try:
        judge = _judge.make(j_choice)
        if judge is None:
            raise ConfigError("Pick a judge first.")
    except MonitorError as e:
        return str(e)
    path = open_path
    st.session_state["run.job_out"] = path
    st.session_state["run.job"] = _jobs.jobs().start(f"Judge ({j_choice.name}) → {Path(path).name}",
                                                     lambda job: _judge.run_judge(path, judge, progress=job.progress,
                                                                                  should_stop=job.should_stop),
                                                     kind="run.job").id
    return None


_jobs.start_button("Judge the open run", _judge_open, key="run.judge_go", icon=":material/gavel:", disabled=busy)
