"""Benchmark of the analyses on a large synthetic run: ``python -m monitor.analysis.bench``.

Builds a synthetic run (default 1000 prompts x 10 rollouts x 20-60 sentences x 3 phrases, about
1.2M score rows), then times, each from a cold start (the per-run memo cleared), every analysis
the dashboard and ``monitor analyze`` use, plus ``summarize`` as a whole, and ``monitor analyze``
as a separate process (interpreter start, imports, reading the run, all numbers, JSON written).
Prints a table with wall and CPU seconds (median of ``--repeats``) and the machine's load average,
because on a shared machine wall time says as much about the neighbours as about the code.
The last line printed is JSON with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

__all__ = ["main", "run_benchmark"]


def _clock(fn: Callable[[], Any], repeats: int, before: Callable[[], None] | None = None) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(repeats):
        if before:
            before()
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _process(cmd: list[str], repeats: int) -> tuple[float, float]:
    walls, cpus = [], []
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for _ in range(repeats):
        c0, t0 = _child_cpu(), time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
        walls.append(time.perf_counter() - t0)
        cpus.append(_child_cpu() - c0)
    return statistics.median(walls), statistics.median(cpus)


def run_benchmark(run_dir: Path, *, build: dict[str, Any], repeats: int = 3, n_boot: int = 1000) -> dict[str, Any]:
    """Time every analysis on the run in ``run_dir`` (built with ``build`` if it holds no run)."""
    from ..runs.store import read_run
    from ..runs.synthetic import make_synthetic_run
    from . import (
        auroc_vs_k,
        bootstrap_auroc,
        controls,
        group_curves,
        joint_prompt_scores,
        phrase_correlation,
        prompt_scores,
        summarize,
        task_labels,
        variance_explained,
        verbalization_scores,
    )
    from .memo import _MEMO

    rows: list[dict[str, Any]] = []
    load0 = os.getloadavg()
    if not (run_dir / "manifest.json").exists():
        t0, c0 = time.perf_counter(), time.process_time()
        make_synthetic_run(run_dir, **build)
        rows.append({"step": "make_synthetic_run", "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0})
    w, c = _clock(lambda: read_run(run_dir), repeats)
    rows.append({"step": "read_run (all tables, list columns included)", "wall_s": w, "cpu_s": c})
    run = read_run(run_dir)
    ph = run.phrases
    y = task_labels(run, "eval_vs_deploy")
    scores = prompt_scores(run, ph[0]).set_index("prompt_id")["score"].reindex(y.index).to_numpy()
    cold = _MEMO.clear  # each analysis from scratch: no cached boundary scores
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("prompt_scores max (1 phrase)", lambda: prompt_scores(run, ph[0])),
        ("prompt_scores, all 4 methods", lambda: [prompt_scores(run, ph[0], method=m) for m in ("max", "mean_rollout_max", "k0", "first_n")]),
        ("joint_prompt_scores logsumexp (all phrases)", lambda: joint_prompt_scores(run, ph, how="logsumexp")),
        ("verbalization_scores", lambda: verbalization_scores(run)),
        (f"bootstrap_auroc ({len(y)} prompts, {n_boot} replicates)", lambda: bootstrap_auroc(y.to_numpy(), scores, n_boot=n_boot)),
        ("auroc_vs_k task A (k=0..10, 20 draws, 200 boot)", lambda: auroc_vs_k(run, ph[0])),
        ("auroc_vs_k task B", lambda: auroc_vs_k(run, ph[0], task="verbalizing_eval")),
        ("group_curves label x sentence (200 boot)", lambda: group_curves(run, ph[0])),
        ("group_curves verbalizes x relative", lambda: group_curves(run, ph[0], by="verbalizes", x="relative")),
        ("variance_explained", lambda: variance_explained(run, ph[0])),
        ("phrase_correlation (boundary, spearman)", lambda: phrase_correlation(run)),
        (f"controls task A ({n_boot} boot)", lambda: controls(run, ph[0], n_boot=n_boot)),
        (f"summarize (everything, {n_boot} boot)", lambda: summarize(run, n_boot=n_boot)),
    ]
    for name, fn in steps:
        w, c = _clock(fn, repeats, before=cold)
        rows.append({"step": name, "wall_s": w, "cpu_s": c})
    with tempfile.TemporaryDirectory() as td:
        out = Path(td) / "summary.json"
        cmd = [sys.executable, "-m", "monitor.analysis.cli", "analyze", str(run_dir), "--json", str(out), "--n-boot", str(n_boot)]
        w, c = _process(cmd, repeats)
        rows.append({"step": "`monitor analyze RUN --json F` whole process", "wall_s": w, "cpu_s": c})
        w, c = _process([sys.executable, "-c", "import monitor.analysis, monitor.runs.store"], repeats)
        rows.append({"step": "  of which: interpreter start + imports", "wall_s": w, "cpu_s": c})
    return {
        "score_rows": int(len(run.scores)),
        "rollouts": int(len(run.rollouts)),
        "prompts": int(len(run.prompts)),
        "phrases": len(ph),
        "repeats": repeats,
        "cpu_count": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load0],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "rows": rows,
    }


def _table(res: dict[str, Any]) -> str:
    w = max(len(r["step"]) for r in res["rows"])
    lines = [f"{res['score_rows']:,} score rows, {res['rollouts']:,} rollouts, {res['prompts']:,} prompts, {res['phrases']} phrases; "
             f"median of {res['repeats']}; {res['cpu_count']} CPUs, load average {res['loadavg_before'][0]} -> {res['loadavg_after'][0]}",
             f"{'step':<{w}}  {'wall s':>7}  {'CPU s':>7}"]
    lines += [f"{r['step']:<{w}}  {r['wall_s']:7.3f}  {r['cpu_s']:7.3f}" for r in res["rows"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m monitor.analysis.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=1000, help="prompts (default 1000)")
    ap.add_argument("--rollouts", type=int, default=10, help="rollouts per prompt (default 10)")
    ap.add_argument("--sentences", type=int, nargs=2, default=(20, 60), metavar=("LO", "HI"), help="CoT sentences per rollout (default 20 60)")
    ap.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates (default 1000, as monitor analyze)")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats per step; the median is reported (default 3)")
    ap.add_argument("--run", type=Path, default=None, help="use (or build and keep) the run in this directory")
    args = ap.parse_args(argv)
    build = {"n_prompts": args.prompts, "rollouts": args.rollouts, "sentences": tuple(args.sentences), "seed": 0}
    if args.run is not None:
        res = run_benchmark(args.run, build=build, repeats=args.repeats, n_boot=args.n_boot)
    else:
        with tempfile.TemporaryDirectory() as td:
            res = run_benchmark(Path(td) / "run", build=build, repeats=args.repeats, n_boot=args.n_boot)
    print(_table(res))
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
