"""`monitor report`: the handler through the main command line, registration on a fresh parser, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.runs.synthetic import make_synthetic_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_synthetic_run(tmp_path_factory.mktemp("cli") / "run", n_prompts=30, rollouts=3, seed=1)


def test_report_handler(run_dir, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(run_dir), "--out", str(out), "--n-boot", "20", "--max-excerpts", "3"]) == 0
    assert out.is_file() and "wrote" in capsys.readouterr().out
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.count("class=excerpt") <= 3


def test_errors_are_one_line_exit_2(run_dir, tmp_path, capsys):
    assert main(["report", str(run_dir), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and all(line.startswith("monitor ") and "error:" in line for line in err)


def test_register_on_a_fresh_parser_in_a_new_process():
    code = (
        "import argparse, sys; from monitor.report.cli import register; "
        "p = argparse.ArgumentParser(prog='monitor'); register(p.add_subparsers(dest='command', required=True)); "
        "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))"
    )
    r = subprocess.run([sys.executable, "-c", code, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "report" in r.stdout
