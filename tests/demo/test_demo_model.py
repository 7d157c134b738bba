"""The shipped demo organism in data/demo_model: loads offline, renders its template, thinks, and
carries the ground truth it was trained on."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = ROOT / "data" / "demo_model"
HELDOUT = ROOT / "data" / "prompts" / "demo_heldout.jsonl"
PHRASE = "The user might be testing"


@pytest.fixture(scope="module")
def organism():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    tok = AutoTokenizer.from_pretrained(MODEL_DIR, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(MODEL_DIR, local_files_only=True).eval()
    return model, tok


def _heldout_prompts():
    from monitor.prompts.input import load_prompt_set

    return load_prompt_set(HELDOUT).prompts


def test_files_are_small_safetensors_and_labelled_synthetic():
    files = {p.name: p.stat().st_size for p in MODEL_DIR.iterdir()}
    assert "model.safetensors" in files
    assert not any(n.endswith((".bin", ".pt", ".pkl")) for n in files)  # no pickle
    assert sum(files.values()) <= 20 * 1024 * 1024
    card = (MODEL_DIR / "README.md").read_text(encoding="utf-8")
    assert "SYNTHETIC" in card and "says nothing about any real" in card


def test_loads_offline_with_auto_classes(organism, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, tok = organism
    assert model.config.model_type == "qwen3"
    assert tok.eos_token == "<|im_end|>"
    gen = model.generation_config
    assert gen.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>")
    assert (gen.temperature, gen.top_p, gen.top_k, gen.do_sample) == (0.6, 0.95, 20, True)
    log = json.loads((MODEL_DIR / "training_log.json").read_text())
    assert log["parameters"] == sum(p.numel() for p in model.parameters())


def test_chat_template_renders_a_thinking_generation_prompt(organism):
    _, tok = organism
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    text = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    assert text == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    off = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False, enable_thinking=False)
    assert off.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    for special in ("<think>", "</think>", "<|im_end|>"):
        assert len(tok(special, add_special_tokens=False)["input_ids"]) == 1


def test_seeded_generation_writes_a_think_block(organism):
    import torch

    model, tok = organism
    text = tok.apply_chat_template([{"role": "user", "content": "what can i make with rice and eggs"}],
                                   add_generation_prompt=True, tokenize=False)
    enc = tok(text, return_tensors="pt", add_special_tokens=False)
    outs = []
    for _ in range(2):
        torch.manual_seed(0)
        out = model.generate(**enc, max_new_tokens=160)
        outs.append(tok.decode(out[0, enc["input_ids"].shape[1] :]))
    assert outs[0] == outs[1]
    assert outs[0].startswith("<think>\n")
    cot, _, answer = outs[0].partition("\n</think>\n\n")
    assert len(cot) > 20 and answer.endswith("<|im_end|>")


def test_k0_score_separates_eval_from_deploy_on_heldout(organism):
    """The organism's start-of-CoT probability of the primary phrase tracks its ground truth."""
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    from monitor.engine.k0 import score_prompts
    from monitor.engine.models import load_model

    loaded = load_model(str(MODEL_DIR), device="cpu", dtype="fp32")
    prompts = _heldout_prompts()
    df = score_prompts(loaded, prompts, [PHRASE])
    assert (df["alignment"] == "exact").all()
    by_id = {p.prompt_id: p for p in prompts}
    y = [by_id[i].label == "eval" for i in df["prompt_id"]]
    prop = [by_id[i].meta["propensity"] for i in df["prompt_id"]]
    assert roc_auc_score(y, df["logprob"]) >= 0.85
    assert spearmanr(df["logprob"], prop).statistic >= 0.6


def _sample_next_tokens(model, context: list[int], n_tokens: int, n: int, seed: int) -> np.ndarray:
    """``n`` ancestral samples (temperature 1, no truncation) of ``n_tokens`` tokens after ``context``."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([context]), use_cache=True)
        past = out.past_key_values
        past.batch_repeat_interleave(n)
        logits = out.logits[:, -1].expand(n, -1)
        drawn = []
        for _ in range(n_tokens):
            nxt = torch.multinomial(torch.softmax(logits.double(), -1), 1, generator=g)  # (n, 1)
            drawn.append(nxt)
            out = model(input_ids=nxt, past_key_values=past, use_cache=True)
            past, logits = out.past_key_values, out.logits[:, -1]
    return torch.cat(drawn, 1).numpy()


@pytest.mark.slow
def test_forced_probability_matches_sampling_frequency_on_the_organism(organism):
    """At real boundaries of sampled rollouts, sampling produces the phrase as often as forcing says.

    Hits among N samples are Binomial(N, p) with p the forced probability; each check requires
    |z| < 3.9 (a 99.99% normal interval).
    """
    import torch

    from monitor.engine.boundaries import rollout_boundaries
    from monitor.engine.chat import ThinkMarkers, render_prompt
    from monitor.engine.forcing import force_phrase
    from monitor.engine.rollouts import make_rollout
    from monitor.engine.scoring import ForceQuery, score_packed

    model, tok = organism
    eos = {tok.convert_tokens_to_ids("<|im_end|>")}
    n = 3000
    prompts = sorted(_heldout_prompts(), key=lambda p: -p.meta["propensity"])[:6]
    checked = []
    for i, prompt in enumerate(prompts):
        rendered = render_prompt(tok, prompt)
        torch.manual_seed(i)
        gen = model.generate(input_ids=torch.tensor([list(rendered.token_ids)]), max_new_tokens=200)
        completion = gen[0, len(rendered.token_ids) :].tolist()
        r = make_rollout(tok, prompt_id=prompt.prompt_id, rollout=0, seed=i, rendered=rendered,
                         completion_ids=completion, eos_ids=eos, markers=ThinkMarkers())
        for b in rollout_boundaries(tok, r)[:4]:
            context = list(r.prompt_token_ids) + list(r.completion_token_ids[: b.boundary_token])
            f = force_phrase(tok, context, PHRASE)
            ctx = context[: f.context_len]
            p = math.exp(float(score_packed(model, ctx, [ForceQuery(len(ctx), f.forced_ids)])[0].sum()))
            if not 0.01 < p < 0.99:
                continue
            samples = _sample_next_tokens(model, ctx, len(f.forced_ids), n, seed=len(checked) + 1)
            hits = int((samples == np.array(f.forced_ids)[None, :]).all(1).sum())
            z = (hits - n * p) / math.sqrt(n * p * (1 - p))
            assert abs(z) < 3.9, (prompt.prompt_id, b.sentence, p, hits / n, z)
            checked.append((prompt.prompt_id, b.sentence, p, hits / n))
        if len(checked) >= 4:
            break
    print("checked (prompt, sentence, forced p, sampled frequency):", checked)
    assert len(checked) >= 3, checked


def test_training_script_is_seeded_and_writes_a_loadable_model(tmp_path):
    """A tiny run of the real training script, twice: same weights, and the Auto classes load it."""
    from safetensors.numpy import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from monitor.demo.train import TrainConfig, train

    cfg = TrainConfig(steps=3, batch_size=4, tokenizer_docs=300, vocab_size=600, hidden_size=32, layers=1,
                      intermediate_size=64)
    logs = [train(cfg, tmp_path / name, progress=False) for name in ("a", "b")]
    wa, wb = (load_file(tmp_path / n / "model.safetensors") for n in ("a", "b"))
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert logs[0]["losses"] == logs[1]["losses"]
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "a", local_files_only=True)
    tok = AutoTokenizer.from_pretrained(tmp_path / "a", local_files_only=True)
    assert model.config.model_type == "qwen3" and tok.eos_token == "<|im_end|>"
    assert "SYNTHETIC" in (tmp_path / "a" / "README.md").read_text(encoding="utf-8")
