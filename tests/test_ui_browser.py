"""Headless Chromium opens a task's log page in the Airflow UI and finds the AMT job log.

Opt-in (``make ui-check``): it needs Debian's Chromium and the ``browser`` dependency group. It
saves the screenshot shown in docs/logs.md.
"""

from __future__ import annotations

import shutil

import pytest

from tests.airflow_harness import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.airflow_e2e]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOT = ROOT / "docs" / "img" / "task-log.png"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_the_ui_log_page_shows_the_amt_job_log(cluster, cluster_emulator):
    playwright = pytest.importorskip("playwright.sync_api")
    run_id = cluster.trigger("amt_cluster_restart")
    cluster.wait_for_state("amt_cluster_restart", run_id, "job", {"success"}, timeout=120)
    url = f"{cluster.url}/dags/amt_cluster_restart/runs/{run_id}/tasks/job"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1800})
        page.goto(url)
        page.get_by_text("AMT [0] Started Rev: 1.3", exact=False).first.wait_for(timeout=60_000)
        page.get_by_text("Completion Code : DONE (4)", exact=False).first.wait_for(timeout=30_000)
        # the log view is virtualised and follows the end: scroll it back to the top
        page.get_by_text("Completion Code : DONE (4)", exact=False).first.hover()
        page.mouse.wheel(0, -100_000)
        page.get_by_text("AMT job information", exact=False).first.wait_for(timeout=30_000)
        text = page.inner_text("body")
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=False)
        browser.close()
    for part in ("Batch Request Id", "AMT [1] Chatty line 1", "Batch Job         : CHATTYREPORT"):
        assert part in text, part
