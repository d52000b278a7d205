"""Provider metadata Airflow reads through the ``apache_airflow_provider`` entry point.

``package-name`` must equal the distribution name exactly, otherwise every ``airflow`` CLI command
fails at start-up. Connection form fields are declared here (``conn-fields``,
``ui-field-behaviour``), as Airflow 3.2+ expects, instead of in deprecated hook methods. A test
validates this dict against the ``provider_info.schema.json`` Airflow ships.
"""

from __future__ import annotations

from typing import Any

INTEGRATION = "Asysco AMT"


def _modules(kind: str, *more: str) -> list[dict[str, Any]]:
    modules = [f"airflow_provider_amt.{kind}.{name}" for name in ("amt", *more)]
    return [{"integration-name": INTEGRATION, "python-modules": modules}]


def get_provider_info() -> dict[str, Any]:
    from airflow_provider_amt import __version__, config

    return {
        "package-name": "airflow-provider-amt",
        "name": "Asysco AMT",
        "description": "Run and monitor Asysco AMT Batch Server batch jobs and scripts from Apache Airflow.",
        "versions": [__version__],
        "integrations": [
            # No external-doc-url: the documentation ships with the package (docs/ in the sdist).
            {"integration-name": INTEGRATION, "tags": ["service"]}
        ],
        "hooks": _modules("hooks"),
        "operators": _modules("operators", "job_action"),
        "sensors": _modules("sensors"),
        "triggers": _modules("triggers", "start"),
        "extra-links": ["airflow_provider_amt.links.AmtJobLink"],
        "connection-types": [
            {
                "connection-type": "amt",
                "hook-class-name": "airflow_provider_amt.hooks.amt.AmtHook",
                "hook-name": "Asysco AMT",
                "conn-fields": {
                    "verify_ssl": {
                        "label": "Verify TLS certificate",
                        "description": "Check the server's certificate on https URLs (turn off only for tests).",
                        "schema": {"type": ["boolean", "null"], "default": True},
                    },
                    "ca_bundle": {
                        "label": "CA bundle path",
                        "description": "PEM file of the CA that signed the Batch Server certificate.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "timeout": {
                        "label": "Request timeout (seconds)",
                        "description": "How long to wait for an answer to one request.",
                        "schema": {"type": ["number", "null"], "default": 30, "minimum": 1},
                    },
                    "connect_timeout": {
                        "label": "Connect timeout (seconds)",
                        "schema": {"type": ["number", "null"], "default": 10, "minimum": 1},
                    },
                    "max_retries": {
                        "label": "Retries",
                        "description": "Retries of a failed idempotent request (backoff with jitter).",
                        "schema": {"type": ["integer", "null"], "default": 4, "minimum": 0, "maximum": 20},
                    },
                    "max_connections": {
                        "label": "Max connections (triggerer)",
                        "description": "Most requests in flight to this server from one triggerer at once. "
                        "Empty or 0: one per 50 watched jobs, 100 to 500.",
                        "schema": {"type": ["integer", "null"], "default": 0, "minimum": 0, "maximum": 10000},
                    },
                    "default_application": {
                        "label": "Default application",
                        "description": "AMT application used when a task names none (e.g. DEMO2).",
                        "schema": {"type": ["string", "null"]},
                    },
                    "job_url_template": {
                        "label": "Job URL template",
                        "description": "Where a person sees an AMT job, e.g. "
                        'https://amt-portal/requests/{batch_request_id}: the task\'s "AMT job" link and '
                        "XCom job_url. Empty: no link.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "contract": {
                        "label": "Contract document (advanced)",
                        "description": "Only if your Batch Server differs from the assumed wire contract: the "
                        "path of a contract document (.json or .yaml) on every Airflow host, or the document "
                        'itself ({"version": 1, ...}). Check it first with amt-probe; see docs/first-contact.md.',
                        "schema": {"type": ["string", "null"]},
                    },
                    "api_paths": {
                        "label": "API paths (advanced)",
                        "description": "Only if your Batch Server serves other paths than the assumed ones: "
                        '{"logon": "/api/Logon", "monitor": "/api/MonitorJob/{batch_request_id}", ...} '
                        "(names: heartbeat, logon, job_action, monitor, messages, find_request).",
                        "schema": {"type": ["object", "null"]},
                    },
                    "token_header": {
                        "label": "Logon token header (advanced)",
                        "description": "Only if your Batch Server expects another header than X-AMT-LogonToken.",
                        "schema": {"type": ["string", "null"]},
                    },
                },
                "ui-field-behaviour": {
                    # port stays visible: Airflow 3.3.2's Test button fails for a connection without
                    # one (apache/airflow#73298); it must then match the port in the URL
                    "hidden-fields": ["schema", "extra"],
                    "relabeling": {
                        "host": "Batch Server URL",
                        "port": "Port (as in the URL)",
                        "login": "API user",
                        "password": "Password",
                    },
                    "placeholders": {
                        "host": "https://batchserver.example.com:4004",
                        "port": "4004",
                        "login": "amtopcon",
                    },
                },
            }
        ],
        "config": {
            config.SECTION: {
                "description": "Options of the Asysco AMT provider.",
                "options": config.OPTIONS,
            }
        },
    }
