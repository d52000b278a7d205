"""The "Asysco AMT" connection form, declared once.

Airflow 3.2+ reads a provider's form from its provider info (``conn-fields``,
``ui-field-behaviour``); Airflow 3.0 and 3.1 never read those and ask the hook class instead
(``get_connection_form_widgets`` / ``get_ui_field_behaviour``, WTForms fields that their API server
turns back into JSON schema). Both are made here from the same two dicts, so the form is the same
on every version (``tests/test_connection_form.py`` asks each version's own providers manager).
"""

from __future__ import annotations

from typing import Any

#: The extras of the form, in provider-info syntax (a JSON schema per field).
CONN_FIELDS: dict[str, dict[str, Any]] = {
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
}

#: The standard fields: hidden, relabelled, with placeholders (provider-info syntax).
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
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
}


def field_behaviour() -> dict[str, Any]:
    """``UI_FIELD_BEHAVIOUR`` in the hook method's spelling (``hidden_fields``, not ``hidden-fields``)."""
    return {key.replace("-", "_"): value for key, value in UI_FIELD_BEHAVIOUR.items()}


def widgets() -> dict[str, Any]:
    """``CONN_FIELDS`` as the WTForms fields Airflow 3.0 and 3.1 read from a hook.

    Those versions accept only string, integer, password and boolean fields: a number (a timeout
    in seconds) and an object (``api_paths``) are text there, which the connection reader accepts
    (``"30"``, JSON text). Only WTForms itself is used (a dependency of this package): Airflow
    3.0's API server builds a hook's form only when WTForms imports, and never has Flask-Babel or
    Flask-AppBuilder unless the FAB auth manager is installed.
    """
    from wtforms import BooleanField, IntegerField, StringField
    from wtforms.validators import Optional

    fields: dict[str, Any] = {}
    for name, spec in CONN_FIELDS.items():
        schema = spec["schema"]
        kind = next(t for t in schema["type"] if t != "null")
        label, description, default = spec["label"], spec.get("description", ""), schema.get("default")
        if kind == "boolean":
            fields[name] = BooleanField(label, description=description, default=default)
        elif kind == "integer":
            fields[name] = IntegerField(label, validators=[Optional()], description=description, default=default)
        else:
            text = None if default is None else str(default)
            fields[name] = StringField(label, validators=[Optional()], description=description, default=text)
    return fields
