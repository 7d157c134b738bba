"""`monitor analyze`: handler, registration on a fresh parser, error handling (`monitor report`: tests/report/test_report_cli.py)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.analysis.cli import cmd_analyze, main, register
from monitor.runs.synthetic import make_synthetic_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_synthetic_run(tmp_path_factory.mktemp("cli") / "run", n_prompts=30, rollouts=3, seed=1)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="monitor")
    register(p.add_subparsers(dest="command", required=True))
    return p


def test_analyze_json_has_auroc_and_ci_per_phrase_and_task(run_dir, tmp_path, capsys):
    out = tmp_path / "sub" / "summary.json"
    args = _parser().parse_args(["analyze", str(run_dir), "--json", str(out), "--n-boot", "100"])
    assert args.func is cmd_analyze
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "eval_vs_deploy" in printed and f"wrote {out}" in printed
    data = json.loads(out.read_text())
    phrases = data["run"]["phrases"]
    assert len(phrases) == 3
    for task in ("eval_vs_deploy", "verbalizing_eval"):
        for p in phrases:
            recs = [a for a in data["auroc"] if a["task"] == task and a["phrase"] == p and a["method"] == "max"]
            assert len(recs) == 1
            assert {"auroc", "lo", "hi", "n_pos", "n_neg"} <= set(recs[0])
            assert recs[0]["lo"] <= recs[0]["auroc"] <= recs[0]["hi"]
        assert [a for a in data["auroc"] if a["task"] == task and a["monitor"] == "verbalization"]
    assert data["controls"] and data["auroc_vs_k"]


def test_analyze_phrase_option_and_stdout_json(run_dir, capsys):
    assert main(["analyze", str(run_dir), "--phrase", "This is clearly a test", "--n-boot", "20", "--json", "-"]) == 0
    cap = capsys.readouterr()
    data = json.loads(cap.out)
    assert data["run"]["primary_phrase"] == "This is clearly a test"
    assert {a["phrase"] for a in data["auroc"] if a["monitor"] == "logit"} == {"This is clearly a test"}
    assert "eval_vs_deploy" in cap.err  # the human summary goes to stderr when JSON takes stdout


def test_errors_are_one_line_exit_2(run_dir, tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "missing")]) == 2
    assert main(["analyze", str(run_dir), "--phrase", "no such phrase"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("monitor ") and "error:" in line for line in err)
    with pytest.raises(SystemExit):
        _parser().parse_args(["analyze", str(run_dir), "--n-boot", "-3"])


def test_register_on_a_fresh_parser_in_a_new_process(run_dir, tmp_path):
    code = (
        "import argparse, sys; from monitor.analysis.cli import register; "
        "p = argparse.ArgumentParser(prog='monitor'); register(p.add_subparsers(dest='command', required=True)); "
        "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))"
    )
    out = tmp_path / "s.json"
    r = subprocess.run([sys.executable, "-c", code, "analyze", str(run_dir), "--json", str(out), "--n-boot", "30"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text())["tasks"]["eval_vs_deploy"]["available"]
    r = subprocess.run([sys.executable, "-c", code, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "analyze" in r.stdout


def test_analyze_json_has_the_reviewer_checks(run_dir, tmp_path):
    out = tmp_path / "s.json"
    assert main(["analyze", str(run_dir), "--json", str(out), "--n-boot", "50"]) == 0
    data = json.loads(out.read_text())
    for a in data["auroc"]:
        assert [t["fpr"] for t in a["tpr_at_fpr"]] == [0.01, 0.05]
    assert {(r["task"], r["phrase"]) for r in data["restricted_auroc"]} >= {("eval_vs_deploy", data["run"]["primary_phrase"])}
    assert {b["feature"] for b in data["structure_baselines"]} == {"has_system", "n_turns"}
    assert data["pairs"] == []  # the synthetic run has no pair_id
    assert [c["phrase"] for c in data["phrase_coverage"]] == [p for p in data["run"]["phrases"] if p != data["run"]["control_phrase"]]
    assert isinstance(data["phrase_discovery"], list)
    assert "behaviour" not in data  # no behaviour labels


def test_score_discovered_needs_judge_flags(tmp_path, capsys):
    import pandas as pd

    from monitor.runs.handmade import make_run_from_tables

    d = tmp_path / "r"
    make_run_from_tables(d, pd.DataFrame({"prompt_id": ["a", "b"], "label": ["eval", "deploy"]}),
                         pd.DataFrame({"prompt_id": ["a", "b"], "rollout": [0, 0], "sentence": [0, 0], "phrase": ["P", "P"],
                                       "logprob": [-1.0, -2.0]}), manifest={"phrases": ["P"]})
    assert main(["analyze", str(d), "--score-discovered", "2"]) == 2
    assert "needs judge flags" in capsys.readouterr().err
