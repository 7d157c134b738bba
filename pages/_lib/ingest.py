"""The Run page's "Import rollouts" part: score rollouts generated elsewhere (``monitor ingest``).

It takes the model and phrases chosen above it on the page, reads and checks the source in the
script pass (so bad input is one clear line at once, before any model loads), then scores in the
background like a run, into a normal run directory.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import streamlit as st

from monitor.errors import MonitorError
from monitor.ingest.driver import IngestConfig, ingest_rollouts, plan_rollouts
from monitor.ingest.record import DEFAULT_MAX_RECORD_BYTES, RolloutColumns
from monitor.ingest.source import SOURCE_FORMATS, read_rollouts
from monitor.prompts.records import PromptFileError
from pages._lib import jobs as _jobs, model as _model, open_run

__all__ = ["import_section"]

UPLOAD_TYPES = ["jsonl", "ndjson", "json", "csv", "tsv", "parquet", "eval"]


def _save_upload(upload) -> Path:
    """Keep an uploaded source next to the runs (a resume re-reads it and checks its SHA-256)."""
    d = open_run.runs_dir() / "imports"
    d.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", Path(upload.name).name) or "rollouts"
    path = d / f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}"
    path.write_bytes(upload.getvalue())
    return path


def import_section(choice: _model.ModelChoice, phrases: list[str], control: str, *, busy: bool) -> None:
    """The "Import rollouts" controls and their start button (job kind ``run.job``, like a run)."""
    st.subheader("Import rollouts")
    st.caption("Rollouts generated elsewhere (vLLM/SGLang or API outputs with `reasoning_content`, Inspect logs, Petri "
               "transcripts, or a JSONL/CSV/Parquet table with `cot` and `response` columns) are rebuilt as the model "
               "above would have written them and scored with the phrases above. The run records who generated them.")
    upload = st.file_uploader("Rollout file", type=UPLOAD_TYPES, key="run.ingest.upload")
    path_text = st.text_input("…or a path on this machine (a file, or a folder of Inspect logs / Petri transcripts)",
                              key="run.ingest.path")
    c1, c2, c3 = st.columns([1, 2, 1])
    fmt = c1.selectbox("Format", SOURCE_FORMATS, key="run.ingest.format", help="auto detects it from the file")
    columns = c2.text_input("Column mapping", key="run.ingest.columns", placeholder="id=qid,rollout=sample_idx,cot=thinking",
                            help="FIELD=COLUMN pairs; fields: text messages system id label rollout cot response completion "
                                 "finish_reason model")
    label = c3.selectbox("Label when missing", ["auto", "eval", "deploy", "unknown"], key="run.ingest.label",
                         help="auto: eval for Petri transcripts, else unknown")
    lenient = st.checkbox("Skip bad records (each is listed) instead of refusing the file", key="run.ingest.lenient")
    if st.session_state.pop("run.ingest.out_used", False):
        st.session_state.pop("run.ingest.out", None)
    if "run.ingest.out" not in st.session_state:
        new_dir = open_run.runs_dir() / time.strftime("import-%Y%m%d-%H%M%S")
        st.session_state["run.ingest.out"] = str(new_dir.relative_to(open_run.ROOT)) if new_dir.is_relative_to(open_run.ROOT) else str(new_dir)
    out = st.text_input("Output directory", key="run.ingest.out")

    def _start() -> str | None:
        if _jobs.jobs().running():
            return "A job is already running; wait for it or cancel it."
        if upload is None and not path_text.strip():
            return "Choose a rollout file (or type a path) first."
        out_dir = open_run.resolve_path(out)
        if (out_dir / "manifest.json").exists():
            return f"{out} already holds a run; choose another output directory."
        try:
            config = IngestConfig(
                tuple(phrases), control_phrase=control.strip() or None, format=fmt, columns=columns,
                default_label=None if label == "auto" else label, lenient=lenient, max_record_bytes=DEFAULT_MAX_RECORD_BYTES,
            )
            source = _save_upload(upload) if upload is not None else open_run.resolve_path(path_text)
            records = read_rollouts(source, format=config.format, columns=RolloutColumns.parse(config.columns),
                                    default_label=config.default_label, lenient=config.lenient,
                                    max_record_bytes=config.max_record_bytes)
            problems = plan_rollouts(records.rollouts)[2]
            if problems and not lenient:
                raise PromptFileError(str(Path(source).name), problems, "Fix these, or tick 'Skip bad records'.")
        except PromptFileError as e:  # the same problems, with this page's way to skip them
            return " ".join(str(PromptFileError(e.source, e.problems, "Fix these, or tick 'Skip bad records'.")).split())
        except MonitorError as e:
            return " ".join(str(e).split())
        st.session_state["run.job_out"] = str(out_dir)

        def work(job: _jobs.Job):
            job.message = f"loading {choice.model_id}"
            loaded = _model.get(choice)
            return ingest_rollouts(loaded, source, config, out_dir, progress=job.progress, should_stop=job.should_stop,
                                   records=records).run

        st.session_state["run.job"] = _jobs.jobs().start(f"Import {Path(source).name} → {out}", work, kind="run.job").id
        st.session_state["run.ingest.out_used"] = True  # the next import gets a fresh directory
        return None

    _jobs.start_button("Import and score", _start, key="run.ingest.start", icon=":material/upload_file:",
                       disabled=busy or not phrases)
