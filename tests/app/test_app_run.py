"""Run page: starts a real monitor run on a tiny local model in the background, cancels, resumes."""

from __future__ import annotations

import time

import pandas as pd

from monitor.prompts.record import Prompt, prompts_to_frame
from monitor.runs.store import read_manifest, read_run

from app_helpers import app_env, app_run, assert_clean, open_page, texts, wait_for_jobs  # noqa: F401  (fixtures)


def _prompt_set(n: int) -> pd.DataFrame:
    return prompts_to_frame([Prompt(f"q{i}", f"Question {i}: what is {i} + {i}?", label="eval" if i % 2 else "deploy") for i in range(n)])


def _settings(at, model_dir, out, *, k=2, batch=2, max_new=16):
    at.text_input(key="run.model").input(str(model_dir))
    at.selectbox(key="run.device").select("cpu")
    at.number_input(key="run.k").set_value(k)
    at.number_input(key="run.batch").set_value(batch)
    at.number_input(key="run.max_new").set_value(max_new)
    at.text_input(key="run.out").input(str(out))


_wait = wait_for_jobs


def test_run_page_renders_and_takes_the_open_runs_prompts(app_env):
    at = open_page("run")
    assert "No prompt set yet" in texts(at)
    assert at.button(key="run.start").disabled
    at.button(key="run.use_run_prompts").click().run()
    assert_clean(at)
    n = len(read_run(app_env).prompts)
    assert any(f"{n} from run" in m.value for m in at.markdown)
    assert not at.button(key="run.start").disabled


def test_a_run_goes_in_the_background_and_opens(app_env, tiny_model_dir, tmp_path):
    out = tmp_path / "runs" / "tiny"
    at = open_page("run", session={"prompts.ready": _prompt_set(3), "prompts.origin": "test"})
    _settings(at, tiny_model_dir, out)
    at.selectbox(key="run.judge").select("rules")
    at.run()
    t0 = time.monotonic()
    at.button(key="run.start").click().run()
    assert time.monotonic() - t0 < 30  # the script returned while the job runs
    assert_clean(at)
    _wait(at)
    assert_clean(at)
    assert any("Finished" in s.value for s in at.success), [s.value for s in at.success]
    run = read_run(out)
    assert run.status == "complete" and len(run.rollouts) == 6
    assert run.manifest["sampling"]["max_new_tokens"] == 16 and run.manifest["sampling"]["rollouts"] == 2
    assert run.manifest["judge"]["name"] == "rules" and "judge_flag" in run.sentences  # judged after sampling
    assert run.phrases == ["The user might be testing", "This is clearly a test", "The user might be asking"]
    at.button(key="run.open_result").click().run()
    assert_clean(at)
    assert at.session_state["run_path"] == str(out)
    assert at.title[0].value == "Eval-awareness logit monitor"  # switched to Home on the new run


def test_cancel_keeps_finished_units_and_resume_completes(app_env, tiny_model_dir, tmp_path):
    out = tmp_path / "runs" / "stopped"
    at = open_page("run", session={"prompts.ready": _prompt_set(8), "prompts.origin": "test"})
    _settings(at, tiny_model_dir, out, k=2, batch=1)
    at.run()
    at.button(key="run.start").click().run()
    bars = at.get("progress")
    assert bars and "Monitor run" in bars[0].proto.text and "elapsed" in bars[0].proto.text  # the running job's bar
    # a reloaded tab (a new session) finds the job that is still going
    again = open_page("run")
    assert any("Monitor run" in b.proto.text for b in again.get("progress"))
    at.button(key="run.job.cancel").click().run()
    _wait(at)
    assert any("Cancelled" in w.value for w in at.warning), [w.value for w in at.warning]
    assert read_manifest(out)["status"] == "running"
    assert len(read_run(out).rollouts) < 16  # stopped early; what finished is on disk

    assert at.selectbox(key="run.resume_target").value == str(out)
    at.button(key="run.resume").click().run()
    _wait(at)
    assert_clean(at)
    run = read_run(out)
    assert run.status == "complete" and len(run.rollouts) == 16
    assert not run.rollouts.duplicated(["prompt_id", "rollout"]).any()


def test_ray_switch_shows_where_ray_is_installed(app_env, monkeypatch):
    import monitor.runs.ray_executor as rx

    at = open_page("run")
    assert at.checkbox(key="run.ray").value is False and at.number_input(key="run.workers").disabled
    at.checkbox(key="run.ray").check().run()
    assert_clean(at)
    assert not at.number_input(key="run.workers").disabled
    monkeypatch.setattr(rx, "ray_available", lambda: False)
    at = open_page("run")
    assert not [c for c in at.checkbox if c.key == "run.ray"]


def test_bad_settings_get_messages(app_env, tmp_path):
    at = open_page("run", session={"prompts.ready": _prompt_set(2), "prompts.origin": "test"})
    at.text_input(key="run.model").input(str(tmp_path / "no-such-model"))
    at.text_input(key="run.control").input("")
    at.text_input(key="run.out").input(str(tmp_path / "runs" / "bad"))
    at.run()
    at.button(key="run.start").click().run()
    _wait(at)
    assert not at.exception
    assert any("does not exist" in e.value for e in at.error), [e.value for e in at.error]

    at.text_input(key="run.out").input(str(app_env)).run()  # a directory that already holds a run
    at.button(key="run.start").click().run()
    assert any("already holds a run" in e.value for e in at.error)


def test_judge_the_open_run_with_rules(app_env, tmp_path, monkeypatch):
    from monitor.runs.synthetic import make_synthetic_run

    d = make_synthetic_run(tmp_path / "unjudged", n_prompts=6, rollouts=2, sentences=(3, 6), with_judge=False)
    monkeypatch.setenv("MONITOR_RUN", str(d))
    assert "judge_flag" not in read_run(d).sentences
    at = open_page("run")
    assert at.selectbox(key="run.judge_open.judge").value == "rules"
    at.button(key="run.judge_go").click().run()
    _wait(at)
    assert_clean(at)
    judged = read_run(d)
    assert "judge_flag" in judged.sentences and judged.manifest["judge"]["name"] == "rules"
    flagged = judged.sentences[judged.sentences["judge_flag"].fillna(False).astype(bool)]
    assert len(flagged) and flagged["text"].str.contains("test|evaluat|benchmark", case=False).all()

    at.selectbox(key="run.judge_open.judge").select("openai").run()
    at.text_input(key="run.judge_open.judge_model").input("").run()
    at.button(key="run.judge_go").click().run()
    assert any("needs a model" in e.value for e in at.error)


DEMO = __import__("pathlib").Path(__file__).resolve().parents[2] / "data" / "demo_model"


def test_run_on_a_vllm_server_from_the_page(app_env, vllm_server, tmp_path):
    """The backend selector: a run sampled and scored by a real `vllm serve`, recorded as such."""
    out = tmp_path / "runs" / "served"
    at = open_page("run", session={"prompts.ready": _prompt_set(2), "prompts.origin": "test"})
    _settings(at, DEMO, out, k=1, batch=2, max_new=24)
    at.run()
    assert at.selectbox(key="run.backend").options[0] == "transformers"
    at.selectbox(key="run.backend").select("openai-server").run()
    assert not any(c.key == "run.ray" for c in at.checkbox)  # Ray workers are for the transformers backend
    at.text_input(key="run.base_url").input(vllm_server).run()
    at.button(key="run.start").click().run()
    _wait(at, timeout=600)
    assert_clean(at)
    run = read_run(out)
    assert run.status == "complete" and len(run.rollouts) == 2
    assert run.manifest["model"]["backend"] == {**run.manifest["model"]["backend"], "name": "openai-server", "server_url": vllm_server}
    assert (run.scores.logprob < 0).all()


def test_a_dead_server_is_an_error_on_the_page(app_env, tmp_path):
    from conftest import free_port

    at = open_page("run", session={"prompts.ready": _prompt_set(1), "prompts.origin": "test"})
    _settings(at, DEMO, tmp_path / "runs" / "dead", k=1, batch=1, max_new=8)
    at.selectbox(key="run.backend").select("openai-server").run()
    url = f"http://127.0.0.1:{free_port()}/v1"
    at.text_input(key="run.base_url").input(url).run()
    at.button(key="run.start").click().run()
    _wait(at)
    assert not at.exception
    port = url.rsplit(":", 1)[1].split("/")[0]
    assert any("Failed" in e.value and "start it (vllm serve" in e.value.replace("\\", "") and port in e.value for e in at.error), [e.value for e in at.error]
