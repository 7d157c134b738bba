"""A <think> model whose markers never appear: warned in the CLI, the manifest, the report and the app.

The tiny model's template and vocabulary know "<think>", so markers are detected; its output row
for "<think>" is zeroed and it decodes greedily, so "<think>" (logit 0) is never the argmax among
420 random logits and no rollout ever opens the block: the silent-empty-CoT case a real model
without markers produced.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WARNING = "No rollout contains the think-open marker"


@pytest.fixture(scope="module")
def no_think_model_dir(tmp_path_factory, tokenizer):
    from conftest import tiny_model

    d = tmp_path_factory.mktemp("no_think")
    model = tiny_model(vocab_size=len(tokenizer))
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    import torch

    with torch.no_grad():
        model.get_output_embeddings().weight[tokenizer.convert_tokens_to_ids("<think>")] = 0.0
    model.save_pretrained(d, safe_serialization=True)
    tokenizer.save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def warned_run(no_think_model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("warned")
    prompts = tmp / "p.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"q{i}", "text": f"What is {i}+{i}?", "label": "eval" if i % 2 else "deploy"}) + "\n" for i in range(4)))
    out = tmp / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "monitor", "run", "--model", str(no_think_model_dir), "--prompts", str(prompts), "--phrase", "The user might be testing",
         "--out", str(out), "-k", "2", "--max-new-tokens", "12", "--temperature", "0", "--device", "cpu", "--dtype", "fp32", "--threads", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out, proc


def test_cli_warns_and_manifest_records_it(warned_run):
    from monitor.runs.store import read_run

    out, proc = warned_run
    assert WARNING in proc.stderr
    run = read_run(out)
    assert len(run.rollouts) == 8 and (run.rollouts.cot_text == "").all()
    m = run.manifest
    assert any(WARNING in w for w in m["warnings"]) and m["chat"]["markers_seen"] is False
    assert m["chat"]["cot_mode"] == "think_markers" and m["chat"]["markers_source"] == "detected"
    assert m["threads"] == 1 and m["scoring"]["method"] == "cache"
    # Temperature given; the tiny model's generation config sets no sampling values: the monitor's defaults.
    assert m["sampling_source"] == {"temperature": "given", "top_p": "monitor", "top_k": "monitor"}
    assert (m["sampling"]["temperature"], m["sampling"]["top_p"], m["sampling"]["top_k"]) == (0.0, 0.95, 20)


def test_report_shows_the_warning(warned_run):
    from monitor.report.html import render_report
    from monitor.runs.store import read_run

    html = render_report(read_run(warned_run[0]), n_boot=20)
    assert "<b>Warning.</b> " + WARNING in html
    assert "CoT = the text between &lt;think&gt; and &lt;/think&gt;" in html


def test_app_shows_the_warning(warned_run, monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("MONITOR_RUN", str(warned_run[0]))
    monkeypatch.setenv("MONITOR_RUNS_DIR", str(tmp_path / "runs"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception
    assert any(WARNING in w.value for w in at.warning)
    assert any("between <think> and </think>" in c.value for c in at.caption)


def test_whole_reply_mode_is_described():
    from monitor.engine.chat import describe_cot_mode

    line = describe_cot_mode({"think_open": None, "think_close": None, "cot_mode": "whole_reply", "markers_source": "detected"})
    assert line.startswith("Whole reply treated as the CoT") and "detected" in line
    assert describe_cot_mode({"think_open": None, "think_close": None}).startswith("Whole reply")


def test_base_model_needs_and_takes_a_chat_template(tmp_path, tokenizer):
    import copy

    from conftest import tiny_model
    from monitor.engine.bpe import CHATML_THINK_TEMPLATE

    base = tmp_path / "base"
    tok = copy.deepcopy(tokenizer)
    tok.chat_template = None
    model = tiny_model(vocab_size=len(tok))
    model.save_pretrained(base, safe_serialization=True)
    tok.save_pretrained(base)
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"id": "q1", "text": "Hi there", "label": "eval"}) + "\n")
    args = [sys.executable, "-m", "monitor", "score-prompts", "--model", str(base), "--prompts", str(prompts),
            "--phrase", "The user might be testing", "--device", "cpu", "--dtype", "fp32"]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "no chat template" in proc.stderr and "--chat-template FILE" in proc.stderr
    assert "Traceback" not in proc.stderr
    template = tmp_path / "chatml.jinja"
    template.write_text(CHATML_THINK_TEMPLATE)
    out = tmp_path / "k0.csv"
    proc = subprocess.run([*args, "--chat-template", str(template), "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    import pandas as pd

    df = pd.read_csv(out)
    assert len(df) == 1 and df.logprob.lt(0).all()
    proc = subprocess.run([*args, "--chat-template", str(tmp_path / "missing.jinja")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "cannot read it" in proc.stderr
