"""The reviewer's checks on Scores & ROC (restricted AUROC, structure baselines, matched pairs,
refusals) and on Phrases (phrase coverage and discovery). Numbers come from :mod:`monitor.analysis`
through the cache; this module only lays them out."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from monitor.analysis import sample_size_text
from monitor.report import figures
from pages._lib import cache, charts, feedback, open_run
from pages._lib import text as _text

_NUM = {c: st.column_config.NumberColumn(format="%.3f") for c in ("auroc", "lo", "hi", "estimate", "difference")}


def _ci_row(name: str, r: dict[str, Any] | None, key: str = "auroc") -> dict[str, Any]:
    r = r or {}
    n = sample_size_text(r["n_pos"], r["n_neg"]) if r.get("n_pos") is not None and r.get("n_neg") is not None else ""
    return {"quantity": name, "estimate": r.get(key), "lo": r.get("lo"), "hi": r.get("hi"), "n": n}


def restricted_section(key, phrase: str, method: str, task: str) -> None:
    """Logit monitor on rollouts without a flagged sentence, beside the unrestricted one."""
    with feedback.guard("The restricted AUROC"):
        st.subheader("Without verbalizing rollouts")
        m = method if method in ("max", "mean_rollout_max", "k0", "first_n") else "max"
        r = cache.analysis(key, "restricted_auroc", phrase=phrase, task=task, method=m, n_boot=500)
        rows = [_ci_row("all rollouts", r["unrestricted"]), _ci_row("rollouts with no flagged sentence", r.get("restricted")),
                _ci_row("difference (restricted − all, paired)", r.get("difference"), "difference")]
        st.dataframe(pd.DataFrame(rows), key="restricted_table", hide_index=True, column_config=_NUM)
        st.caption(f"The paper: restricting to rollouts that never verbalize changes AUROC by < 0.02. "
                   f"{r['n_prompts_dropped']} prompt(s) verbalize in every rollout and are left out of the restricted score. "
                   + (r.get("note") or ""))


def structure_section(key, task: str) -> None:
    """Has-a-system-prompt and number-of-turns baselines, when they vary."""
    with feedback.guard("The structure baselines"):
        recs = cache.analysis(key, "structure_baselines", task=task, n_boot=500)
        varying = [r for r in recs if r["varies"] and r.get("auroc")]
        if not varying:
            st.caption("Structure baselines: every prompt has the same system-prompt presence and number of turns here, "
                       "so structure cannot separate them.")
            return
        st.markdown("**Structure baselines** (AUROC of the prompt's shape alone)")
        st.dataframe(pd.DataFrame([{"feature": r["feature"], "auroc": r["auroc"]["auroc"], "lo": r["auroc"]["lo"],
                                    "hi": r["auroc"]["hi"], "mean (positives)": r["mean_pos"], "mean (negatives)": r["mean_neg"]}
                                   for r in varying]), key="structure_table", hide_index=True, column_config=_NUM)


def pairs_section(key, phrase: str, method: str) -> None:
    """Paired comparison over prompts that share a pair_id."""
    with feedback.guard("The paired analysis"):
        st.subheader("Matched pairs")
        m = method if method in ("max", "mean_rollout_max", "k0", "first_n") else "max"
        r = cache.analysis(key, "paired_analysis", phrase=phrase, method=m, n_boot=500)
        if not r.get("n_pairs"):
            st.info(r.get("note") or "No usable pair.")
            return
        rows = [_ci_row("mean within-pair difference (nats)", r["mean_difference"], "estimate"),
                _ci_row("win rate (AUROC within pairs)", r["win_rate"], "estimate"),
                _ci_row("pooled AUROC on the same prompts", r["auroc_pooled"])]
        st.dataframe(pd.DataFrame(rows), key="pairs_table", hide_index=True, column_config=_NUM)
        charts.chart(figures.paired_difference_figure(r.get("pairs") or []), key="pairs_chart", name="pairs")
        st.caption(f"{r['n_pairs']} pairs; positive member by {' / '.join(r['by'])} (eval over deploy, else adversarial over benign). "
                   "A win rate near the pooled AUROC says the score tracks what differs within a pair, not the pair's format.")


def behaviour_section(key, run, phrase: str) -> None:
    """Refusal rate by verbalization (pooled and paired) and against the prompt's logit score."""
    st.subheader("Does awareness change behaviour?")
    if not open_run.has_judge(run):
        st.info("Refusals against verbalization need the verbalization judge too.")
    with feedback.guard("The refusal analysis"):
        if open_run.has_judge(run):
            rv = cache.analysis(key, "refusal_by_verbalization", n_boot=500)
            pooled, paired = rv["pooled"], rv["paired"]
            rows = [_ci_row("refusal rate, verbalizing rollouts", pooled.get("rate_in"), "estimate"),
                    _ci_row("refusal rate, other rollouts", pooled.get("rate_out"), "estimate"),
                    _ci_row("difference, pooled over prompts", pooled.get("difference"), "estimate"),
                    _ci_row(f"difference, paired within prompt ({paired['n_prompts']} prompts)", paired.get("difference"), "estimate")]
            st.dataframe(pd.DataFrame(rows), key="refusal_table", hide_index=True, column_config=_NUM)
            st.caption(f"{rv['n_rollouts']} rollouts with a behaviour label {rv['counts']}; partial answers count as refusals. "
                       "The pooled difference mixes prompts (prompts that get verbalized may be refused more anyway); "
                       "the paired one compares rollouts of the same prompt.")
        rs = cache.analysis(key, "refusal_vs_score", phrase=phrase, n_boot=500)
        charts.chart(figures.refusal_vs_score_figure(rs["bins"]), key="refusal_chart", name="refusal-vs-score")
        rows = [_ci_row("AUROC of the prompt's score for a rollout's refusal", rs.get("auroc_prompt_score")),
                _ci_row("AUROC of the rollout's own max score", rs.get("auroc_rollout_score"))]
        st.dataframe(pd.DataFrame(rows), key="refusal_auroc_table", hide_index=True, column_config=_NUM)


def scores_page_sections(run, key, phrase: str, method: str, task: str) -> None:
    """Everything this module adds to Scores & ROC, each only when the run has what it needs."""
    from monitor import analysis

    if open_run.has_judge(run):
        restricted_section(key, phrase, method, task)
    structure_section(key, task)
    if analysis.has_pairs(run):
        pairs_section(key, phrase, method)
    if analysis.has_behaviour(run):
        behaviour_section(key, run, phrase)


def _use_phrase(target_key: str, phrase: str) -> None:
    st.session_state[target_key] = phrase


def discovery_section(run, key, *, target_key: str = "phr.new") -> None:
    """Share of flagged sentences each phrase covers, and the most frequent openings to score next."""
    st.subheader("What the model says vs what we monitor")
    if not open_run.has_judge(run):
        st.info("Phrase coverage needs judge flags: run a judge on **Run the monitor** first.")
        return
    with feedback.guard("The phrase coverage"):
        phrases = [p for p in run.phrases if p != run.manifest.get("control_phrase")]
        cov = cache.analysis(key, "run_phrase_coverage", phrases=phrases)
        st.dataframe(cov, key="coverage_table", hide_index=True,
                     column_config={"share_starts": st.column_config.ProgressColumn("flagged sentences starting with it", min_value=0.0, max_value=1.0, format="percent"),
                                    "share_contains": st.column_config.ProgressColumn("containing it", min_value=0.0, max_value=1.0, format="percent")})
        disc = cache.analysis(key, "run_discovery", top=10)
        if disc is None or not len(disc):
            st.caption("No opening is shared by two flagged sentences.")
            return
        st.markdown("**Most frequent openings of flagged sentences** (precision: how often a sentence that opens this way is flagged)")
        for i, d in enumerate(disc.head(10).itertuples()):
            c1, c2 = st.columns([5, 1])
            c1.markdown(f"{_text.code(d.phrase)} — {d.count} flagged ({d.share:.0%}), precision {d.precision:.2f}")
            c2.button("Use", key=f"disc.use.{i}", disabled=d.phrase in run.phrases, on_click=_use_phrase,
                      args=(target_key, d.phrase), help="Put this phrase in the box below, to score it on the existing rollouts")
