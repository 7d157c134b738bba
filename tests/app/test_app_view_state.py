"""One state model: a page's view lives in its URL and comes back when the user returns to the page;
form inputs survive a visit elsewhere; the sidebar shows a background run from any page and offers
the run it wrote as the open run; a mistyped local model path fails at once."""

from __future__ import annotations

import pandas as pd

from monitor.prompts.record import Prompt, prompts_to_frame
from monitor.runs.store import read_run

from app_helpers import app_env, app_run, assert_clean, open_page, wait_for_jobs  # noqa: F401  (fixtures)


def _target(run) -> tuple[str, int, int]:
    s = run.sentences
    pool = s[(s["rollout"] > 0) & (s["sentence"] > 1)]
    t = pool.iloc[len(pool) // 2]
    return str(t["prompt_id"]), int(t["rollout"]), int(t["sentence"])


def _sidebar_to(at, page: str) -> None:
    """Open a page as its sidebar link does: a bare URL (AppTest's switch_page keeps the old parameters)."""
    at.switch_page(f"pages/{page}.py")
    at.query_params.clear()
    at.run()


def test_curves_view_comes_back_after_another_page(app_env):
    pid, rollout, sentence = _target(read_run(app_env))
    at = open_page("curves", query={"prompt": pid, "rollout": str(rollout), "sentence": str(sentence)})
    at.toggle(key="log").set_value(False).run()
    _sidebar_to(at, "scores")
    assert_clean(at)
    assert "prompt" not in at.query_params  # Scores has its own view
    at.selectbox(key="method").select("k0").run()
    _sidebar_to(at, "curves")
    assert_clean(at)
    assert at.selectbox(key="prompt").value == pid and at.selectbox(key="rollout").value == rollout
    assert at.selectbox(key="sentence").value == sentence and at.toggle(key="log").value is False
    assert at.query_params["prompt"] == pid and at.query_params["sentence"] == str(sentence)
    _sidebar_to(at, "scores")
    assert at.selectbox(key="method").value == "k0"  # and Scores gets its own back


def test_a_link_wins_over_the_remembered_view(app_env):
    run = read_run(app_env)
    pid, rollout, _ = _target(run)
    other = next(p for p in run.rollouts["prompt_id"].astype(str) if p != pid)
    at = open_page("curves", query={"prompt": pid, "rollout": str(rollout)})
    _sidebar_to(at, "search")
    at.switch_page("pages/curves.py")
    at.query_params.clear()
    at.query_params["prompt"] = other
    at.run()
    assert at.selectbox(key="prompt").value == other


def _prompt_set(n: int) -> pd.DataFrame:
    return prompts_to_frame([Prompt(f"q{i}", f"Question {i}: what is {i} + {i}?", label="eval" if i % 2 else "deploy") for i in range(n)])


def test_run_form_is_kept_across_pages(app_env):
    at = open_page("run", session={"prompts.ready": _prompt_set(2), "prompts.origin": "test"})
    at.number_input(key="run.k").set_value(1).run()
    at.number_input(key="run.max_new").set_value(48).run()
    at.text_input(key="run.out").input("runs/mine").run()
    _sidebar_to(at, "home")
    _sidebar_to(at, "run")
    assert_clean(at)
    assert at.number_input(key="run.k").value == 1 and at.number_input(key="run.max_new").value == 48
    assert at.text_input(key="run.out").value == "runs/mine"


def test_mistyped_local_model_path_fails_at_once(app_env, tmp_path):
    from pages._lib.model import missing_local_path

    assert missing_local_path(str(tmp_path / "nope")) and "does not exist" in missing_local_path(str(tmp_path / "nope"))
    assert missing_local_path("data/demo_modl")  # 'data' is a folder here: a path, not a hub id
    assert missing_local_path("./x") and missing_local_path("a/b/c")
    assert missing_local_path("Qwen/Qwen3-8B") is None and missing_local_path("gpt2") is None
    assert missing_local_path(str(tmp_path)) is None
    at = open_page("run", clean=False)
    at.text_input(key="run.model").input(str(tmp_path / "nope")).run()
    assert any("does not exist" in e.value for e in at.error)


def test_sidebar_shows_the_run_and_offers_it_from_another_page(app_env, tiny_model_dir, tmp_path):
    out = tmp_path / "runs" / "side"
    at = open_page("run", session={"prompts.ready": _prompt_set(2), "prompts.origin": "test"})
    at.text_input(key="run.model").input(str(tiny_model_dir))
    at.selectbox(key="run.device").select("cpu")
    at.number_input(key="run.k").set_value(1)
    at.number_input(key="run.max_new").set_value(16)
    at.text_input(key="run.out").input(str(out))
    at.run()
    at.button(key="run.start").click().run()
    _sidebar_to(at, "search")
    caps = [c.value for c in at.sidebar.caption]
    assert any("**Running**" in c or "**Done**" in c for c in caps), caps  # on a page other than Run
    wait_for_jobs(at)
    at.run()
    assert_clean(at)
    assert any("Done" in c.value for c in at.sidebar.caption), [c.value for c in at.sidebar.caption]
    at.sidebar.button(key="sidebar.open_result").click().run()
    assert_clean(at)
    assert at.session_state["run_path"] == str(out)
    assert any("It is the open run" in c.value for c in at.sidebar.caption)


def test_columns_tell_tiny_probabilities_apart():
    from pages._lib import columns

    cfg = columns.column("probability")
    assert cfg["type_config"]["format"] == "%.2e" and "%.2e" % 1e-9 != "%.2e" % 1e-12
    assert columns.column("n_neg")["label"] == "negatives" and columns.column("n_neg")["help"]
    assert columns.column("n")["help"].startswith("Prompts the AUROC rests on")
    assert columns.column("max_logprob")["label"] == "peak log-prob"
    assert columns.table_height(3) == "auto" and columns.table_height(1000) == 420


def test_a_page_drops_the_parameters_another_page_left_in_its_url(app_env):
    # the browser carries parameters across a page change; Scores must not keep Curves' rollout=8
    pid, rollout, _ = _target(read_run(app_env))
    at = open_page("curves", query={"prompt": pid, "rollout": str(rollout)})
    at.switch_page("pages/scores.py")  # AppTest keeps the old parameters, as the browser's page change did
    at.run()
    assert_clean(at)
    assert "prompt" not in at.query_params and "rollout" not in at.query_params
    at.selectbox(key="method").select("k0").run()
    assert dict(at.query_params) == {"method": "k0"}


def test_every_page_keeps_only_its_own_parameters(app_env):
    from pages._lib.view_state import PAGE_PARAMS, SESSION_PARAMS

    for page in sorted({p for p in PAGE_PARAMS if p and p != "home"}):
        at = open_page(page, query={"not_a_view_param": "1", "rollout": "8"} if page != "curves" else {"not_a_view_param": "1"})
        assert set(at.query_params) <= set(PAGE_PARAMS[page]) | set(SESSION_PARAMS), (page, dict(at.query_params))

