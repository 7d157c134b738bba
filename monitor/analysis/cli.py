"""``monitor analyze``: the analyses from the shell (``monitor report`` is :mod:`monitor.report.cli`).

``register(subparsers)`` adds the subcommand to the main ``monitor`` parser (``monitor.cli``
wires it). ``python -m monitor.analysis.cli ...`` runs them standalone, with the same error
convention: a :class:`~monitor.errors.MonitorError` prints one line on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from ..errors import InputError, MonitorError

__all__ = ["register", "cmd_analyze", "main", "nonnegative"]


def nonnegative(name: str):
    """An argparse type: an integer >= 0, named ``name`` in its error."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
        if v < 0:
            raise argparse.ArgumentTypeError(f"{name} must be >= 0, got {v}")
        return v

    return parse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``analyze`` to a ``monitor`` sub-parser collection."""
    p = subparsers.add_parser(
        "analyze", help="headline AUROCs with CIs, controls and curves of a run (prints a summary; --json for everything)",
        description="Compute every headline number of a run: AUROC with 95%% bootstrap CIs per phrase, method and task "
                    "(eval vs deploy; verbalizing eval prompts), the verbalization monitor, AUROC vs rollouts per prompt, "
                    "controls (prompt length, control phrase, length regressed out), variance explained, phrase correlations.")
    p.add_argument("run", metavar="RUN", help="run directory")
    p.add_argument("--json", metavar="FILE", help="write every number to this JSON file ('-' for stdout)")
    p.add_argument("--phrase", action="append", metavar="P", default=None,
                   help="analyse only this phrase (repeat for several; the first is primary). Default: all of the run's phrases")
    p.add_argument("--n-boot", type=nonnegative("--n-boot"), default=1000, metavar="N", help="bootstrap replicates per interval (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and the k-subset draws (default 0)")
    g = p.add_argument_group("phrase discovery")
    g.add_argument("--score-discovered", type=nonnegative("--score-discovered"), default=0, metavar="N",
                   help="first score the N most frequent openings of judge-flagged sentences (not yet scored) on the run's "
                        "existing boundaries, with the run's model (no resampling; adds them to the run), then analyse")
    g.add_argument("--model", default=None, help="model for --score-discovered (default: the run's own model id)")
    g.add_argument("--device", default="auto", help="device for --score-discovered (default auto)")
    g.add_argument("--dtype", default="auto", help="dtype for --score-discovered (default auto)")
    p.set_defaults(func=cmd_analyze)


def _write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, allow_nan=False)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def cmd_analyze(args: argparse.Namespace) -> int:
    """Print the compact summary; write the full summary as JSON when ``--json`` is given."""
    from ..runs.store import read_run
    from .summary import format_summary, summarize

    if getattr(args, "score_discovered", 0):
        _score_discovered(args)
    from .cached import cached_summary, store_summary, summary_key

    # The default summary is the one cached in the run (summary.json): reuse it when current, and
    # store it when computed, so the app's Home opens at once afterwards.
    default = args.n_boot == 1000 and args.seed == 0 and not args.phrase
    summary = cached_summary(args.run) if default else None
    if summary is None:
        key = summary_key(args.run) if default else ""
        run = read_run(args.run, lists=False)  # the summary never reads per-token columns
        summary = summarize(run, n_boot=args.n_boot, seed=args.seed, phrases=args.phrase)
        if default and run.status == "complete":
            store_summary(args.run, key, summary)
    if args.json == "-":
        json.dump(summary, sys.stdout, indent=1, allow_nan=False)
        sys.stdout.write("\n")
        print(format_summary(summary), file=sys.stderr)
        return 0
    print(format_summary(summary))
    if args.json:
        out = Path(args.json)
        if out.is_dir():
            raise InputError(f"--json {out}: is a directory; give a file name such as {out / 'summary.json'}.")
        _write_json_atomic(out, summary)
        print(f"wrote {out}")
    return 0


def _score_discovered(args: argparse.Namespace) -> None:
    """Rescore the run with its N most frequent flagged-sentence openings that are not phrases yet."""
    from ..engine.models import ModelSpec, load_model
    from ..runs.pipeline import rescore_run
    from ..runs.store import read_run
    from .coverage import run_discovery

    run = read_run(args.run, lists=False)
    disc = run_discovery(run, top=max(15, args.score_discovered))
    if disc is None:
        raise InputError(f"{args.run}: --score-discovered needs judge flags; run `monitor judge {args.run}` first.")
    new = [p for p in dict.fromkeys(disc["phrase"]) if p not in set(run.phrases)][: args.score_discovered]
    if not new:
        print("no discovered opening left to score", file=sys.stderr)
        return
    model = args.model or (run.manifest.get("model") or {}).get("id")
    if not model:
        raise InputError(f"{args.run}: the manifest names no model; pass --model.")
    print(f"scoring {len(new)} discovered phrase(s) with {model}: {new}", file=sys.stderr)
    rescore_run(args.run, load_model(ModelSpec(model, dtype=args.dtype, device=args.device)), new)


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point (``python -m monitor.analysis.cli analyze RUN``)."""
    parser = argparse.ArgumentParser(prog="monitor", description="Analyses and reports of monitor runs.")
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except MonitorError as e:
        print(f"monitor {args.command}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
