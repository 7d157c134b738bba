"""Hand-made runs: small valid run directories written from tables a test author types in.

:func:`make_run_from_tables` fills everything derivable (sentence text, offsets, rollouts, manifest)
from a few columns; :func:`make_tiny_run` writes the hand-checkable worked example below, whose
prompt scores, AUROCs and k-curves the analysis tests compute by hand. Generated runs with a known
random process live in :mod:`monitor.runs.synthetic`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import RunFormatError
from .store import FORMAT_VERSION, write_manifest, write_table

__all__ = ["make_run_from_tables", "make_tiny_run", "TINY_P", "TINY_LABELS", "TINY_FLAGS", "TINY_PROMPT_TOKENS"]


def make_run_from_tables(
    out_dir: str | Path,
    prompts: pd.DataFrame,
    scores: pd.DataFrame,
    *,
    sentences: pd.DataFrame | None = None,
    manifest: dict | None = None,
) -> Path:
    """Write a small valid run from hand-made tables (tests, examples); fills what is derivable.

    ``prompts`` needs prompt_id and label (text defaults to a placeholder); ``scores`` needs
    prompt_id, rollout, sentence, phrase, logprob. ``sentences`` may add text / judge_flag /
    judge_quote per (prompt_id, rollout, sentence); missing sentence text becomes "Sentence s.".
    """
    out = Path(out_dir)
    if (out / "manifest.json").exists():
        raise RunFormatError(f"{out} already holds a run; choose an empty directory.")
    out.mkdir(parents=True, exist_ok=True)
    p = prompts.copy()
    p["prompt_id"] = p["prompt_id"].astype(str)
    if "text" not in p:
        p["text"] = "Prompt " + p["prompt_id"]
    for col, default in (("system", None), ("messages", None), ("source", "hand-made")):
        if col not in p:
            p[col] = default
    sc = scores.copy()
    sc["prompt_id"] = sc["prompt_id"].astype(str)
    keys = ["prompt_id", "rollout", "sentence"]
    st = sc[keys].drop_duplicates().sort_values(keys, kind="stable").reset_index(drop=True)
    if sentences is not None:
        extra = sentences.copy()
        extra["prompt_id"] = extra["prompt_id"].astype(str)
        st = st.merge(extra, on=keys, how="left")
    if "text" not in st:
        st["text"] = None
    st["text"] = st["text"].where(st["text"].notna(), "Sentence " + st["sentence"].astype(str) + ".")
    st.loc[st["sentence"] == 0, "text"] = ""
    if "judge_flag" in st:
        st["judge_flag"] = st["judge_flag"].fillna(False).astype(bool)
        st["judge_quote"] = st["judge_quote"].fillna("") if "judge_quote" in st else np.where(st["judge_flag"], st["text"], "")
    # cot_text = sentences 1.. joined by spaces; offsets follow
    lens = st["text"].str.len().to_numpy()
    sep = (st["sentence"].to_numpy() >= 2).astype(np.int64)
    grp = st.groupby(["prompt_id", "rollout"], sort=False)
    end = pd.Series(lens + sep).groupby([st["prompt_id"], st["rollout"]], sort=False).cumsum().to_numpy()
    st["char_end"] = end
    st["char_start"] = end - lens
    st["boundary_token"] = np.ceil(end / 4).astype(np.int64)
    cot = grp["text"].agg(lambda t: " ".join(x for x in t if x)).rename("cot_text").reset_index()
    n_s = grp["sentence"].max().rename("n_sentences").reset_index()
    ro = cot.merge(n_s, on=["prompt_id", "rollout"])
    ro["seed"] = np.arange(len(ro))
    ro["prompt_token_ids"] = [[1, 2, 3]] * len(ro)
    ro["completion_token_ids"] = [[4, 5]] * len(ro)
    ro["completion_text"] = "<think>\n" + ro["cot_text"] + "\n</think>"
    ro["finish_reason"] = "stop"
    ro["cot_truncated"] = False
    if "prompt_tokens" in p:
        ro = ro.merge(p[["prompt_id", "prompt_tokens"]], on="prompt_id", how="left")
        p = p.drop(columns="prompt_tokens")
    sc = sc.merge(st[keys + ["boundary_token"]], on=keys, how="left", suffixes=("", "_s"))
    if "boundary_token_s" in sc:
        sc = sc.drop(columns="boundary_token_s")
    if "token_logprobs" not in sc:
        sc["token_logprobs"] = [[float(x)] for x in sc["logprob"]]
    if "forced_token_ids" not in sc:
        sc["forced_token_ids"] = [[7]] * len(sc)
    if "alignment" not in sc:
        sc["alignment"] = "exact"
    phrases = list(dict.fromkeys(sc["phrase"].tolist()))
    for name, df in (("prompts", p), ("rollouts", ro), ("sentences", st), ("scores", sc)):
        write_table(out, name, df)
    write_manifest(out, {"format_version": FORMAT_VERSION, "status": "complete", "phrases": phrases,
                         "model": {"id": "hand-made"}, **(manifest or {})})
    return out


# Hand-checkable worked example: 5 prompts, 2 rollouts each, phrases "P" and "Q" (Q = P - 1 except
# one boundary). Values of phrase P (sentence 0 first); * marks a judge-flagged sentence:
#   a (eval)   r0: -5 -3 -4        r1: -5 -6 -2* -7
#   b (eval)   r0: -6 -6.5*        r1: -6 -1 -8
#   e (eval)   r0: -8 -7           r1: -8 -7.5
#   c (deploy) r0: -7 -4           r1: -7 -9
#   d (deploy) r0: -4 -8 -8.5      r1: -4 -3.5*
# Q at a r0 sentence 2 is -1 (above P there), so the joint max differs from P for prompt a.
TINY_P: dict[tuple[str, int], list[float]] = {
    ("a", 0): [-5, -3, -4], ("a", 1): [-5, -6, -2, -7],
    ("b", 0): [-6, -6.5], ("b", 1): [-6, -1, -8],
    ("e", 0): [-8, -7], ("e", 1): [-8, -7.5],
    ("c", 0): [-7, -4], ("c", 1): [-7, -9],
    ("d", 0): [-4, -8, -8.5], ("d", 1): [-4, -3.5],
}
TINY_LABELS = {"a": "eval", "b": "eval", "e": "eval", "c": "deploy", "d": "deploy"}
TINY_FLAGS = {("a", 1, 2), ("b", 0, 1), ("d", 1, 1)}
TINY_PROMPT_TOKENS = {"a": 30, "b": 12, "e": 50, "c": 20, "d": 40}


def make_tiny_run(out_dir: str | Path, *, with_judge: bool = True) -> Path:
    """The hand-checkable example above as a run directory (see ``TINY_*``)."""
    rows = []
    for (pid, r), vals in TINY_P.items():
        for s, v in enumerate(vals):
            q = -1.0 if (pid, r, s) == ("a", 0, 2) else v - 1.0
            rows += [(pid, r, s, "P", float(v)), (pid, r, s, "Q", q)]
    scores = pd.DataFrame(rows, columns=["prompt_id", "rollout", "sentence", "phrase", "logprob"])
    prompts = pd.DataFrame({"prompt_id": list(TINY_LABELS), "label": list(TINY_LABELS.values()),
                            "prompt_tokens": [TINY_PROMPT_TOKENS[p] for p in TINY_LABELS]})
    sentences = None
    if with_judge:
        keys = scores[["prompt_id", "rollout", "sentence"]].drop_duplicates()
        flag = [(p, r, s) in TINY_FLAGS for p, r, s in keys.itertuples(index=False)]
        sentences = keys.assign(judge_flag=flag)
    return make_run_from_tables(out_dir, prompts, scores, sentences=sentences,
                                manifest={"phrases": ["P", "Q"], "control_phrase": "Q"})
