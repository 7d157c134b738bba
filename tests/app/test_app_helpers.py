"""The dashboard's app-side helpers (pages/_lib): escaping, joins, filters, URL selection, jobs."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest

from app_helpers import app_run  # noqa: F401  (fixture)


# ---------------------------------------------------------------- transcript HTML


def _sents(cot: str, pieces: list[str], flags: list[bool], quotes: list[str] | None = None) -> pd.DataFrame:
    rows = [{"sentence": 0, "text": "", "char_start": 0, "char_end": 0, "judge_flag": False, "judge_quote": ""}]
    pos = 0
    for i, (p, f) in enumerate(zip(pieces, flags), 1):
        a = cot.index(p, pos)
        rows.append({"sentence": i, "text": p, "char_start": a, "char_end": a + len(p), "judge_flag": f,
                     "judge_quote": (quotes or [""] * len(pieces))[i - 1]})
        pos = a + len(p)
    return pd.DataFrame(rows)


def test_transcript_escapes_model_text_and_marks_flags_and_selection():
    from pages._lib.transcript import transcript_html

    pieces = ['The snippet <script>alert("x")</script> & co.', "Maybe this is a test of me.", "Fine."]
    cot = " ".join(pieces)
    html = transcript_html(cot, _sents(cot, pieces, [False, True, False], ["", "this is a test", ""]), selected=3)
    assert "<script>" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co." in html
    assert html.count('class="cot-sentence flagged"') == 1
    assert 'id="cot-s2" class="cot-sentence flagged"' in html
    assert "this is a test" in html  # the judge quote, as a tooltip
    assert 'id="cot-s3" class="cot-sentence selected"' in html
    # every sentence is present exactly once, in order
    assert [html.index(f'id="cot-s{i}"') for i in range(4)] == sorted(html.index(f'id="cot-s{i}"') for i in range(4))


def test_transcript_keeps_text_between_sentences_and_survives_bad_offsets():
    from pages._lib.transcript import transcript_html

    cot = "First line.\n\n- item one\nLast."
    s = _sents(cot, ["First line.", "- item one", "Last."], [False, False, False])
    html = transcript_html(cot, s)
    assert "\n\n" in html and "First line." in html and "Last." in html
    bad = s.copy()
    bad.loc[2, ["char_start", "char_end"]] = [500, 510]  # offsets past the text: shown from the table
    assert "- item one" in transcript_html(cot, bad)


def test_scroll_script_has_no_model_text():
    from pages._lib.transcript import scroll_script

    js = scroll_script(7)
    assert "cot-s7" in js and js.startswith("<script>")


def test_attribution_html_escapes_and_colours_by_sign():
    from pages._lib.transcript import attribution_html

    html = attribution_html([{"text": "You are being <b>evaluated</b>.", "delta": 2.0},
                             {"text": "Hi.", "delta": -1.0}, {"text": "x", "delta": float("nan")}])
    assert "<b>" not in html and "&lt;b&gt;evaluated&lt;/b&gt;" in html
    assert "rgba(224, 49, 49, 0.60)" in html  # the largest raise: full red
    assert "rgba(28, 126, 214, 0.30)" in html  # half as large a drop: half blue
    assert "transparent" in html


# ---------------------------------------------------------------- URL selection, progress


def test_sentence_from_selection():
    from pages._lib.view_state import sentence_from_selection

    assert sentence_from_selection({"selection": {"points": [{"x": 4.0, "y": 0.1, "curve_number": 1}]}}) == 4
    assert sentence_from_selection({"selection": {"points": []}}) is None
    assert sentence_from_selection(None) is None
    assert sentence_from_selection({"selection": {"points": [{"x": "a"}, {"x": 2}]}}) == 2


def test_progress_text_rate_and_eta():
    from pages._lib.jobs import fmt_duration, progress_text

    assert fmt_duration(42) == "42 s" and fmt_duration(185) == "3 min 05 s" and fmt_duration(3720) == "1 h 02 min"
    line = progress_text("Run", 10, 40, 20.0, "prompt 3/8")
    assert line.startswith("Run: 10/40 (25%)") and "0.50/s" in line and "about 1 min 00 s left" in line and "prompt 3/8" in line
    assert "left" not in progress_text("Run", 0, 40, 1.0)


def test_job_registry_runs_off_thread_reports_progress_and_cancels():
    from pages._lib.jobs import JobRegistry

    reg = JobRegistry()
    gate = threading.Event()

    def work(job):
        for i in range(1000):
            if job.should_stop():
                return i
            job.progress(i, 1000, f"unit {i}")
            gate.wait(0.01)
        return 1000

    job = reg.start("test", work)
    deadline = time.monotonic() + 10
    while job.done < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert job.state == "running" and reg.running() == [job] and 0 < job.fraction < 1
    job.cancel()
    job.thread.join(10)
    assert job.state == "cancelled" and job.result < 1000 and reg.running() == []


def test_job_registry_reports_user_errors_as_messages():
    from monitor.errors import InputError
    from pages._lib.jobs import JobRegistry

    def bad(job):
        raise InputError("the prompt file is empty")

    def bug(job):
        raise ZeroDivisionError("oops")

    reg = JobRegistry()
    a, b = reg.start("a", bad), reg.start("b", bug)
    a.thread.join(10), b.thread.join(10)
    assert a.state == "failed" and a.error == "the prompt file is empty"
    assert b.state == "failed" and "ZeroDivisionError" in b.error and "bug" in b.error


# ---------------------------------------------------------------- display joins and filters


def test_sentence_table_and_filters(app_run):
    from monitor.runs.store import read_run
    from pages._lib.tables import filter_sentences, sentence_table

    run = read_run(app_run)
    phrase = run.phrases[0]
    t = sentence_table(run, phrase)
    assert len(t) == int((run.sentences["sentence"] > 0).sum())
    assert t["logprob"].notna().all() and set(t["label"]) <= {"eval", "deploy", "unknown"}
    one = t.iloc[5]
    sc = run.scores
    want = sc[(sc.prompt_id == one.prompt_id) & (sc.rollout == one.rollout) & (sc.sentence == one.sentence) & (sc.phrase == phrase)]["logprob"].item()
    assert one.logprob == pytest.approx(want)

    word = t["text"].str.split().str[0].iloc[0]
    hits = filter_sentences(t, text=word.upper())
    assert len(hits) and hits["text"].str.lower().str.contains(word.lower(), regex=False).all()
    if t["judge_flag"].any():
        assert filter_sentences(t, flag="flagged")["judge_flag"].all()
        assert len(filter_sentences(t, flag="flagged")) + len(filter_sentences(t, flag="unflagged")) == len(t)
    ev = filter_sentences(t, labels=["eval"])
    assert (ev["label"] == "eval").all() and len(ev) == (t["label"] == "eval").sum()
    lo, hi = np.quantile(t["logprob"], [0.25, 0.5])
    r = filter_sentences(t, logprob_range=(lo, hi))
    assert ((r["logprob"] >= lo) & (r["logprob"] <= hi)).all() and len(r) > 0
    assert len(filter_sentences(t, text="no sentence contains this zqxj")) == 0


def test_prompt_rollouts_and_sentence_detail(app_run):
    from monitor.runs.store import read_run
    from pages._lib.tables import prompt_rollouts, sentence_detail

    run = read_run(app_run)
    pid = run.rollouts["prompt_id"].iloc[0]
    phrase = run.phrases[0]
    pr = prompt_rollouts(run, pid, phrase)
    assert list(pr["rollout"]) == sorted(run.rollouts.loc[run.rollouts.prompt_id == pid, "rollout"])
    sc = run.scores[(run.scores.prompt_id == pid) & (run.scores.phrase == phrase)]
    assert pr["max_logprob"].max() == pytest.approx(sc["logprob"].max())
    d = sentence_detail(run, pid, int(pr["rollout"].iloc[0]), 1)
    assert set(d["phrase"]) == set(run.phrases)
    row = d.iloc[0]
    assert row["probability"] == pytest.approx(np.exp(row["logprob"]))
    toks = [float(x) for x in row["token probabilities"].split(" · ")]
    assert np.prod(toks) == pytest.approx(row["probability"], rel=1e-2)


def test_roc_panel_matches_engine_auroc(app_run):
    from monitor import analysis
    from monitor.runs.store import read_run
    from pages._lib.tables import labelled_scores, roc_panel

    run = read_run(app_run)
    phrase = run.phrases[0]
    panel = roc_panel(run, phrase, n_boot=50)
    ls = labelled_scores(run, phrase)
    logit = panel["aurocs"].iloc[0]
    assert logit["auroc"] == pytest.approx(analysis.auroc(ls["y"], ls["score"]))
    assert logit["lo"] <= logit["auroc"] <= logit["hi"]
    assert f"logit: {phrase}" in panel["curves"]


def test_summary_tables():
    from pages._lib.summary import controls_table, headline_table, unavailable_tasks

    summ = {
        "tasks": {"eval_vs_deploy": {"available": True}, "verbalizing_eval": {"available": False, "reason": "no judge"}},
        "auroc": [
            {"task": "eval_vs_deploy", "monitor": "logit", "phrase": "P", "method": "max", "auroc": 0.8, "lo": 0.7, "hi": 0.9, "n_pos": 5, "n_neg": 5},
            {"task": "eval_vs_deploy", "monitor": "logit", "phrase": "P", "method": "k0", "auroc": 0.6, "lo": 0.5, "hi": 0.7, "n_pos": 5, "n_neg": 5},
            {"task": "eval_vs_deploy", "monitor": "verbalization", "phrase": None, "method": "frac_verbalizing", "auroc": 0.7, "lo": 0.6, "hi": 0.8, "n_pos": 5, "n_neg": 5,
             "note": "by construction"},
        ],
    }
    h = headline_table(summ)
    assert list(h["auroc"]) == [0.8, 0.7] and list(h["phrase"]) == ["P", "(judge)"] and h["task"].iloc[0] == "eval vs deploy"
    assert list(h["note"]) == ["", "by construction"]
    assert unavailable_tasks(summ) == ["verbalizing eval: no judge"]
    c = controls_table({"primary_auroc": {"auroc": 0.8, "lo": 0.7, "hi": 0.9}, "length_auroc": {"auroc": 0.6, "lo": 0.5, "hi": 0.7},
                        "control_auroc": None, "notes": ["no control phrase"]})
    assert list(c["control"]) == ["the phrase itself", "prompt length alone (baseline)"]
    assert list(h["n"]) == ["n = 5 + 5", "n = 5 + 5"] and list(h.columns).index("n") == list(h.columns).index("hi") + 1
    assert list(c["n"]) == ["", ""]  # records without class sizes say nothing rather than a wrong count
    c = controls_table({"primary_auroc": {"auroc": 0.8, "lo": 0.7, "hi": 0.9, "n_pos": 80, "n_neg": 79}})
    assert list(c["n"]) == ["n = 80 + 79"]


def test_class_sizes_sit_beside_the_auroc():
    import pandas as pd

    from pages._lib.columns import with_class_sizes

    t = with_class_sizes(pd.DataFrame({"monitor": ["a"], "auroc": [0.9], "lo": [0.8], "hi": [1.0], "n_pos": [80], "n_neg": [80], "x": [1]}))
    assert list(t.columns) == ["monitor", "auroc", "lo", "hi", "n", "x"] and t["n"].iloc[0] == "n = 80 + 80"
    same = pd.DataFrame({"auroc": [0.5]})
    assert with_class_sizes(same) is same


# ---------------------------------------------------------------- workbench variants and notes


def test_loo_variants_and_attribution():
    from monitor.engine.attribution import ORIGINAL_ID, attribution_table, variant_prompts

    text = "You are being evaluated. Answer with yes or no.  Explain briefly."
    prompts, variants = variant_prompts(text, system="sys")
    assert [p.prompt_id for p in prompts] == [ORIGINAL_ID, "drop-1", "drop-2", "drop-3"]
    assert prompts[0].text == text and all(p.system == "sys" for p in prompts)
    assert [v.sentence for v in variants] == ["You are being evaluated.", "Answer with yes or no.", "Explain briefly."]
    assert variants[1].text == "You are being evaluated. Explain briefly."
    scores = pd.DataFrame([
        {"prompt_id": pid, "phrase": ph, "logprob": lp}
        for pid, lps in ((ORIGINAL_ID, (-2.0, -5.0)), ("drop-1", (-4.0, -5.5)), ("drop-2", (-2.1, -4.0)), ("drop-3", (-2.0, -5.0)))
        for ph, lp in zip(("A", "B"), lps)
    ])
    t = attribution_table(scores, variants)
    a = t[t.phrase == "A"].set_index("sentence")["delta"]
    assert a.to_dict() == pytest.approx({1: 2.0, 2: 0.1, 3: 0.0})
    assert t[(t.phrase == "B") & (t.sentence == 2)]["delta"].item() == pytest.approx(-1.0)


def test_notes_are_saved_with_the_run(app_run, tmp_path):
    import shutil

    from monitor.errors import InputError
    from monitor.runs.store import read_run
    from pages._lib.annotations import add_note, delete_notes, notes_for

    d = shutil.copytree(app_run, tmp_path / "run")
    run = read_run(d)
    pid = run.prompts["prompt_id"].iloc[0]
    add_note(run, prompt_id=pid, rollout=None, sentence=None, note="looks like a test <b>", author="me")
    run = read_run(d)
    add_note(run, prompt_id=pid, rollout=1, sentence=3, note="this sentence", author="")
    run = read_run(d)
    assert len(run.annotations) == 2 and (d / "annotations.parquet").is_file()
    assert list(notes_for(run.annotations, pid)["note"]) == ["looks like a test <b>"]
    assert list(notes_for(run.annotations, pid, 1, 3)["author"]) == ["anonymous"]
    assert len(notes_for(run.annotations, pid, 1)) == 0
    with pytest.raises(InputError, match="empty"):
        add_note(run, prompt_id=pid, rollout=None, sentence=None, note="  ", author="x")
    with pytest.raises(InputError, match="not in this run"):
        add_note(run, prompt_id="no-such-prompt", rollout=None, sentence=None, note="x", author="x")
    first = read_run(d).annotations["note_id"].iloc[0]  # notes are addressed by id, never by row position
    delete_notes(run, [first])
    assert list(read_run(d).annotations["note"]) == ["this sentence"]
    delete_notes(run, [first])  # already gone (e.g. another session deleted it): nothing else is touched
    assert list(read_run(d).annotations["note"]) == ["this sentence"]


def test_run_index_matches_the_tables(app_run):
    from monitor.runs.store import read_run
    from pages._lib.index import build_index, rollout_sentences

    run = read_run(app_run)
    ix = build_index(run)
    assert ix.phrases == run.phrases
    assert ix.prompt_ids == [p for p in run.prompts["prompt_id"] if p in set(run.rollouts["prompt_id"])]
    pid = ix.prompt_ids[-1]
    assert ix.rollouts[pid] == sorted(run.rollouts.loc[run.rollouts.prompt_id == pid, "rollout"])
    r = ix.rollouts[pid][-1]
    assert run.rollouts.iloc[ix.rollout_row[(pid, r)]][["prompt_id", "rollout"]].tolist() == [pid, r]
    want = run.sentences[(run.sentences.prompt_id == pid) & (run.sentences.rollout == r)]
    assert rollout_sentences(run, ix, pid, r).index.tolist() == want.index.tolist()
    assert rollout_sentences(run, ix, "no-such-prompt", 0).empty
    assert ix.prompt_labels[pid].startswith(f"{pid} · ") and run.prompts.iloc[ix.prompt_row[pid]]["prompt_id"] == pid
