"""``monitor report``: the self-contained HTML report of a run, from the shell.

``register(subparsers)`` adds the subcommand to the main ``monitor`` parser (``monitor.cli`` wires
it); errors follow its convention (a :class:`~monitor.errors.MonitorError` is one line, exit 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..analysis.cli import nonnegative
from ..errors import InputError

__all__ = ["register", "cmd_report"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``report`` to a ``monitor`` sub-parser collection."""
    p = subparsers.add_parser(
        "report", help="self-contained HTML report of a run (figures, AUROCs, flagged excerpts)",
        description="Write one HTML file that opens offline (plotly.js embedded): settings, headline AUROCs with CIs, "
                    "controls, the dashboard's figures, judge-flagged excerpts in context, annotations. Model text is escaped.")
    p.add_argument("run", metavar="RUN", help="run directory")
    p.add_argument("--out", required=True, metavar="FILE.html", help="HTML file to write")
    p.add_argument("--n-boot", type=nonnegative("--n-boot"), default=1000, metavar="N", help="bootstrap replicates per interval (default 1000)")
    p.add_argument("--max-excerpts", type=nonnegative("--max-excerpts"), default=40, metavar="N", help="flagged excerpts to show (default 40)")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    """Write the HTML report."""
    from .html import write_report
    from ..runs.store import read_run

    out = Path(args.out)
    if out.is_dir():
        raise InputError(f"--out {out}: is a directory; give a file name such as {out / 'report.html'}.")
    from .tokens import run_token_text
    from ..analysis.cached import load_summary

    run = read_run(args.run)
    summary = load_summary(run) if args.n_boot == 1000 else None  # the run's cached summary when current
    path = write_report(run, out, summary=summary, n_boot=args.n_boot, max_excerpts=args.max_excerpts,
                        token_text=run_token_text(run.manifest))  # token strings when the tokenizer is here
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0
