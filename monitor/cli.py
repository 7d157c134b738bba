"""Command line: ``python -m monitor`` (installed as ``monitor``).

Every subcommand runs the same engine as the app and writes the same run directory. Errors a
user can cause print one line on stderr and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .engine.args import ProgressBar as _Bar
from .engine.args import add_backend_arguments as _add_backend_args
from .engine.args import add_chat_arguments as _add_chat_args
from .engine.args import add_model_arguments as _add_model_args
from .engine.args import load_model_from_args as _load
from .engine.args import markers_from_args as _markers
from .engine.args import resume_backend as _resume_backend
from .errors import MonitorError

__all__ = ["main", "build_parser"]


def _prompts(args):
    from .prompts.args import prompt_set_from_args

    loaded = prompt_set_from_args(args)
    for w in [*loaded.warnings, *loaded.notes]:
        print(f"note: {w}", file=sys.stderr)
    if loaded.excluded:
        print(f"note: {len(loaded.excluded)} prompt(s) excluded", file=sys.stderr)
    return list(loaded.prompts)


def _note_special_tokens(loaded, prompts, mode: str) -> None:
    from .engine.special import describe, special_strings_in

    hits = [(p.prompt_id, found) for p in prompts if (found := special_strings_in(loaded.tokenizer, p))]
    for pid, found in hits[:10]:
        how = "kept as plain text" if mode == "text" else "parsed as chat markup (--special-tokens parse)"
        print(f"note: prompt {pid} contains special-token text {describe(found)}: {how}", file=sys.stderr)
    if len(hits) > 10:
        print(f"note: {len(hits) - 10} more prompt(s) contain special-token text", file=sys.stderr)


def _executor(args, loaded):
    if args.ray is None:
        return None
    if (getattr(args, "backend", None) or "transformers") != "transformers":
        raise MonitorError(f"--ray runs transformers workers; with --backend {args.backend} the engine spreads the model over "
                           "GPUs and nodes itself (--tensor-parallel-size, --pipeline-parallel-size, or the server's own settings).")
    from .runs.ray_executor import RayExecutor

    return RayExecutor(loaded.spec, address=None if args.ray == "local" else args.ray, workers=args.workers)


def cmd_run(args) -> int:
    from .config import RunConfig
    from .runs.pipeline import run_monitor

    if args.workers is not None and args.ray is None:
        raise MonitorError("--workers needs --ray (workers run on a Ray cluster).")
    if args.ray is not None and args.backend not in (None, "transformers"):
        _executor(args, None)  # refuses before anything loads: --ray is for the transformers backend
    if args.resume:
        from .runs.store import read_manifest, run_lock

        manifest = read_manifest(args.resume)
        with run_lock(args.resume, what="resume"):  # fail before loading the model if another writer has it
            pass
        if args.model is None:
            args.model = manifest.get("model", {}).get("id")
        _resume_backend(args, manifest)
        loaded = _load(args)
        bar = _Bar("rollout")
        executor = _executor(args, loaded)
        try:
            run = run_monitor(loaded, None, None, args.resume, resume=True, progress=bar, executor=executor)
        finally:
            bar.close()
            if executor is not None:
                executor.shutdown()
    else:
        missing = [f for f in ("model", "prompts", "out") if getattr(args, f) is None]
        if missing or not args.phrase:
            need = ", ".join("--" + m for m in missing + ([] if args.phrase else ["phrase"]))
            raise MonitorError(f"monitor run needs {need} (or --resume DIR to continue a run).")
        given = {k: getattr(args, k) for k in ("temperature", "top_p", "top_k") if getattr(args, k) is not None}
        config = RunConfig(
            tuple(args.phrase), rollouts=args.rollouts, max_new_tokens=args.max_new_tokens, **given, seed=args.seed,
            batch_size=args.batch_size, batching=args.batching, generation_memory_mb=args.generation_memory_mb, markers=_markers(args), enable_thinking=not args.no_thinking,
            control_phrase=args.control_phrase, memory_budget_mb=args.memory_budget_mb,
            long_prompts="skip" if args.skip_long else "error", special_tokens=args.special_tokens,
        )
        from .runs.store import check_new_run_dir

        check_new_run_dir(args.out)  # before loading anything: a new run never overwrites a folder
        prompts = _prompts(args)
        loaded = _load(args)
        _note_special_tokens(loaded, prompts, args.special_tokens)
        from dataclasses import replace

        from .engine.models import sampling_defaults

        model_values, source = sampling_defaults(loaded.model)
        config = replace(config, **{k: v for k, v in model_values.items() if k not in given})
        source.update({k: "given" for k in given})
        extra = {"prompts_source": str(args.prompts), "sampling_source": source, "threads": args.threads}
        bar = _Bar("rollout")
        executor = _executor(args, loaded)
        try:
            run = run_monitor(loaded, prompts, config, args.out, progress=bar, extra_manifest=extra, executor=executor)
        finally:
            bar.close()
            if executor is not None:
                executor.shutdown()
    print(f"{run.path}: {run.status}, {len(run.prompts)} prompts, {len(run.rollouts)} rollouts, "
          f"{len(run.sentences)} boundaries, {len(run.scores)} scores")
    return 0


def _check_out_file(out: str | None) -> None:
    """Refuse an output file that cannot be written before any work is done."""
    if out is None:
        return
    p = Path(out)
    if p.is_dir():
        raise MonitorError(f"--out {out} is a directory; give a file name ending in .parquet, .csv or .jsonl.")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise MonitorError(f"--out {out} lies under {parent}, which is a file; choose another path.")
            break
    if not p.parent.exists():
        raise MonitorError(f"--out {out}: the folder {p.parent} does not exist; create it or choose another path.")


def cmd_score_prompts(args) -> int:
    from .runs.pipeline import score_prompts

    _check_out_file(args.out)
    prompts = _prompts(args)
    loaded = _load(args)
    _note_special_tokens(loaded, prompts, args.special_tokens)
    bar = _Bar("prompt")
    try:
        df = score_prompts(loaded, prompts, args.phrase, markers=_markers(args), enable_thinking=not args.no_thinking, progress=bar,
                           special_tokens=args.special_tokens, batch_size=args.batch_size)
    finally:
        bar.close()
    if args.out:
        out = Path(args.out)
        if out.suffix == ".csv":
            df.to_csv(out, index=False)
        elif out.suffix == ".jsonl":
            df.to_json(out, orient="records", lines=True)
        else:
            df.to_parquet(out, index=False)
        print(f"wrote {out}", file=sys.stderr)
    wide = df.pivot(index="prompt_id", columns="phrase", values="prob").reindex(index=list(dict.fromkeys(df.prompt_id)))
    print(wide.to_string(float_format=lambda v: f"{v:.3e}"))
    return 0


def cmd_verify(args) -> int:
    from .runs.verify import verify_run

    if args.model is None:
        from .runs.store import read_manifest

        args.model = read_manifest(args.run).get("model", {}).get("id")
    loaded = _load(args)
    res = verify_run(args.run, loaded, max_rows=None if args.all else args.rows, atol=args.atol)
    print(json.dumps({"rows_checked": res.rows_checked, "max_abs_diff": res.max_abs_diff, "atol": res.atol, "ok": res.ok}))
    return 0 if res.ok else 1


def cmd_bench(args) -> int:
    from .bench import BenchConfig, run_bench

    if args.run:
        from .runs.throughput import RunBenchConfig, run_throughput_bench

        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        rcfg = RunBenchConfig(
            model=args.model, prompts=args.prompts, n_prompts=args.n_prompts, rollouts=args.rollouts,
            max_new_tokens=args.max_new_tokens, seed=args.seed, batch_size=args.batch_size, device=args.device,
            dtype=args.dtype, k0=not args.no_k0, k0_prompts=args.k0_prompts, repeats=args.repeats,
        )
        if args.backend not in (None, "transformers"):
            from .runs.backend_bench import run_backend_bench

            print(json.dumps(run_backend_bench(rcfg, args.backend, base_url=args.base_url, log=lambda s: print(s, file=sys.stderr))))
            return 0
        print(json.dumps(run_throughput_bench(rcfg, log=lambda s: print(s, file=sys.stderr))))
        return 0
    if args.backend not in (None, "transformers"):
        raise MonitorError("bench --backend compares whole runs: add --run.")

    cfg = BenchConfig(
        T=args.T, B=args.B, P=args.P, L=args.L, layers=args.layers, hidden=args.hidden, heads=args.heads,
        kv_heads=args.kv_heads, intermediate=args.intermediate, vocab=args.vocab, dtype=args.dtype, device=args.device,
        attn=args.attn, repeats=args.repeats, seed=args.seed, naive=not args.no_naive,
    )
    result = run_bench(cfg, log=lambda s: print(s, file=sys.stderr))
    print(json.dumps(result))
    return 0


def cmd_runs(args) -> int:
    from .runs.bundle import list_runs

    df = list_runs(args.root)
    print(df.to_string(index=False) if len(df) else f"no runs under {args.root}")
    return 0


def cmd_export(args) -> int:
    from .runs.bundle import export_bundle

    print(export_bundle(args.run, args.out))
    return 0


def cmd_import(args) -> int:
    from .runs.bundle import import_bundle

    print(import_bundle(args.bundle, args.dest))
    return 0


# Subcommands contributed by other modules: each exposes register(subparsers).
_PLUGINS: tuple[str, ...] = ("monitor.judges.cli", "monitor.analysis.cli", "monitor.report.cli", "monitor.ingest.cli")


def build_parser() -> argparse.ArgumentParser:
    from . import config
    from .prompts.args import add_prompt_arguments

    parser = argparse.ArgumentParser(prog="monitor", description="Eval-awareness logit monitor: sample CoTs, token-force probe phrases, analyse.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="sample rollouts and score phrases at every CoT sentence", description="Sample k rollouts per prompt and token-force each phrase at every sentence boundary; writes a run directory.")
    _add_model_args(p, required=False)
    add_prompt_arguments(p, required=False)
    p.add_argument("--phrase", action="append", default=[], help="probe phrase (repeat for several); the first is primary")
    p.add_argument("--control-phrase", default=None, help="control phrase scored alongside, e.g. 'The user might be asking'")
    p.add_argument("--rollouts", "-k", type=int, default=10, help="rollouts per prompt (default 10)")
    p.add_argument("--max-new-tokens", type=int, default=512, help="generation budget per rollout (default 512)")
    p.add_argument("--temperature", type=float, default=None, help="sampling temperature (default: the model's generation_config, else 0.6)")
    p.add_argument("--top-p", type=float, default=None, help="nucleus sampling (default: the model's generation_config, else 0.95)")
    p.add_argument("--top-k", type=int, default=None, help="top-k sampling, 0 disables (default: the model's generation_config, else 20)")
    p.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    p.add_argument("--batch-size", type=int, default=64, help="most rollouts generated together, any mix of prompts (default 64)")
    p.add_argument("--batching", default="cross-prompt", choices=["cross-prompt", "per-prompt"], help="mix prompts in a generation batch (default) or not; the rollouts are the same either way")
    p.add_argument("--generation-memory-mb", type=float, default=8192, help="KV-cache budget of one generation batch (default 8192)")
    p.add_argument("--memory-budget-mb", type=float, default=2048, help="memory budget of a packed scoring pass (default 2048)")
    p.add_argument("--skip-long", action="store_true", help="skip prompts that do not fit the context window instead of failing")
    p.add_argument("--out", help="new run directory (must not exist or be empty)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR (settings and prompts come from it)")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS", help="run the units on Ray worker actors: a new local cluster, or join ADDRESS (auto, HOST:PORT); needs the [ray] extra")
    p.add_argument("--workers", type=int, default=None, help="with --ray: N CPU workers (default: one per GPU in the cluster)")
    _add_backend_args(p)
    _add_chat_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("score-prompts", help="k = 0 scores: phrase probability at the start of the CoT, no sampling")
    _add_model_args(p)
    add_prompt_arguments(p)
    p.add_argument("--phrase", action="append", required=True, help="probe phrase (repeat for several)")
    p.add_argument("--out", default=None, help="write the table (.parquet, .csv or .jsonl)")
    p.add_argument("--batch-size", type=int, default=config.K0_BATCH,
                   help=f"prompts prepared and packed into padded passes together (default {config.K0_BATCH}; 1 = one prompt per pass)")
    _add_backend_args(p)
    _add_chat_args(p)
    p.set_defaults(func=cmd_score_prompts)

    p = sub.add_parser("verify", help="recompute stored scores naively and compare (exactness check)")
    p.add_argument("run", help="run directory")
    _add_model_args(p, required=False)
    p.add_argument("--rows", type=int, default=200, help="score rows to check (seeded sample; default 200)")
    p.add_argument("--all", action="store_true", help="check every row")
    p.add_argument("--atol", type=float, default=1e-4, help="tolerance on per-token log-probs (default 1e-4)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("bench", help="packed vs naive scoring on a random-weight model; --run: end-to-end run throughput", description="Time packed token-forced scoring against the naive method (one forward pass per boundary and phrase) in one process; with --run, time whole runs on the demo organism (per-prompt vs cross-prompt batches, k = 0 one at a time vs batched). The last line printed is JSON.")
    p.add_argument("--T", type=int, default=600, help="rollout tokens (default 600)")
    p.add_argument("--B", type=int, default=30, help="boundaries (default 30)")
    p.add_argument("--P", type=int, default=3, help="phrases (default 3)")
    p.add_argument("--L", type=int, default=6, help="tokens per phrase (default 6)")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=None)
    p.add_argument("--intermediate", type=int, default=None, help="MLP size (default 3 x hidden)")
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--dtype", default="float32", help="float32 | bfloat16 | float16")
    p.add_argument("--device", default="cpu", help="cpu | cuda")
    p.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"])
    p.add_argument("--repeats", type=int, default=3, help="timed repeats (the median is reported); with --run, repetitions of each path, interleaved")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-naive", action="store_true", help="skip the naive method (for shapes where it is too slow)")
    g = p.add_argument_group("end-to-end throughput (--run)")
    g.add_argument("--run", action="store_true", help="time whole runs instead: per-prompt batches against cross-prompt batches, and k = 0 one at a time against batched")
    g.add_argument("--model", default="data/demo_model", help="model for --run (default: the demo organism)")
    g.add_argument("--prompts", default="data/prompts/demo_heldout.jsonl", help="prompt file for --run (default: the held-out demo prompts)")
    g.add_argument("--n-prompts", type=int, default=64, help="prompts for --run, evenly spaced in the file (default 64)")
    g.add_argument("--rollouts", "-k", type=int, default=1, help="rollouts per prompt for --run (default 1)")
    g.add_argument("--max-new-tokens", type=int, default=256, help="generation budget for --run (default 256)")
    g.add_argument("--batch-size", type=int, default=64, help="cross-prompt batch rows for --run (default 64)")
    g.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    g.add_argument("--no-k0", action="store_true", help="skip the k = 0 comparison")
    g.add_argument("--k0-prompts", type=int, default=None, help="prompts for the k = 0 comparison, evenly spaced in the file (default: all)")
    g.add_argument("--backend", choices=["transformers", "vllm", "openai-server"], default=None,
                   help="vllm or openai-server: time that backend against the transformers path on the same prompts (k = 1 run, scoring the same rollouts, k = 0)")
    g.add_argument("--base-url", default=None, help="with --backend openai-server: the server (serving --model)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("runs", help="list runs with their status and size")
    p.add_argument("root", nargs="?", default=".", help="directory holding runs (default .)")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("export", help="export a run directory to one bundle file (.zip)")
    p.add_argument("run")
    p.add_argument("--out", required=True, help="bundle file to write")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import", help="import a bundle into a new run directory (checked for size, entries and zip bombs first)")
    p.add_argument("bundle")
    p.add_argument("dest")
    p.set_defaults(func=cmd_import)

    import importlib

    for mod in _PLUGINS:
        importlib.import_module(mod).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except MonitorError as e:
        print(f"monitor {args.command}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"monitor {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # a path that cannot be read or written (a file where a folder should be, no permission)
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"monitor {args.command}: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
