"""Curves: one rollout's per-sentence probability beside its chain of thought, and group averages."""

from __future__ import annotations

import streamlit as st

from monitor.report import figures
from pages._lib import annotations as _annotations, transcript as _transcript
from pages._lib import cache, charts, columns, feedback, open_run, page_frame, tokens, view_state
from pages._lib import text as _text

run, key, ix = page_frame.run_page("Curves")
if not len(run.rollouts):
    st.info("This run has no rollouts yet.")
    st.stop()

from pages._lib.index import rollout_sentences  # noqa: E402


def _on_select() -> None:
    # a click on the chart picks the sentence (the selectbox below follows, and so does the URL)
    event = st.session_state.get("curve_chart")
    s = view_state.sentence_from_selection(event)
    if s is not None:
        st.session_state["sentence"] = s


first_pid, first_rollout = cache.table(key, "first_flagged_rollout") or (ix.prompt_ids[0], None)
c1, c2, c3 = st.columns([3, 1, 3])
with c1:
    pid = view_state.url_choice(st.selectbox, "Prompt", ix.prompt_ids, key="prompt", default=first_pid, format_func=ix.prompt_labels.get)
rollouts = ix.rollouts[pid]
with c2:
    rollout = view_state.url_choice(st.selectbox, "Rollout", rollouts, key="rollout",
                                    default=first_rollout if pid == first_pid and first_rollout in rollouts else rollouts[0])
with c3:
    chosen = st.multiselect("Phrases", ix.phrases, default=ix.phrases[: min(3, len(ix.phrases))], key="phrases",
                            bind="query-params", help=f"The first phrase of the run, “{ix.phrases[0]}”, is its primary phrase.")

curve = cache.analysis(key, "rollout_curve", prompt_id=pid, rollout=rollout)
decode = tokens.decoder(run)  # token ids -> strings for hover and the token table (None: the tokenizer is not here)
sents = rollout_sentences(run, ix, pid, rollout)
n_sent = int(sents["sentence"].max()) if len(sents) else 0
sent_text = dict(zip(sents["sentence"].astype(int), sents["text"].astype(str)))

o1, o2 = st.columns([4, 1])
with o1:
    sel = view_state.url_choice(
        st.selectbox, "Sentence", list(range(n_sent + 1)), key="sentence", default=None,
        placeholder="Click a point on the chart, or pick a sentence here",
        format_func=lambda s: "0 · CoT start" if s == 0 else f"{s} · {sent_text.get(s, '')[:90]}",
    )
with o2:
    log_scale = st.toggle("Log scale", value=True, key="log", bind="query-params")

left, right = st.columns([3, 2], gap="medium")
with left:
    shown = curve[curve["phrase"].isin(chosen)] if chosen else curve.iloc[0:0]
    if not len(shown):
        st.info("Pick at least one phrase to draw its curve.")
    else:
        fig = figures.rollout_curve_figure(shown, log_scale=log_scale, colors=figures.phrase_colors(ix.phrases), token_text=decode)
        if sel is not None:
            fig.add_vline(x=sel, line_width=2, line_dash="dot", line_color="#1c7ed6")
        fig.update_layout(clickmode="event+select", height=480, legend=dict(orientation="h", yanchor="top", y=-0.18, x=0))
        charts.chart(fig, key="curve_chart", name=f"curve-{pid}-rollout-{rollout}", on_select=_on_select, selection_mode="points")
        st.caption("Probability that the model, at that point of its reasoning, would continue with the phrase "
                   "(product of the forced tokens' probabilities). Hover a point for the sentence and each token; "
                   "click it to bring the sentence into view. Orange sentences were flagged by the judge.")
with right:
    meta = run.rollouts.iloc[ix.rollout_row[(pid, rollout)]]
    st.markdown(f"**Chain of thought** · {n_sent} sentences · finished by {_text.code(meta['finish_reason'])}"
                + (" · **CoT cut off before the think-close marker**" if bool(meta.get("cot_truncated", False)) else ""))
    with st.container(height=520, key="transcript_box"):
        st.html(_transcript.transcript_html(str(meta["cot_text"]), sents, selected=sel))
    if sel is not None:
        st.html(_transcript.scroll_script(sel), unsafe_allow_javascript=True)

if sel is not None:
    with st.container(border=True, key="sentence_detail"):
        st.markdown(f"**Sentence {sel}**")
        st.text(sent_text.get(sel, "") or "(CoT start: before any reasoning)")
        detail = cache.table(key, "sentence_detail", prompt_id=pid, rollout=rollout, sentence=sel)
        if decode is not None and len(detail):
            probs = [[p for p in str(t).split(" · ")] for t in detail["token probabilities"]]
            detail = detail.assign(**{"token probabilities": [
                " · ".join(f"{tokens.show(tok)} {p}" for tok, p in zip(decode(ids), ps))
                for ids, ps in zip(detail["forced_token_ids"], probs)]})
        detail = detail.drop(columns="forced_token_ids")
        st.dataframe(detail, key="sentence_tokens", hide_index=True, column_config=columns.config(detail.columns))

with st.expander("The prompt", icon=":material/chat:"):
    prow = run.prompts.iloc[ix.prompt_row[pid]]
    st.text(str(prow["text"]))
    st.caption(f"label: {_text.md(prow['label'])} · source: {_text.md(prow.get('source', ''))}")

with st.expander("Notes", icon=":material/sticky_note_2:"):
    level = st.segmented_control("Attach a note to", ["prompt", "rollout", "sentence"], default="rollout", key="note_level")
    _annotations.note_box(
        run, prompt_id=pid,
        rollout=rollout if level in ("rollout", "sentence") else None,
        sentence=sel if level == "sentence" and sel is not None else None,
        key="curves.note",
    )

st.divider()
st.subheader("Averaged curves")
g1, g2, g3 = st.columns(3)
with g1:
    g_phrase = view_state.url_choice(st.selectbox, "Phrase", ix.phrases, key="phrase", default=ix.phrases[0], format_func=lambda p: open_run.phrase_label(p, run, ix.phrases))
with g2:
    by_options = ["label", "verbalizes"] if open_run.has_judge(run) else ["label"]
    by = view_state.url_choice(st.segmented_control, "Group by", by_options, key="group_by", default="label",
                      format_func={"label": "eval vs deploy", "verbalizes": "verbalizing vs not"}.get)
with g3:
    x = view_state.url_choice(st.segmented_control, "x axis", ["sentence", "relative"], key="group_x", default="sentence",
                     format_func={"sentence": "sentence index", "relative": "position in CoT (0–1)"}.get)
with feedback.guard("The averaged curves"):
    gc = cache.analysis(key, "group_curves", phrase=g_phrase, by=by or "label", x=x or "sentence")
    charts.chart(figures.group_curve_figure(gc, title=f"“{g_phrase}” by {by or 'label'} (mean log-prob, 95% bootstrap band)"),
                 key="group_chart", name="averaged-curves")
