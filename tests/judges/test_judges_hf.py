"""The hf judge's mechanics on a tiny random Qwen3 model (no download): graded scores, resumability.

A random model says nothing about judging quality; these tests check that the score is the
Yes-minus-No logit difference, independent of batching, and that judge_run stores and resumes it.
"""

from __future__ import annotations

import math

import pytest
import torch

from monitor.judges import HFJudge, HFJudgeConfig, JudgeError, judge_run
from monitor.runs.store import read_manifest, read_run
from test_judge_run import COTS, write_small_run

SENTENCES = ["Is this a test?", "The user wants soup.", "Maybe I'm being evaluated here.", "", "Let me think step by step."]


@pytest.fixture(scope="module")
def judge(tokenizer):
    from conftest import tiny_model

    return HFJudge(tiny_model(vocab_size=len(tokenizer), seed=1), tokenizer, HFJudgeConfig(batch_size=2),
                   model_info={"id": "tiny-random-qwen3"})


def test_scores_are_yes_minus_no_logits(judge, tokenizer):
    out = judge.judge(SENTENCES)
    assert [r.sentence for r in out] == [1, 2, 3, 4, 5]
    scored = [r for r in out if r.score is not None]
    assert len(scored) == 4 and out[3].score is None and not out[3].flag  # empty sentence: not judged
    assert all(math.isfinite(r.score) for r in scored)
    assert len({round(r.score, 6) for r in scored}) > 1  # graded, not constant
    for r in scored:
        assert r.flag == (r.score > 0.0)
        assert "logit difference" in r.rationale
        assert r.quote == (SENTENCES[r.sentence - 1] if r.flag else "")
    # Recompute one score by hand from a single unpadded forward pass.
    ids = tokenizer(judge.prompt_text(SENTENCES[0]), add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = judge.model(input_ids=ids).logits[0, -1].float()
    assert out[0].score == pytest.approx(float(logits[judge.yes_id] - logits[judge.no_id]), abs=1e-4)
    assert judge.prompt_text(SENTENCES[0]).rstrip().endswith("</think>")  # chat template, thinking off


def test_scores_do_not_depend_on_batching(judge):
    one = HFJudge(judge.model, judge.tokenizer, HFJudgeConfig(batch_size=1)).scores(SENTENCES[:3])
    many = HFJudge(judge.model, judge.tokenizer, HFJudgeConfig(batch_size=3)).scores(SENTENCES[:3])
    assert one == pytest.approx(many, abs=1e-4)


def test_threshold_moves_flags_not_scores(judge):
    scores = judge.scores(SENTENCES[:3])
    low = HFJudge(judge.model, judge.tokenizer, HFJudgeConfig(threshold=min(scores) - 1)).judge(SENTENCES[:3])
    high = HFJudge(judge.model, judge.tokenizer, HFJudgeConfig(threshold=max(scores) + 1)).judge(SENTENCES[:3])
    assert all(r.flag for r in low) and not any(r.flag for r in high)
    assert [r.score for r in low] == pytest.approx([r.score for r in high])


def test_plain_prompt_and_answer_words(judge, tokenizer):
    plain = HFJudge(judge.model, tokenizer, HFJudgeConfig(use_chat_template=False))
    assert plain.prompt_text("Hi.").endswith("\nAnswer:")
    yes, no = (tokenizer(w, add_special_tokens=False)["input_ids"] for w in (" Yes", " No"))
    k = len(plain.shared_prefix)
    assert yes[:k] == no[:k] == plain.shared_prefix and (plain.yes_id, plain.no_id) == (yes[k], no[k])
    r = plain.judge(["Is this a test?"])[0]
    assert r.score is not None and math.isfinite(r.score)
    with pytest.raises(JudgeError, match="do not differ"):
        HFJudge(judge.model, tokenizer, HFJudgeConfig(yes="Yes", no="Yes"))


def test_judge_run_stores_scores_and_resumes(judge, tmp_path, monkeypatch):
    run_dir = write_small_run(tmp_path / "run")
    calls = []
    real = HFJudge.scores
    monkeypatch.setattr(HFJudge, "scores", lambda self, s: calls.append(len(s)) or real(self, s))
    first = judge_run(run_dir, judge, should_stop=lambda: len(calls) >= 2)
    assert not first.complete
    done_before = read_run(run_dir).sentences
    calls.clear()
    second = judge_run(run_dir, judge)
    assert second.complete and second.already_done == first.judged_now
    n_rollouts_with_text = sum(1 for v in COTS.values() if v)
    assert len([c for c in calls if c]) == n_rollouts_with_text - 2  # only the rest was scored
    s = read_run(run_dir).sentences
    body, zero = s[s["sentence"] > 0], s[s["sentence"] == 0]
    assert body["judge_score"].notna().all() and zero["judge_score"].isna().all()
    assert not zero["judge_flag"].any()
    assert (body["judge_flag"] == (body["judge_score"] > 0)).all()
    # Scores written in the first pass are kept unchanged.
    kept = done_before[done_before["judge_ok"] & (done_before["sentence"] > 0)]
    merged = kept.merge(s, on=["prompt_id", "rollout", "sentence"], suffixes=("_1", "_2"))
    assert len(merged) > 0 and (merged["judge_score_1"] == merged["judge_score_2"]).all()
    m = read_manifest(run_dir)["judge"]
    assert m["name"] == "hf" and m["settings"]["model"] == {"id": "tiny-random-qwen3"}
    # A different batch size resumes the same work (it cannot change a score).
    calls.clear()
    HFJudge_b = HFJudge(judge.model, judge.tokenizer, HFJudgeConfig(batch_size=5), model_info={"id": "tiny-random-qwen3"})
    assert judge_run(run_dir, HFJudge_b).complete and calls == []


def test_load_through_monitor_models(tiny_model_dir):
    j = HFJudge.load(str(tiny_model_dir), HFJudgeConfig(), device="cpu", dtype="float32")
    assert j.settings()["model"]["id"] == str(tiny_model_dir)
    r = j.judge(["Is this a test?"])[0]
    assert r.score is not None and math.isfinite(r.score)
