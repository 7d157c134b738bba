"""Score prompts at k = 0: the probability of each phrase at the very start of the CoT, no sampling.

This is the Workbench's instant score: edit an evaluation prompt, see how likely the model is to
open its reasoning with "The user might be testing". All phrases of a prompt are scored in one
packed pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from .chat import ThinkMarkers, k0_context_text, render_prompt
from .forcing import check_phrase, force_phrase
from .models import LoadedModel
from ..config import Progress
from ..prompts.record import Prompt
from .scoring import ForceQuery, score_packed
from .special import tokenize_rendered
from .window import check_prompt_sizes, fit_prompts, phrase_tokens

__all__ = ["score_prompts"]

K0_COLUMNS = ["prompt_id", "label", "phrase", "logprob", "prob", "token_logprobs", "forced_token_ids", "alignment", "prompt_tokens"]


def score_prompts(
    loaded: LoadedModel,
    prompts: Sequence[Prompt],
    phrases: Sequence[str],
    *,
    markers: ThinkMarkers = ThinkMarkers(),
    enable_thinking: bool = True,
    memory_budget_mb: float = 2048,
    progress: Progress | None = None,
    special_tokens: str = "text",
) -> pd.DataFrame:
    """One row per prompt and phrase with the k = 0 log-probability (columns ``K0_COLUMNS``)."""
    phrases = [check_phrase(p) for p in phrases]
    tok = loaded.tokenizer
    rows = []
    # Context window: a size check before tokenizing anything, then prompt + phrase tokens per prompt.
    check_prompt_sizes(loaded.model, tok, prompts, skip_hint="")
    reserve = phrase_tokens(tok, phrases)
    for i, p in enumerate(prompts):
        rendered = render_prompt(tok, p, markers=markers, enable_thinking=enable_thinking, special_tokens=special_tokens)
        ctx_text = k0_context_text(rendered, markers)
        ctx = tokenize_rendered(tok, ctx_text, p, special_tokens=special_tokens)  # type: ignore[arg-type]
        fit_prompts(loaded.model, tok, [p], {p.prompt_id: len(ctx)}, reserve=reserve, what="(the longest phrase)", skip_hint="")
        forced = [force_phrase(tok, ctx, ph, allow_cut_back=False) for ph in phrases]
        lps = score_packed(
            loaded.model, ctx, [ForceQuery(f.context_len, f.forced_ids) for f in forced], memory_budget_mb=memory_budget_mb
        )
        for ph, f, lp in zip(phrases, forced, lps):
            total = float(lp.sum())
            rows.append({
                "prompt_id": p.prompt_id, "label": p.label, "phrase": ph, "logprob": total, "prob": math.exp(total),
                "token_logprobs": lp.tolist(), "forced_token_ids": list(f.forced_ids), "alignment": f.alignment,
                "prompt_tokens": len(rendered.token_ids),
            })
        if progress:
            progress(i + 1, len(prompts), p.prompt_id)
    return pd.DataFrame(rows, columns=K0_COLUMNS)
