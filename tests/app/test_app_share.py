"""Share & export page: links, HTML report, CSV tables, run bundle, notes."""

from __future__ import annotations

import io
import shutil
import zipfile

import pandas as pd
import pytest

from monitor.runs.store import read_run

from app_helpers import app_env, app_run, assert_clean, open_page, texts  # noqa: F401  (fixtures)


def test_links_exports_and_bundle(app_env, tmp_path):
    run = read_run(app_env)
    at = open_page("share")
    code = "\n".join(c.value for c in at.code)
    assert "/curves" in code and "/scores" in code
    assert "/home" not in code  # the default page is served at the root; /home is not routed
    assert {b.key for b in at.download_button} >= {"share.csv", "share.bundle"}
    at.selectbox(key="share.table").select("prompt_scores").run()
    assert_clean(at)
    assert at.selectbox(key="phrase").value == run.phrases[0]
    # the generators behind the buttons
    from pages._lib.tables import export_table

    csv = export_table(run, "scores").to_csv(index=False)
    back = pd.read_csv(io.StringIO(csv))
    assert len(back) == len(run.scores) and back["token_logprobs"].iloc[0].startswith("[")
    from monitor.runs.bundle import export_bundle

    z = zipfile.ZipFile(export_bundle(run.path, tmp_path / "b.zip"))
    assert "manifest.json" in z.namelist()


def test_html_report_with_notes(app_run, tmp_path, monkeypatch):
    from pages._lib.annotations import add_note

    d = shutil.copytree(app_run, tmp_path / "run")
    monkeypatch.setenv("MONITOR_RUN", str(d))
    run = read_run(d)
    add_note(run, prompt_id=run.prompts["prompt_id"].iloc[0], rollout=0, sentence=None, note="see <b>this</b>", author="me")
    at = open_page("share")
    at.button(key="share.report").click().run()
    assert_clean(at)
    assert at.download_button(key="share.report_dl")
    path, data = at.session_state["share.report_bytes"]
    html = data.decode()
    assert html.lstrip().lower().startswith("<!doctype html") and "<script>alert" not in html
    assert "see &lt;b&gt;this&lt;/b&gt;" in html  # the note, escaped


def test_notes_add_list_delete(app_run, tmp_path, monkeypatch):
    d = shutil.copytree(app_run, tmp_path / "run")
    monkeypatch.setenv("MONITOR_RUN", str(d))
    at = open_page("share")
    assert "No notes yet" in texts(at)
    pid = read_run(d).prompts["prompt_id"].iloc[1]
    at.selectbox(key="share.note_prompt").select(pid)
    at.text_area(key="share.note.note").input("check this prompt")
    at.text_input(key="share.note.author").input("reviewer")
    at.button(key="share.note.save").click().run()
    assert_clean(at)
    notes = read_run(d).annotations
    assert list(notes["prompt_id"]) == [pid] and list(notes["author"]) == ["reviewer"]
    at.session_state["share.notes"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    at.button(key="share.delete").click().run()
    assert_clean(at)
    assert len(read_run(d).annotations) == 0
