"""Headless Chromium opens a task's log page in the Airflow UI and finds the AMT job log.

Opt-in (``make ui-check``): it needs Debian's Chromium and the ``browser`` dependency group. It
saves the screenshot shown in docs/logs.md.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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


@contextlib.contextmanager
def _browser_page(width: int, height: int) -> Iterator[Any]:
    """A page of headless Chromium (Debian's), closed afterwards."""
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def _ended_task_log_url(cluster: Any, state: str, conf: dict[str, Any] | None = None) -> str:
    """Run ``amt_cluster_restart`` until its task is ``state``; the URL of the task's log page."""
    run_id = cluster.trigger("amt_cluster_restart", conf)
    cluster.wait_for_state("amt_cluster_restart", run_id, "job", {state}, timeout=120)
    return f"{cluster.url}/dags/amt_cluster_restart/runs/{run_id}/tasks/job"


def test_the_ui_log_page_shows_the_amt_job_log(cluster, cluster_emulator):
    url = _ended_task_log_url(cluster, "success")
    with _browser_page(1600, 1800) as page:
        page.goto(url)
        page.get_by_text("[0] Started Rev: 1.3", exact=False).first.wait_for(timeout=60_000)
        page.get_by_text("Completion Code : DONE (4)", exact=False).first.wait_for(timeout=30_000)
        # the log view is virtualised and follows the end: scroll it back to the top
        page.get_by_text("Completion Code : DONE (4)", exact=False).first.hover()
        page.mouse.wheel(0, -100_000)
        page.get_by_text("AMT job information", exact=False).first.wait_for(timeout=30_000)
        text = page.inner_text("body")
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=False)
    for part in ("Batch Request Id", "[1] Chatty line 1", "Batch Job         : CHATTYREPORT"):
        assert part in text, part
    # a message line reads like JORS: AMT's time and index once, no key=value fields after it
    line = next(row for row in text.splitlines() if "[1] Chatty line 1" in row)
    assert re.search(r"AMT \d\d:\d\d:\d\d\.\d{3} \[1\] Chatty line 1$", line.strip()), line
    assert "amt_index" not in text and "amt_timestamp" not in text and "amt_completion_code" not in text


FORM_SHOTS = {
    "form": ROOT / "docs" / "img" / "connection-form.png",
    "extras": ROOT / "docs" / "img" / "connection-form-extras.png",
    "contract": ROOT / "docs" / "img" / "connection-form-contract.png",
    "ok": ROOT / "docs" / "img" / "connection-test-ok.png",
    "failed": ROOT / "docs" / "img" / "connection-test-failed.png",
}


def _add_amt_connection(page, url: str, conn_id: str, emulator, password: str, shots: bool = False) -> str:
    """Admin → Connections → Add Connection, "Asysco AMT", filled for the emulator, saved.
    Returns the text of the form as a user saw it (standard and extra fields)."""
    page.goto(f"{url}/connections")
    page.get_by_role("button", name="Add Connection").first.click()
    page.locator("input[name=connection_id]").fill(conn_id)
    page.get_by_role("combobox").click()
    page.keyboard.type("Asysco")
    page.get_by_role("option", name="Asysco AMT").click()
    page.locator("input[name=host]").fill(emulator.url)
    # Airflow 3.3.2's Test button needs a stored port (apache/airflow#73298): the form shows the field
    page.locator("input[name=port]").fill(str(urlsplit(emulator.url).port))
    page.locator("input[name=login]").fill(emulator.user)
    page.locator("input[name=password]").fill(password)
    seen = page.inner_text("[role=dialog]")
    if shots:
        page.screenshot(path=str(FORM_SHOTS["form"]))
    page.get_by_role("button", name="Extra Fields", exact=True).click()
    page.locator("input[name=element_default_application]").fill("DEMO2")
    seen += page.inner_text("[role=dialog]")
    if shots:
        page.screenshot(path=str(FORM_SHOTS["extras"]))
        # the contract document field and its help text, further down the extra fields
        page.get_by_text("Contract document (advanced)").scroll_into_view_if_needed()
        page.screenshot(path=str(FORM_SHOTS["contract"]))
    page.get_by_role("button", name="Save").click()
    page.get_by_role("row").filter(has_text=conn_id).first.wait_for(timeout=30_000)
    return seen


def _test_from_list(page, conn_id: str, outcome: str, shot: Path) -> str:
    """Press the connection row's Test button; the text of the toast that says ``outcome``."""
    page.get_by_role("row").filter(has_text=conn_id).get_by_role("button", name="Test Connection").click()
    toast = page.get_by_text(outcome).first
    toast.wait_for(timeout=60_000)
    page.wait_for_timeout(300)
    page.screenshot(path=str(shot))
    return page.inner_text("body")


def test_the_connection_form_shows_the_amt_fields_and_its_test_button_works(cluster, cluster_emulator):
    wrong = "Wr0ng-Secret-4711"
    with _browser_page(1400, 1000) as page:
        form = _add_amt_connection(page, cluster.url, "amt_ui_form", cluster_emulator, cluster_emulator.password, True)
        ok = _test_from_list(page, "amt_ui_form", "Test Connection Successful", FORM_SHOTS["ok"])
        _add_amt_connection(page, cluster.url, "amt_ui_wrong", cluster_emulator, wrong)
        failed = _test_from_list(page, "amt_ui_wrong", "Test Connection Failed", FORM_SHOTS["failed"])
    labels = ("Batch Server URL", "Port (as in the URL)", "API user", "Password", "Verify TLS certificate")
    for label in (*labels, "Default application", "Contract document (advanced)"):
        assert label in form, label  # the relabelled standard fields and the provider's extra fields
    assert f"logon as {cluster_emulator.user} succeeded" in ok, ok[-1500:]
    failure = failed.split("Test Connection Failed")[-1]
    assert "401" in failure or "rejected" in failure.lower(), failure[:1500]
    assert wrong not in failed  # the password this connection holds is nowhere on the page


def test_amt_severities_are_log_levels_the_ui_colours_and_filters(cluster, cluster_emulator):
    """A failing job's WARNING and ERROR messages are warning and error records: coloured, and the
    UI's level filter keeps only them."""
    url = _ended_task_log_url(cluster, "failed", {"job": "FAILINGREPORT"})
    with _browser_page(1600, 1100) as page:
        page.goto(url)
        page.get_by_text("Error: division by zero", exact=False).first.wait_for(timeout=60_000)
        page.get_by_text("AMT job information", exact=False).first.hover()
        page.mouse.wheel(0, -100_000)
        page.screenshot(path=str(ROOT / "docs" / "img" / "task-log-levels.png"))
        everything = page.inner_text("body")
        page.get_by_text("All Log Levels").first.click()
        page.get_by_role("option", name="Error").first.click()
        page.keyboard.press("Escape")
        page.wait_for_timeout(1000)
        page.screenshot(path=str(ROOT / "docs" / "img" / "task-log-errors.png"))
        errors_only = page.inner_text("body")
    warning = next(row for row in everything.splitlines() if "Input file" in row and "is empty" in row)
    error = next(row for row in everything.splitlines() if "Error: division by zero" in row)
    assert "WARNING" in warning and "ERROR" in error, (warning, error)
    message_line = r"AMT \d\d:\d\d:\d\d\.\d{{3}} \[{}\] "
    assert re.search(message_line.format(2), errors_only), errors_only[-2000:]  # the ERROR message line
    # the INFO and WARNING message lines are filtered out (the failure's own text still quotes them)
    assert not re.search(message_line.format(0), errors_only) and not re.search(message_line.format(1), errors_only)


def test_the_task_page_links_to_the_amt_job(cluster, cluster_emulator):
    """The operator's extra link "AMT job" opens the connection's job_url_template for the task's job.

    Airflow 3.3 shows a task's extra links as buttons on its Details tab (not on the Logs tab).
    """
    run_id = cluster.trigger("amt_cluster_linked")
    cluster.wait_for_state("amt_cluster_linked", run_id, "job", {"success"}, timeout=120)
    request_id = cluster.xcom("amt_cluster_linked", run_id, "job", "batch_request_id")
    expected = f"https://amt-portal.example/requests/{request_id}"
    links = cluster.api("GET", f"/dags/amt_cluster_linked/dagRuns/{run_id}/taskInstances/job/links")
    assert links["extra_links"] == {"AMT job": expected}, links
    with _browser_page(1400, 900) as page:
        page.goto(f"{cluster.url}/dags/amt_cluster_linked/runs/{run_id}/tasks/job/details")
        link = page.get_by_role("link", name="AMT job").first
        link.wait_for(timeout=60_000)
        href = link.get_attribute("href")
        page.screenshot(path=str(ROOT / "docs" / "img" / "task-amt-job-link.png"))
    assert href == expected
