"""Sample chain-of-thought rollouts, keeping the sampled token ids.

Rollouts of one prompt are generated together in batches; each batch is seeded from
(run seed, prompt id, first rollout index), so the same settings give the same rollouts whatever
order prompts run in, and a resumed run regenerates a missing batch exactly as it would have been.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .chat import RenderedPrompt, ThinkMarkers, cot_span

__all__ = ["FinishReason", "Rollout", "batch_seed", "sample_rollouts", "make_rollout"]

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class Rollout:
    """One sampled reply to a prompt."""

    prompt_id: str
    """The prompt it answers."""
    rollout: int
    """Index among the prompt's rollouts (0..k-1)."""
    seed: int
    """Seed of the batch it was sampled in."""
    prompt_token_ids: tuple[int, ...]
    """The rendered prompt's ids (the generation prompt included)."""
    completion_token_ids: tuple[int, ...]
    """Sampled ids, the end-of-sequence token included when one was sampled."""
    completion_text: str
    """Decoded completion (special tokens kept, the final EOS dropped)."""
    cot_char_start: int
    """Start of the CoT in ``completion_text``."""
    cot_char_end: int
    """End of the CoT in ``completion_text``."""
    finish_reason: FinishReason
    """``stop`` (EOS sampled) or ``length`` (max_new_tokens reached)."""
    cot_truncated: bool
    """True if the CoT never closed (cut off, or the model stopped inside it)."""
    think_opened: bool
    """True if the chat template opened the think block (the reply starts inside the CoT)."""

    @property
    def cot_text(self) -> str:
        """The chain of thought, without markers and surrounding whitespace."""
        return self.completion_text[self.cot_char_start : self.cot_char_end]


def batch_seed(seed: int, prompt_id: str, first_rollout: int) -> int:
    """A 31-bit seed for one batch, stable across processes and Python versions."""
    digest = hashlib.sha256(f"{seed}\x00{prompt_id}\x00{first_rollout}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for src in (gen_eos, tokenizer.eos_token_id):
        if isinstance(src, int):
            ids.add(src)
        elif src:
            ids.update(int(i) for i in src)
    return ids


def make_rollout(
    tokenizer: Any,
    *,
    prompt_id: str,
    rollout: int,
    seed: int,
    rendered: RenderedPrompt,
    completion_ids: Sequence[int],
    eos_ids: set[int],
    markers: ThinkMarkers,
) -> Rollout:
    """Build the record for one completion: cut at the first EOS, decode, locate the CoT."""
    ids = [int(i) for i in completion_ids]
    stop = next((i for i, t in enumerate(ids) if t in eos_ids), None)
    finish: FinishReason = "stop" if stop is not None else "length"
    if stop is not None:
        ids = ids[: stop + 1]
    body = ids[:-1] if finish == "stop" else ids
    text = tokenizer.decode(body, skip_special_tokens=False, clean_up_tokenization_spaces=False)
    start, end, truncated = cot_span(text, markers, think_opened=rendered.think_opened)
    return Rollout(
        prompt_id=prompt_id,
        rollout=rollout,
        seed=seed,
        prompt_token_ids=rendered.token_ids,
        completion_token_ids=tuple(ids),
        completion_text=text,
        cot_char_start=start,
        cot_char_end=end,
        finish_reason=finish,
        cot_truncated=truncated,
        think_opened=rendered.think_opened,
    )


def sample_rollouts(
    model: Any,
    tokenizer: Any,
    rendered: RenderedPrompt,
    *,
    prompt_id: str,
    first_rollout: int,
    n: int,
    seed: int,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    top_k: int,
    markers: ThinkMarkers,
) -> list[Rollout]:
    """Sample ``n`` rollouts of one prompt in one batch, seeded with ``batch_seed(seed, ...)``."""
    import torch

    device = model.get_input_embeddings().weight.device
    s = batch_seed(seed, prompt_id, first_rollout)
    torch.manual_seed(s)
    input_ids = torch.tensor([list(rendered.token_ids)] * n, dtype=torch.long, device=device)
    eos = _eos_ids(model, tokenizer)
    sampling = (
        {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": top_k or None}
        if temperature > 0
        else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    )
    with torch.inference_mode():
        out = model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=sorted(eos) or None,
            **sampling,
        )
    completions = out[:, input_ids.shape[1] :].tolist()
    return [
        make_rollout(
            tokenizer,
            prompt_id=prompt_id,
            rollout=first_rollout + i,
            seed=s,
            rendered=rendered,
            completion_ids=c,
            eos_ids=eos,
            markers=markers,
        )
        for i, c in enumerate(completions)
    ]
