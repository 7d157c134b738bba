"""The summary's fast paths give exactly what the pandas operations they replace gave.

``rollout_values`` reduces on factorized keys instead of a two-key groupby, ``_labelled`` attaches
labels by position instead of an inner merge, and ``prompt_scores`` / ``task_labels`` are memoized
per run. Each is checked against the plain pandas expression (the code before the change) on the
shipped demo run and on tables with the awkward cases: shuffled rows, NaN log-probs, prompts
without scores, duplicate prompt ids, NaN keys.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitor.analysis.scores import PROMPT_SCORE_METHODS, _labelled, boundary_scores, prompt_scores, rollout_values
from monitor.analysis.tasks import TASKS, task_labels
from monitor.runs.store import read_run

DEMO_RUN = Path(__file__).resolve().parents[2] / "data" / "demo_run"


def _ref_rollout_values(b: pd.DataFrame) -> pd.DataFrame:
    return b.groupby(["prompt_id", "rollout"], sort=False)["logprob"].max().rename("value").reset_index()


def _ref_labelled(prompts: pd.DataFrame, per: pd.DataFrame) -> pd.DataFrame:
    labels = prompts[["prompt_id", "label"]].astype({"prompt_id": str})
    return labels.merge(per, on="prompt_id", how="inner").reset_index(drop=True)


def _ref_prompt_scores(run, rv: pd.DataFrame, method: str) -> pd.DataFrame:
    agg = "max" if method in ("max", "first_n") else "mean"
    g = rv.groupby("prompt_id", sort=False)["value"]
    per = pd.DataFrame({"score": g.agg(agg), "n_rollouts": g.size()}).reset_index()
    return _ref_labelled(run.prompts, per)[["prompt_id", "label", "score", "n_rollouts"]]


def _same(a: pd.DataFrame | pd.Series, b: pd.DataFrame | pd.Series) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True) if isinstance(a, pd.DataFrame) else pd.testing.assert_series_equal(a, b, check_exact=True)
    assert a.equals(b)


@pytest.fixture(scope="module")
def demo():
    return read_run(DEMO_RUN, lists=False)


def test_rollout_values_match_the_groupby_on_the_demo_run(demo):
    for p in demo.phrases:
        b = boundary_scores(demo, p)
        for method in PROMPT_SCORE_METHODS:
            _same(rollout_values(b, method=method), _ref_rollout_values(
                b if method in ("max", "mean_rollout_max") else b[b["sentence"] == 0] if method == "k0" else b[b["sentence"] <= 3]))


def test_rollout_values_match_the_groupby_on_awkward_tables():
    rng = np.random.default_rng(0)
    n = 500
    b = pd.DataFrame({
        "prompt_id": pd.Series(rng.choice(["p1", "p2", "p3", "x", "10"], n), dtype="str"),
        "rollout": rng.integers(0, 4, n),
        "sentence": rng.integers(0, 9, n),
        "logprob": rng.normal(-5, 2, n),
    })
    b.loc[rng.random(n) < 0.2, "logprob"] = np.nan
    b.loc[(b["prompt_id"] == "x") & (b["rollout"] == 3), "logprob"] = np.nan  # an all-NaN group stays NaN
    b.loc[b.index[:3], "logprob"] = -np.inf
    _same(rollout_values(b), _ref_rollout_values(b))
    _same(rollout_values(b, rollouts=[2, 0]), _ref_rollout_values(b[b["rollout"].isin([2, 0])]))
    # Cases the fast path leaves to the groupby: empty, NaN keys, nullable floats.
    for other in (b.iloc[:0], b.assign(prompt_id=b["prompt_id"].where(b.index % 7 != 0)), b.astype({"logprob": "Float64"})):
        _same(rollout_values(other), _ref_rollout_values(other))


def test_labels_match_the_merge(demo):
    per = prompt_scores(demo, demo.phrases[0])[["prompt_id", "score", "n_rollouts"]]
    _same(_labelled(demo, per), _ref_labelled(demo.prompts, per))
    # Scores for only some prompts, in another order, and one the prompt table lacks.
    part = pd.concat([per.iloc[::3].iloc[::-1], pd.DataFrame({"prompt_id": ["nope"], "score": [0.0], "n_rollouts": [1]})],
                     ignore_index=True).astype({"prompt_id": per["prompt_id"].dtype})
    _same(_labelled(demo, part), _ref_labelled(demo.prompts, part))
    # Duplicate prompt ids in the prompt table (a foreign run) and keys of another dtype: as the merge.
    dup = demo.prompts.iloc[[0, 1, 0, 2]].reset_index(drop=True)
    run = type(demo)(path=demo.path, manifest=demo.manifest, prompts=dup, rollouts=demo.rollouts, sentences=demo.sentences, scores=demo.scores)
    _same(_labelled(run, per), _ref_labelled(dup, per))
    obj = per.astype({"prompt_id": object})
    _same(_labelled(demo, obj), _ref_labelled(demo.prompts, obj))
    # The verbalization monitor's table (bool and float columns) goes through the same path.
    from monitor.analysis.scores import rollout_verbalizes, verbalization_scores

    g = rollout_verbalizes(demo).groupby("prompt_id", sort=False)["verbalizes"]
    vper = pd.DataFrame({"frac_verbalizing": g.mean(), "ever_verbalizes": g.any(), "n_rollouts": g.size()}).reset_index()
    _same(verbalization_scores(demo), _ref_labelled(demo.prompts, vper))


def test_memoized_prompt_scores_and_labels_are_fresh_copies(demo):
    a = prompt_scores(demo, demo.phrases[0], method="first_n", first_n=2)
    a["score"] = 0.0  # a caller editing its result must not change the next caller's
    b = prompt_scores(demo, demo.phrases[0], method="first_n", first_n=2)
    assert not (b["score"] == 0.0).all()
    assert not b.equals(prompt_scores(demo, demo.phrases[0], method="first_n", first_n=3))
    for task in TASKS:
        y = task_labels(demo, task)
        y[:] = False
        assert task_labels(demo, task).any()


@pytest.mark.parametrize("rollouts", [None, [0], [2, 1]])
def test_prompt_scores_match_the_groupby_and_merge(demo, rollouts):
    # [0]: one rollout per prompt (the mean's exact fast path); None and [2, 1]: several (pandas' mean).
    for p in demo.phrases:
        b = boundary_scores(demo, p)
        for method in PROMPT_SCORE_METHODS:
            rv = rollout_values(b, method=method, first_n=3, rollouts=rollouts)
            _same(prompt_scores(demo, p, method=method, rollouts=rollouts), _ref_prompt_scores(demo, rv, method))
    # NaN values (a score that failed) and a prompt whose only value is NaN.
    rv = rollout_values(boundary_scores(demo, demo.phrases[0]), rollouts=[0]).copy()
    rv.loc[rv.index[::5], "value"] = np.nan
    from monitor.analysis.scores import _prompt_from_rollouts

    for method in ("max", "mean_rollout_max"):
        _same(_prompt_from_rollouts(demo, rv, method), _ref_prompt_scores(demo, rv, method))
        two = pd.concat([rv, rv.assign(rollout=1, value=rv["value"] - 1)], ignore_index=True)
        _same(_prompt_from_rollouts(demo, two, method), _ref_prompt_scores(demo, two, method))
