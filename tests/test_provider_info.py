from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import airflow
import jsonschema

from airflow_provider_amt.get_provider_info import get_provider_info


def test_provider_info_matches_the_schema_airflow_ships():
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_package_name_is_the_distribution_name():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="apache_airflow_provider") if e.dist.name == "airflow-provider-amt"]
    assert ep.load()()["package-name"] == ep.dist.name == "airflow-provider-amt"


def test_connection_type_points_at_a_real_hook_with_matching_attributes():
    from airflow_provider_amt.hooks.amt import AmtHook

    (conn_type,) = get_provider_info()["connection-types"]
    assert conn_type["hook-class-name"] == f"{AmtHook.__module__}.{AmtHook.__name__}"
    assert (AmtHook.conn_type, AmtHook.hook_name, AmtHook.default_conn_name) == ("amt", "Asysco AMT", "amt_default")
    from airflow_provider_amt.hooks.connection import EXTRA_FIELDS

    assert set(conn_type["conn-fields"]) == set(EXTRA_FIELDS)  # the form offers exactly what the hook reads
    assert conn_type["ui-field-behaviour"]["relabeling"]["host"] == "Batch Server URL"


def test_every_listed_module_imports():
    import importlib

    info = get_provider_info()
    for kind in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[kind]:
            for module in entry["python-modules"]:
                importlib.import_module(module)


def test_airflow_providers_list_shows_the_provider():
    out = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "airflow"), "providers", "list", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    # Airflow 3.0 prints plugin lines before the JSON document
    listed, _ = json.JSONDecoder().raw_decode(out.stdout, out.stdout.index("[{"))
    providers = {p["package_name"]: p for p in listed}
    assert "airflow-provider-amt" in providers
    from importlib.metadata import version

    from airflow_provider_amt import __version__

    assert providers["airflow-provider-amt"]["version"] == __version__ == version("airflow-provider-amt")


def test_no_integration_points_at_a_page_that_does_not_exist():
    assert all("external-doc-url" not in i for i in get_provider_info()["integrations"])


def test_every_configuration_option_is_published_and_in_the_deployment_guide_with_its_default():
    from airflow_provider_amt import config

    options = get_provider_info()["config"][config.SECTION]["options"]
    assert options == config.OPTIONS
    guide = (Path(__file__).parents[1] / "docs" / "deployment.md").read_text()
    for name, option in options.items():
        default = option["default"].removesuffix(".0")
        assert f"| `[amt] {name}` | `{default}` |" in guide, name


def test_airflow_knows_the_task_log_handler_from_the_provider_info():
    from airflow.providers_manager import ProvidersManager

    from airflow_provider_amt.log.task_handler import AmtTaskLogHandler

    handler = f"{AmtTaskLogHandler.__module__}.{AmtTaskLogHandler.__qualname__}"
    assert get_provider_info()["logging"] == [handler]
    assert handler in ProvidersManager().logging_class_names


def test_openlineage_stays_an_optional_extra():
    """The operators import without Airflow's OpenLineage provider: only its listener loads the facets."""
    code = (
        "import sys; import airflow_provider_amt.operators.amt, airflow_provider_amt.sensors.amt; "
        "print(sorted(m for m in sys.modules if m.startswith(('openlineage', 'airflow_provider_amt.lineage'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
    from importlib.metadata import metadata

    requires = metadata("airflow-provider-amt").get_all("Requires-Dist") or []
    assert any(r.startswith("apache-airflow-providers-openlineage") and "extra == 'openlineage'" in r for r in requires)
