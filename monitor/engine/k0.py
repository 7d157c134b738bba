"""Score prompts at k = 0: the probability of each phrase at the very start of the CoT, no sampling.

This is the Workbench's instant score: edit an evaluation prompt, see how likely the model is to
open its reasoning with "The user might be testing". All phrases of a prompt are scored in one
packed pass, and many prompts share one padded pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pandas as pd

from .chat import ThinkMarkers, detect_think_markers, k0_context_ids, render_prompt
from .forcing import check_phrase, force_phrase
from .tokens import decode_memo
from .models import LoadedModel
from ..errors import ConfigError
from ..prompts.record import Prompt
from .scoring import ForceQuery, score_packed
from .window import check_prompt_sizes, fit_prompts, phrase_tokens
from .batch_scoring import score_packed_batch
from .backends import ServedModel, is_served, score_served

__all__ = ["score_prompts", "K0_BATCH", "Progress"]

# score-prompts: prompts prepared and packed together. Larger chunks fill the packed rows better
# (scoring the 160 demo prompts took ~5% less at 128-256 than at 64); each chunk is one progress
# step and holds its prompts' tokenizations in memory.
K0_BATCH = 256

Progress = Callable[[int, int, str], None]
"""``progress(done, total, message)``, called as work completes (the CLI draws a bar, the app too)."""

K0_COLUMNS = ["prompt_id", "label", "phrase", "logprob", "prob", "token_logprobs", "forced_token_ids", "alignment", "prompt_tokens"]


def score_prompts(
    loaded: LoadedModel | ServedModel,
    prompts: Sequence[Prompt],
    phrases: Sequence[str],
    *,
    markers: ThinkMarkers | None = None,
    enable_thinking: bool = True,
    memory_budget_mb: float = 2048,
    progress: Progress | None = None,
    special_tokens: str = "text",
    batch_size: int = K0_BATCH,
) -> pd.DataFrame:
    """One row per prompt and phrase with the k = 0 log-probability (columns ``K0_COLUMNS``).

    The context is exactly a run's boundary 0: the rendered prompt's ids, then the opening marker
    where the model writes it itself. ``markers=None`` detects them from the tokenizer, as a run does.
    Up to ``batch_size`` prompts are scored in one padded pass (:func:`score_packed_batch`, the
    same log-probs to ~1e-5 in fp32); ``batch_size=1`` scores one prompt per pass.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1 (got {batch_size}).")
    phrases = [check_phrase(p) for p in phrases]
    tok = loaded.tokenizer
    if markers is None:
        markers = detect_think_markers(tok)
    rows = []
    # Context window: a size check before tokenizing anything, then prompt + phrase tokens per prompt.
    check_prompt_sizes(loaded.model, tok, prompts, skip_hint="")
    reserve = phrase_tokens(tok, phrases)
    for lo in range(0, len(prompts), batch_size):
        chunk = prompts[lo : lo + batch_size]
        batch = []
        # The seam checks of a batch share their decodes (the chat template's tail recurs), and its
        # encodes look the Rust backend up once; the memo lives for one batch so that its size
        # stays bounded on large prompt sets.
        with decode_memo():
            rendered = [render_prompt(tok, p, markers=markers, enable_thinking=enable_thinking, special_tokens=special_tokens) for p in chunk]
            ctxs = [k0_context_ids(tok, r, markers) for r in rendered]
            # One window check for the batch: it refuses the same prompts, naming all of them at once.
            fit_prompts(loaded.model, tok, chunk, {p.prompt_id: len(c) for p, c in zip(chunk, ctxs)}, reserve=reserve,
                        what="(the longest phrase)", skip_hint="")
            for p, r, ctx in zip(chunk, rendered, ctxs):
                batch.append((p, r, ctx, [force_phrase(tok, ctx, ph, allow_cut_back=False) for ph in phrases]))
        rows.extend(_score_batch(loaded, batch, phrases, memory_budget_mb))
        if progress:
            progress(min(lo + batch_size, len(prompts)), len(prompts), batch[-1][0].prompt_id)
    return pd.DataFrame(rows, columns=K0_COLUMNS)


def _score_batch(loaded: LoadedModel | ServedModel, batch, phrases: Sequence[str], memory_budget_mb: float) -> list[dict]:
    items = [(ctx, [ForceQuery(f.context_len, f.forced_ids) for f in forced]) for _, _, ctx, forced in batch]
    if is_served(loaded):
        all_lps = score_served(loaded, items)
    elif len(items) == 1:
        all_lps = [score_packed(loaded.model, items[0][0], items[0][1], memory_budget_mb=memory_budget_mb)]
    else:
        all_lps = score_packed_batch(loaded.model, items, memory_budget_mb=memory_budget_mb)
    rows = []
    for (p, rendered, _, forced), lps in zip(batch, all_lps):
        for ph, f, lp in zip(phrases, forced, lps):
            total = float(lp.sum())
            rows.append({
                "prompt_id": p.prompt_id, "label": p.label, "phrase": ph, "logprob": total, "prob": math.exp(total),
                "token_logprobs": lp.tolist(), "forced_token_ids": list(f.forced_ids), "alignment": f.alignment,
                "prompt_tokens": len(rendered.token_ids),
            })
    return rows
