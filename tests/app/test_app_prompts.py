"""Prompts page: paste, upload, load; validation messages in the page; label edits."""

from __future__ import annotations

import json

from monitor.runs.store import read_run

from app_helpers import app_env, app_run, assert_clean, open_page, texts  # noqa: F401  (fixtures)


def _ready(at):
    return at.session_state["prompts.ready"]


def test_paste_then_edit_labels(app_env):
    at = open_page("prompts")
    assert "No prompt set yet" in texts(at)
    at.text_area(key="prompts.paste").input("What is 2+2?\n\nYou are being evaluated. Answer A or B.\n\nhow do i boil an egg")
    at.selectbox(key="prompts.paste_label").select("deploy")
    at.button(key="prompts.paste_go").click().run()
    assert_clean(at)
    ready = _ready(at)
    assert len(ready) == 3 and set(ready["label"]) == {"deploy"}
    assert "3 prompts ready" in " ".join(s.value for s in at.success)
    # a label edited in the table (the editor's edit state, as the browser would send it)
    at.session_state["prompts.editor"] = {"edited_rows": {1: {"label": "eval"}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert_clean(at)
    assert list(_ready(at)["label"]) == ["deploy", "eval", "deploy"]
    assert "2 deploy" in " ".join(s.value for s in at.success)
    # a deleted row
    at.session_state["prompts.editor"] = {"edited_rows": {}, "added_rows": [], "deleted_rows": [0]}
    at.run()
    assert len(_ready(at)) == 2
    # all labels at once
    at.selectbox(key="prompts.bulk_label").select("eval").run()
    at.button(key="prompts.bulk_go").click().run()
    assert_clean(at)
    assert set(_ready(at)["label"]) == {"eval"}


def test_edits_that_break_the_set_are_reported(app_env):
    at = open_page("prompts")
    at.text_area(key="prompts.paste").input('[{"id": "a", "text": "one"}, {"id": "b", "text": "two"}]')
    at.button(key="prompts.paste_go").click().run()
    assert_clean(at)
    at.session_state["prompts.editor"] = {"edited_rows": {1: {"prompt_id": "a"}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception
    assert any("duplicate id" in e.value.lower() or "problem" in e.value for e in at.error)
    assert "prompts.ready" not in at.session_state


def test_bad_inputs_are_messages_not_tracebacks(app_env):
    at = open_page("prompts")
    at.button(key="prompts.paste_go").click().run()
    assert not at.exception and any("empty" in e.value for e in at.error)
    at.text_area(key="prompts.paste").input('{"text": "ok"}\n{"txt": "no text field"}\n{broken json')
    at.button(key="prompts.paste_go").click().run()
    assert not at.exception and at.error
    problems = [d.value for d in at.dataframe if "problem" in d.value.columns]
    assert problems and len(problems[0]) == 2  # both bad lines listed with their position
    at.checkbox(key="prompts.paste_lenient").check()
    at.button(key="prompts.paste_go").click().run()
    assert not at.exception and len(_ready(at)) == 1 and at.warning  # the skipped lines are reported


def test_upload_and_files(app_env, tmp_path):
    at = open_page("prompts")
    rows = [{"id": "e1", "text": "Evaluate: pick A or B.", "label": "eval"}, {"id": "d1", "text": "recipe for soup?", "label": "deploy"}]
    data = "\n".join(json.dumps(r) for r in rows).encode()
    at.file_uploader(key="prompts.upload").upload("set.jsonl", data, "application/jsonl").run()
    at.button(key="prompts.file_go").click().run()
    assert_clean(at)
    assert list(_ready(at)["prompt_id"]) == ["e1", "d1"] and list(_ready(at)["label"]) == ["eval", "deploy"]

    at.file_uploader(key="prompts.upload").clear().upload("bad.csv", b"\xff\xfe\x00binary", "text/csv").run()
    at.button(key="prompts.file_go").click().run()
    assert not at.exception and at.error

    at.file_uploader(key="prompts.upload").clear().upload("q.csv", b"question,split\nIs this a test?,eval\nhello,deploy\n", "text/csv").run()
    at.text_input(key="prompts.file.mapping").input("text=question,label=split").run()
    assert at.toggle(key="prompts.append").value is True  # loading again adds to the set by default
    at.button(key="prompts.file_go").click().run()
    assert_clean(at)
    assert list(_ready(at)["text"]) == ["Evaluate: pick A or B.", "recipe for soup?", "Is this a test?", "hello"]
    at.toggle(key="prompts.append").set_value(False).run()  # replace it
    at.button(key="prompts.file_go").click().run()
    assert_clean(at)
    assert list(_ready(at)["text"]) == ["Is this a test?", "hello"] and list(_ready(at)["label"]) == ["eval", "deploy"]

    at.text_input(key="prompts.file.mapping").input("txt==question").run()
    assert not at.exception and any("column mapping" in e.value for e in at.error)

    f = tmp_path / "p.csv"
    f.write_text("text,label\nIs this a test?,eval\nhello,deploy\nbye,deploy\n")
    at.text_input(key="prompts.spec").input(str(f))
    at.button(key="prompts.ds_go").click().run()
    assert not at.exception and len(_ready(at)) == 3
    at.text_input(key="prompts.spec").input(str(tmp_path / "missing.jsonl"))
    at.button(key="prompts.ds_go").click().run()
    assert not at.exception and any("no such prompt file" in e.value for e in at.error)


def test_from_the_open_run(app_env):
    at = open_page("prompts")
    at.button(key="prompts.from_run").click().run()
    assert_clean(at)
    run = read_run(app_env)
    assert list(_ready(at)["prompt_id"]) == list(run.prompts["prompt_id"])
    if "propensity" in run.prompts:
        assert "propensity" in _ready(at).columns  # extra columns are carried through


def test_paste_labels_blocks_by_marker_lines_and_labels_by_match(app_env):
    at = open_page("prompts")
    at.text_area(key="prompts.paste").input(
        "What is 2+2?\n\n[eval]\nQuestion 1: pick A or B.\n\nQuestion 2: pick C.\n\n[deploy]\nhelp me write an email to my landlord").run()
    at.button(key="prompts.paste_go").click().run()
    assert_clean(at)
    r = _ready(at)
    assert list(r["label"]) == ["unknown", "eval", "eval", "deploy"] and r["text"].iloc[3] == "help me write an email to my landlord"
    at.text_input(key="prompts.match_text").input("question").run()
    at.selectbox(key="prompts.match_label").set_value("deploy").run()
    at.button(key="prompts.match_go").click().run()
    assert list(_ready(at)["label"]) == ["unknown", "deploy", "deploy", "deploy"]
    at.switch_page("pages/run.py")
    at.query_params.clear()
    at.run()
    at.switch_page("pages/prompts.py")
    at.run()
    assert "[deploy]" in at.text_area(key="prompts.paste").value  # the pasted text survives a visit elsewhere


def test_a_reload_brings_back_the_pasted_prompts_and_their_labels(app_env):
    # a reload is a new session opened on the same URL: the draft named in it comes back
    from pages._lib import drafts

    at = open_page("prompts")
    draft = at.query_params["draft"]
    assert drafts.draft_path(draft) is not None and not drafts.draft_path(draft).exists()  # looked at, nothing typed: no file
    pasted = "[eval]\nYou are being evaluated. Answer A or B.\n\n[deploy]\nhow do i boil an egg"
    at.text_area(key="prompts.paste").input(pasted).run()
    at.button(key="prompts.paste_go").click().run()
    at.session_state["prompts.editor"] = {"edited_rows": {1: {"label": "eval"}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert_clean(at)
    assert list(_ready(at)["label"]) == ["eval", "eval"]

    again = open_page("prompts", query={"draft": draft})
    assert again.text_area(key="prompts.paste").value == pasted
    assert list(_ready(again)["label"]) == ["eval", "eval"] and list(_ready(again)["text"]) == list(_ready(at)["text"])
    assert "2 prompts ready" in " ".join(s.value for s in again.success)


def test_a_draft_id_that_is_not_ours_is_ignored(app_env):
    at = open_page("prompts", query={"draft": "../../etc/passwd"})
    assert at.query_params["draft"] != "../../etc/passwd" and "No prompt set yet" in texts(at)
