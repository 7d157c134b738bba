"""Stage 1, prompts: the :class:`Prompt` record, parsing pasted text, files and datasets into it,
column mapping, exclusion filters, and the CLI options that shape how prompts are read.

Import from here (``from monitor.prompts import load_prompt_set``); the modules behind it are
``record`` (the record), ``records`` (rows -> prompts), ``input`` (text/files/specs), ``filters``,
``datasets`` (FORTRESS, WildChat, Petri, any HF dataset) and ``args`` (argparse options).
"""

from __future__ import annotations

from .record import Label, LABELS, Prompt, prompts_to_frame, prompts_from_frame
from .filters import ANNOUNCED_EVAL_PATTERNS, Exclusion, ExclusionRules, TooLong, apply_exclusions, check_context_length
from .records import ColumnMapping, LoadedPrompts, Problem, PromptFileError, RowError, collect_prompts, normalize_label, prompt_id_for, prompts_from_records, type_name
from .input import DEFAULT_MAX_BYTES, FILE_FORMATS, load_prompt_set, load_prompts, parse_pasted, read_prompt_bytes, read_prompt_file
from .datasets import FORTRESS_NAME, WILDCHAT_NAME, load_fortress, load_hf_prompts, load_petri, load_wildchat, petri_first_turn
from .args import add_prompt_arguments, exclusion_rules_from_args, prompt_set_from_args

__all__ = [
    "Label", "LABELS", "Prompt", "prompts_to_frame", "prompts_from_frame",
    "ANNOUNCED_EVAL_PATTERNS", "Exclusion", "ExclusionRules", "TooLong", "apply_exclusions",
    "check_context_length", "ColumnMapping", "LoadedPrompts", "Problem",
    "PromptFileError", "RowError", "collect_prompts", "normalize_label", "prompt_id_for",
    "prompts_from_records", "type_name", "DEFAULT_MAX_BYTES", "FILE_FORMATS", "load_prompt_set",
    "load_prompts", "parse_pasted", "read_prompt_bytes", "read_prompt_file", "FORTRESS_NAME",
    "WILDCHAT_NAME", "load_fortress", "load_hf_prompts", "load_petri", "load_wildchat",
    "petri_first_turn", "add_prompt_arguments", "exclusion_rules_from_args", "prompt_set_from_args",
]
