"""The "Asysco AMT" connection form is the same on every Airflow version.

Airflow 3.2+ builds it from the provider info, 3.0 and 3.1 from the hook's methods; both come from
``hooks/connection_form.py``. What the UI shows is what the API server's ``HookMetaService`` reports,
so that is what is asked, in a fresh interpreter as in the API server (a providers manager that
already imported the hooks in this test process would hold unmocked fields). ``make test-matrix``
runs this file in every cell.
"""

from __future__ import annotations

import json
import subprocess
import sys

import airflow
import pytest

from airflow_provider_amt.get_provider_info import get_provider_info
from airflow_provider_amt.hooks import connection_form
from airflow_provider_amt.hooks.amt import AmtHook

ASK_THE_API_SERVER = """
import json
from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
(amt,) = [h for h in HookMetaService.hook_meta_data() if h.connection_type == "amt"]
print("FORM " + json.dumps(amt.model_dump(mode="json")))
"""

#: Field types the WTForms path of Airflow 3.0 / 3.1 cannot express: they are text there.
AS_TEXT = {"number", "object"}


@pytest.fixture(scope="module")
def shown() -> dict:
    done = subprocess.run([sys.executable, "-c", ASK_THE_API_SERVER], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("FORM ")]
    return json.loads(line.removeprefix("FORM "))


def test_the_api_server_shows_every_declared_extra_field_with_its_label_description_and_default(shown):
    extras = shown["extra_fields"]
    assert extras is not None, f"Airflow {airflow.__version__} shows no extra fields for 'amt'"
    assert set(extras) == set(connection_form.CONN_FIELDS)
    for name, spec in connection_form.CONN_FIELDS.items():
        field, declared = extras[name], spec["schema"]
        kind = next(t for t in declared["type"] if t != "null")
        assert field["schema"]["title"] == spec["label"], name
        assert field["description"] == spec.get("description"), name
        offered = next(t for t in field["schema"]["type"] if t != "null")
        assert offered == kind or (kind in AS_TEXT and offered == "string"), (name, offered)
        default = declared.get("default")
        assert field["value"] in (default, None if default is None else str(default)), name


def test_the_api_server_hides_relabels_and_fills_the_standard_fields_as_declared(shown):
    standard = shown["standard_fields"]
    assert standard is not None, f"Airflow {airflow.__version__} shows the bare form for 'amt'"
    declared = connection_form.UI_FIELD_BEHAVIOUR
    assert standard["url_schema"]["hidden"] is True  # 'schema' in the declaration
    for name in ("host", "port", "login", "password"):
        assert standard[name]["hidden"] is (name in declared["hidden-fields"]), name
        assert standard[name]["title"] == declared["relabeling"].get(name), name
        assert standard[name]["placeholder"] == declared["placeholders"].get(name), name


def test_the_hook_methods_and_the_provider_info_declare_the_same_form():
    (conn_type,) = get_provider_info()["connection-types"]
    widgets = AmtHook.get_connection_form_widgets()
    assert set(widgets) == set(conn_type["conn-fields"])
    for name, spec in conn_type["conn-fields"].items():
        unbound = widgets[name]
        assert unbound.args[0] == spec["label"], name
        assert unbound.kwargs["description"] == spec.get("description", ""), name
    behaviour = AmtHook.get_ui_field_behaviour()
    assert behaviour == {
        "hidden_fields": conn_type["ui-field-behaviour"]["hidden-fields"],
        "relabeling": conn_type["ui-field-behaviour"]["relabeling"],
        "placeholders": conn_type["ui-field-behaviour"]["placeholders"],
    }


def test_what_the_form_stores_as_text_on_airflow_3_0_and_3_1_is_read_as_its_value():
    from airflow.models.connection import Connection

    from airflow_provider_amt.hooks.connection import config_from_connection

    extra = {"timeout": "45", "connect_timeout": "5", "api_paths": '{"logon": "/api/SignOn"}', "max_retries": 2}
    conn = Connection(conn_id="form", conn_type="amt", host="http://amt:4004", login="u", password="p" * 8)
    conn.set_extra(json.dumps(extra))
    config = config_from_connection(conn)
    assert (config.timeout, config.connect_timeout, config.max_retries) == (45.0, 5.0, 2)
    assert config.contract.paths.logon == "/api/SignOn"
