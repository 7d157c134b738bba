"""The report's "reviewer checks" section, rendered from the summary dict only: TPR at low FPR,
the logit monitor without verbalizing rollouts, structure baselines, matched pairs, phrase
coverage and discovery, refusals. Every text cell goes through :func:`~.markup.esc`."""

from __future__ import annotations

from typing import Any

from ..analysis.tasks import TASK_TITLES
from .figures import paired_difference_figure, refusal_vs_score_figure
from .markup import FigureEmbedder, esc, fmt, table

__all__ = ["reviewer_checks"]


def _ci(r: dict[str, Any] | None, key: str = "auroc") -> str:
    if not r or r.get(key) is None:
        return "n/a"
    lo, hi = r.get("lo"), r.get("hi")
    return f"<b>{fmt(r[key])}</b>" + ("" if lo is None else f" <span class=ci>[{fmt(lo)}, {fmt(hi)}]</span>")


def reviewer_checks(s: dict[str, Any], figs: FigureEmbedder) -> str:
    """HTML for every reviewer check the summary has (sections without data are left out)."""
    primary = s["run"]["primary_phrase"]
    out = ["<h2>Reviewer checks</h2>"]

    rows = []
    for a in s.get("auroc") or []:
        if a["method"] not in ("max", "frac_verbalizing") or not a.get("tpr_at_fpr"):
            continue
        who = a["phrase"] if a["monitor"] == "logit" else "verbalization monitor (judge)"
        rows.append([esc(TASK_TITLES.get(a["task"], a["task"])), esc(who), _ci(a)]
                    + [_ci(t, "tpr") + f" <span class=ci>({t['max_false_positives']} FP allowed)</span>" for t in a["tpr_at_fpr"]])
    if rows:
        out.append("<h3>Low false-positive rates</h3><p class=note>True-positive rate at 1% and 5% false-positive rate "
                   "(the threshold may flag at most that share of negatives; ties are not split), with 95% stratified "
                   "bootstrap intervals. With fewer than 100 negatives, 1% FPR allows no false positive at all.</p>")
        out.append(table(["task", "monitor / phrase", "AUROC", "TPR @ 1% FPR", "TPR @ 5% FPR"], rows))

    rows = []
    for r in s.get("restricted_auroc") or []:
        d = r.get("difference") or {}
        rows.append([esc(TASK_TITLES.get(r["task"], r["task"])), esc(r["phrase"]), _ci(r["unrestricted"]), _ci(r.get("restricted")),
                     _ci(d, "difference"), esc(r["n_prompts_dropped"]), esc(r.get("note") or "")])
    if rows:
        out.append("<h3>Logit monitor without verbalizing rollouts</h3><p class=note>The prompt score computed only on "
                   "rollouts with no judge-flagged sentence, beside the usual one; the difference (restricted − all) has a "
                   "paired bootstrap interval. The paper reports a drop below 0.02. Prompts that verbalize in every rollout "
                   "have no restricted score.</p>")
        out.append(table(["task", "phrase", "all rollouts", "non-verbalizing only", "difference", "prompts dropped", "note"], rows))

    rows = [[esc(TASK_TITLES.get(b["task"], b["task"])), esc(b["feature"]), _ci(b["auroc"]), fmt(b["mean_pos"]), fmt(b["mean_neg"])]
            for b in s.get("structure_baselines") or [] if b["varies"]]
    out.append("<h3>Structure baselines</h3>")
    if rows:
        out.append("<p class=note>AUROC of the prompt's shape alone: has a system prompt, number of turns.</p>")
        out.append(table(["task", "feature", "AUROC", "mean (positives)", "mean (negatives)"], rows))
    else:
        out.append("<p class=note>System-prompt presence and the number of turns are the same for every prompt of each task: "
                   "structure cannot separate them here.</p>")

    for pr in s.get("pairs") or []:
        if pr["phrase"] != primary:
            continue
        out.append(f"<h3>Matched pairs</h3><p class=note>{esc(pr['n_pairs'])} pairs (positive member by {esc(' / '.join(pr['by']))}: "
                   "eval over deploy, else adversarial over benign). The win rate is the AUROC within pairs; compare it with the "
                   "pooled AUROC of the same prompts.</p>")
        if pr.get("mean_difference"):
            out.append(table(["phrase", "mean within-pair difference (nats)", "win rate", "pooled AUROC"],
                             [[esc(pr["phrase"]), _ci(pr["mean_difference"], "estimate"), _ci(pr["win_rate"], "estimate"),
                               _ci(pr["auroc_pooled"])]]))
            out.append(figs.html(paired_difference_figure(pr.get("pairs") or [], title=f"Within-pair difference, “{pr['phrase']}”")))
        else:
            out.append(f"<p>{esc(pr.get('note') or 'no usable pair')}</p>")

    cov = s.get("phrase_coverage") or []
    if cov:
        out.append("<h3>Phrase coverage</h3><p class=note>Share of judge-flagged sentences that start with / contain each "
                   "monitored phrase (case and punctuation ignored, whole words).</p>")
        out.append(table(["phrase", "flagged sentences", "start with it", "contain it"],
                         [[esc(c["phrase"]), esc(c["n_flagged"]), fmt(c["share_starts"]), fmt(c["share_contains"])] for c in cov], {1, 2, 3}))
    disc = s.get("phrase_discovery") or []
    if disc:
        out.append("<p class=note>Most frequent openings of flagged sentences (candidates to score; precision = share of "
                   "sentences opening this way that are flagged). Score one with the Phrases page or "
                   "<code>monitor analyze RUN --score-discovered N --model MODEL</code>.</p>")
        out.append(table(["opening", "flagged", "share", "unflagged", "precision"],
                         [[esc(d["phrase"]), esc(d["count"]), fmt(d["share"]), esc(d["count_unflagged"]), fmt(d["precision"])]
                          for d in disc[:15]], {1, 2, 3, 4}))

    beh = s.get("behaviour") or {}
    if beh:
        out.append("<h3>Does awareness change behaviour?</h3>")
        rv = beh.get("refusal_by_verbalization")
        if rv:
            pooled, paired = rv["pooled"], rv["paired"]
            out.append(f"<p class=note>{esc(rv['n_rollouts'])} rollouts with a behaviour label ({esc(rv['counts'])}); partial "
                       "answers count as refusals. Pooled: all rollouts together (mixes prompts); paired: the mean, over prompts "
                       "with both kinds of rollout, of the within-prompt difference. Intervals: bootstrap over prompts.</p>")
            out.append(table(["refusal rate, verbalizing", "refusal rate, not verbalizing", "difference (pooled)",
                              f"difference (paired, {esc(paired['n_prompts'])} prompts)"],
                             [[_ci(pooled.get("rate_in"), "estimate"), _ci(pooled.get("rate_out"), "estimate"),
                               _ci(pooled.get("difference"), "estimate"), _ci(paired.get("difference"), "estimate")]]))
        rs = beh.get("refusal_vs_score")
        if rs:
            out.append(table(["phrase", "AUROC of the prompt's score for a rollout's refusal", "AUROC of the rollout's own max score"],
                             [[esc(rs["phrase"]), _ci(rs.get("auroc_prompt_score")), _ci(rs.get("auroc_rollout_score"))]]))
            out.append(figs.html(refusal_vs_score_figure(rs.get("bins") or [], title=f"Refusal rate by the prompt's score, “{rs['phrase']}”"),
                                 "Quantile bins of the prompt score; 95% bootstrap intervals over the bin's prompts."))
    return "".join(out)
