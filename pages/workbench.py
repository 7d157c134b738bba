"""Prompt workbench: edit an evaluation prompt, see its k = 0 score for every phrase, compare variants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from monitor.config import CONTROL_PHRASE, PAPER_PHRASES
from monitor.errors import MonitorError
from monitor.prompts import Prompt
from pages._lib import cache, feedback, open_run, view_state
from monitor import engine
from pages._lib import model as _model, transcript as _transcript
from pages._lib import text as _text

view_state.ensure_router()

st.title("Prompt workbench")
st.caption("Score a prompt without sampling: the probability that the model *opens* its reasoning with each phrase "
           "(k = 0). Edit the prompt to make it look less like a test, keep versions side by side, and see which "
           "sentences raise the score.")

run = None
try:
    run = open_run.load_run(open_run.current_key())
    run_phrases = list(cache.index(open_run.current_key()).phrases)
except MonitorError:
    run_phrases = []
run_phrases = run_phrases or [*PAPER_PHRASES, CONTROL_PHRASE]
run_model = open_run.model_id(run) if run is not None else ""
choice = _model.model_inputs("wb", default_id=_model.default_model(run_model), backends=True)

p1, p2 = st.columns([3, 2])
with p1:
    phrases = st.multiselect("Phrases", run_phrases, default=run_phrases, key="wb.phrases")
with p2:
    extra = st.text_input("More phrases (separate with |)", key="wb.extra", placeholder="This is an evaluation | I am being tested")
phrases = list(dict.fromkeys([*phrases, *(p.strip() for p in (extra or "").split("|") if p.strip())]))

if "wb.text" not in st.session_state:
    first_eval = ""
    if run is not None and len(run.prompts):
        ev = run.prompts[run.prompts["label"] == "eval"]
        first_eval = str((ev if len(ev) else run.prompts).iloc[0]["text"])
    st.session_state["wb.text"] = first_eval
system = st.text_area("System prompt (optional)", key="wb.system", height=68)
text = st.text_area("Prompt", key="wb.text", height=180)


def _score(prompts: list[Prompt]) -> pd.DataFrame:
    from monitor.runs import score_prompts

    from monitor.engine.special import describe, special_strings_in

    loaded = _model.load(choice)
    found = special_strings_in(loaded.tokenizer, prompts[0]) if prompts else []
    if found:  # say so: a pasted eval prompt with chat markup would otherwise change meaning silently
        st.info(f"The prompt contains special-token text ({_text.md(describe(found))}); it is scored as plain text, "
                "not as chat markup.", icon=":material/info:")
    bar = feedback.ProgressBar("Scoring")
    try:
        return score_prompts(loaded, prompts, phrases, progress=bar)
    finally:
        bar.done()


def _wide(scores: pd.DataFrame) -> dict[str, float]:
    return {r.phrase: float(r.logprob) for r in scores.itertuples(index=False)}


b1, b2, b3 = st.columns(3)
go = b1.button("Score (k = 0)", key="wb.score", type="primary", icon=":material/bolt:")
keep = b2.button("Keep as a variant", key="wb.keep", icon=":material/bookmark_add:")
attribute = b3.button("Which sentences raise the score?", key="wb.attr", icon=":material/highlight:")

problem = None
if (go or keep or attribute) and not text.strip():
    problem = "The prompt is empty; type or paste an evaluation prompt first."
elif (go or keep or attribute) and not phrases:
    problem = "Pick at least one phrase to score."
if problem:
    st.error(problem)
elif go or keep:
    with feedback.guard("Scoring"):
        scores = _score([Prompt("draft", text, system=system or None)])
        st.session_state["wb.last"] = {"text": text, "system": system, "model": choice.model_id, "scores": _wide(scores)}
        if keep:
            variants = st.session_state.setdefault("wb.variants", [])
            variants.append({"variant": f"v{len(variants) + 1}", "text": text, "system": system, "model": choice.model_id, **_wide(scores)})
elif attribute:
    with feedback.guard("Attribution"):
        prompts, variants = engine.variant_prompts(text, system=system or None)
        if not variants:
            st.warning("The prompt has a single sentence; there is nothing to leave out.")
        else:
            scores = _score(prompts)  # the original and every variant, in one call
            st.session_state["wb.attr_result"] = {"text": text, "table": engine.attribution_table(scores, variants)}
            st.session_state["wb.last"] = {"text": text, "system": system, "model": choice.model_id,
                                           "scores": _wide(scores[scores["prompt_id"] == engine.ORIGINAL_ID])}

last = st.session_state.get("wb.last")
if last:
    stale = last["text"] != text or last["system"] != system
    st.subheader("k = 0 score" + (" (of the previous text: score again)" if stale else ""))
    cols = st.columns(max(1, len(last["scores"])))
    for col, (ph, lp) in zip(cols, last["scores"].items()):
        col.metric(ph, f"{np.exp(lp):.2e}", help=f"log-prob {lp:.3f}")

variants = st.session_state.get("wb.variants") or []
if variants:
    st.subheader("Variants side by side")
    vdf = pd.DataFrame(variants)
    score_cols = [c for c in vdf.columns if c not in ("variant", "text", "system", "model")]
    shown = vdf[["variant", "text", *score_cols]].copy()
    for c in score_cols:
        shown[c] = np.exp(shown[c])
    st.dataframe(shown, key="wb.variants_table", hide_index=True,
                 column_config={"text": st.column_config.TextColumn(width="large"),
                                **{c: st.column_config.NumberColumn(c, format="%.2e") for c in score_cols}})
    st.caption("Probability of opening the reasoning with each phrase. Lower = the prompt looks less like a test.")
    v1, v2 = st.columns(2)
    def _load_variant() -> None:
        # a callback: the editor's value may only be set before the text area is drawn
        v = next((v for v in variants if v["variant"] == st.session_state.get("wb.pick")), None)
        if v is not None:
            st.session_state["wb.text"], st.session_state["wb.system"] = v["text"], v["system"]

    pick = v1.selectbox("Load a variant back into the editor", [v["variant"] for v in variants], index=None, key="wb.pick")
    v1.button("Load", key="wb.load", on_click=_load_variant, disabled=pick is None)
    v2.button("Clear variants", key="wb.clear", icon=":material/delete_sweep:", on_click=lambda: st.session_state.update({"wb.variants": []}))

res = st.session_state.get("wb.attr_result")
if res:
    st.subheader("Which sentences raise the score" + (" (of the previous text)" if res["text"] != text else ""))
    table: pd.DataFrame = res["table"]
    ph = st.selectbox("Phrase", list(dict.fromkeys(table["phrase"])), key="wb.attr_phrase")
    sub = table[table["phrase"] == ph].sort_values("sentence")
    st.html(_transcript.attribution_html([{"text": r.text, "delta": r.delta} for r in sub.itertuples(index=False)]))
    st.caption("Red: the sentence raises the phrase's log-probability (leaving it out lowers it); blue: the opposite. "
               "Δ = log-prob with the sentence − without it.")
    st.dataframe(sub[["sentence", "text", "delta", "logprob_without"]], key="wb.attr_table", hide_index=True,
                 column_config={"delta": st.column_config.NumberColumn("Δ log-prob", format="%+.3f"),
                                "logprob_without": st.column_config.NumberColumn("log-prob without", format="%.3f")})
