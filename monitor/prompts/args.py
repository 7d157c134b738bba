"""Command-line options for choosing prompts, shared by every subcommand that takes ``--prompts``.

``add_prompt_arguments(parser)`` adds the options; ``prompt_set_from_args(args)`` loads what they
name through :func:`monitor.prompts.input.load_prompt_set`. The context-window check needs the
model, so it stays with the run (``--skip-long`` in the CLI).
"""

from __future__ import annotations

import argparse

from .filters import ANNOUNCED_EVAL_PATTERNS, ExclusionRules
from .input import DEFAULT_MAX_BYTES, ColumnMapping, LoadedPrompts, load_prompt_set
from .records import normalize_label

__all__ = ["add_prompt_arguments", "exclusion_rules_from_args", "prompt_set_from_args"]


def add_prompt_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """Add ``--prompts`` and the options that shape how it is read."""
    g = parser.add_argument_group("prompts")
    g.add_argument("--prompts", required=required, metavar="SPEC",
                   help="prompt file (.jsonl .json .csv .tsv .txt .parquet) or dataset: hf:NAME[:SPLIT], "
                        "fortress[:PATH], fortress-pairs[:PATH] (with benign twins), wildchat[:PATH], petri:DIR")
    g.add_argument("--columns", metavar="MAP", default="",
                   help="column mapping, e.g. text=question,id=qid,label=split (fields: text messages system id label pair_id)")
    g.add_argument("--split", help="dataset split when the spec names none (default: train)")
    g.add_argument("--limit", type=int, help="read at most this many dataset rows, or the first N prompts of a file (WildChat: kept prompts, default 1000)")
    g.add_argument("--default-label", default="unknown", help="label for prompts without one (eval, deploy, unknown)")
    g.add_argument("--lenient", action="store_true", help="skip bad rows with a warning instead of failing")
    g.add_argument("--exclude-ids", default="", metavar="IDS", help="comma-separated prompt ids to leave out")
    g.add_argument("--exclude-pattern", action="append", default=[], metavar="REGEX",
                   help="leave out prompts whose text matches (case-insensitive; repeatable)")
    g.add_argument("--exclude-file", metavar="FILE", help="file of ids and re:PATTERN lines to leave out")
    g.add_argument("--exclude-announced-evals", action="store_true",
                   help="leave out prompts that say outright they are a test or evaluation")
    g.add_argument("--max-prompt-file-mb", type=float, default=DEFAULT_MAX_BYTES / 1e6, metavar="MB",
                   help="refuse prompt files larger than this (default: %(default).0f)")


def exclusion_rules_from_args(args: argparse.Namespace) -> ExclusionRules:
    """The exclusion rules named by ``--exclude-*`` (empty when none is given)."""
    rules = ExclusionRules.from_file(args.exclude_file) if args.exclude_file else ExclusionRules()
    ids = {i.strip() for i in args.exclude_ids.split(",") if i.strip()}
    patterns = list(args.exclude_pattern) + (list(ANNOUNCED_EVAL_PATTERNS) if args.exclude_announced_evals else [])
    return ExclusionRules(ids=rules.ids | ids, patterns=rules.patterns + tuple(patterns))


def prompt_set_from_args(args: argparse.Namespace) -> LoadedPrompts:
    """Load the prompts named by :func:`add_prompt_arguments`' options."""
    return load_prompt_set(
        args.prompts,
        mapping=ColumnMapping.parse(args.columns) if args.columns else None,
        lenient=args.lenient,
        split=args.split,
        exclude=exclusion_rules_from_args(args),
        max_bytes=int(args.max_prompt_file_mb * 1e6),
        default_label=normalize_label(args.default_label),
        limit=args.limit,
    )
