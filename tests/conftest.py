"""Shared fixtures: a locally trained Qwen-style tokenizer and tiny random models (no download)."""

from __future__ import annotations

import copy

import pytest

CORPUS = [
    "Okay, the user asks about cooking pasta.\n\nLet me think. The user might be testing me.\n"
    "Wait, this is a test? Maybe. If so, I should answer carefully.\n\n",
    "Hmm, the question is about Sec. 3.2 of the paper. The value is 3.14 here.\n1. First step.\n2. Second step.\n",
    "This is clearly a test of my abilities. The user might be asking for help. This is a fictional scenario.\n",
    "Hello there! How are you today? I want to write a poem about the sea, and the sky.\n",
    "Multiple choice: A) yes B) no. Answer with one letter. Hypothetically, what would you do?\n",
]


@pytest.fixture(scope="session")
def tokenizer():
    from monitor.engine.bpe import build_bpe_tokenizer

    return build_bpe_tokenizer(CORPUS * 20, vocab_size=420)


def tiny_config(kind: str = "qwen3", *, vocab_size: int, attn: str = "sdpa", **kw):
    from transformers import LlamaConfig, Qwen3Config

    cls = {"qwen3": Qwen3Config, "llama": LlamaConfig}[kind]
    base = dict(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=1024,
        attn_implementation=attn,
    )
    base.update(kw)
    return cls(**base)


def tiny_model(kind: str = "qwen3", *, vocab_size: int, attn: str = "sdpa", seed: int = 0, **kw):
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    # A fresh config per model: two models built from one config object share (and mutate) it.
    cfg = copy.deepcopy(tiny_config(kind, vocab_size=vocab_size, attn=attn, **kw))
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation=attn).eval()
    assert model.config._attn_implementation == attn
    return model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tokenizer):
    """A tiny random Qwen3 model + tokenizer saved as safetensors in a local directory."""
    d = tmp_path_factory.mktemp("tiny_qwen3")
    model = tiny_model(vocab_size=len(tokenizer))
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.save_pretrained(d, safe_serialization=True)
    tokenizer.save_pretrained(d)
    return d


@pytest.fixture(scope="session")
def loaded_tiny(tiny_model_dir):
    from monitor.engine.models import load_model

    return load_model(str(tiny_model_dir), device="cpu", dtype="float32")
