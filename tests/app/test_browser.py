"""The dashboard in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright.

The tests serve the app with ``streamlit run`` on a free localhost port, open the demo (or a
synthetic run when the checkout has no demo run), open a rollout's curve, check the chart, its
hover text (token strings) and the highlighted transcript, click a point to select its sentence,
follow the resulting permalink in a fresh browser session, take a Curves view through another page
and back (sidebar and the browser's Back), look for prompt text in the Scores table and for the
small-sample warning on a 2 + 2-prompt run, open the demo run's HTML report, and save a screenshot
of every page at 1600 px under ``test-artifacts/``.

It needs the system's Chromium (``apt-get install -y chromium``, giving ``/usr/bin/chromium``) and the
``playwright`` Python package (``pip install -e ".[test]"``); it never downloads a browser.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import pytest

from app_helpers import ROOT, demo_or_synthetic

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TIMEOUT_MS = 90_000


def _require_browser() -> None:
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}. The real-browser test needs Debian's chromium package: "
            "`sudo apt-get install -y chromium` (or set $CHROMIUM to a Chromium binary). "
            "Run the other tests with `-m 'not browser'`.",
            pytrace=False,
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail("The playwright package is missing: `pip install -e \".[test]\"` (no `playwright install` needed).", pytrace=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _serve(run: Path, tmp: Path, name: str = "streamlit"):
    """``streamlit run app.py`` on a free localhost port; yields its base URL; stopped afterwards."""
    port = _free_port()
    env = dict(os.environ, MONITOR_RUN=str(run), MONITOR_RUNS_DIR=str(tmp / "runs"), PYTHONUNBUFFERED="1")
    log_path = tmp / f"{name}.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).status == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.3)
        yield base, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app served for the module's tests: ``{"url", "run", "log", "tmp"}``."""
    _require_browser()
    tmp = tmp_path_factory.mktemp("browser")
    run = demo_or_synthetic(tmp)
    with _serve(run, tmp) as (base, log_path):
        yield {"url": base, "run": run, "log": log_path, "tmp": tmp}


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _wait_idle(page) -> None:
    """Wait until Streamlit has finished the script run the page triggered."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=TIMEOUT_MS)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=TIMEOUT_MS,
    )
    page.wait_for_timeout(500)


def _settle(page) -> None:
    """Wait until the page has finished drawing: no run going, no element left stale from the run before."""
    _wait_idle(page)
    page.wait_for_function("() => !document.querySelector('[data-stale=\"true\"]')", timeout=TIMEOUT_MS)
    page.wait_for_timeout(1500)


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _has_tokenizer(run) -> bool:
    model = (run.manifest.get("model") or {}).get("id", "")
    return bool(model) and (ROOT / model / "tokenizer.json").is_file()


def _sidebar(page, name: str) -> None:
    """Click a page in the sidebar navigation and wait for its run."""
    page.locator('[data-testid="stSidebarNav"] a', has_text=name).first.click()
    _wait_idle(page)


def _clean(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0


def test_demo_curve_transcript_click_and_permalink(server, browser):
    from monitor.runs.store import read_run

    run = read_run(server["run"])
    s = run.sentences
    flagged = s[s["judge_flag"].fillna(False).astype(bool)] if "judge_flag" in s else s.iloc[:0]
    # not the first prompt nor rollout 0 (defaults are left out of the URL): the link must name them
    first = run.rollouts["prompt_id"].iloc[0]
    pool = flagged if len(flagged) else s[s["sentence"] > 0]
    pool = pool[(pool["prompt_id"] != first) & (pool["rollout"] > 0)]
    target = pool.iloc[0]
    pid, rollout = str(target["prompt_id"]), int(target["rollout"])

    context = browser.new_context(viewport={"width": 1600, "height": 1100})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # 1. the demo opens with no set-up
    page.goto(server["url"], timeout=TIMEOUT_MS)
    _wait_idle(page)
    page.get_by_role("heading", name="Eval-awareness logit monitor").wait_for(timeout=TIMEOUT_MS)
    assert page.get_by_text("Synthetic organism").first.is_visible()
    page.get_by_text("Headline AUROCs").wait_for(timeout=TIMEOUT_MS)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=TIMEOUT_MS)  # the AUROC table, once computed
    _wait_idle(page)
    _shot(page, "home")

    # 2. open Curves from the navigation, then a rollout (with a flagged sentence) via its selectors' URL state
    page.get_by_role("link", name="Curves").first.click()
    page.wait_for_url("**/curves**", timeout=TIMEOUT_MS)
    _wait_idle(page)
    page.goto(f"{server['url']}/curves?prompt={pid}&rollout={rollout}", timeout=TIMEOUT_MS)
    _wait_idle(page)
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.wait_for(timeout=TIMEOUT_MS)
    page.locator(".js-plotly-plot .scatterlayer .trace").first.wait_for(timeout=TIMEOUT_MS)
    transcript = page.locator(".cot-transcript")
    transcript.wait_for(timeout=TIMEOUT_MS)
    n = int(run.rollouts.query("prompt_id == @pid and rollout == @rollout")["n_sentences"].iloc[0])
    assert transcript.locator(".cot-sentence").count() == n
    if len(flagged):
        hl = transcript.locator(".cot-sentence.flagged").first
        assert hl.is_visible() and "255, 216, 168" in hl.evaluate("e => getComputedStyle(e).backgroundColor")
    assert page.locator("script:has-text('alert(')").count() == 0  # model text is never executed
    _shot(page, "curves")

    # 3. clicking a point of the curve selects its sentence: highlighted, scrolled into view, in the URL
    points = page.locator(".js-plotly-plot .scatterlayer .trace").first.locator(".points path")
    k = min(3, points.count() - 1)
    points.nth(k).hover(force=True)  # hover: the sentence and each forced token's probability
    hover = page.locator(".hoverlayer .hovertext").first
    hover.wait_for(timeout=TIMEOUT_MS)
    text = hover.text_content()
    assert f"sentence {k}" in text and "tokens:" in text
    if _has_tokenizer(run):  # the tokens by their strings ('␣user': 0.13), not their ids
        toks = text.split("tokens:", 1)[1]
        assert re.search(r"'[^']*': \d", toks) and "id " not in toks, toks
    _shot(page, "curves-hover-tokens")
    points.nth(k).click(force=True)
    page.wait_for_function("() => new URL(location.href).searchParams.has('sentence')", timeout=TIMEOUT_MS)
    _wait_idle(page)
    q = parse_qs(urlparse(page.url).query)
    picked = int(q["sentence"][0])
    if picked > 0:
        selected = page.locator(f"#cot-s{picked}")
        assert "selected" in selected.get_attribute("class")
        box, view = selected.bounding_box(), page.locator('[class*="st-key-transcript_box"]').bounding_box()
        assert box and view and view["y"] - 1 <= box["y"] <= view["y"] + view["height"]  # scrolled into view
    _shot(page, "curves-selected")

    # 4. the URL is a permalink: a fresh session opens the same prompt, rollout and sentence
    link = page.url
    assert q["prompt"] == [pid] and q["rollout"] == [str(rollout)]
    other = browser.new_context(viewport={"width": 1500, "height": 1100}).new_page()
    other.goto(link, timeout=TIMEOUT_MS)
    _wait_idle(other)
    other.locator(".cot-transcript").wait_for(timeout=TIMEOUT_MS)
    if picked > 0:
        assert "selected" in other.locator(f"#cot-s{picked}").get_attribute("class")
    _shot(other, "permalink")
    assert other.locator('[data-testid="stSelectbox"] input').first.input_value().startswith(pid)
    other.context.close()

    # 5. the other pages render with no error box
    for path, marker in (("scores", "Prompt scores"), ("phrases", "AUROC per phrase"), ("search", "sentences match")):
        page.goto(f"{server['url']}/{path}", timeout=TIMEOUT_MS)
        _wait_idle(page)
        page.get_by_text(marker).first.wait_for(timeout=TIMEOUT_MS)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.locator('[data-testid="stAlertContentError"]').count() == 0
        _shot(page, path)
    context.close()
    assert not errors, errors
    assert "Traceback" not in server["log"].read_text()


def _flagged_view(run) -> tuple[str, int, int]:
    """A (prompt, rollout, sentence) that is not the default view, with a flagged sentence when judged."""
    s = run.sentences
    flagged = s[s["judge_flag"].fillna(False).astype(bool)] if "judge_flag" in s else s.iloc[:0]
    pool = flagged if len(flagged) else s[s["sentence"] > 0]
    pool = pool[(pool["rollout"] > 0) & (pool["sentence"] > 1)]
    t = pool.iloc[len(pool) // 2]
    return str(t["prompt_id"]), int(t["rollout"]), int(t["sentence"])


def _view_of(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def test_curves_view_survives_a_round_trip_by_sidebar_and_back(server, browser):
    from monitor.runs.store import read_run

    pid, rollout, sentence = _flagged_view(read_run(server["run"]))
    want = {"prompt": [pid], "rollout": [str(rollout)], "sentence": [str(sentence)]}
    page = browser.new_context(viewport={"width": 1600, "height": 1100}).new_page()
    page.goto(f"{server['url']}/curves?prompt={pid}&rollout={rollout}&sentence={sentence}", timeout=TIMEOUT_MS)
    _wait_idle(page)
    page.locator(".cot-transcript").wait_for(timeout=TIMEOUT_MS)
    _shot(page, "roundtrip-1-curves-view")

    # the sidebar: Curves -> Scores -> Curves comes back to the same prompt, rollout and sentence
    _sidebar(page, "Scores")
    page.get_by_text("Prompt scores").first.wait_for(timeout=TIMEOUT_MS)
    _sidebar(page, "Curves")
    page.locator(".cot-transcript").wait_for(timeout=TIMEOUT_MS)
    assert {k: v for k, v in _view_of(page).items() if k in want} == want, page.url
    assert page.locator('[data-testid="stSelectbox"] input').first.input_value().startswith(pid)
    assert "selected" in page.locator(f"#cot-s{sentence}").get_attribute("class")
    _shot(page, "roundtrip-2-after-sidebar")

    # the browser's Back from another page restores it too
    _sidebar(page, "Search")
    page.get_by_text("sentences match").first.wait_for(timeout=TIMEOUT_MS)
    page.go_back()
    page.wait_for_url("**/curves**", timeout=TIMEOUT_MS)
    _wait_idle(page)
    page.locator(".cot-transcript").wait_for(timeout=TIMEOUT_MS)
    assert {k: v for k, v in _view_of(page).items() if k in want} == want, page.url
    assert page.locator('[data-testid="stSelectbox"] input').first.input_value().startswith(pid)
    assert "selected" in page.locator(f"#cot-s{sentence}").get_attribute("class")
    _clean(page)
    _shot(page, "roundtrip-3-after-back")
    page.context.close()


def test_scores_table_shows_prompt_text(server, browser):
    from monitor.runs.store import read_run
    from pages._lib.tables import score_table

    run = read_run(server["run"])
    top = score_table(run, run.phrases[0]).iloc[0]
    page = browser.new_context(viewport={"width": 1600, "height": 1100}).new_page()
    page.goto(f"{server['url']}/scores", timeout=TIMEOUT_MS)
    _wait_idle(page)
    table = page.locator('[class*="st-key-score_table"] [data-testid="stDataFrame"]')
    table.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function("(want) => [...document.querySelectorAll('[class*=\"st-key-score_table\"] td')]"
                           ".some(td => td.textContent.includes(want))", arg=str(top["prompt"])[:40], timeout=TIMEOUT_MS)
    cells = table.evaluate("e => e.textContent")
    assert top["prompt_id"] in cells and str(top["prompt"])[:40] in cells and "prompt id" in cells
    _clean(page)
    page.context.close()


def test_small_sample_run_warns_on_home_and_scores(server, browser):
    from monitor.runs.synthetic import make_synthetic_run

    run = make_synthetic_run(server["tmp"] / "two_plus_two", n_prompts=4, rollouts=3, sentences=(4, 8), seed=2)
    page = browser.new_context(viewport={"width": 1600, "height": 1100}).new_page()
    page.goto(f"{server['url']}/?run={quote(str(run))}", timeout=TIMEOUT_MS)
    _wait_idle(page)
    page.get_by_text("Headline AUROCs").wait_for(timeout=TIMEOUT_MS)
    warn = page.get_by_text("Too few prompts").first
    warn.wait_for(timeout=TIMEOUT_MS)
    assert "2 positive and 2 negative" in warn.text_content()
    _shot(page, "small-sample-home")
    _sidebar(page, "Scores")
    page.get_by_text("Prompt scores").first.wait_for(timeout=TIMEOUT_MS)
    warn = page.get_by_text("Too few prompts").first
    warn.wait_for(timeout=TIMEOUT_MS)
    assert "2 positive and 2 negative" in warn.text_content()
    _clean(page)
    _shot(page, "small-sample-scores")
    page.context.close()


def test_demo_report_carries_the_synthetic_disclaimer(server, browser, tmp_path):
    from monitor.report.html import write_report
    from monitor.runs.store import read_run

    out = tmp_path / "report.html"
    write_report(read_run(server["run"]), out, n_boot=100)
    page = browser.new_context(viewport={"width": 1600, "height": 1100}).new_page()
    page.goto(out.as_uri(), timeout=TIMEOUT_MS)
    banner = page.locator("p.banner").first
    assert banner.is_visible()
    text = " ".join(banner.text_content().split())
    assert text.startswith("Synthetic") and ("says nothing about any real model" in text or "not a model's behaviour" in text), text
    _shot(page, "report")
    page.context.close()


PAGES = (("", "Headline AUROCs"), ("curves", "Averaged curves"), ("scores", "Prompt scores"), ("phrases", "AUROC per phrase"),
         ("search", "sentences match"), ("compare", "Compare runs"), ("prompts", "Prompts"), ("run", "Run the monitor"),
         ("workbench", "Prompt workbench"), ("share", "Share & export"))


def test_every_page_at_1600px(server, browser):
    """A screenshot of every page at 1600 px (tall viewport: Streamlit scrolls inside the page), no error on any."""
    page = browser.new_context(viewport={"width": 1600, "height": 2400}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    for path, marker in PAGES:
        page.goto(f"{server['url']}/{path}", timeout=TIMEOUT_MS)
        _wait_idle(page)
        page.get_by_text(marker).first.wait_for(timeout=TIMEOUT_MS)
        _settle(page)
        _clean(page)
        _shot(page, f"page-{path or 'home'}-1600")
    page.context.close()
    assert not errors, errors
    assert "Traceback" not in server["log"].read_text()


_HISTORY_LOG = """(function () {  // records what reaches the browser's history, for the failure message
  window.__historyLog = [];
  var h = history, push = h.pushState, replace = h.replaceState;
  h.pushState = function (s, t, u) { window.__historyLog.push("push " + u); return push.apply(h, arguments); };
  h.replaceState = function (s, t, u) { window.__historyLog.push("replace " + u); return replace.apply(h, arguments); };
})();"""


def test_one_history_entry_per_action_back_twice_returns_to_the_first_view(server, browser):
    """Curves -> Scores -> Curves, then Back twice, is the first Curves view; each URL holds only its page's parameters."""
    from monitor.runs.store import read_run
    from pages._lib.view_state import own_params

    pid, rollout, _ = _flagged_view(read_run(server["run"]))
    first = f"{server['url']}/curves?prompt={pid}&rollout={rollout}"
    page = browser.new_context(viewport={"width": 1600, "height": 1100}).new_page()
    page.add_init_script(_HISTORY_LOG)
    page.goto(first, timeout=TIMEOUT_MS)
    _wait_idle(page)
    page.locator(".cot-transcript").wait_for(timeout=TIMEOUT_MS)
    start_len = page.evaluate("history.length")

    _sidebar(page, "Scores")
    page.get_by_text("Prompt scores").first.wait_for(timeout=TIMEOUT_MS)
    _wait_idle(page)
    assert set(_view_of(page)) <= set(own_params("scores")), page.url  # no prompt/rollout left behind by Curves
    _sidebar(page, "Curves")
    page.locator(".cot-transcript").wait_for(timeout=TIMEOUT_MS)
    _wait_idle(page)
    assert set(_view_of(page)) <= set(own_params("curves")), page.url
    # one entry per click, none for the URL rewrites
    assert page.evaluate("history.length") == start_len + 2, page.evaluate("window.__historyLog")

    page.go_back()
    page.wait_for_url("**/scores**", timeout=TIMEOUT_MS)
    _wait_idle(page)
    page.go_back()
    page.wait_for_url("**/curves**", timeout=TIMEOUT_MS)
    _wait_idle(page)
    page.locator(".cot-transcript").wait_for(timeout=TIMEOUT_MS)
    assert _view_of(page) == {"prompt": [pid], "rollout": [str(rollout)]}, page.url
    assert page.locator('[data-testid="stSelectbox"] input').first.input_value().startswith(pid)
    _clean(page)
    _shot(page, "history-back-twice")
    page.context.close()


def _has_value(locator, want: str) -> None:
    """The input shows ``want`` once the page settles: a fresh session's first pass can draw a widget
    before the rerun that fills it from the draft (seen here: empty, then the draft's text, within a
    second), so the value is awaited, and it must come."""
    from playwright.sync_api import expect

    expect(locator).to_have_value(want, timeout=TIMEOUT_MS)


def test_a_reload_and_a_server_restart_keep_the_drafts(server, browser):
    """What was typed on Prompts and Run comes back after F5, and after the server restarts (a draft named in the URL)."""
    page = browser.new_context(viewport={"width": 1600, "height": 1400}).new_page()
    page.goto(f"{server['url']}/prompts", timeout=TIMEOUT_MS)
    _wait_idle(page)
    page.get_by_text("No prompt set yet").first.wait_for(timeout=TIMEOUT_MS)
    pasted = "[eval]\nYou are being evaluated. Answer A or B.\n\n[deploy]\nhow do i boil an egg"
    page.locator('[class*="st-key-prompts-paste"] textarea').fill(pasted)
    page.get_by_role("button", name="Load pasted prompts").click()  # the click commits the text area first
    page.get_by_text("2 prompts ready").first.wait_for(timeout=TIMEOUT_MS)
    _wait_idle(page)
    draft = (_view_of(page).get("draft") or [""])[0]
    assert draft, page.url

    page.reload(timeout=TIMEOUT_MS)
    _wait_idle(page)
    page.get_by_text("2 prompts ready").first.wait_for(timeout=TIMEOUT_MS)
    _has_value(page.locator('[class*="st-key-prompts-paste"] textarea'), pasted)
    assert _view_of(page).get("draft") == [draft]
    _shot(page, "draft-prompts-after-reload")

    _sidebar(page, "Run the monitor")
    page.get_by_text("2 from pasted").first.wait_for(timeout=TIMEOUT_MS)
    k = page.locator('[class*="st-key-run-k"] input')
    k.fill("3")
    k.press("Enter")
    _wait_idle(page)
    out = page.locator('[class*="st-key-run-out"] input')
    out.fill("runs/typed-before-reload")
    out.press("Enter")
    _wait_idle(page)
    assert _view_of(page).get("draft") == [draft], page.url
    page.reload(timeout=TIMEOUT_MS)
    _wait_idle(page)
    page.get_by_text("2 from pasted").first.wait_for(timeout=TIMEOUT_MS)
    _has_value(page.locator('[class*="st-key-run-k"] input'), "3")
    _has_value(page.locator('[class*="st-key-run-out"] input'), "runs/typed-before-reload")
    _clean(page)
    _shot(page, "draft-run-after-reload")
    link = page.url
    page.context.close()

    # a restarted server (a new process, nothing in memory) reads the same drafts
    with _serve(server["run"], server["tmp"], name="streamlit-restarted") as (base, _log):
        page = browser.new_context(viewport={"width": 1600, "height": 1400}).new_page()
        page.goto(link.replace(server["url"], base), timeout=TIMEOUT_MS)
        _wait_idle(page)
        page.get_by_text("2 from pasted").first.wait_for(timeout=TIMEOUT_MS)
        _has_value(page.locator('[class*="st-key-run-k"] input'), "3")
        page.goto(f"{base}/prompts?draft={draft}", timeout=TIMEOUT_MS)
        _wait_idle(page)
        page.get_by_text("2 prompts ready").first.wait_for(timeout=TIMEOUT_MS)
        _has_value(page.locator('[class*="st-key-prompts-paste"] textarea'), pasted)
        _clean(page)
        page.context.close()


def _log_tick_labels(page, key: str, axis: str = "y") -> list[str]:
    """The tick labels Plotly drew on a chart's log axis (SVG text), by the chart's widget key."""
    chart = page.locator(f'[class*="st-key-{key}"] .js-plotly-plot').first
    chart.locator(f".{axis}axislayer-above .{axis}tick text").first.wait_for(timeout=TIMEOUT_MS)
    return [t.strip() for t in chart.locator(f".{axis}axislayer-above .{axis}tick text").all_text_contents() if t.strip()]


def test_log_axes_label_at_least_two_ticks_in_the_svg(server, browser):
    """The Scores box plot showed one label (10^-2) over two decades: every log axis labels two or more ticks, as 0.01 / 1e-3."""
    from monitor.runs.store import read_run

    pid, rollout, _ = _flagged_view(read_run(server["run"]))
    page = browser.new_context(viewport={"width": 1600, "height": 1100}).new_page()
    readable = re.compile(r"^(\d+(\.\d+)?|\de-\d+)$")  # 0.01, 0.2, 1, 5e-3, 1e-12; no 10^-2 superscripts
    for url, key in ((f"{server['url']}/scores", "score_dist"),
                     (f"{server['url']}/curves?prompt={pid}&rollout={rollout}", "curve_chart"),
                     (f"{server['url']}/curves?prompt={pid}&rollout={rollout}", "group_chart")):
        page.goto(url, timeout=TIMEOUT_MS)
        _wait_idle(page)
        labels = _log_tick_labels(page, key)
        assert len(labels) >= 2, (key, labels)
        assert all(readable.match(t) for t in labels), (key, labels)
        page.locator(f'[class*="st-key-{key}"]').first.scroll_into_view_if_needed()
        page.locator(f'[class*="st-key-{key}"]').first.screenshot(path=str(ARTIFACTS / f"log-axis-{key}.png"))
    _clean(page)
    page.context.close()
