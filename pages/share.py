"""Share & export: permalinks, the HTML report, CSV tables, the run bundle, and the run's notes."""

from __future__ import annotations

import tempfile
from pathlib import Path
from urllib.parse import urlencode

import streamlit as st

from monitor import runs
from pages._lib import annotations as _annotations, tables as _tables
from pages._lib import cache, feedback, open_run, page_frame, view_state

run, key, ix = page_frame.run_page("Share & export")

st.subheader("Links")
st.markdown("Every page keeps its view in the address bar (run, prompt, rollout, sentence, phrase, filters): "
            "**copy the URL to share exactly what you see**. Below, each page's link opens the view you last had "
            "on it in this session (copy button at the right of each line):")
base = ""
try:
    url = st.context.url or ""
    base = url.split("?")[0].rsplit("/", 1)[0] if url else ""
except Exception:
    base = ""
run_q = {"run": st.session_state["run_path"]} if st.session_state["run_path"] != open_run.default_run_path() else {}
for page, title in (("home", "Home"), ("curves", "Curves"), ("scores", "Scores & ROC"), ("phrases", "Phrases"), ("search", "Search")):
    path = "" if page == "home" else page  # the default page lives at the root; "/home" is not routed
    q = urlencode({**run_q, **view_state.saved_view(path)}, doseq=True)
    st.caption(title)
    st.code(f"{base}/{path}" + (f"?{q}" if q else ""), language=None)

st.subheader("Export")
e1, e2, e3 = st.columns(3)
with e1:
    st.markdown("**HTML report**: headline numbers, figures and notes in one self-contained file.")
    if st.button("Build the report", key="share.report", icon=":material/description:"):
        with feedback.guard("Building the report"), st.spinner("Building the report…"), tempfile.TemporaryDirectory() as tmp:
            from monitor.report import write_report

            out = Path(tmp) / "report.html"
            from pages._lib import tokens

            write_report(run, out, summary=cache.summary(key), token_text=tokens.decoder(run))  # token strings in hover
            st.session_state["share.report_bytes"] = (str(run.path), out.read_bytes())
    built = st.session_state.get("share.report_bytes")
    if built and built[0] == str(run.path):
        st.download_button("Download report.html", data=built[1], file_name=f"{Path(run.path).name}-report.html",
                           mime="text/html", key="share.report_dl", icon=":material/download:", on_click="ignore")
with e2:
    st.markdown("**CSV tables**")
    name = st.selectbox("Table", list(_tables.EXPORTS), key="share.table")
    phrase = None
    if name == "prompt_scores":
        phrase = view_state.url_choice(st.selectbox, "Phrase", ix.phrases, key="phrase", default=ix.phrases[0])

    def _csv() -> bytes:
        return _tables.export_table(run, name, phrase=phrase).to_csv(index=False).encode()

    st.download_button(f"Download {name}.csv", data=_csv, file_name=f"{Path(run.path).name}-{name}.csv", mime="text/csv",
                       key="share.csv", icon=":material/download:", on_click="ignore")
with e3:
    st.markdown("**Run bundle**: the whole run directory as one .zip; open it on another machine's Home page.")

    def _bundle() -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            out = runs.export_bundle(run.path, Path(tmp) / "bundle.zip")
            return out.read_bytes()

    st.download_button("Download the bundle (.zip)", data=_bundle, file_name=f"{Path(run.path).name}.zip", mime="application/zip",
                       key="share.bundle", icon=":material/folder_zip:", on_click="ignore")

st.subheader("Notes")
notes = _annotations.notes_for(run.annotations)
if not len(notes):
    st.caption("No notes yet. Add them on the Curves page (on a prompt, a rollout or a sentence) or below; they are saved "
               "with the run and appear in the report.")
else:
    # A selection is row positions in the table as the user saw it (the previous script run); map
    # them through the note ids shown then, so a note deleted meanwhile by another session cannot
    # shift the selection onto a different note. Deletion is by id.
    shown_ids = st.session_state.get("share.notes_shown") or notes["note_id"].tolist()
    st.session_state["share.notes_shown"] = notes["note_id"].tolist()
    ev = st.dataframe(notes.drop(columns=["note_id"]), key="share.notes", hide_index=True, on_select="rerun",
                      selection_mode="multi-row")
    rows = tuple(ev.selection.rows) if ev is not None else ()
    before = st.session_state.get("share.notes_picked")
    if before is not None and before[0] == rows:
        picked = list(before[1])  # the same selection as in an earlier run: keep the ids it meant then
    else:
        picked = [shown_ids[r] for r in rows if r < len(shown_ids)]
        st.session_state["share.notes_picked"] = (rows, tuple(picked))
    if picked:
        if shown_ids != notes["note_id"].tolist():
            st.warning("The notes changed in another session since you selected; the selection still means the notes "
                       "you selected (those still there).")
        if st.button(f"Delete {len(picked)} selected note(s)", key="share.delete", icon=":material/delete:"):
            with feedback.guard("Deleting notes"):
                _annotations.delete_notes(run, picked)
                st.session_state.pop("share.notes_shown", None)
                st.session_state.pop("share.notes_picked", None)
                st.rerun()
with st.expander("Add a note on a prompt", icon=":material/add_comment:"):
    pid = st.selectbox("Prompt", run.prompts["prompt_id"].tolist(), key="share.note_prompt")
    _annotations.note_box(run, prompt_id=pid, key="share.note")
