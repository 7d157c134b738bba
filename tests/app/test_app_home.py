"""Home page: opens on the run with no set-up, summarises it, opens other runs (path or bundle)."""

from __future__ import annotations

from monitor.runs.bundle import export_bundle

from monitor.runs.store import read_run
from monitor.runs.synthetic import make_synthetic_run

from app_helpers import app_env, app_run, assert_clean, frame_with, open_page, texts  # noqa: F401  (fixtures)


def _metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def test_home_summarises_the_run(app_env):
    run = read_run(app_env)
    at = open_page("home")
    assert at.title[0].value == "Eval-awareness logit monitor"
    assert "Synthetic organism" in texts(at)
    assert _metric(at, "Prompts") == str(len(run.prompts))
    assert _metric(at, "Rollouts") == str(len(run.rollouts))
    assert _metric(at, "Phrases") == str(len(run.phrases))
    headline = frame_with(at, "task", "monitor", "auroc")
    assert len(headline) >= 1 and headline["auroc"].between(0, 1).all()
    assert (headline["lo"] <= headline["auroc"]).all() and (headline["auroc"] <= headline["hi"]).all()
    assert run.phrases[0] in set(headline["phrase"])
    assert headline["n"].str.fullmatch(r"n = \d+ \+ \d+").all()  # class sizes beside every headline AUROC
    assert any(run.phrases[0] in m.value for m in at.markdown)  # phrases listed


def test_open_another_run_by_path_and_by_bundle(app_env, tmp_path):
    other = make_synthetic_run(tmp_path / "other", n_prompts=6, rollouts=2, sentences=(2, 4), seed=5)
    at = open_page("home")
    at.text_input(key="home.path").input(str(other))
    at.button(key="home.open").click().run()
    assert_clean(at)
    assert _metric(at, "Prompts") == "6"
    assert at.query_params.get("run") == str(other)  # the URL names the run: a copied link reopens it
    assert "Opened" in " ".join(s.value for s in at.success)

    at.button(key="home.demo").click().run()
    assert _metric(at, "Prompts") == str(len(read_run(app_env).prompts))

    bundle = export_bundle(other, tmp_path / "other.zip")
    at.file_uploader(key="home.bundle").upload("other.zip", bundle.read_bytes(), "application/zip").run()
    assert_clean(at)
    at.button(key="home.open_bundle").click().run()
    assert_clean(at)
    assert _metric(at, "Prompts") == "6"


def test_bad_inputs_get_messages_not_tracebacks(app_env, tmp_path):
    at = open_page("home")
    at.text_input(key="home.path").input(str(tmp_path / "nowhere")).run()
    at.button(key="home.open").click().run()
    assert not at.exception
    assert any("not a directory" in e.value for e in at.error)

    at = open_page("home", clean=False)
    at.file_uploader(key="home.bundle").upload("junk.zip", b"this is not a zip", "application/zip").run()
    assert not at.exception
    assert any("not a run bundle" in e.value for e in at.error)


def test_a_missing_run_is_explained(app_env, monkeypatch, tmp_path):
    monkeypatch.setenv("MONITOR_RUN", str(tmp_path / "gone"))
    at = open_page("home", clean=False)
    assert not at.exception
    assert any("Cannot open the run" in e.value for e in at.error)


def test_run_from_the_url_wins(app_env, tmp_path):
    other = make_synthetic_run(tmp_path / "linked", n_prompts=4, rollouts=2, sentences=(2, 3), seed=9)
    at = open_page("home", query={"run": str(other)})
    assert _metric(at, "Prompts") == "4"


def test_home_uses_the_cached_summary_until_a_table_changes(app_env, tmp_path, monkeypatch):
    import json

    from monitor.analysis.cached import refresh_summary
    from monitor.runs.store import SUMMARY, write_table

    run_dir = make_synthetic_run(tmp_path / "cached", n_prompts=12, rollouts=3, sentences=(3, 6), seed=4)
    refresh_summary(run_dir)
    # Mark the cached numbers (key kept): Home showing the mark proves it read the cache, not summarize.
    data = json.loads((run_dir / SUMMARY).read_text())
    rec = next(r for r in data["summary"]["auroc"] if r.get("method") == "max" and r.get("auroc") is not None)
    rec["auroc"], rec["lo"], rec["hi"] = 0.123456, 0.1, 0.2
    (run_dir / SUMMARY).write_text(json.dumps(data))
    monkeypatch.setenv("MONITOR_RUN", str(run_dir))
    at = open_page("home")
    assert 0.123456 in set(frame_with(at, "task", "monitor", "auroc")["auroc"])
    before = sorted(p.name for p in run_dir.iterdir())
    run = read_run(run_dir)
    write_table(run_dir, "scores", run.scores.iloc[: len(run.scores) - 5])  # the cache is now stale
    at = open_page("home")
    assert 0.123456 not in set(frame_with(at, "task", "monitor", "auroc")["auroc"])
    assert sorted(p.name for p in run_dir.iterdir()) == before  # viewing wrote nothing into the run
