"""Dashboard rerun latency on a 10k-rollout synthetic run (a script, not a test).

    python tests/perf_dashboard.py [--prompts 1000] [--rollouts 10] [--repeats 12] [--out DIR]

Builds a synthetic run (default 1,000 prompts x 10 rollouts = 10,000 rollouts, 5-25 sentences each,
3 phrases: ~150k sentences, ~450k score rows), opens each page with Streamlit's AppTest, and times
``AppTest.run()`` after a widget change, the way a user's click reruns the page script:

- *cold*: the first time a value is shown (engine calls not cached yet);
- *warm*: later changes between values already seen (what browsing mostly is).

The numbers include AppTest's own overhead (building the element tree), so a browser sees a little
less script time and a little more network/render time. They are wall-clock on a shared machine:
run it twice and read the medians. Results go to stdout as a Markdown table (copied into
docs/dashboard.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _timed(at) -> float:
    t = time.perf_counter()
    at.run()
    dt = time.perf_counter() - t
    if at.exception:
        raise RuntimeError(f"page raised: {[e.value for e in at.exception]}")
    return dt


def _open(page: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.run()
    if page != "home":
        at.switch_page(f"pages/{page}.py")
        at.run()
    return at


def measure(run_dir: Path, repeats: int) -> list[dict]:
    from monitor.runs.store import read_run

    run = read_run(run_dir)
    pid = run.rollouts["prompt_id"].iloc[0]
    rollouts = sorted(run.rollouts.loc[run.rollouts["prompt_id"] == pid, "rollout"].tolist())[:4]
    phrases = run.phrases
    cases = [
        ("Home", "home", "plain rerun", [lambda at: None]),
        ("Curves", "curves", "pick another rollout", [lambda at, r=r: at.selectbox(key="rollout").select(r) for r in rollouts]),
        ("Curves", "curves", "pick a sentence", [lambda at, s=s: at.selectbox(key="sentence").select(s) for s in (1, 2, 3, 4)]),
        ("Scores & ROC", "scores", "switch phrase", [lambda at, p=p: at.selectbox(key="phrase").select(p) for p in phrases]),
        ("Phrases", "phrases", "switch correlation method", [lambda at, m=m: at.segmented_control(key="corr").set_value(m) for m in ("pearson", "spearman")]),
        ("Search", "search", "type a query (150k sentences)", [lambda at, q=q: at.text_input(key="q").input(q) for q in ("test", "evaluat", "the user", "")]),
        ("Search", "search", "flag filter", [lambda at, f=f: at.segmented_control(key="flag").set_value(f) for f in ("flagged", "unflagged", "any")]),
    ]
    rows = []
    for title, page, action, changes in cases:
        t = time.perf_counter()
        at = _open(page)
        first_open = time.perf_counter() - t
        cold, warm = [], []
        for i in range(max(repeats, len(changes) * 2)):
            changes[i % len(changes)](at)
            (cold if i < len(changes) else warm).append(_timed(at))
        rows.append({
            "page": title, "action": action, "open_s": first_open,
            "cold_median_ms": 1000 * statistics.median(cold), "warm_median_ms": 1000 * statistics.median(warm),
            "warm_p90_ms": 1000 * sorted(warm)[int(0.9 * (len(warm) - 1))], "n_warm": len(warm),
        })
        print(f"  {title:13s} {action:32s} open {first_open:6.2f} s  cold {rows[-1]['cold_median_ms']:7.0f} ms  "
              f"warm median {rows[-1]['warm_median_ms']:6.0f} ms  p90 {rows[-1]['warm_p90_ms']:6.0f} ms", file=sys.stderr)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=1000)
    ap.add_argument("--rollouts", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=12, help="widget changes timed per case (at least two cycles)")
    ap.add_argument("--out", type=Path, default=None, help="where to write the synthetic run (default: a temp dir)")
    args = ap.parse_args(argv)

    from monitor.runs.synthetic import make_synthetic_run

    tmp = tempfile.TemporaryDirectory() if args.out is None else None
    out = (Path(tmp.name) if tmp else args.out) / "perf_run"
    t = time.perf_counter()
    if not (out / "manifest.json").exists():
        make_synthetic_run(out, n_prompts=args.prompts, rollouts=args.rollouts, seed=0)
    from monitor.runs.store import read_run

    run = read_run(out)
    print(f"synthetic run: {len(run.prompts)} prompts, {len(run.rollouts)} rollouts, {len(run.sentences)} sentence rows, "
          f"{len(run.scores)} score rows (built/read in {time.perf_counter() - t:.1f} s)", file=sys.stderr)
    os.environ["MONITOR_RUN"] = str(out)
    os.environ["MONITOR_RUNS_DIR"] = str(out.parent / "runs")
    rows = measure(out, args.repeats)
    print(f"\n{len(run.rollouts):,} rollouts, {len(run.sentences):,} sentence rows, {len(run.scores):,} score rows; "
          f"{os.cpu_count()} CPUs\n")
    print("| page | widget change | first open (s) | cold rerun, median (ms) | warm rerun, median (ms) | warm p90 (ms) |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['page']} | {r['action']} | {r['open_s']:.1f} | {r['cold_median_ms']:.0f} | {r['warm_median_ms']:.0f} | {r['warm_p90_ms']:.0f} |")
    warm = [r["warm_median_ms"] for r in rows]
    print(f"\nmedian of the warm medians: {statistics.median(warm):.0f} ms (target <= 300 ms)")
    if tmp:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
