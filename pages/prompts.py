"""Prompts: paste, upload or load a prompt set; check it; edit labels. The Run page uses the result."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pandas as pd
import streamlit as st

from monitor import prompts as pi
from monitor.errors import InputError
from monitor.prompts import LABELS, prompts_from_frame, prompts_to_frame
from pages._lib import drafts, feedback, open_run, view_state
from pages._lib import shared as _shared
from pages._lib import text as _text

view_state.ensure_router()
drafts.restore()  # after a reload or a restart: the pasted text, the set and its labels, from ?draft=

st.title("Prompts")
st.caption("Build the prompt set to run the monitor on. Label evaluation-style prompts `eval` and real-user-style "
           "prompts `deploy`; the ROC analyses need both. The set is used by **Run the monitor** and kept as a draft "
           "named in this page's URL, so a reload or a server restart brings it back.")

EDIT_COLUMNS = ["prompt_id", "label", "text", "system", "source"]


SECTION = re.compile(r"^\s*\[(eval|deploy|unknown)\]\s*$", re.I | re.M)
"""A line ``[eval]`` / ``[deploy]`` in pasted text labels the blocks after it (until the next such line)."""


def _sections(text: str, default: str) -> list[tuple[str, str]]:
    """Pasted text cut at ``[eval]`` / ``[deploy]`` lines into (label, text) parts; JSON pastes stay whole."""
    if text.lstrip().startswith(("[{", "{", '["')) or not SECTION.search(text):
        return [(default, text)]
    parts, label, pos = [], default, 0
    for m in SECTION.finditer(text):
        parts.append((label, text[pos:m.start()]))
        label, pos = m.group(1).lower(), m.end()
    parts.append((label, text[pos:]))
    return [(lab, t) for lab, t in parts if t.strip()]


def _parse_pasted(text: str, *, label: str, lenient: bool) -> pi.LoadedPrompts:
    parts = [pi.parse_pasted(t, label=lab, lenient=lenient) for lab, t in _sections(text, label)]
    if len(parts) == 1:
        return parts[0]
    return pi.LoadedPrompts(prompts=tuple(p for part in parts for p in part.prompts),
                            warnings=tuple(w for part in parts for w in part.warnings),
                            excluded=tuple(e for part in parts for e in part.excluded),
                            notes=tuple(n for part in parts for n in part.notes))


def _store(loaded: pi.LoadedPrompts, origin: str) -> None:
    df = prompts_to_frame(list(loaded.prompts))
    current = st.session_state.get("prompts.ready")
    if st.session_state.get("prompts.append") and current is not None and len(current):
        # add to the set: a prompt already in it (same id: same text when ids are content hashes) is kept once
        new = df[~df["prompt_id"].isin(set(current["prompt_id"]))]
        dropped = len(df) - len(new)
        df = pd.concat([current, new], ignore_index=True)
        origin = f"{st.session_state.get('prompts.origin', '?')} + {origin}"
        if dropped:
            loaded = dataclasses.replace(loaded, notes=(*loaded.notes, f"{dropped} prompt(s) already in the set were not added again."))
    st.session_state["prompts.base"] = df
    st.session_state["prompts.ready"] = df
    st.session_state["prompts.origin"] = origin
    st.session_state["prompts.report"] = {
        "warnings": list(loaded.warnings),
        "excluded": [f"{e.prompt.prompt_id}: {e.reason}" for e in loaded.excluded],
        "notes": list(loaded.notes),
    }
    st.session_state.pop("prompts.editor", None)  # a new set: forget edits made to the old one
    st.rerun()  # so the controls above (add or replace) see the new set


def _problem(e: InputError) -> None:
    if isinstance(e, pi.PromptFileError):
        n = len(e.problems)
        st.error(f"{_text.md(e.source)}: {n} problem{'s' * (n != 1)}, so nothing was loaded. Fix the rows listed below, "
                 "or tick *Skip bad rows* to load the rest.")
        st.dataframe(pd.DataFrame([{"where": p.where, "problem": p.message} for p in e.problems]), key="prompts.problems", hide_index=True)
    else:
        st.error(_text.md(e))


def _mapping(prefix: str) -> pi.ColumnMapping | None:
    spec = st.text_input("Column mapping (optional)", key=f"{prefix}.mapping", placeholder="text=question,id=qid,label=split",
                         help="Which columns hold the text, id, label, system prompt or chat messages, if not the defaults.")
    if not spec.strip():
        return None
    return pi.ColumnMapping.parse(spec)


has_set = st.session_state.get("prompts.ready") is not None
if "prompts.append" not in st.session_state:  # on by default: loading again adds to the set (the form is kept across pages)
    st.session_state["prompts.append"] = view_state.kept("prompts.append", True)
st.toggle("Add to the current set (off: replace it)", key="prompts.append", disabled=not has_set,
          help="Load several sources (e.g. eval prompts, then deploy prompts) into one set.")
view_state.keep("prompts.append", bool(st.session_state.get("prompts.append")))
tab_paste, tab_file, tab_dataset, tab_run = st.tabs(["Paste", "Upload a file", "Dataset or path", "From the open run"])
with tab_paste:
    text = st.text_area("Prompts", key="prompts.paste", height=200, value=view_state.kept("prompts.paste", ""),
                        placeholder="One prompt per block, blocks separated by a blank line.\n\nA line [eval] or [deploy] labels "
                                    "the blocks after it.\n\nOr a JSON list, or JSON Lines with text/label/id fields.",
                        help="Label while you paste: a line `[eval]` (or `[deploy]`) labels every block after it, up to the next "
                             "such line. Blocks before any marker get the label chosen below.")
    view_state.keep("prompts.paste", text)
    c1, c2 = st.columns(2)
    label = c1.selectbox("Label for prompts without one", list(LABELS), index=2, key="prompts.paste_label")
    lenient = c2.checkbox("Skip bad rows (lenient)", key="prompts.paste_lenient")
    if st.button("Load pasted prompts", key="prompts.paste_go", icon=":material/content_paste:"):
        try:
            _store(_parse_pasted(text, label=label, lenient=lenient), "pasted")
        except InputError as e:
            _problem(e)
with tab_file:
    up = st.file_uploader("Prompt file", type=[s.lstrip(".") for s in pi.FILE_FORMATS], key="prompts.upload",
                          help="JSONL, JSON (a list), CSV, TSV, plain text (blank-line-separated blocks) or Parquet.")
    c1, c2 = st.columns(2)
    f_label = c1.selectbox("Label for prompts without one", list(LABELS), index=2, key="prompts.file_label")
    f_lenient = c2.checkbox("Skip bad rows (lenient)", key="prompts.file_lenient")
    with feedback.guard("Reading the column mapping"):
        f_mapping = _mapping("prompts.file")
        if up is not None and st.button(f"Load {_text.md(up.name)}", key="prompts.file_go", icon=":material/upload_file:"):
            try:
                _store(pi.read_prompt_bytes(up.getvalue(), up.name, mapping=f_mapping, lenient=f_lenient, default_label=f_label), up.name)
            except InputError as e:
                _problem(e)
with tab_dataset:
    samples = sorted(p for p in (open_run.ROOT / "data").glob("**/*") if p.suffix in pi.FILE_FORMATS and "demo_run" not in p.parts
                     and "demo_model" not in p.parts) if (open_run.ROOT / "data").is_dir() else []
    sample = st.selectbox("Sample prompt sets shipped with the tool", [str(p.relative_to(open_run.ROOT)) for p in samples], index=None,
                          key="prompts.sample", placeholder="none found" if not samples else "pick one")
    spec = st.text_input("…or a file path or dataset spec", key="prompts.spec",
                         placeholder="data/prompts.jsonl · hf:org/name:train · fortress · wildchat · petri:DIR",
                         help="Hugging Face datasets need network access or a local copy.")
    c1, c2 = st.columns(2)
    limit = c1.number_input("Limit (datasets)", min_value=1, max_value=1_000_000, value=None, key="prompts.limit", placeholder="all")
    d_lenient = c2.checkbox("Skip bad rows (lenient)", key="prompts.ds_lenient")
    if st.button("Load", key="prompts.ds_go", icon=":material/dataset:"):
        source = (spec or "").strip() or sample
        if not source:
            st.error("Pick a sample set or type a path / dataset spec first.")
        else:
            try:
                what = _shared.prompt_source(source, open_run.resolve_path)  # confined to the root in shared mode
                with st.spinner(f"Loading {_text.md(source)}…"):
                    _store(pi.load_prompt_set(what, lenient=d_lenient,
                                              limit=int(limit) if limit else None), source)
            except InputError as e:
                _problem(e)
with tab_run:
    run_path = st.session_state.get("run_path") or open_run.default_run_path()
    st.caption(f"Reuse the prompts of the open run {_text.code(run_path)} (e.g. to run them on another model).")
    if st.button("Use these prompts", key="prompts.from_run", icon=":material/input:"):
        with feedback.guard("Loading the run's prompts"):
            run = open_run.load_run(open_run.current_key())
            _store(pi.LoadedPrompts(prompts=tuple(prompts_from_frame(run.prompts))), f"run {Path(run.path).name}")

base: pd.DataFrame | None = st.session_state.get("prompts.base")
if base is None:
    st.info("No prompt set yet: paste, upload or load one above.")
    drafts.save()  # the pasted text alone is worth keeping
    st.stop()

rep = st.session_state.get("prompts.report") or {}
st.subheader(f"{len(base)} prompts from {_text.md(st.session_state.get('prompts.origin', '?'))}")
for w in rep.get("warnings", [])[:20]:
    st.warning(_text.md(w))
if rep.get("excluded"):
    with st.expander(f"{len(rep['excluded'])} prompts excluded"):
        st.text("\n".join(rep["excluded"]))
for n in rep.get("notes", []):
    st.caption(n)

b1, b2 = st.columns([2, 3])
with b1:
    bulk = st.selectbox("Set every label to", list(LABELS), index=None, key="prompts.bulk_label", placeholder="(keep labels)")
    if bulk and st.button("Apply to all", key="prompts.bulk_go"):
        st.session_state["prompts.base"] = base.assign(label=bulk)
        st.session_state.pop("prompts.editor", None)
        st.rerun()

with b2:
    m1, m2 = st.columns([3, 2])
    pattern = m1.text_input("Label prompts whose text contains", key="prompts.match_text", placeholder="e.g. Question, [Task")
    match_label = m2.selectbox("as", list(LABELS), index=0, key="prompts.match_label")
    if pattern.strip() and st.button("Apply to matching prompts", key="prompts.match_go"):
        hit = base["text"].astype(str).str.contains(pattern.strip(), case=False, regex=False)
        st.session_state["prompts.base"] = base.assign(label=base["label"].where(~hit, match_label))
        st.session_state.pop("prompts.editor", None)
        st.toast(f"{int(hit.sum())} prompt(s) labelled {match_label}.")
        st.rerun()

view = base.reindex(columns=EDIT_COLUMNS)
edited = st.data_editor(
    view, key="prompts.editor", hide_index=True, num_rows="dynamic",
    column_config={
        "prompt_id": st.column_config.TextColumn("id", help="Empty: a content-hash id is made for you."),
        "label": st.column_config.SelectboxColumn("label", options=list(LABELS), required=True),
        "text": st.column_config.TextColumn("text", width="large"),
    },
)
# Re-validate the edited table with the same rules as a file (duplicate ids, empty text, bad labels).
records = [{k: v for k, v in r.items() if not (isinstance(v, float) and pd.isna(v)) and v is not None and v != ""}
           for r in edited.to_dict("records")]
extra = base.drop(columns=[c for c in EDIT_COLUMNS if c in base], errors="ignore")
try:
    checked = pi.prompts_from_records(records, source="edited table")
    ready = prompts_to_frame(list(checked.prompts))
    if len(extra.columns) and len(ready) == len(base):  # keep columns such as the demo's propensity
        for c in extra.columns:
            if c not in ready:
                ready[c] = extra[c].to_numpy()
    st.session_state["prompts.ready"] = ready
    counts = ready["label"].value_counts()
    st.success(f"{len(ready)} prompts ready: " + ", ".join(f"{v} {k}" for k, v in counts.items())
               + ". Go to **Run the monitor** to sample and score them.", icon=":material/check_circle:")
    if not {"eval", "deploy"} <= set(counts.index):
        st.caption("Tip: an ROC analysis needs both `eval` and `deploy` prompts.")
    st.download_button("Download as JSONL", key="prompts.download", icon=":material/download:", on_click="ignore",
                       data=lambda: "\n".join(json.dumps({k: v for k, v in r.items() if k in ("prompt_id", "text", "label", "system")},
                                                         ensure_ascii=False) for r in ready.to_dict("records")).encode(),
                       file_name="prompts.jsonl", mime="application/jsonl")
except InputError as e:
    st.session_state.pop("prompts.ready", None)
    _problem(e)
st.page_link("pages/run.py", label="Run the monitor on these prompts", icon=":material/play_circle:")
drafts.save()
