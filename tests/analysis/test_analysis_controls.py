"""Controls: prompt length, primary minus control phrase, length-residualized score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitor.analysis import controls, prompt_length
from monitor.analysis.controls import _residualize
from monitor.runs.store import read_run
from monitor.runs.handmade import make_run_from_tables, make_tiny_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return read_run(make_tiny_run(tmp_path_factory.mktemp("tiny") / "run"))


def test_controls_by_hand(run):
    c = controls(run, "P", n_boot=200)
    assert c["length_source"] == "prompt_tokens"
    assert c["primary_auroc"]["auroc"] == pytest.approx(4 / 6)
    # prompt_tokens: eval {30, 12, 50} vs deploy {20, 40}
    assert c["length_auroc"]["auroc"] == pytest.approx(3 / 6)
    assert c["control_phrase"] == "Q"  # from the manifest
    # P max - Q max: a -1, others +1 -> eval {-1, 1, 1} vs deploy {1, 1}
    assert c["primary_minus_control_auroc"]["auroc"] == pytest.approx(2 / 6)
    assert c["length_residualized_auroc"] is not None and c["notes"] == []
    for key in ("primary_auroc", "length_auroc", "primary_minus_control_auroc", "length_residualized_auroc"):
        assert set(c[key]) >= {"auroc", "lo", "hi", "n_pos", "n_neg"}


def test_control_missing_or_self(run):
    assert controls(run, "Q", n_boot=0)["primary_minus_control_auroc"] is None
    c = controls(run, "P", control_phrase="The user might be asking", n_boot=0)
    assert c["primary_minus_control_auroc"] is None and "not scored" in c["notes"][0]


def _run_with(tmp_path, name, scores_of_prompt, texts, tokens=None):
    pids = list(scores_of_prompt)
    prompts = pd.DataFrame({"prompt_id": pids, "label": ["eval" if i % 2 == 0 else "deploy" for i in range(len(pids))],
                            "text": texts})
    if tokens is not None:
        prompts["prompt_tokens"] = tokens
    rows = [(p, 0, s, "P", v) for p in pids for s, v in enumerate(scores_of_prompt[p])]
    return read_run(make_run_from_tables(tmp_path / name, prompts,
                                         pd.DataFrame(rows, columns=["prompt_id", "rollout", "sentence", "phrase", "logprob"])))


def test_character_length_when_no_token_counts(tmp_path):
    texts = ["x" * n for n in (50, 10, 40, 20, 30, 25)]
    run = _run_with(tmp_path, "chars", {f"p{i}": [-5.0 - i] for i in range(6)}, texts)
    length, source = prompt_length(run)
    assert source == "characters"
    assert length.to_dict() == {f"p{i}": float(len(t)) for i, t in enumerate(texts)}
    c = controls(run, "P", n_boot=0)
    assert c["length_source"] == "characters"
    assert c["length_auroc"]["auroc"] == pytest.approx(1.0)  # eval 50, 40, 30 > deploy 10, 20, 25


def test_residualized_ignores_any_length_trend(tmp_path):
    rng = np.random.default_rng(0)
    n = 40
    tokens = rng.integers(10, 200, n)
    base = rng.normal(size=n) + np.where(np.arange(n) % 2 == 0, 0.8, 0.0)
    texts = ["t"] * n
    a = _run_with(tmp_path, "a", {f"p{i}": [base[i] - 10] for i in range(n)}, texts, tokens)
    b = _run_with(tmp_path, "b", {f"p{i}": [base[i] - 10 + 0.05 * tokens[i]] for i in range(n)}, texts, tokens)
    ca, cb = controls(a, "P", n_boot=0), controls(b, "P", n_boot=0)
    assert ca["primary_auroc"]["auroc"] != pytest.approx(cb["primary_auroc"]["auroc"])
    assert ca["length_residualized_auroc"]["auroc"] == pytest.approx(cb["length_residualized_auroc"]["auroc"])


def test_residual_is_orthogonal_to_length():
    x = np.array([10.0, 20, 35, 80, 120, 200])
    r = _residualize(np.array([1.0, 3, 2, 5, 4, 7]), x)
    assert abs(r.sum()) < 1e-9 and abs(r @ x) < 1e-7 and abs(r @ np.log1p(x)) < 1e-9


def test_a_length_only_monitor_is_visible(tmp_path):
    n = 40
    tokens = np.arange(n) * 5 + 20 + np.where(np.arange(n) % 2 == 0, 30, 0)
    run = _run_with(tmp_path, "len", {f"p{i}": [-20 + 0.05 * tokens[i]] for i in range(n)}, ["t"] * n, tokens)
    c = controls(run, "P", n_boot=0)
    assert c["length_auroc"]["auroc"] == pytest.approx(c["primary_auroc"]["auroc"])
    assert c["length_r2"] == pytest.approx(1.0)
