"""Stages 2-4, the engine: model loading, chat rendering, sampling rollouts, sentence splitting,
boundaries, fast memoised encoding and decoding, token forcing, packed scoring, k = 0 scoring and leave-one-sentence-out attribution.

torch and transformers are imported inside the functions that need a model, so importing this
package stays light.
"""

from __future__ import annotations

from .bpe import QWEN_PRETOKENIZE_PATTERN, GPT2_PRETOKENIZE_PATTERN, CHATML_THINK_TEMPLATE, CHATML_TEMPLATE, SPECIAL_TOKENS, build_bpe_tokenizer
from .models import DType, Device, ModelSpec, LoadedModel, load_model, resolve_device, resolve_dtype, find_gguf, sampling_defaults
from .chat import (
    ThinkMarkers, CotMode, RenderedPrompt, render_prompt, cot_span, k0_context_text, k0_context_ids, detect_think_markers,
    cot_mode, describe_cot_mode, markers_missing, chat_token_counter,
)
from .sentences import Sentence, split_sentences
from .forcing import Alignment, ForcedPhrase, boundary_for_char, force_phrase, check_phrase
from .tokens import decode_memo, token_end_offsets
from .scoring import Method, ForceQuery, resolve_method, score_packed, score_naive, model_layout
from .rollouts import FinishReason, Rollout, RolloutRequest, rollout_seed, generate_rollouts, sample_rollouts, make_rollout
from .boundaries import Boundary, PhraseQuery, rollout_boundaries, phrase_queries
from .k0 import score_prompts
from .attribution import ORIGINAL_ID, Variant, loo_variants, variant_prompts, attribution_table

__all__ = [
    "QWEN_PRETOKENIZE_PATTERN", "GPT2_PRETOKENIZE_PATTERN", "CHATML_THINK_TEMPLATE", "CHATML_TEMPLATE", "SPECIAL_TOKENS",
    "build_bpe_tokenizer", "DType", "Device", "ModelSpec", "LoadedModel", "load_model", "resolve_device", "resolve_dtype",
    "find_gguf", "sampling_defaults", "ThinkMarkers", "CotMode", "RenderedPrompt", "render_prompt", "cot_span",
    "k0_context_text", "k0_context_ids", "detect_think_markers", "cot_mode", "describe_cot_mode", "markers_missing", "chat_token_counter", "Sentence",
    "split_sentences", "Alignment", "ForcedPhrase", "decode_memo", "token_end_offsets", "boundary_for_char",
    "force_phrase", "check_phrase", "Method", "ForceQuery", "resolve_method", "score_packed", "score_naive",
    "model_layout", "FinishReason", "Rollout", "RolloutRequest", "rollout_seed", "generate_rollouts", "sample_rollouts", "make_rollout",
    "Boundary", "PhraseQuery", "rollout_boundaries", "phrase_queries", "score_prompts",
    "ORIGINAL_ID", "Variant", "loo_variants", "variant_prompts", "attribution_table",
]
