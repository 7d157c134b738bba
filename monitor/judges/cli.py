"""``monitor judge RUN --judge rules|openai|hf``: the judge subcommand and shared judge options.

The lead wires :func:`register` into ``monitor/cli.py``; :func:`add_judge_arguments` and
:func:`judge_from_args` are shared with ``python -m monitor.judges.evaluate``. There is no option
taking an API key itself (it would land in shell history and process lists): the key is read from
the environment variable named by ``--api-key-env``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import ConfigError
from .base import Judge

__all__ = ["register", "add_judge_arguments", "judge_from_args", "cmd_judge", "default_cache_path"]


def default_cache_path() -> Path:
    """``$XDG_CACHE_HOME/evalaware-monitor/judge-cache.sqlite`` (``~/.cache`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "evalaware-monitor" / "judge-cache.sqlite"


def add_judge_arguments(p: argparse.ArgumentParser) -> None:
    """Options choosing and configuring a judge."""
    p.add_argument("--kind", choices=["verbalization", "behaviour"], default="verbalization",
                   help="verbalization: flag eval-aware CoT sentences (default); behaviour: label each final answer "
                        "refused / partial / complied (rules, openai or hf; same options)")
    p.add_argument("--judge", choices=["rules", "openai", "hf"], default="rules",
                   help="rules: offline patterns (default); openai: an OpenAI-compatible endpoint; hf: a local model's Yes/No logits")
    g = p.add_argument_group("rules judge")
    g.add_argument("--negated", choices=["flag", "ignore"], default="flag",
                   help="'this is not a test': flag (default; the model raised the possibility) or ignore")
    g = p.add_argument_group("openai judge (any OpenAI-compatible chat-completions endpoint)")
    g.add_argument("--model", help="model name the endpoint serves (openai), or HF id / local directory (hf)")
    g.add_argument("--base-url", default=None, help="endpoint ending in /v1, e.g. http://localhost:8000/v1 (default: OpenAI)")
    g.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the key (default OPENAI_API_KEY)")
    g.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    g.add_argument("--max-retries", type=int, default=4, help="retries per request on 429/5xx/timeouts/malformed answers (default 4)")
    g.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    g.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default 0)")
    g.add_argument("--max-tokens", type=int, default=None, help="answer token limit (default: the server's)")
    g.add_argument("--no-json-mode", action="store_true", help="do not send response_format=json_object")
    g.add_argument("--max-sentences", type=int, default=150, help="sentences per request (default 150)")
    g.add_argument("--cache", default=None, help=f"answer cache file (default {default_cache_path()})")
    g.add_argument("--no-cache", action="store_true", help="do not read or write the answer cache")
    g.add_argument("--price-in", type=float, default=None, help="USD per 1M input tokens, for the cost estimate")
    g.add_argument("--price-out", type=float, default=None, help="USD per 1M output tokens, for the cost estimate")
    g = p.add_argument_group("hf judge (local Hugging Face model)")
    g.add_argument("--revision", default=None, help="hub revision")
    g.add_argument("--dtype", default="auto", help="auto | bf16 | fp16 | fp32")
    g.add_argument("--device", default="auto", help="auto | cuda | cuda:N | mps | cpu")
    g.add_argument("--threshold", type=float, default=0.0, help="flag when logit(Yes) - logit(No) exceeds this (default 0)")
    g.add_argument("--batch-size", type=int, default=16, help="sentences per forward pass (default 16)")


def _openai_settings(args: argparse.Namespace):
    """The OpenAI-compatible judge's config and cache path from the options (both judge kinds share them)."""
    from .openai_api import OpenAIJudgeConfig

    config = OpenAIJudgeConfig(
        model=args.model, base_url=args.base_url, temperature=args.temperature, max_tokens=args.max_tokens,
        json_mode=not args.no_json_mode, max_sentences=args.max_sentences, concurrency=args.concurrency,
        max_retries=args.max_retries, timeout=args.timeout, price_in=args.price_in, price_out=args.price_out,
    )
    if args.api_key_env and not os.environ.get(args.api_key_env) and not args.base_url:
        raise ConfigError(f"--judge openai: ${args.api_key_env} is not set. Export your key in it (or name another "
                          "variable with --api-key-env), or pass --base-url for a local server that needs none.")
    return config, (None if args.no_cache else (args.cache or default_cache_path()))


def judge_from_args(args: argparse.Namespace) -> Judge:
    """Build the judge the options describe."""
    return _judge_from_args(args, behaviour=False)


def behaviour_judge_from_args(args: argparse.Namespace):
    """Build the behaviour judge the options describe (the verbalization judge's options)."""
    return _judge_from_args(args, behaviour=True)


def _judge_from_args(args: argparse.Namespace, *, behaviour: bool):
    # One set of options builds either kind: rules offline, openai over an endpoint, hf locally.
    if args.judge == "rules":
        if behaviour:
            from .behaviour import RulesBehaviourJudge

            return RulesBehaviourJudge()
        from .rules import RulesJudge

        return RulesJudge(negated=args.negated)
    if not args.model:
        raise ConfigError(f"{'--kind behaviour ' if behaviour else ''}--judge {args.judge} needs --model "
                          "(the judge model's name or path).")
    if args.judge == "openai":
        from .behaviour_llm import OpenAIBehaviourJudge
        from .openai_api import OpenAIJudge

        config, cache = _openai_settings(args)
        return (OpenAIBehaviourJudge if behaviour else OpenAIJudge)(config, api_key_env=args.api_key_env, cache=cache)
    print(f"Loading judge model {args.model} ...", file=sys.stderr)
    if behaviour:
        from .behaviour_llm import HFBehaviourJudge

        return HFBehaviourJudge.load(args.model, revision=args.revision, dtype=args.dtype, device=args.device)
    from .hf import HFJudge, HFJudgeConfig

    return HFJudge.load(args.model, HFJudgeConfig(threshold=args.threshold, batch_size=args.batch_size),
                        revision=args.revision, dtype=args.dtype, device=args.device)


def cmd_judge(args: argparse.Namespace) -> int:
    """Judge a run; exit 0 when every rollout is judged, 1 when some still fail (rerun to retry)."""
    from tqdm import tqdm

    from .run import judge_run

    if getattr(args, "kind", "verbalization") == "behaviour":
        return _cmd_behaviour(args)
    judge = judge_from_args(args)
    bar = tqdm(total=0, unit="rollout", file=sys.stderr, disable=None)

    def progress(done: int, total: int, message: str) -> None:
        if bar.total != total:
            bar.reset(total=total)
            bar.update(done)
        else:
            bar.update(done - bar.n)

    try:
        s = judge_run(args.run, judge, progress=progress)
    finally:
        bar.close()
    print(f"{s.judge} judge: {s.judged_now} rollouts judged now, {s.already_done} before, {s.failed} failed; "
          f"{s.flagged_sentences} sentences flagged in {s.flagged_rollouts} of {s.rollouts} rollouts.")
    return _report_pass(s, "judge", "judge flags")


def _report_pass(s, verb: str, kept_what: str) -> int:
    """Print what either kind of pass leaves to say (usage, kept columns, failures); the exit status."""
    if s.usage:
        u = s.usage
        cost = f", about ${u['cost_usd']:.4f}" if u.get("cost_usd") is not None else ""
        print(f"usage: {u['requests']} requests ({u['cache_hits']} from cache, {u['retries']} retries), "
              f"{u['prompt_tokens']} tokens in, {u['completion_tokens']} out{cost}.")
    if s.kept_previous:
        print(f"this pass did not {verb} every rollout, so the run keeps its previous {kept_what} ({s.kept_previous}); "
              "run the same command again to continue.", file=sys.stderr)
    if s.failed:
        print(f"{s.failed} rollouts failed (see {s.parts_dir / 'results.jsonl'}); run the same command again to retry them.",
              file=sys.stderr)
        return 1
    return 0


def _cmd_behaviour(args: argparse.Namespace) -> int:
    from .behaviour import judge_behaviour_run

    s = judge_behaviour_run(args.run, behaviour_judge_from_args(args))
    print(f"behaviour judge ({s.judge}): {s.judged_now} rollouts judged now, {s.already_done} before, {s.failed} failed; "
          f"labels {s.counts}.")
    return _report_pass(s, "label", "behaviour labels")


def register(subparsers) -> None:
    """Add ``judge`` to the ``monitor`` command line."""
    p = subparsers.add_parser(
        "judge", help="flag CoT sentences that verbalize evaluation awareness (resumable)",
        description="Judge every rollout of a run with the verbalization monitor and add judge_flag, judge_quote, "
                    "judge_rationale, judge_score and judge_ok to sentences.parquet. Rerun to resume or retry failures.",
    )
    p.add_argument("run", help="run directory")
    add_judge_arguments(p)
    p.set_defaults(func=cmd_judge)
