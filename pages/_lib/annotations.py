"""Reviewer notes on a prompt, a rollout or a sentence, saved with the run (``annotations.parquet``).

Writes go through :func:`monitor.runs.store.add_annotation` / ``delete_annotations`` (under the
run's table lock, atomic), so notes two sessions save at once are both kept, and the HTML report
and any other copy of the app see the same notes. A note is addressed by its stable ``note_id``,
never by its row position, so a deletion in one session cannot remove another note in another.
Notes and authors are shown as plain text, never as Markdown or HTML.
"""

from __future__ import annotations

import datetime as dt
import getpass

import pandas as pd
import streamlit as st

from monitor import runs
from monitor.errors import InputError
from monitor.runs import store
from pages._lib import text as _text

COLUMNS = store.ANNOTATION_COLUMNS
MAX_NOTE = 5000


def _norm(df: pd.DataFrame) -> pd.DataFrame:
    return store._norm_annotations(df)


def notes_for(annotations: pd.DataFrame, prompt_id: str | None = None, rollout: int | None = None, sentence: int | None = None) -> pd.DataFrame:
    """Notes attached exactly at this level (prompt only, prompt+rollout, or prompt+rollout+sentence)."""
    df = _norm(annotations.copy())
    if prompt_id is None:
        return df
    m = df["prompt_id"] == prompt_id
    m &= df["rollout"].isna() if rollout is None else (df["rollout"] == rollout)
    m &= df["sentence"].isna() if sentence is None else (df["sentence"] == sentence)
    return df[m.fillna(False)]


def add_note(run: runs.Run, *, prompt_id: str, rollout: int | None, sentence: int | None, note: str, author: str) -> pd.DataFrame:
    """Append a note to the run's ``annotations.parquet``; returns the new table."""
    note = (note or "").strip()
    if not note:
        raise InputError("The note is empty; write something before saving.")
    if len(note) > MAX_NOTE:
        raise InputError(f"The note has {len(note)} characters; keep it under {MAX_NOTE}.")
    if prompt_id not in set(run.prompts["prompt_id"]):
        raise InputError(f"Prompt {prompt_id!r} is not in this run.")
    return store.add_annotation(
        run.path, prompt_id=prompt_id, rollout=rollout, sentence=sentence, note=note,
        author=(author or "").strip() or "anonymous",
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    )


def delete_notes(run: runs.Run, note_ids: list[str]) -> pd.DataFrame:
    """Remove the notes with these ids (a note another session already removed is ignored)."""
    return store.delete_annotations(run.path, list(note_ids))


def _default_author() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return ""


def note_box(run: runs.Run, *, prompt_id: str, rollout: int | None = None, sentence: int | None = None, key: str) -> None:
    """Show the notes at this level and a small form to add one."""
    where = f"prompt {prompt_id}" + (f", rollout {rollout}" if rollout is not None else "") + (f", sentence {sentence}" if sentence is not None else "")
    existing = notes_for(run.annotations, prompt_id, rollout, sentence)
    for r in existing.itertuples(index=False):
        st.markdown(f":material/sticky_note_2: **{_text.md(r.author)}** · {_text.md(r.created)}")
        st.text(str(r.note))
    with st.form(key=f"{key}.form", clear_on_submit=True, border=False):
        note = st.text_area(f"Note on {_text.md(where)}", key=f"{key}.note", height=80, max_chars=MAX_NOTE)
        author = st.text_input("Author", key=f"{key}.author", value=_default_author())
        if st.form_submit_button("Save note", icon=":material/save:", key=f"{key}.save"):
            try:
                add_note(run, prompt_id=prompt_id, rollout=rollout, sentence=sentence, note=note, author=author)
                st.toast("Note saved with the run.")
                st.rerun()
            except InputError as e:
                st.error(_text.md(e))
