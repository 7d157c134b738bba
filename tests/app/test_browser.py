"""The dashboard in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright.

The test serves the app with ``streamlit run`` on a free localhost port, opens the demo (or a
synthetic run when the checkout has no demo run), opens a rollout's curve, checks the chart and the
highlighted transcript, clicks a point to select its sentence, follows the resulting permalink in a
fresh browser session, and saves screenshots under ``test-artifacts/``.

It needs the system's Chromium (``apt-get install -y chromium``, giving ``/usr/bin/chromium``) and the
``playwright`` Python package (``pip install -e ".[test]"``); it never downloads a browser.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlparse

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


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``streamlit run app.py`` on a free localhost port; yields its base URL; stopped afterwards."""
    _require_browser()
    tmp = tmp_path_factory.mktemp("browser")
    run = demo_or_synthetic(tmp)
    port = _free_port()
    env = dict(os.environ, MONITOR_RUN=str(run), MONITOR_RUNS_DIR=str(tmp / "runs"), PYTHONUNBUFFERED="1")
    log = open(tmp / "streamlit.log", "w")
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
                raise RuntimeError(f"streamlit did not start: {(tmp / 'streamlit.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield {"url": base, "run": run, "log": tmp / "streamlit.log"}
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


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


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


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

    context = browser.new_context(viewport={"width": 1500, "height": 1100})
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
    assert f"sentence {k}" in hover.text_content() and "tokens:" in hover.text_content()
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
