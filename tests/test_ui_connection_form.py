"""Headless Chromium adds an "Asysco AMT" connection in the UI of the Airflow this runs on.

The connection form comes from the provider info on Airflow 3.2+ and from the hook's methods on 3.0
and 3.1, and each version draws it with its own UI: only a browser shows what a user gets. This
needs nothing but an api-server (no scheduler), so ``make test-matrix`` runs it in every cell
where Debian's Chromium is installed (CI: the lowest and the highest cell); ``make ui-check`` runs
it on the development environment. Screenshots: ``docs/img/connection-form-airflow-<minor>-*.png``.
"""

from __future__ import annotations

import airflow
import pytest

from airflow_provider_amt.hooks import connection_form
from tests.airflow_harness import ROOT, AirflowCluster, AirflowHome
from tests.test_ui_browser import _browser_page

pytestmark = [pytest.mark.browser, pytest.mark.airflow_e2e]

MINOR = ".".join(airflow.__version__.split(".")[:2])
SHOTS = {part: ROOT / "docs" / "img" / f"connection-form-airflow-{MINOR}-{part}.png" for part in ("standard", "extras")}


class ApiServerOnly(AirflowCluster):
    COMPONENTS = ("api-server",)


@pytest.fixture(scope="module")
def api_server(tmp_path_factory):
    home = AirflowHome(tmp_path_factory.mktemp("af-form"), ROOT / "tests" / "dags", '{"conn_type": "amt"}')
    # Airflow 3.0.6 leaves the JWT issuer unset, which the PyJWT of its cell refuses at the first login
    home.env["AIRFLOW__API_AUTH__JWT_ISSUER"] = "airflow"
    home.migrate()
    with ApiServerOnly(home) as running:
        yield running


def test_the_add_connection_form_shows_the_amt_fields_on_this_airflow(api_server):
    with _browser_page(1400, 1100) as page:
        page.goto(api_server.url)  # the login first: Airflow 3.1 lands on Home after it, whatever was asked
        page.get_by_text("Admin").first.wait_for(timeout=60_000)
        page.goto(f"{api_server.url}/connections")
        page.get_by_role("button", name="Add Connection").first.click()
        page.locator("input[name=connection_id]").fill("amt_form_check")
        page.get_by_role("combobox").click()
        page.keyboard.type("Asysco")
        page.get_by_role("option", name="Asysco AMT").click()
        host = page.locator("input[name=host]")
        host.wait_for(timeout=30_000)
        placeholder = host.get_attribute("placeholder")
        page.screenshot(path=str(SHOTS["standard"]))
        page.get_by_role("button", name="Extra Fields", exact=True).click()
        page.get_by_text(connection_form.CONN_FIELDS["default_application"]["label"]).first.wait_for(timeout=30_000)
        seen = page.inner_text("[role=dialog]")
        page.screenshot(path=str(SHOTS["extras"]))
    behaviour = connection_form.UI_FIELD_BEHAVIOUR
    assert placeholder == behaviour["placeholders"]["host"]
    for label in behaviour["relabeling"].values():
        assert label in seen, f"Airflow {airflow.__version__}: standard field label {label!r} missing"
    for name, spec in connection_form.CONN_FIELDS.items():
        assert spec["label"] in seen, f"Airflow {airflow.__version__}: extra field {name!r} missing"
    assert "Schema" not in seen  # hidden, as declared
