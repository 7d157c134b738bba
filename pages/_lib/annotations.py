"""Reviewer notes on a prompt, a rollout or a sentence, saved with the run (``annotations.parquet``).

Writes go through :func:`monitor.runs.write_table`, so the HTML report and any other copy of the app
see the same notes. Notes are shown as plain text (Streamlit escapes it), never as HTML.
"""

from __future__ import annotations

import datetime as dt
import getpass

import pandas as pd
import streamlit as st

from monitor import runs
from monitor.errors import InputError

COLUMNS = ["prompt_id", "rollout", "sentence", "note", "author", "created"]
MAX_NOTE = 5000


def _norm(df: pd.DataFrame) -> pd.DataFrame:
    df = df.reindex(columns=COLUMNS) if len(df.columns) else pd.DataFrame(columns=COLUMNS)
    df["rollout"] = pd.array(df["rollout"], dtype="Int64")
    df["sentence"] = pd.array(df["sentence"], dtype="Int64")
    for c in ("prompt_id", "note", "author", "created"):
        df[c] = df[c].astype("string")
    return df


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
    row = pd.DataFrame([{
        "prompt_id": prompt_id,
        "rollout": rollout,
        "sentence": sentence,
        "note": note,
        "author": (author or "").strip() or "anonymous",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }])
    new = pd.concat([_norm(run.annotations.copy()), _norm(row)], ignore_index=True)
    runs.write_table(run.path, "annotations", new)
    return new


def delete_notes(run: runs.Run, rows: list[int]) -> pd.DataFrame:
    """Remove notes by their row position in the run's annotations table."""
    df = _norm(run.annotations.copy()).drop(index=rows, errors="ignore").reset_index(drop=True)
    runs.write_table(run.path, "annotations", df)
    return df


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
        st.markdown(f":material/sticky_note_2: **{r.author}** · {r.created}")
        st.text(str(r.note))
    with st.form(key=f"{key}.form", clear_on_submit=True, border=False):
        note = st.text_area(f"Note on {where}", key=f"{key}.note", height=80, max_chars=MAX_NOTE)
        author = st.text_input("Author", key=f"{key}.author", value=_default_author())
        if st.form_submit_button("Save note", icon=":material/save:", key=f"{key}.save"):
            try:
                add_note(run, prompt_id=prompt_id, rollout=rollout, sentence=sentence, note=note, author=author)
                st.toast("Note saved with the run.")
                st.rerun()
            except InputError as e:
                st.error(str(e))
