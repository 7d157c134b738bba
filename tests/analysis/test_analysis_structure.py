"""Structure baselines (system prompt present, number of turns) by hand."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from monitor.analysis.structure import prompt_structure, structure_baselines
from monitor.runs.handmade import make_run_from_tables
from monitor.runs.store import read_run

CHAT = json.dumps([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}])
SYS_CHAT = json.dumps([{"role": "system", "content": "be nice"}, {"role": "user", "content": "c"}])


def test_prompt_structure_reads_system_column_and_messages():
    p = pd.DataFrame({"prompt_id": ["a", "b", "c", "d"], "system": ["You are X.", None, "  ", None],
                      "messages": [None, CHAT, None, SYS_CHAT]})
    st = prompt_structure(p).set_index("prompt_id")
    assert st["has_system"].to_dict() == {"a": True, "b": False, "c": False, "d": True}
    assert st["n_turns"].to_dict() == {"a": 1, "b": 3, "c": 1, "d": 1}


def test_structure_baselines_by_hand(tmp_path):
    prompts = pd.DataFrame({"prompt_id": ["e1", "e2", "e3", "d1", "d2"], "label": ["eval"] * 3 + ["deploy"] * 2,
                            "system": ["S", "S", None, None, None], "messages": [None] * 5})
    scores = pd.DataFrame([(p, 0, 0, "P", 0.0) for p in prompts["prompt_id"]],
                          columns=["prompt_id", "rollout", "sentence", "phrase", "logprob"])
    make_run_from_tables(tmp_path / "r", prompts, scores, manifest={"phrases": ["P"]})
    recs = {r["feature"]: r for r in structure_baselines(read_run(tmp_path / "r"), n_boot=100)}
    # has_system: positives 1, 1, 0 vs negatives 0, 0: (1 vs 0) x 4 wins, (0 vs 0) x 2 ties -> (4 + 1) / 6
    assert recs["has_system"]["varies"] and recs["has_system"]["auroc"]["auroc"] == pytest.approx(5 / 6)
    assert recs["has_system"]["mean_pos"] == pytest.approx(2 / 3) and recs["has_system"]["mean_neg"] == 0
    assert not recs["n_turns"]["varies"] and recs["n_turns"]["auroc"] is None
