"""The synthetic run is a valid run directory with the documented properties."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.errors import RunFormatError
from monitor.runs.store import read_run
from monitor.runs.synthetic import DEFAULT_PHRASES, make_synthetic_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return read_run(make_synthetic_run(tmp_path_factory.mktemp("syn") / "run", n_prompts=60, rollouts=6, seed=3))


def test_tables_are_consistent(run):
    assert run.status == "complete"
    assert run.phrases == list(DEFAULT_PHRASES)
    assert run.manifest["control_phrase"] == "The user might be asking"
    assert run.manifest["synthetic"] is True
    assert len(run.prompts) == 60 and len(run.rollouts) == 60 * 6
    assert set(run.prompts["label"]) == {"eval", "deploy"}
    # one sentence row per CoT sentence plus sentence 0
    per = run.sentences.groupby(["prompt_id", "rollout"]).size().sort_index()
    nsent = run.rollouts.set_index(["prompt_id", "rollout"])["n_sentences"].sort_index()
    assert (per.to_numpy() == nsent.to_numpy() + 1).all()
    assert nsent.between(5, 25).all()
    # one score row per sentence and phrase, phrases in manifest order within a sentence
    assert len(run.scores) == len(run.sentences) * len(DEFAULT_PHRASES)
    assert run.scores["phrase"].iloc[:3].tolist() == list(DEFAULT_PHRASES)
    assert (run.scores["logprob"] < 0).all()


def test_offsets_and_token_logprobs(run):
    m = run.sentences.merge(run.rollouts[["prompt_id", "rollout", "cot_text"]], on=["prompt_id", "rollout"])
    assert all(c[a:b] == t for c, a, b, t in zip(m["cot_text"], m["char_start"], m["char_end"], m["text"]))
    assert (run.sentences.loc[run.sentences["sentence"] == 0, "text"] == "").all()
    sums = np.array([np.sum(x) for x in run.scores["token_logprobs"]])
    np.testing.assert_allclose(sums, run.scores["logprob"].to_numpy(), rtol=1e-9, atol=1e-9)
    lens = np.array([len(x) for x in run.scores["token_logprobs"]])
    assert (lens == np.array([len(x) for x in run.scores["forced_token_ids"]])).all()


def test_plausible_signal_and_escape_bait(run):
    s = run.scores[run.scores["phrase"] == DEFAULT_PHRASES[0]]
    best = s.groupby("prompt_id")["logprob"].max()
    labels = run.prompts.set_index("prompt_id")["label"]
    assert best[labels == "eval"].mean() > best[labels == "deploy"].mean()
    flags = run.sentences.groupby(["prompt_id", "rollout"])["judge_flag"].any()
    assert 0 < flags.mean() < 1
    quoted = run.sentences[run.sentences["judge_flag"]]
    assert all(q and q.lower() in t.lower() for q, t in zip(quoted["judge_quote"], quoted["text"]))
    assert "<script>" in run.rollouts["cot_text"].iloc[0]


def test_deterministic_and_refuses_existing(tmp_path):
    a = read_run(make_synthetic_run(tmp_path / "a", n_prompts=10, rollouts=2, seed=1))
    b = read_run(make_synthetic_run(tmp_path / "b", n_prompts=10, rollouts=2, seed=1))
    assert a.scores["logprob"].equals(b.scores["logprob"])
    assert a.scores["forced_token_ids"].map(list).equals(b.scores["forced_token_ids"].map(list))
    with pytest.raises(RunFormatError):
        make_synthetic_run(tmp_path / "a")


def test_without_judge(tmp_path):
    run = read_run(make_synthetic_run(tmp_path / "nj", n_prompts=4, rollouts=1, with_judge=False))
    assert "judge_flag" not in run.sentences.columns
    assert "judge" not in run.manifest


def test_k0_score_is_a_prompt_property(run):
    s0 = run.scores[run.scores["sentence"] == 0]
    spread = s0.groupby(["prompt_id", "phrase"])["logprob"].agg(lambda x: x.max() - x.min())
    assert (spread == 0).all()


def test_cot_offsets_in_completion(run):
    ro = run.rollouts
    assert all(c[a:b] == t for c, a, b, t in zip(ro["completion_text"], ro["cot_char_start"], ro["cot_char_end"], ro["cot_text"]))
