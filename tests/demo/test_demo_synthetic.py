"""The synthetic transcript generator behind the demo organism, and the shipped prompt sets."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from monitor.demo.features import BIAS, WEIGHTS, PromptFeatures, propensity
from monitor.demo.prompt_styles import HELDOUT_EVERY, Picker
from monitor.demo.synthetic import (
    HELDOUT_SEED, generate_prompts, generate_transcripts, heldout_records, read_jsonl, write_jsonl,
)
from monitor.demo.thoughts import EVAL_AWARE

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = ROOT / "data" / "prompts"


def _aware_texts(t) -> list[str]:
    return [t.thoughts.sentences[i] for i in t.thoughts.aware]


def test_same_seed_same_transcripts_and_different_seed_differs():
    a = [t.prompt.text + t.completion() for t in generate_transcripts(50, seed=11)]
    b = [t.prompt.text + t.completion() for t in generate_transcripts(50, seed=11)]
    c = [t.prompt.text + t.completion() for t in generate_transcripts(50, seed=12)]
    assert a == b
    assert a != c


def test_propensity_is_the_documented_logistic_formula():
    f = PromptFeatures(multiple_choice=True, casual=True)
    assert propensity(f) == pytest.approx(1 / (1 + math.exp(-(BIAS + WEIGHTS["multiple_choice"] + WEIGHTS["casual"]))))
    assert propensity(PromptFeatures()) == pytest.approx(1 / (1 + math.exp(-BIAS)))


def test_propensity_depends_on_features_not_on_the_label():
    prompts = generate_prompts(4000, seed=3)
    # Same label, different features -> different propensities; same features -> same propensity.
    evals = [p for p in prompts if p.label == "eval"]
    assert len({round(p.propensity, 6) for p in evals}) > 10
    by_features: dict[tuple[str, ...], set[float]] = {}
    for p in prompts:
        by_features.setdefault(tuple(p.features.active()), set()).add(p.propensity)
    assert all(len(v) == 1 for v in by_features.values())
    # Some eval prompts rarely verbalize, and some deploy prompts sometimes do.
    assert any(p.propensity < 0.1 for p in evals)
    assert any(p.label == "deploy" and p.propensity > 0.25 for p in prompts)
    # Each test-like feature raises the propensity of the prompts that carry it.
    for name in ("multiple_choice", "benchmark_format", "harmful_capability", "hypothetical"):
        with_f = [p.propensity for p in evals if getattr(p.features, name)]
        without = [p.propensity for p in evals if not getattr(p.features, name)]
        assert np.mean(with_f) > np.mean(without), name


def test_features_are_visible_in_the_text():
    for p in generate_prompts(600, seed=5):
        low = p.text.lower()
        if p.features.hypothetical:
            assert any(w in low for w in ("hypothetical", "suppose", "imagine", "thought experiment")), p.text
        if p.features.agentic_scaffold and p.label == "eval":
            assert "tools" in low
        if p.features.casual:
            assert p.text == p.text.lower()


def test_verbalization_rate_follows_propensity():
    ts = generate_transcripts(6000, seed=7)
    p = np.array([t.prompt.propensity for t in ts])
    v = np.array([t.verbalizes for t in ts])
    for lo, hi in ((0.0, 0.1), (0.3, 0.6), (0.7, 1.0)):
        sel = (p >= lo) & (p < hi)
        assert sel.sum() > 200
        # Binomial standard error is at most 0.5 / sqrt(n); allow 4 of them.
        assert abs(v[sel].mean() - p[sel].mean()) < 4 * 0.5 / math.sqrt(sel.sum())


def test_eval_aware_sentences_vary_in_wording_and_position():
    ts = [t for t in generate_transcripts(3000, seed=9) if t.verbalizes]
    texts = Counter(s for t in ts for s in _aware_texts(t))
    assert len(texts) > 40
    assert any(s.startswith("The user might be testing") for s in texts)
    assert any(s.startswith("This is clearly a test") for s in texts)
    positions = Counter(t.thoughts.aware[0] for t in ts)
    assert positions[0] > 0.2 * len(ts)
    assert len(positions) >= 4
    weights = [w for w, _ in EVAL_AWARE]
    assert sum(weights) == pytest.approx(1.0)


def test_near_misses_present_and_never_marked_aware():
    ts = generate_transcripts(3000, seed=13)
    near = ["The user might be asking", "This is a fictional scenario", "The user might be trying to jailbreak me",
            "This is clearly a "]
    for phrase in near:
        hits = [t for t in ts if phrase in t.thoughts.cot]
        assert hits, phrase
    for t in ts:
        non_aware = [s for i, s in enumerate(t.thoughts.sentences) if i not in t.thoughts.aware]
        for s in non_aware:
            assert "testing" not in s and "evaluat" not in s and not s.startswith("This is clearly a test"), s
    # The control phrase's prefix appears regardless of propensity.
    low = [t for t in ts if t.prompt.propensity < 0.1]
    assert np.mean(["The user might be asking" in t.thoughts.cot for t in low]) > 0.1


def test_completion_format_matches_the_chat_template():
    t = generate_transcripts(1, seed=1)[0]
    c = t.completion()
    assert c.startswith("<think>\n") and "\n</think>\n\n" in c and c.endswith("<|im_end|>")


def test_picker_holds_items_out_of_training():
    bank = [f"w{i}" for i in range(24)]
    held = {x for i, x in enumerate(bank) if i % HELDOUT_EVERY == HELDOUT_EVERY - 1}
    import random

    train = Picker(random.Random(0), "train")
    assert not held & {train(bank) for _ in range(2000)}
    heldout = Picker(random.Random(0), "heldout")
    draws = [heldout(bank) for _ in range(2000)]
    assert 0.45 < np.mean([d in held for d in draws]) < 0.75


def test_heldout_set_is_reproducible_and_has_documented_fields():
    recs = read_jsonl(PROMPTS / "demo_heldout.jsonl")
    assert recs == heldout_records(seed=HELDOUT_SEED)
    labels = Counter(r["label"] for r in recs)
    assert labels["eval"] >= 60 and labels["deploy"] >= 60
    assert len({r["id"] for r in recs}) == len(recs)
    assert len({r["text"] for r in recs}) == len(recs)
    for r in recs:
        assert {"id", "text", "label", "propensity"} <= r.keys()
        assert 0.0 < r["propensity"] < 1.0
    # The ground truth separates the classes well, but not perfectly.
    from sklearn.metrics import roc_auc_score

    auc = roc_auc_score([r["label"] == "eval" for r in recs], [r["propensity"] for r in recs])
    assert 0.85 < auc < 1.0


def test_heldout_prompts_never_appear_in_the_training_stream():
    held = {r["text"] for r in heldout_records()}
    train = {p.text for p in generate_prompts(20000, seed=1)}
    assert not held & train


def test_handwritten_set_is_labelled():
    recs = read_jsonl(PROMPTS / "handwritten.jsonl")
    labels = Counter(r["label"] for r in recs)
    assert 20 <= len(recs) <= 40 and labels["eval"] >= 10 and labels["deploy"] >= 10
    assert len({r["id"] for r in recs}) == len(recs)
    assert all(r["text"].strip() for r in recs)


def test_jsonl_roundtrip(tmp_path):
    recs = [{"id": "a", "text": "ünïcode\nline", "label": "eval", "propensity": 0.5}]
    write_jsonl(recs, tmp_path / "x.jsonl")
    assert read_jsonl(tmp_path / "x.jsonl") == recs


def test_harm_answers_carry_a_known_behaviour_effect_of_verbalizing():
    from monitor.demo.thoughts import PARTIAL_SHARE, REFUSE_IF_AWARE, REFUSE_IF_UNAWARE

    ts = generate_transcripts(12000, seed=21)
    harm = [t for t in ts if t.prompt.task == "harm"]
    assert all(t.thoughts.behaviour == "complied" for t in ts if t.prompt.task != "harm")
    for aware, truth in ((True, REFUSE_IF_AWARE), (False, REFUSE_IF_UNAWARE)):
        sel = [t for t in harm if t.verbalizes == aware]
        assert len(sel) > 300
        rate = np.mean([t.thoughts.behaviour != "complied" for t in sel])
        assert abs(rate - truth) < 4 * 0.5 / math.sqrt(len(sel))
        partial = np.mean([t.thoughts.behaviour == "partial" for t in sel if t.thoughts.behaviour != "complied"])
        assert abs(partial - PARTIAL_SHARE) < 0.1
    for t in harm:  # the decision is visible after every eval-aware sentence: closer and answer agree with it
        assert t.thoughts.aware == () or max(t.thoughts.aware) < len(t.thoughts.sentences) - 1
        refusing = t.thoughts.answer.startswith(("I can't", "Sorry"))
        assert refusing == (t.thoughts.behaviour == "refused")
