"""Group curves along the CoT with bootstrap bands (hand-checkable example + synthetic run)."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.analysis import group_curves
from monitor.errors import InputError, RunFormatError
from monitor.runs.store import read_run
from monitor.runs.handmade import make_tiny_run
from monitor.runs.synthetic import make_synthetic_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return read_run(make_tiny_run(tmp_path_factory.mktemp("tiny") / "run"))


def test_label_by_sentence(run):
    df = group_curves(run, "P", n_boot=200)
    assert list(df.columns) == ["group", "x", "mean", "lo", "hi", "n"]
    ev = df[df["group"] == "eval"].set_index("x")
    assert ev.loc[0, "mean"] == pytest.approx((-5 - 5 - 6 - 6 - 8 - 8) / 6)
    assert ev.loc[0, "n"] == 6
    assert ev.loc[3, "mean"] == -7 and ev.loc[3, "n"] == 1
    de = df[df["group"] == "deploy"].set_index("x")
    assert de.loc[0, "mean"] == pytest.approx(-5.5)
    assert df["group"].iloc[0] == "eval"  # eval first, for consistent legends
    ok = df["lo"].notna()
    assert (df.loc[ok, "lo"] <= df.loc[ok, "mean"] + 1e-9).all() and (df.loc[ok, "mean"] <= df.loc[ok, "hi"] + 1e-9).all()


def test_relative_position_weights_rollouts_equally(run):
    df = group_curves(run, "P", x="relative", bins=2, n_boot=0)
    ev = df[df["group"] == "eval"].set_index("x")
    # bin [0, 0.5): per-rollout means a0 -5, a1 -5.5, b0 -6, b1 -6, e0 -8, e1 -8
    assert ev.loc[0.25, "mean"] == pytest.approx(-38.5 / 6)
    assert np.isnan(ev["lo"]).all()  # no bootstrap asked for


def test_by_verbalizes(run):
    df = group_curves(run, "P", by="verbalizes", n_boot=50)
    v = df[df["group"] == "verbalizing"].set_index("x")
    assert v.loc[1, "mean"] == pytest.approx((-6 - 6.5 - 3.5) / 3)  # rollouts a1, b0, d1
    assert set(df["group"]) == {"verbalizing", "not verbalizing"}


def test_errors(run, tmp_path):
    with pytest.raises(InputError):
        group_curves(run, "P", by="colour")
    with pytest.raises(InputError):
        group_curves(run, "P", x="time")
    nj = read_run(make_tiny_run(tmp_path / "nj", with_judge=False))
    with pytest.raises(RunFormatError):
        group_curves(nj, "P", by="verbalizes")


def test_band_covers_the_synthetic_gap(tmp_path):
    run = read_run(make_synthetic_run(tmp_path / "s", n_prompts=120, rollouts=4, seed=2))
    df = group_curves(run, run.phrases[0], x="relative", bins=10, n_boot=200)
    ev = df[df["group"] == "eval"].set_index("x")
    de = df[df["group"] == "deploy"].set_index("x")
    # eval prompts score higher everywhere in the generating process; bands separate
    assert (ev["lo"] > de["hi"]).mean() > 0.8
    assert ((ev["hi"] - ev["lo"]) > 0).all()
