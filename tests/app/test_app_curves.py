"""Curves page: one rollout's curve beside its transcript, sentence selection, permalinks, notes, group curves."""

from __future__ import annotations

import shutil

from monitor.runs.store import read_run

from app_helpers import app_env, app_run, assert_clean, charts, htmls, open_page, texts  # noqa: F401  (fixtures)


def _flagged_rollout(run):
    s = run.sentences
    f = s[s["judge_flag"].fillna(False).astype(bool)].iloc[0]
    return str(f["prompt_id"]), int(f["rollout"]), int(f["sentence"]), str(f["judge_quote"])


def test_curve_and_transcript_with_flags(app_env):
    run = read_run(app_env)
    pid, rollout, sentence, quote = _flagged_rollout(run)
    at = open_page("curves", query={"prompt": pid, "rollout": str(rollout)})
    assert at.selectbox(key="prompt").value == pid and at.selectbox(key="rollout").value == rollout
    assert len(charts(at)) == 2  # the rollout curve and the group curves
    transcript = next(h for h in htmls(at) if "cot-transcript" in h)
    assert f'id="cot-s{sentence}" class="cot-sentence flagged"' in transcript
    n = int(run.rollouts.query("prompt_id == @pid and rollout == @rollout")["n_sentences"].iloc[0])
    assert transcript.count('class="cot-sentence') == n
    curve_spec = charts(at)[0].proto.spec
    for phrase in run.phrases[:3]:
        assert phrase in curve_spec


def test_model_text_is_escaped(app_env, tmp_path, monkeypatch):
    from monitor.runs.synthetic import make_synthetic_run

    # a synthetic run always has a '<script>' sentence (prompt 0, rollout 0, sentence 1)
    d = make_synthetic_run(tmp_path / "markup", n_prompts=4, rollouts=2, sentences=(3, 5))
    monkeypatch.setenv("MONITOR_RUN", str(d))
    run = read_run(d)
    hit = run.sentences[run.sentences["text"].str.contains("<script>", regex=False)].iloc[0]
    at = open_page("curves", query={"prompt": str(hit["prompt_id"]), "rollout": str(int(hit["rollout"])), "sentence": str(int(hit["sentence"]))})
    transcript = next(h for h in htmls(at) if "cot-transcript" in h)
    assert "<script>" not in transcript and "&lt;script&gt;" in transcript
    assert all("<script>alert" not in h for h in htmls(at))  # nor in the scroll script or anywhere else
    assert hit["text"] in texts(at)  # the sentence detail shows it as plain text


def test_permalink_to_a_sentence_and_selector(app_env):
    run = read_run(app_env)
    r = run.rollouts[run.rollouts["n_sentences"] >= 3].iloc[-1]
    pid, rollout = str(r["prompt_id"]), int(r["rollout"])
    phrase = run.phrases[-1]
    at = open_page("curves", query={"prompt": pid, "rollout": str(rollout), "sentence": "2", "phrase": phrase, "log": "false"})
    assert at.selectbox(key="sentence").value == 2
    assert at.selectbox(key="phrase").value == phrase
    assert at.toggle(key="log").value is False
    transcript = next(h for h in htmls(at) if "cot-transcript" in h)
    assert 'id="cot-s2" class="cot-sentence selected"' in transcript or 'id="cot-s2" class="cot-sentence flagged selected"' in transcript
    assert any("cot-s2" in h and "scrollIntoView" in h for h in htmls(at))  # the sentence is brought into view
    sentence_text = run.sentences.query("prompt_id == @pid and rollout == @rollout and sentence == 2")["text"].iloc[0]
    assert sentence_text in texts(at)  # the detail box
    # picking another sentence moves the highlight and the URL
    at.selectbox(key="sentence").select(3).run()
    assert_clean(at)
    transcript = next(h for h in htmls(at) if "cot-transcript" in h)
    assert 'id="cot-s3" class="cot-sentence' in transcript and "selected" in transcript.split('id="cot-s3"')[1][:60]
    assert at.query_params.get("sentence") == "3" and at.query_params.get("prompt") == pid


def test_changing_prompt_keeps_the_page_consistent(app_env):
    run = read_run(app_env)
    pids = run.rollouts["prompt_id"].unique()
    at = open_page("curves")
    at.selectbox(key="prompt").select(pids[-1]).run()
    assert_clean(at)
    assert at.selectbox(key="rollout").value in set(run.rollouts.query("prompt_id == @pids[-1]")["rollout"])
    at.multiselect(key="phrases").set_value([run.phrases[0]]).run()
    assert_clean(at)
    at.multiselect(key="phrases").set_value([]).run()
    assert "Pick at least one phrase" in texts(at)
    if "verbalizes" in at.segmented_control(key="group_by").options:
        at.segmented_control(key="group_by").set_value("verbalizes").run()
        assert_clean(at)
    at.segmented_control(key="group_x").set_value("relative").run()
    assert_clean(at)
    assert len(charts(at)) == 1  # no phrase picked: only the group curves


def test_notes_on_a_rollout_are_saved(app_run, tmp_path, monkeypatch):
    d = shutil.copytree(app_run, tmp_path / "run")
    monkeypatch.setenv("MONITOR_RUN", str(d))
    monkeypatch.setenv("MONITOR_RUNS_DIR", str(tmp_path / "runs"))
    at = open_page("curves")
    at.text_area(key="curves.note.note").input("odd <b>reasoning</b> here")
    at.button(key="curves.note.save").click().run()
    assert_clean(at)
    notes = read_run(d).annotations
    assert list(notes["note"]) == ["odd <b>reasoning</b> here"] and notes["rollout"].notna().all() and notes["sentence"].isna().all()
    assert "odd <b>reasoning</b> here" in texts(at)  # shown as plain text, not HTML
