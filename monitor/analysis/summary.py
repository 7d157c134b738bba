"""Every headline number of a run in one JSON-ready dict (``monitor analyze``, the HTML report and
the dashboard's Home page all read it).

Layout (lists of flat records, so they load straight into a DataFrame)::

    run            path, status, synthetic, model id, counts, phrases, control phrase, judge present
    settings       the manifest minus anything that looks like a credential
    tasks          per task: available, n_pos, n_neg, small_sample (+ warning), reason when unavailable
    auroc          per task x monitor x phrase x method: auroc, lo, hi, n_pos, n_neg, small_sample (+ note), and
                   tpr_at_fpr: [{fpr 0.01 | 0.05, tpr, lo, hi, max_false_positives, ...}]
    auroc_vs_k     per task x phrase x monitor x k: auroc, lo, hi
    controls       per task x phrase (not the control phrase): the dicts of analysis.controls
    variance_explained   per phrase, all prompts and eval prompts only
    phrase_correlation   {phrases, spearman: matrix}
    restricted_auroc     per task x phrase (with a judge): unrestricted, restricted (rollouts without a
                         flagged sentence only), difference with a paired bootstrap CI (analysis.restricted)
    structure_baselines  per task x feature (has_system, n_turns): varies, auroc (analysis.structure)
    pairs          per phrase, when prompts share a pair_id: mean_difference, win_rate, auroc_pooled (analysis.pairs)
    phrase_coverage      per phrase: share of flagged sentences starting with / containing it (analysis.coverage)
    phrase_discovery     most frequent openings of flagged sentences, with precision (analysis.coverage)
    behaviour      with behaviour labels: refusal_by_verbalization {pooled, paired}, refusal_vs_score
                   (primary phrase) {auroc_prompt_score, auroc_rollout_score, bins} (analysis.behaviour)
    errors         analyses that could not run, with the reason

NaN and infinities become ``null``.
"""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import MonitorError
from ..runs.store import Run
from .behaviour import has_behaviour, refusal_by_verbalization, refusal_vs_score
from .controls import controls
from .coverage import run_discovery, run_phrase_coverage
from .lowfpr import bootstrap_tpr_at_fpr
from .correlation import phrase_correlation
from .kcurve import auroc_vs_k
from .metrics import bootstrap_auroc
from .pairs import has_pairs, paired_analysis
from .restricted import restricted_auroc
from .samplesize import is_small_sample, small_sample_warning
from .scores import PROMPT_SCORE_METHODS, has_judge, joint_prompt_scores, prompt_scores, run_phrases, verbalization_scores
from .structure import structure_baselines
from .tasks import TASKS, task_labels
from .variance import variance_explained

__all__ = ["summarize", "public_manifest", "format_summary", "jsonable"]

_SECRET_KEY = re.compile(r"(api[_-]?key|secret|password|passwd|authorization|bearer|credential|^key$|_key$|^token$|access_token)", re.I)
_SECRET_VALUE = re.compile(r"^(sk-|sk_|hf_|ghp_|xox[bp]-)[A-Za-z0-9_\-]{8,}$")


def public_manifest(manifest: Any) -> Any:
    """The manifest with every credential-like field removed (a run should hold none; belt and braces)."""
    if isinstance(manifest, dict):
        return {k: public_manifest(v) for k, v in manifest.items() if not _SECRET_KEY.search(str(k))}
    if isinstance(manifest, list):
        return [public_manifest(v) for v in manifest]
    if isinstance(manifest, str) and _SECRET_VALUE.match(manifest.strip()):
        return "[redacted]"
    return manifest


def jsonable(x: Any) -> Any:
    """Plain-JSON version of nested results (numpy scalars, DataFrames, NaN -> null)."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, pd.DataFrame):
        return jsonable(x.to_dict(orient="records"))
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(float(x)) else None
    if x is None or isinstance(x, (int, str)):
        return x
    return str(x)


def _rec(task: str, monitor: str, phrase: str | None, method: str, y: pd.Series, scores: pd.Series, n_boot: int, seed: int, **extra: Any) -> dict[str, Any]:
    s = scores.reindex(y.index).to_numpy(dtype=float)
    ci = bootstrap_auroc(y.to_numpy(dtype=bool), s, n_boot=n_boot, seed=seed)
    low = bootstrap_tpr_at_fpr(y.to_numpy(dtype=bool), s, n_boot=n_boot, seed=seed)
    return {"task": task, "monitor": monitor, "phrase": phrase, "method": method, **ci.to_dict(),
            "small_sample": is_small_sample(ci.n_pos, ci.n_neg), **extra, "tpr_at_fpr": low}


def summarize(
    run: Run,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    phrases: Sequence[str] | None = None,
    n_boot_k: int = 200,
    n_resamples: int = 20,
) -> dict[str, Any]:
    """All headline numbers of ``run`` (see the module docstring). ``phrases`` restricts the
    per-phrase analyses (default: every scored phrase; the first is the primary)."""
    all_phrases = run_phrases(run)
    phrases = list(phrases) if phrases else all_phrases
    prompt_scores(run, phrases[0])  # raises a clear InputError on an unknown phrase, early
    control = run.manifest.get("control_phrase")
    judged = has_judge(run)
    errors: list[dict[str, str]] = []
    out: dict[str, Any] = {
        "run": {
            "path": str(run.path),
            "status": run.status,
            "synthetic": bool(run.manifest.get("synthetic", False)),
            "model": (run.manifest.get("model") or {}).get("id") if isinstance(run.manifest.get("model"), dict) else run.manifest.get("model"),
            "n_prompts": int(len(run.prompts)),
            "n_rollouts": int(len(run.rollouts)),
            "n_sentences": int(len(run.sentences)),
            "n_score_rows": int(len(run.scores)),
            "phrases": all_phrases,
            "analysed_phrases": phrases,
            "primary_phrase": phrases[0],
            "control_phrase": control,
            "judge": judged,
            "labels": {str(k): int(v) for k, v in run.prompts["label"].value_counts().items()},
        },
        "settings": public_manifest(run.manifest),
        "tasks": {},
        "auroc": [],
        "auroc_vs_k": [],
        "controls": [],
        "variance_explained": [],
        "restricted_auroc": [],
        "structure_baselines": [],
        "pairs": [],
    }
    per_phrase = {p: {m: prompt_scores(run, p, method=m).set_index("prompt_id")["score"] for m in PROMPT_SCORE_METHODS} for p in phrases}
    joint_set = [p for p in phrases if p != control]
    joint = {}
    if len(joint_set) >= 2:
        for how in ("max", "logsumexp"):
            joint[how] = joint_prompt_scores(run, joint_set, how=how).set_index("prompt_id")["score"]
    verb = verbalization_scores(run).set_index("prompt_id")["frac_verbalizing"] if judged else None
    scored = per_phrase[phrases[0]]["max"].index

    for task in TASKS:
        try:
            y = task_labels(run, task)
        except MonitorError as e:
            out["tasks"][task] = {"available": False, "reason": str(e), "n_pos": 0, "n_neg": 0}
            continue
        unscored = int((~y.index.isin(scored)).sum())
        y = y[y.index.isin(scored)]  # a run in progress may not have scored every prompt yet
        n_pos, n_neg = int(y.sum()), int((~y).sum())
        if n_pos == 0 or n_neg == 0:
            out["tasks"][task] = {"available": False, "n_pos": n_pos, "n_neg": n_neg, "n_unscored": unscored,
                                  "reason": f"needs both classes; has {n_pos} positive(s) and {n_neg} negative(s)"
                                            + (f" among scored prompts ({unscored} not scored yet)" if unscored else "")}
            continue
        out["tasks"][task] = {"available": True, "n_pos": n_pos, "n_neg": n_neg, "n_unscored": unscored,
                              "small_sample": is_small_sample(n_pos, n_neg)}
        if out["tasks"][task]["small_sample"]:
            out["tasks"][task]["warning"] = small_sample_warning(n_pos, n_neg, what="every AUROC of this task")
        recs: list[tuple] = [("logit", p, m, per_phrase[p][m], {}) for p in phrases for m in PROMPT_SCORE_METHODS]
        recs += [("logit", f"joint:{how}", "max", sc, {"phrases": joint_set}) for how, sc in joint.items()]
        if verb is not None:
            note = ("labels come from the same rollouts: 1.0 by construction; see auroc_vs_k for k below the total"
                    if task == "verbalizing_eval" else None)
            recs.append(("verbalization", None, "frac_verbalizing", verb, {"note": note}))
        for monitor, phrase, method, sc, extra in recs:
            try:
                out["auroc"].append(_rec(task, monitor, phrase, method, y, sc, n_boot, seed, **extra))
            except MonitorError as e:
                errors.append({"analysis": "auroc", "task": task, "phrase": phrase or monitor, "error": str(e)})
        for p in phrases:
            try:
                kdf = auroc_vs_k(run, p, task=task, n_boot=n_boot_k, n_resamples=n_resamples, seed=seed)
                out["auroc_vs_k"] += [{"task": task, "phrase": p, **r} for r in kdf.to_dict(orient="records")]
            except MonitorError as e:
                errors.append({"analysis": "auroc_vs_k", "task": task, "phrase": p, "error": str(e)})
            if p == control:
                continue
            try:
                out["controls"].append(controls(run, p, task=task, n_boot=n_boot, seed=seed))
            except MonitorError as e:
                errors.append({"analysis": "controls", "task": task, "phrase": p, "error": str(e)})
            if judged:
                try:
                    out["restricted_auroc"].append(restricted_auroc(run, p, task=task, n_boot=n_boot, seed=seed))
                except MonitorError as e:
                    errors.append({"analysis": "restricted_auroc", "task": task, "phrase": p, "error": str(e)})
        try:
            out["structure_baselines"] += structure_baselines(run, task=task, n_boot=n_boot, seed=seed)
        except MonitorError as e:
            errors.append({"analysis": "structure_baselines", "task": task, "phrase": None, "error": str(e)})
    if judged:
        for p in phrases:
            out["variance_explained"].append(variance_explained(run, p))
            out["variance_explained"].append(variance_explained(run, p, labels=["eval"]))
    if has_pairs(run):
        for p in phrases:
            try:
                out["pairs"].append(paired_analysis(run, p, n_boot=n_boot, seed=seed))
            except MonitorError as e:
                errors.append({"analysis": "pairs", "task": "pairs", "phrase": p, "error": str(e)})
    if judged:
        out["phrase_coverage"] = run_phrase_coverage(run, [p for p in all_phrases if p != control])
        out["phrase_discovery"] = run_discovery(run)
    if has_behaviour(run):
        beh: dict[str, Any] = {}
        try:
            beh["refusal_by_verbalization"] = refusal_by_verbalization(run, n_boot=n_boot, seed=seed) if judged else None
            beh["refusal_vs_score"] = refusal_vs_score(run, phrases[0], n_boot=n_boot, seed=seed)
        except MonitorError as e:
            errors.append({"analysis": "behaviour", "task": "behaviour", "phrase": phrases[0], "error": str(e)})
        out["behaviour"] = beh
    if len(all_phrases) >= 2:
        corr = phrase_correlation(run)
        out["phrase_correlation"] = {"phrases": list(corr.columns), "method": "spearman", "level": "boundary",
                                     "matrix": corr.to_numpy().tolist()}
    out["errors"] = errors
    return jsonable(out)


def _fmt_ci(r: dict[str, Any] | None) -> str:
    if not r or r.get("auroc") is None:
        return "n/a"
    if r.get("lo") is None:
        return f"{r['auroc']:.3f}"
    return f"{r['auroc']:.3f} [{r['lo']:.3f}, {r['hi']:.3f}]"


def format_summary(summary: dict[str, Any]) -> str:
    """A compact human-readable summary (what ``monitor analyze`` prints)."""
    r = summary["run"]
    lines = [
        f"run {r['path']}  ({r['status']}{', SYNTHETIC' if r.get('synthetic') else ''})  model: {r['model']}",
        f"{r['n_prompts']} prompts {r['labels']}, {r['n_rollouts']} rollouts, {r['n_score_rows']} score rows; judge: {'yes' if r['judge'] else 'no'}",
        f"primary phrase: {r['primary_phrase']!r}; control: {r['control_phrase']!r}",
    ]
    for task, t in summary["tasks"].items():
        lines.append("")
        if not t["available"]:
            lines.append(f"{task}: not available ({t['reason']})")
            continue
        lines.append(f"{task}  (n_pos={t['n_pos']}, n_neg={t['n_neg']})   AUROC [95% CI]")
        if t.get("warning"):
            lines.append(f"  WARNING: {t['warning']}")
        for a in summary["auroc"]:
            if a["task"] != task or a["method"] not in ("max", "frac_verbalizing", "k0"):
                continue
            who = a["phrase"] if a["monitor"] == "logit" else "verbalization (judge)"
            lines.append(f"  {a['monitor']:<13} {who[:40]:<40} {a['method']:<16} {_fmt_ci(a)}")
        for a in summary["auroc"]:
            if a["task"] == task and a["monitor"] == "logit" and a["phrase"] == r["primary_phrase"] and a["method"] == "max":
                lines.append("  low FPR (primary, max): " + ", ".join(
                    f"TPR@{t['fpr']:.0%} FPR {_fmt_rate(t)}" for t in a.get("tpr_at_fpr") or []))
        for c in summary["controls"]:
            if c["task"] == task and c["phrase"] == r["primary_phrase"]:
                lines.append(f"  controls ({c['length_source']}): length {_fmt_ci(c['length_auroc'])}, "
                             f"length-residualized {_fmt_ci(c['length_residualized_auroc'])}, "
                             f"minus control {_fmt_ci(c['primary_minus_control_auroc'])}")
        structure = [f"{b['feature']} {_fmt_ci(b['auroc'])}" for b in summary.get("structure_baselines", [])
                     if b["task"] == task and b["varies"]]
        if structure:
            lines.append("  structure baselines: " + ", ".join(structure))
        for x in summary.get("restricted_auroc", []):
            if x["task"] == task and x["phrase"] == r["primary_phrase"] and x.get("difference"):
                d = x["difference"]
                lines.append(f"  restricted to non-verbalizing rollouts: {_fmt_ci(x['restricted'])} vs {_fmt_ci(x['unrestricted'])}, "
                             f"difference {d['difference']:+.3f} [{_n(d['lo'])}, {_n(d['hi'])}] ({x['n_prompts_dropped']} prompt(s) dropped)")
    for v in summary["variance_explained"]:
        if v["phrase"] == r["primary_phrase"]:
            scope = "eval prompts" if v["labels"] else "all prompts"
            lines.append(f"variance of rollout score explained ({scope}): rollout verbalizes R2={_num(v['r2_rollout_verbalizes'])}, "
                         f"prompt ever verbalizes R2={_num(v['r2_prompt_ever_verbalizes'])}, prompt identity {_num(v['r2_prompt_identity'])}")
    for pr in summary.get("pairs", []):
        if pr["phrase"] == r["primary_phrase"] and pr.get("mean_difference"):
            m, w = pr["mean_difference"], pr["win_rate"]
            lines.append(f"pairs ({pr['n_pairs']}, by {'/'.join(pr['by'])}): mean difference {m['estimate']:+.3f} [{_n(m['lo'])}, {_n(m['hi'])}] nats, "
                         f"win rate {_fmt_rate({'tpr': w['estimate'], 'lo': w['lo'], 'hi': w['hi']})}, pooled AUROC {_fmt_ci(pr['auroc_pooled'])}")
    for c in summary.get("phrase_coverage") or []:
        lines.append(f"flagged sentences starting with {c['phrase']!r}: {_num(c['share_starts'])} (containing it: {_num(c['share_contains'])})")
    disc = summary.get("phrase_discovery") or []
    if disc:
        lines.append("most frequent openings of flagged sentences: " + "; ".join(
            f"{d['phrase']!r} {d['count']} (precision {d['precision']:.2f})" for d in disc[:5]))
    beh = summary.get("behaviour") or {}
    rv = beh.get("refusal_by_verbalization")
    if rv and rv["pooled"].get("difference"):
        pooled, paired = rv["pooled"], rv["paired"]
        pd_ = paired.get("difference") or {}
        lines.append(f"refusal rate: verbalizing rollouts {_num(pooled['rate_in']['estimate'])}, others {_num(pooled['rate_out']['estimate'])}; "
                     f"pooled difference {_fmt_est(pooled['difference'])}, paired within prompt {_fmt_est(pd_)} over {paired['n_prompts']} prompts")
    rs = beh.get("refusal_vs_score")
    if rs and rs.get("auroc_prompt_score"):
        lines.append(f"AUROC of the prompt's logit score for a rollout's refusal: {_fmt_ci(rs['auroc_prompt_score'])}")
    for e in summary.get("errors", []):
        lines.append(f"skipped {e['analysis']} ({e['task']}, {e['phrase']!r}): {e['error']}")
    return "\n".join(lines)


def _n(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.3f}"


def _fmt_rate(t: dict[str, Any]) -> str:
    if t.get("tpr") is None:
        return "n/a"
    return f"{t['tpr']:.3f}" + (f" [{t['lo']:.3f}, {t['hi']:.3f}]" if t.get("lo") is not None else "")


def _fmt_est(d: dict[str, Any]) -> str:
    if not d or d.get("estimate") is None:
        return "n/a"
    return f"{d['estimate']:+.3f}" + (f" [{_n(d.get('lo'))}, {_n(d.get('hi'))}]" if d.get("lo") is not None else "")


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"
