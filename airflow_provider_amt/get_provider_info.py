"""Provider metadata Airflow reads through the ``apache_airflow_provider`` entry point.

``package-name`` must equal the distribution name exactly, otherwise every ``airflow`` CLI command
fails at start-up. The connection form is declared here (``conn-fields``, ``ui-field-behaviour``)
for Airflow 3.2+, and by the hook's methods for 3.0 and 3.1, both from ``hooks/connection_form.py``.
A test validates this dict against the ``provider_info.schema.json`` Airflow ships.
"""

from __future__ import annotations

from typing import Any

INTEGRATION = "Asysco AMT"


def _modules(kind: str, *more: str) -> list[dict[str, Any]]:
    modules = [f"airflow_provider_amt.{kind}.{name}" for name in ("amt", *more)]
    return [{"integration-name": INTEGRATION, "python-modules": modules}]


def get_provider_info() -> dict[str, Any]:
    from airflow_provider_amt import __version__, config
    from airflow_provider_amt.hooks import connection_form

    return {
        "package-name": "airflow-provider-amt",
        "name": "Asysco AMT",
        "description": "Run and monitor Asysco AMT Batch Server batch jobs and scripts from Apache Airflow.",
        "versions": [__version__],
        "integrations": [
            # No external-doc-url: the documentation is docs/ in the source distribution (sdist) and
            # the repository, with example_dags/; a wheel holds the code and the README (its long
            # description). `make dist` checks both.
            {"integration-name": INTEGRATION, "tags": ["service"]}
        ],
        "hooks": _modules("hooks"),
        "operators": _modules("operators", "job_action"),
        "sensors": _modules("sensors"),
        "triggers": _modules("triggers", "start"),
        "extra-links": ["airflow_provider_amt.links.AmtJobLink"],
        "logging": ["airflow_provider_amt.log.task_handler.AmtTaskLogHandler"],
        "connection-types": [
            {
                "connection-type": "amt",
                "hook-class-name": "airflow_provider_amt.hooks.amt.AmtHook",
                "hook-name": "Asysco AMT",
                "conn-fields": connection_form.CONN_FIELDS,
                "ui-field-behaviour": connection_form.UI_FIELD_BEHAVIOUR,
            }
        ],
        "config": {
            config.SECTION: {
                "description": "Options of the Asysco AMT provider.",
                "options": config.OPTIONS,
            }
        },
    }
