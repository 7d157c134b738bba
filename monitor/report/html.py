"""A self-contained HTML report of a run: settings, headline AUROCs with intervals, controls, the
same Plotly figures the app shows, flagged excerpts in context, and annotations.

Self-contained: plotly.js is embedded once, inline (no CDN), so the file opens offline and can be
mailed around. Safe: every piece of model or user text goes through ``html.escape`` before it
reaches the page, and the figures carry it as JSON in which Plotly writes ``<`` as ``\\u003c``, so
a ``<script>`` inside a chain of thought is shown as text and never runs. The settings come from
the manifest with credential-like fields removed (a run should hold none).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..analysis import (
    TASK_TITLES,
    group_curves,
    has_judge,
    phrase_correlation,
    prompt_scores,
    roc_curve_table,
    rollout_curve,
    sample_size_text,
    small_sample_warning,
    summarize,
    task_labels,
    verbalization_scores,
)
from ..analysis.scores import boundary_scores, run_phrases
from ..analysis.summary import public_manifest
from ..errors import MonitorError
from ..ingest.provenance import provenance_line
from ..runs.store import Run
from .checks import reviewer_checks
from .markup import CSS, FigureEmbedder, esc, flatten, fmt, fmt_ci, mark_quote, table

__all__ = ["write_report", "render_report", "mark_quote"]


def _n(rec: dict[str, Any] | None) -> str:
    """``", n = 80 + 80"`` for an AUROC record with its class sizes (for legend names), else empty."""
    if not rec or rec.get("n_pos") is None or rec.get("n_neg") is None:
        return ""
    return f", {sample_size_text(rec['n_pos'], rec['n_neg'])}"

def _excerpts(run: Run, primary: str, max_excerpts: int) -> str:
    s = run.sentences
    flagged = s[s["judge_flag"].fillna(False).astype(bool)]
    if not len(flagged):
        return "<p>No sentence was flagged by the judge.</p>"
    order = {p: i for i, p in enumerate(run.prompts["prompt_id"].astype(str))}
    labels = run.prompts.set_index(run.prompts["prompt_id"].astype(str))["label"]
    texts = run.prompts.set_index(run.prompts["prompt_id"].astype(str))["text"]
    first = flagged.drop_duplicates(["prompt_id", "rollout"]).copy()
    first["_o"] = first["prompt_id"].map(order)
    first["_l"] = (first["prompt_id"].map(labels) != "eval").astype(int)
    first = first.sort_values(["_l", "_o", "rollout", "sentence"], kind="stable").head(max_excerpts)
    keys = first[["prompt_id", "rollout"]]
    ctx = s.merge(keys, on=["prompt_id", "rollout"]).set_index(["prompt_id", "rollout", "sentence"])["text"]
    sc = boundary_scores(run, primary).merge(keys, on=["prompt_id", "rollout"]).set_index(["prompt_id", "rollout", "sentence"])["logprob"]
    parts = [f"<p class=note>First flagged sentence of up to {max_excerpts} rollouts (eval prompts first), "
             f"with the sentences around it; the judge's quote is highlighted. p = probability of "
             f"&ldquo;{esc(primary)}&rdquo; at the boundary before &rarr; after the flagged sentence.</p>"]
    for row in first.itertuples(index=False):
        pid, r, k = row.prompt_id, row.rollout, int(row.sentence)
        prev = ctx.get((pid, r, k - 1), "") if k > 1 else ""
        nxt = ctx.get((pid, r, k + 1), "")
        p0, p1 = sc.get((pid, r, k - 1)), sc.get((pid, r, k))
        probs = f"p {np.exp(p0):.2g} &rarr; {np.exp(p1):.2g}" if p0 is not None and p1 is not None else ""
        quote = getattr(row, "judge_quote", "")
        why = getattr(row, "judge_rationale", None)
        why_html = f"<div class=meta>judge: {esc(why)}</div>" if isinstance(why, str) and why.strip() else ""
        parts.append(
            f"<div class=excerpt><div class=meta>prompt {esc(pid)} ({esc(labels.get(pid, ''))}) · rollout {int(r)} · "
            f"sentence {k} · {probs}<br>prompt: {esc(_short(texts.get(pid, '')))}</div>"
            f"<span class=ctx>{esc(prev)}</span> {mark_quote(row.text, quote if isinstance(quote, str) else '')} "
            f"<span class=ctx>{esc(nxt)}</span>{why_html}</div>")
    return "\n".join(parts)


def _short(text: Any, n: int = 200) -> str:
    t = " ".join(str(text or "").split())
    return t if len(t) <= n else t[: n - 1] + "…"


def _annotations(run: Run) -> str:
    a = run.annotations
    if a is None or not len(a):
        return "<p>No annotations.</p>"
    cols = [c for c in ("prompt_id", "rollout", "sentence", "note", "author", "created") if c in a.columns]
    rows = [[esc("" if pd.isna(v) else v) for v in rec] for rec in a[cols].itertuples(index=False)]
    return table(cols, rows)


def _example_rollouts(run: Run, primary: str, figs: FigureEmbedder, token_text: Callable[[Sequence[int]], list[str]] | None = None) -> str:
    from .figures import phrase_colors, rollout_curve_figure

    colors = phrase_colors(run_phrases(run))
    out = []
    b = boundary_scores(run, primary)
    labels = run.prompts.set_index(run.prompts["prompt_id"].astype(str))["label"]
    ev = b[b["prompt_id"].map(labels) == "eval"]
    picks: list[tuple[str, int, str]] = []
    if len(ev):
        top = ev.loc[ev["logprob"].idxmax()]
        picks.append((top["prompt_id"], int(top["rollout"]), "the highest-scoring eval rollout"))
    if has_judge(run):
        fl = run.sentences[run.sentences["judge_flag"].fillna(False).astype(bool)]
        if len(fl):
            f = fl.iloc[0]
            if (f["prompt_id"], int(f["rollout"])) not in [(p, r) for p, r, _ in picks]:
                picks.append((f["prompt_id"], int(f["rollout"]), "a rollout with a judge-flagged sentence"))
    for pid, r, why in picks:
        curve = rollout_curve(run, pid, r)
        text = run.prompts.loc[run.prompts["prompt_id"].astype(str) == str(pid), "text"]
        prompt = _short(text.iloc[0]) if len(text) else ""
        out.append(figs.html(rollout_curve_figure(curve, title=f"prompt {pid}, rollout {r}", colors=colors, token_text=token_text),
                             f"Example: {esc(why)}. Prompt: &ldquo;{esc(prompt)}&rdquo;. "
                             "Hover a point for the sentence and each forced token's probability."))
    return "\n".join(out)


def is_demo_organism(manifest: dict[str, Any]) -> bool:
    """Whether a run's model is the bundled synthetic demo organism (``data/demo_model`` or a copy of it)."""
    model = manifest.get("model") or {}
    model_id = str(model.get("id", "")) if isinstance(model, dict) else str(model)
    return bool(manifest.get("demo")) or "demo_model" in model_id


def render_report(run: Run, *, summary: dict[str, Any] | None = None, n_boot: int = 1000, max_excerpts: int = 40,
                  token_text: Callable[[Sequence[int]], list[str]] | None = None) -> str:
    """The report as one HTML string (see :func:`write_report`)."""
    import plotly.offline

    from ..engine.chat import describe_cot_mode
    from .figures import auroc_vs_k_figure, correlation_figure, group_curve_figure, phrase_colors, roc_figure, score_distribution_figure

    s = summary if summary is not None else summarize(run, n_boot=n_boot)
    info = s["run"]
    primary = info["primary_phrase"]
    phrases = info.get("analysed_phrases") or info["phrases"]
    colors = phrase_colors(run_phrases(run))
    figs = FigureEmbedder()
    body: list[str] = []
    title = f"Eval-awareness monitor report: {Path(str(info['path'])).name}"
    body.append(f"<h1>{esc(title)}</h1>")
    if info.get("synthetic"):
        body.append("<p class=banner><b>Synthetic data.</b> This run was generated by <code>monitor.runs.synthetic</code> "
                    "from a documented random process; it is not a model's behaviour.</p>")
    elif is_demo_organism(run.manifest):
        body.append("<p class=banner><b>Synthetic organism.</b> This run comes from the bundled demo model, a tiny model "
                    "trained on generated transcripts whose eval-awareness is known by construction (docs/demo_model.md). "
                    "It exercises the monitor where the ground truth is known; it says nothing about any real model's behaviour.</p>")
    imported = provenance_line(run.manifest)
    if imported:  # rollouts generated elsewhere: say by whom, and which model scored them
        body.append(f"<p class=banner><b>Imported rollouts</b> {esc(imported.removeprefix('Imported rollouts '))}</p>")
    for w in run.manifest.get("warnings") or []:
        body.append(f"<p class=banner><b>Warning.</b> {esc(w)}</p>")
    body.append(f"<p>{esc(info['n_prompts'])} prompts ({esc(', '.join(f'{k}: {v}' for k, v in info['labels'].items()))}), "
                f"{esc(info['n_rollouts'])} rollouts, {esc(info['n_score_rows'])} scored boundaries. Model: <b>{esc(info['model'])}</b>. "
                f"Status: {esc(info['status'])}. Primary phrase: &ldquo;{esc(primary)}&rdquo;; control phrase: "
                f"{'&ldquo;' + esc(info['control_phrase']) + '&rdquo;' if info.get('control_phrase') else 'none'}. "
                f"Judge flags: {'yes' if info['judge'] else 'no'}."
                + (f" {esc(describe_cot_mode(run.manifest['chat']))}" if run.manifest.get("chat") else "") + "</p>")

    # headline numbers
    body.append("<h2>Headline AUROCs</h2><p class=note>AUROC with a 95% stratified percentile-bootstrap interval over prompts. "
                "Logit monitor methods: max over rollouts and boundaries (max), mean of per-rollout maxima, "
                "the CoT-start score (k0), max over the first sentences (first_n).</p>")
    for task, t in s["tasks"].items():
        body.append(f"<h3>{esc(TASK_TITLES.get(task, task))}</h3>")
        if not t["available"]:
            body.append(f"<p>Not available: {esc(t['reason'])}</p>")
            continue
        recs = [a for a in s["auroc"] if a["task"] == task]
        methods = list(dict.fromkeys(a["method"] for a in recs if a["monitor"] == "logit"))
        rows = []
        for who in dict.fromkeys((a["monitor"], a["phrase"]) for a in recs):
            cells = {a["method"]: a for a in recs if (a["monitor"], a["phrase"]) == who}
            name = who[1] if who[0] == "logit" else "verbalization monitor (judge)"
            row = [esc(name)]
            for m in methods:
                a = cells.get(m) or (cells.get("frac_verbalizing") if who[0] != "logit" and m == "max" else None)
                point, ci = fmt_ci(a)
                row.append(f"<b>{point}</b> <span class=ci>{ci}</span>" if a else "")
            notes = "; ".join(a.get("note") or "" for a in cells.values() if a.get("note"))
            row.append(esc(notes))
            rows.append(row)
        n_pos, n_neg = t["n_pos"], t["n_neg"]
        warning = small_sample_warning(n_pos, n_neg, what="every AUROC of this task")
        if warning:
            body.append(f"<p class=warning><b>Too few prompts.</b> {esc(warning)}</p>")
        body.append(f"<p class=note>{n_pos} positive and {n_neg} negative prompts. The verbalization monitor's score "
                    "(fraction of rollouts with a flagged sentence) is shown in the max column.</p>")
        body.append(table(["monitor / phrase", *[esc(m) for m in methods], "note"], rows))
        ctrl = [c for c in s["controls"] if c["task"] == task]
        if ctrl:
            crow = []
            for c in ctrl:
                cells = [esc(c["phrase"])]
                for key in ("primary_auroc", "length_auroc", "length_residualized_auroc", "primary_minus_control_auroc"):
                    point, ci = fmt_ci(c.get(key))
                    cells.append(f"<b>{point}</b> <span class=ci>{ci}</span>")
                cells.append(esc(c["length_source"]))
                cells.append(esc("; ".join(c.get("notes") or [])))
                crow.append(cells)
            body.append("<p><b>Controls</b> (a monitor that only tracked length would show a length AUROC near its own "
                        "and a residualized AUROC near 0.5):</p>")
            body.append(table(["phrase", "phrase AUROC", "length only", "length regressed out", "phrase − control", "length measure", "notes"], crow))

    body.append(reviewer_checks(s, figs))

    # figures
    body.append("<h2>Figures</h2>")
    try:
        body.append(figs.html(score_distribution_figure(prompt_scores(run, primary), title=f"Prompt scores (max) for “{primary}”"),
                              "Each point is a prompt: its maximum probability over all rollouts and boundaries."))
    except MonitorError as e:
        body.append(f"<p>Score distribution unavailable: {esc(e)}</p>")
    verb = verbalization_scores(run).set_index("prompt_id")["frac_verbalizing"] if info["judge"] else None
    for task, t in s["tasks"].items():
        if not t["available"]:
            continue
        y = task_labels(run, task)
        curves, ccol = {}, {}
        for p in phrases:
            sc = prompt_scores(run, p).set_index("prompt_id")["score"].reindex(y.index)
            rec = next((a for a in s["auroc"] if a["task"] == task and a["phrase"] == p and a["method"] == "max"), None)
            name = f"logit: {p} (AUROC {fmt(rec['auroc']) if rec else 'n/a'}{_n(rec)})"
            curves[name], ccol[name] = roc_curve_table(y, sc), colors.get(p)
        if verb is not None:
            rec = next((a for a in s["auroc"] if a["task"] == task and a["monitor"] == "verbalization"), None)
            name = f"verbalization (AUROC {fmt(rec['auroc']) if rec else 'n/a'}{_n(rec)})"
            curves[name], ccol[name] = roc_curve_table(y, verb.reindex(y.index)), "#2ca02c"
        body.append(figs.html(roc_figure(curves, title=f"ROC, {TASK_TITLES.get(task, task)}", colors=ccol)))
        k = pd.DataFrame([r for r in s["auroc_vs_k"] if r["task"] == task and r["phrase"] == primary])
        if len(k):
            cap = ("k = 0 is the score at the CoT start (no rollout needed). Bands: 95% bootstrap over prompts and k-subsets.")
            if task == "verbalizing_eval":
                cap += " The verbalization monitor at the largest k reads the rollouts that define the label (1.0 by construction)."
            body.append(figs.html(auroc_vs_k_figure(k, title=f"AUROC vs rollouts per prompt, {TASK_TITLES.get(task, task)}"), esc(cap)))
    for by, x, cap in (("label", "sentence", "by sentence index"), ("label", "relative", "by relative position in the CoT"),
                       ("verbalizes", "relative", "verbalizing vs non-verbalizing rollouts, by relative position")):
        if by == "verbalizes" and not info["judge"]:
            continue
        g = group_curves(run, primary, by=by, x=x, n_boot=200)
        body.append(figs.html(group_curve_figure(g, title=f"“{primary}” {cap}", relative=x == "relative"),
                              "Mean of log-probabilities (shown as geometric-mean probability) with a 95% cluster-bootstrap band over prompts."))
    if s.get("phrase_correlation"):
        corr = phrase_correlation(run)
        body.append(figs.html(correlation_figure(corr)))
    if s["variance_explained"]:
        rows = [[esc(v["phrase"]), esc("eval prompts" if v["labels"] else "all prompts"), fmt(v["r2_rollout_verbalizes"]),
                 fmt(v["r2_prompt_ever_verbalizes"]), fmt(v["r2_prompt_identity"]), esc(v["n"])] for v in s["variance_explained"]]
        body.append("<h3>Variance of the rollout score explained</h3><p class=note>Rollout score = the rollout's maximum log-probability. "
                    "R² of a one-predictor fit: &ldquo;this rollout verbalizes&rdquo; vs &ldquo;this prompt ever verbalizes&rdquo; "
                    "(prompt identity for scale).</p>")
        body.append(table(["phrase", "prompts", "R² rollout verbalizes", "R² prompt ever verbalizes", "R² prompt identity", "rollouts"], rows, {2, 3, 4}))
    body.append("<h2>Example rollouts</h2>")
    body.append(_example_rollouts(run, primary, figs, token_text))
    if info["judge"]:
        body.append("<h2>Flagged excerpts</h2>")
        body.append(_excerpts(run, primary, max_excerpts))
    body.append("<h2>Annotations</h2>")
    body.append(_annotations(run))
    body.append("<h2>Run settings</h2><p class=note>From manifest.json (credential-like fields removed).</p>")
    settings = public_manifest(run.manifest)
    body.append(table(["setting", "value"], [[esc(k), esc(json.dumps(v) if not isinstance(v, str) else v)] for k, v in flatten(settings)]))
    if s.get("errors"):
        body.append("<h2>Skipped analyses</h2><ul>" + "".join(f"<li>{esc(e)}</li>" for e in s["errors"]) + "</ul>")

    plotly_js = plotly.offline.get_plotlyjs()
    if re.search(r"</script", plotly_js, re.I):  # would end our inline script early
        plotly_js = re.sub(r"</script", r"<\\/script", plotly_js, flags=re.I)
    return ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width, initial-scale=1'>"
            f"<title>{esc(title)}</title><style>{CSS}</style>"
            f"<script type='text/javascript'>{plotly_js}</script></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def write_report(run: Run, out_path: str | Path, *, summary: dict[str, Any] | None = None, n_boot: int = 1000,
                 max_excerpts: int = 40, token_text: Callable[[Sequence[int]], list[str]] | None = None) -> Path:
    """Write the self-contained HTML report of ``run`` to ``out_path`` and return the path.

    ``summary`` (from :func:`monitor.analysis.summarize`) is reused when given, so a caller that
    already has one (``monitor analyze``, the app) does not compute the numbers twice.
    ``token_text`` (ids -> strings, see :mod:`monitor.report.tokens`) names each forced token in
    the example curves' hover text; without it the hover shows ids.
    """
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = render_report(run, summary=summary, n_boot=n_boot, max_excerpts=max_excerpts, token_text=token_text)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out
