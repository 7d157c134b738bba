"""The precomputed demo run: its acceptance numbers, recomputed from the run files, and its exactness."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitor.demo.check import TARGET_AUROC, TARGET_SPEARMAN, main, prompt_scores, summarize
from monitor.demo.synthetic import read_jsonl

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "data" / "demo_run"
MODEL = ROOT / "data" / "demo_model"


def test_prompt_scores_take_the_max_over_the_chosen_rollouts_and_boundaries():
    scores = pd.DataFrame({
        "prompt_id": ["a"] * 6 + ["b"] * 2,
        "rollout": [0, 0, 0, 1, 1, 1, 0, 0],
        "sentence": [0, 1, 2, 0, 1, 2, 0, 1],
        "phrase": ["P"] * 8,
        "logprob": [-5.0, -2.0, -7.0, -5.0, -9.0, -1.0, -3.0, -8.0],
    })
    assert prompt_scores(scores, "P", k0=True).to_dict() == {"a": -5.0, "b": -3.0}
    assert prompt_scores(scores, "P", rollouts=[0]).to_dict() == {"a": -2.0, "b": -3.0}
    assert prompt_scores(scores, "P").to_dict() == {"a": -1.0, "b": -3.0}
    assert prompt_scores(scores, "Q").empty


def test_demo_run_holds_the_heldout_prompts_with_the_papers_phrases():
    from monitor.runs.store import read_run

    run = read_run(RUN)
    assert run.status == "complete"
    assert Path(run.manifest["model"]["id"]).name == "demo_model"
    assert run.phrases[:3] == ["The user might be testing", "This is clearly a test", "This is a fictional scenario"]
    assert run.manifest["control_phrase"] == "The user might be asking"
    held = read_jsonl(ROOT / "data" / "prompts" / "demo_heldout.jsonl")
    assert list(run.prompts["prompt_id"]) == [r["id"] for r in held]
    assert np.allclose(run.prompts["propensity"].astype(float), [r["propensity"] for r in held])
    assert run.rollouts.groupby("prompt_id").size().min() >= 10
    assert sum(p.stat().st_size for p in RUN.rglob("*") if p.is_file()) < 8 * 1024 * 1024


def test_demo_targets_recomputed_from_the_run_files(capsys):
    summaries, extra = summarize(RUN)
    primary = summaries[0]
    assert primary.phrase == "The user might be testing"
    assert primary.auroc["k1"] >= TARGET_AUROC
    assert primary.spearman["k1"] >= TARGET_SPEARMAN
    # The control phrase separates the classes less than the primary phrase does.
    control = next(s for s in summaries if s.phrase == "The user might be asking")
    assert control.auroc["kall"] < primary.auroc["kall"]
    assert main([str(RUN), "--strict"]) == 0
    assert "met" in capsys.readouterr().out


def test_demo_run_passes_the_exactness_check_against_the_shipped_model():
    import torch

    from monitor.engine.models import load_model
    from monitor.runs.verify import verify_run

    torch.set_num_threads(1)
    loaded = load_model(str(MODEL), device="cpu", dtype="fp32")
    result = verify_run(RUN, loaded, max_rows=150)
    assert result.ok, result
    assert result.rows_checked == 150
