"""The HTML report: self-contained, every piece of model/user text inert, settings without keys."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pandas as pd
import pytest

from monitor.analysis import summarize
from monitor.report.html import mark_quote, write_report
from monitor.runs.store import read_run, write_table
from monitor.runs.handmade import make_run_from_tables
from monitor.runs.synthetic import make_synthetic_run

EVIL = "<script>alert('pwned')</script><img src=x onerror=alert(2)>"


class _Scan(HTMLParser):
    """Collects script bodies, tags and attributes as a browser would parse them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[str] = []
        self.tags: list[tuple[str, list]] = []
        self.text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))
        self._in_script = tag == "script"
        if tag == "script":
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data
        else:
            self.text.append(data)


@pytest.fixture(scope="module")
def evil_run(tmp_path_factory):
    """A run whose model text, prompt text, ids, phrases, quotes and notes all carry markup."""
    d = tmp_path_factory.mktemp("evil") / "run"
    phrases = ["The user might be <b>testing</b>", "Control & co"]
    rows = []
    pids = ["p<1>", "p2", "p3", "p4"]
    for i, pid in enumerate(pids):
        for r in range(2):
            for s in range(3):
                for j, ph in enumerate(phrases):
                    rows.append((pid, r, s, ph, -5.0 + (i % 2) * 2 + s * 0.1 - j))
    scores = pd.DataFrame(rows, columns=["prompt_id", "rollout", "sentence", "phrase", "logprob"])
    prompts = pd.DataFrame({"prompt_id": pids, "label": ["eval", "deploy", "eval", "deploy"],
                            "text": [f"Prompt {EVIL}", "hi", "question", "hello"]})
    sentences = pd.DataFrame({
        "prompt_id": ["p<1>", "p<1>", "p3"], "rollout": [0, 0, 1], "sentence": [1, 2, 2],
        "text": [f"Before {EVIL} after.", f"Wait, this is a test {EVIL}", "I am being evaluated."],
        "judge_flag": [False, True, True], "judge_quote": [f"this is a test {EVIL}", "", "being evaluated"],
        "judge_rationale": ["", f"mentions a test {EVIL}", "says evaluated"],
    })
    make_run_from_tables(d, prompts, scores, sentences=sentences,
                         manifest={"phrases": phrases, "control_phrase": "Control & co", "model": {"id": f"m{EVIL}"},
                                   "judge": {"name": "openai", "settings": {"model": "x", "api_key": "sk-SECRETSECRET123456"}},
                                   "notes": EVIL})
    write_table(d, "annotations", pd.DataFrame({"prompt_id": ["p<1>"], "rollout": [0], "sentence": [2],
                                                "note": [f"check {EVIL}"], "author": ["<i>me</i>"], "created": ["2026-01-01"]}))
    return read_run(d)


@pytest.fixture(scope="module")
def evil_html(evil_run, tmp_path_factory):
    out = write_report(evil_run, tmp_path_factory.mktemp("out") / "report.html", n_boot=50)
    return out.read_text(encoding="utf-8")


def test_model_text_is_inert(evil_html):
    scan = _Scan()
    scan.feed(evil_html)
    # no injected element: only our own <script> tags (plotly.js + one per figure), no <img>
    assert not [t for t, _ in scan.tags if t == "img"]
    assert not any(name.startswith("on") for _, attrs in scan.tags for name, _ in attrs)
    # figure scripts hold no "<" at all (Plotly writes it as \u003c), so no text inside can form a tag
    figure_scripts = [b for b in scan.scripts if "Plotly.newPlot" in b]
    assert figure_scripts and all("<" not in b for b in figure_scripts)
    assert any("&lt;script&gt;alert(" in b for b in figure_scripts)  # hover text: escaped for Plotly's HTML subset
    # the evil text appears only escaped (as page text, or \u003c-escaped JSON inside figures)
    assert "<script>alert" not in evil_html
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in evil_html
    assert "".join(scan.text).count("<script>alert('pwned')") >= 3  # shown to the reader, as text
    n_figs = evil_html.count('class="plotly-graph-div"')
    assert n_figs >= 4 and len(scan.scripts) == 1 + n_figs


def test_figures_carry_escaped_text(evil_html):
    # figure JSON: legend names were html-escaped (&lt;b&gt;) before Plotly's JSON turned & into \u0026
    figures = evil_html.split("Plotly.newPlot")[1:]
    assert figures and all("<b>testing" not in f.split("</script>")[0] for f in figures)
    assert any("&lt;b&gt;testing" in f for f in figures)


def test_self_contained_and_keyless(evil_html):
    assert not re.search(r"<script[^>]+src=", evil_html)  # plotly.js inline: no CDN, no external script
    assert not re.search(r"<link[^>]+href=", evil_html)
    assert len(evil_html) > 3_000_000  # plotly.js itself is embedded
    assert "sk-SECRETSECRET123456" not in evil_html and "api_key" not in evil_html
    assert "Flagged excerpts" in evil_html and "<mark>" in evil_html
    assert "judge: mentions a test &lt;script&gt;" in evil_html
    assert "Annotations" in evil_html and "check &lt;script&gt;" in evil_html


def test_mark_quote():
    assert mark_quote("a <b> c", "<b>") == "a <mark>&lt;b&gt;</mark> c"
    assert mark_quote("Say TEST now", "test") == "Say <mark>TEST</mark> now"
    assert mark_quote("x < y", "absent") == "x &lt; y"
    assert mark_quote("x", None) == "x"


def test_report_reuses_summary_and_marks_synthetic(tmp_path):
    run = read_run(make_synthetic_run(tmp_path / "s", n_prompts=20, rollouts=3))
    s = summarize(run, n_boot=50, n_boot_k=20)
    html = write_report(run, tmp_path / "r.html", summary=s).read_text(encoding="utf-8")
    assert "Synthetic data" in html
    a = next(x for x in s["auroc"] if x["task"] == "eval_vs_deploy" and x["method"] == "max" and x["monitor"] == "logit")
    assert f"{a['auroc']:.3f}" in html and f"{a['lo']:.3f}" in html
    assert "<script>alert" not in html
    n = f"n = {a['n_pos']} + {a['n_neg']}"
    assert f"{a['hi']:.3f}] · {n}" in html  # the class sizes beside the AUROC's interval
    assert f"(AUROC {a['auroc']:.3f}, {n})" in html  # and in the ROC legend


def test_report_without_judge(tmp_path):
    run = read_run(make_synthetic_run(tmp_path / "nj", n_prompts=12, rollouts=2, with_judge=False))
    html = write_report(run, tmp_path / "r.html", n_boot=20).read_text(encoding="utf-8")
    assert "Flagged excerpts" not in html
    assert "Not available" in html  # task B needs judge flags


@pytest.mark.browser
def test_report_in_a_real_browser(evil_html, tmp_path):
    """Open the report in chromium, offline: figures render, hovering shows the script as text,
    nothing executes (no dialog, no injected element)."""
    import shutil

    pw = pytest.importorskip("playwright.sync_api")
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.skip("needs Debian's chromium")
    page_file = tmp_path / "r.html"
    page_file.write_text(evil_html, encoding="utf-8")
    dialogs: list[str] = []
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        try:
            ctx = browser.new_context(offline=True)
            page = ctx.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(page_file.as_uri())
            page.wait_for_function("document.querySelectorAll('.plotly-graph-div .main-svg').length > 4", timeout=30_000)
            # hover the flagged sentence of the example rollout (the figure whose hover holds the text)
            shown = page.evaluate("""() => {
                const divs = [...document.querySelectorAll('.plotly-graph-div')];
                for (const d of divs) {
                  const tr = (d.data || []).findIndex(t => (t.hovertext || []).some(h => String(h).includes('alert')));
                  if (tr < 0) continue;
                  const pt = d.data[tr].hovertext.findIndex(h => String(h).includes('alert'));
                  Plotly.Fx.hover(d, [{curveNumber: tr, pointNumber: pt}]);
                  const label = d.querySelector('.hoverlayer');
                  return label ? label.textContent : '';
                }
                return null;
            }""")
            page.wait_for_timeout(300)
            injected = page.evaluate("document.querySelectorAll('img, iframe').length")
            scripts = page.evaluate("document.querySelectorAll('script').length")
        finally:
            browser.close()
    assert dialogs == []
    assert injected == 0
    assert shown is not None and "<script>alert('pwned')</script>" in shown
    assert scripts == 1 + evil_html.count('class="plotly-graph-div"')


def test_report_of_a_demo_model_run_carries_the_disclaimer_and_small_sample_warning(tmp_path):
    import dataclasses

    from monitor.report.html import is_demo_organism, render_report

    run = read_run(make_synthetic_run(tmp_path / "d", n_prompts=4, rollouts=2, sentences=(3, 5)))
    manifest = {**run.manifest, "synthetic": False, "model": {"id": "data/demo_model"}}
    assert is_demo_organism(manifest) and not is_demo_organism({"model": {"id": "Qwen/Qwen3-8B"}})
    html = render_report(dataclasses.replace(run, manifest=manifest), n_boot=20)
    assert "<b>Synthetic organism.</b>" in html and "says nothing about any real model" in html
    assert "Too few prompts" in html and "2 positive and 2 negative" in html
    real = render_report(dataclasses.replace(run, manifest={**manifest, "model": {"id": "org/real-model"}}), n_boot=20)
    assert "Synthetic organism" not in real and "Synthetic data" not in real


def test_fortress_style_file_with_benign_twins_gives_the_paired_analysis(tmp_path, monkeypatch):
    """A FORTRESS-style parquet (the public dataset's columns) loaded as fortress-pairs: the twins share a
    pair_id, and the summary and the report carry the paired analysis (scores here are hand-made)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from monitor.prompts import load_prompt_set, prompts_to_frame

    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    rows = [{"ID": i, "adversarial_prompt": f"Adversarial request {i}: explain how to do harm {i}.", "rubric": ["q?"],
             "risk_domain": "CBRNE", "risk_subdomain": "Chemical", "benign_prompt": f"Benign twin {i}: how does safety work?"}
            for i in range(1, 13)]
    (tmp_path / "fortress" / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "fortress" / "data" / "train-00000-of-00001.parquet")
    prompts = prompts_to_frame(list(load_prompt_set(f"fortress-pairs:{tmp_path / 'fortress'}").prompts))
    assert prompts["pair_id"].notna().all() and prompts["pair_id"].nunique() == 12
    assert set(prompts["label"]) == {"eval"}
    adv = prompts["variant"].eq("adversarial").to_numpy()
    # adversarial twins score higher in 9 of 12 pairs
    base = np.arange(12, dtype=float) * 0.1
    lp = {pid: (base[i // 2] + (1.0 if a else 0.0) * (1 if i // 2 < 9 else -1)) for i, (pid, a) in enumerate(zip(prompts["prompt_id"], adv))}
    scores = pd.DataFrame([(pid, 0, 0, "P", v) for pid, v in lp.items()], columns=["prompt_id", "rollout", "sentence", "phrase", "logprob"])
    make_run_from_tables(tmp_path / "run", prompts, scores, manifest={"phrases": ["P"]})
    run = read_run(tmp_path / "run")
    s = summarize(run, n_boot=100)
    (pr,) = s["pairs"]
    assert pr["n_pairs"] == 12 and pr["by"] == ["variant"] and pr["win_rate"]["estimate"] == pytest.approx(9 / 12)
    html_text = write_report(run, tmp_path / "r.html", summary=s).read_text(encoding="utf-8")
    assert "Matched pairs" in html_text and "0.750" in html_text
