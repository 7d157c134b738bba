"""Train the synthetic demo organism on CPU and save it as a loadable transformers model.

    python -m monitor.demo.train --out data/demo_model

Builds a byte-level BPE tokenizer with Qwen's pre-tokenizer (:func:`monitor.engine.bpe.build_bpe_tokenizer`)
and a ChatML template in which the model writes ``<think>\\n`` itself, then trains a small
Qwen3-architecture causal LM on an endless seeded stream of synthetic transcripts
(:mod:`monitor.demo.synthetic`), with the loss on the assistant's reply only. Prompts of the shipped
held-out set are never trained on. Writes safetensors weights, tokenizer, chat template,
a Qwen3-like generation config, ``training_log.json`` and a model card into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from monitor.demo.synthetic import EOS, Transcript, heldout_records, iter_transcripts

__all__ = ["TrainConfig", "build_tokenizer", "build_model", "train", "main"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines the trained organism (defaults = the shipped model)."""

    seed: int = 0
    """Seeds torch and the transcript stream (the stream uses ``seed + 1``)."""
    steps: int = 1200
    """Optimizer steps."""
    batch_size: int = 24
    """Transcripts per step."""
    max_len: int = 448
    """Longer transcripts are skipped."""
    vocab_size: int = 3072
    """BPE vocabulary size (including special tokens)."""
    tokenizer_docs: int = 20_000
    """Transcripts the tokenizer is trained on."""
    hidden_size: int = 128
    """Model width."""
    layers: int = 4
    """Transformer blocks."""
    heads: int = 4
    """Attention heads (head_dim = hidden_size / heads)."""
    kv_heads: int = 2
    """Key/value heads (grouped-query attention, as in Qwen3)."""
    intermediate_size: int = 384
    """MLP width."""
    max_positions: int = 1024
    """Context length the model config declares."""
    lr: float = 2e-3
    """Peak AdamW learning rate (linear warm-up, cosine decay to 10%)."""
    warmup: int = 60
    """Warm-up steps."""
    weight_decay: float = 0.05
    """AdamW weight decay."""
    threads: int = 1
    """torch CPU threads. One thread is deterministic and, on a shared machine, faster than two
    (two threads spin-wait on each other when the other cores are busy); ``--threads 2`` is ~1.6x
    faster on an idle 2-core machine but gives slightly different weights."""


def _prompt_text(tokenizer, t: Transcript) -> str:
    return tokenizer.apply_chat_template(t.messages(), add_generation_prompt=True, tokenize=False)


def build_tokenizer(cfg: TrainConfig):
    """A Qwen-style byte-level BPE trained on synthetic transcripts, with the ChatML think template."""
    from monitor.engine.bpe import build_bpe_tokenizer

    stream = iter_transcripts(seed=cfg.seed + 2)
    docs = ["<|im_start|>system\n<|im_end|>\n<|im_start|>user\n<|im_end|>\n<|im_start|>assistant\n"]
    for _ in range(cfg.tokenizer_docs):
        t = next(stream)
        docs.append("\n".join(m["content"] for m in t.messages()) + "\n" + t.completion())
    return build_bpe_tokenizer(docs, vocab_size=cfg.vocab_size)


def build_model(cfg: TrainConfig, tokenizer):
    """A randomly initialised Qwen3ForCausalLM sized by ``cfg``."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(cfg.seed)
    config = Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads, num_key_value_heads=cfg.kv_heads, head_dim=cfg.hidden_size // cfg.heads,
        intermediate_size=cfg.intermediate_size, max_position_embeddings=cfg.max_positions, rope_theta=10_000.0,
        tie_word_embeddings=True, eos_token_id=tokenizer.convert_tokens_to_ids(EOS),
        pad_token_id=tokenizer.pad_token_id, bos_token_id=None, use_cache=True,
    )
    return Qwen3ForCausalLM(config)


def _batches(tokenizer, cfg: TrainConfig, excluded: set[str]):
    """Endless (input_ids, labels, attention_mask) batches; similar lengths are batched together."""
    import torch

    stream = iter_transcripts(seed=cfg.seed + 1)
    rng = random.Random(cfg.seed + 3)
    pad = tokenizer.pad_token_id
    while True:
        pool: list[tuple[list[int], int]] = []
        while len(pool) < cfg.batch_size * 32:
            chunk = [t for t in (next(stream) for _ in range(256)) if t.prompt.text not in excluded]
            prompts = tokenizer([_prompt_text(tokenizer, t) for t in chunk], add_special_tokens=False)["input_ids"]
            replies = tokenizer([t.completion() for t in chunk], add_special_tokens=False)["input_ids"]
            pool += [(p + r, len(p)) for p, r in zip(prompts, replies) if len(p) + len(r) <= cfg.max_len]
        pool.sort(key=lambda x: len(x[0]))
        groups = [pool[i : i + cfg.batch_size] for i in range(0, len(pool), cfg.batch_size)]
        rng.shuffle(groups)
        for g in groups:
            width = max(len(ids) for ids, _ in g)
            ids = torch.full((len(g), width), pad, dtype=torch.long)
            labels = torch.full((len(g), width), -100, dtype=torch.long)
            mask = torch.zeros((len(g), width), dtype=torch.long)
            for i, (seq, n_prompt) in enumerate(g):
                ids[i, : len(seq)] = torch.tensor(seq)
                labels[i, n_prompt : len(seq)] = torch.tensor(seq[n_prompt:])
                mask[i, : len(seq)] = 1
            yield ids, labels, mask


def train(cfg: TrainConfig, out: str | Path, *, progress: bool = True) -> dict[str, Any]:
    """Train and save the organism into ``out``; return the training log."""
    import torch
    from tqdm.auto import tqdm

    torch.set_num_threads(cfg.threads)
    t0 = time.time()
    tokenizer = build_tokenizer(cfg)
    model = build_model(cfg, tokenizer)
    excluded = {r["text"] for r in heldout_records()}
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.98))

    def lr_at(step: int) -> float:
        if step < cfg.warmup:
            return cfg.lr * (step + 1) / cfg.warmup
        frac = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))

    model.train()
    losses: list[tuple[int, float]] = []
    tokens = 0
    ema = None
    batches = _batches(tokenizer, cfg, excluded)
    bar = tqdm(range(cfg.steps), desc="training demo organism", disable=not progress)
    for step in bar:
        ids, labels, mask = next(batches)
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += int(mask.sum())
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if step % 10 == 0 or step == cfg.steps - 1:
            losses.append((step, round(loss.item(), 4)))
            bar.set_postfix(loss=f"{ema:.3f}")
    model.eval()
    log = {
        "config": asdict(cfg), "seconds": round(time.time() - t0, 1), "tokens_seen": tokens,
        "final_loss_ema": round(float(ema), 4), "losses": losses,
        "parameters": sum(p.numel() for p in model.parameters()),
        "torch": torch.__version__,
    }
    save(model, tokenizer, out, log)
    return log


def save(model, tokenizer, out: str | Path, log: dict[str, Any]) -> None:
    """Weights (safetensors), tokenizer + chat template, generation config, log and model card."""
    from transformers import GenerationConfig

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.generation_config = GenerationConfig(
        do_sample=True, temperature=0.6, top_p=0.95, top_k=20, max_new_tokens=256,
        eos_token_id=model.config.eos_token_id, pad_token_id=model.config.pad_token_id,
    )
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    (out / "training_log.json").write_text(json.dumps(log, indent=1) + "\n", encoding="utf-8")
    from monitor.demo.card import model_card

    (out / "README.md").write_text(model_card(log), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m monitor.demo.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="data/demo_model", help="output directory (default: %(default)s)")
    for f in fields(TrainConfig):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default,
                            help=f"(default: {f.default})")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    log = train(cfg, args.out, progress=not args.quiet)
    print(f"saved to {args.out}: {log['parameters']:,} parameters, {log['seconds']:.0f} s, "
          f"final loss {log['final_loss_ema']:.3f}")


if __name__ == "__main__":
    main()
