"""No password in any error, log line or Test-button text, whatever the password and however a
server echoes it (issue 22): scrubbed before any cut, in every form text can hold it (raw, JSON- and
repr-escaped, percent-encoded, read with the wrong charset), and a password too short for Airflow's
masker is never substring-replaced in log text (``1`` would turn ``[10]`` into ``[***0]``).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from airflow_provider_amt.hooks.connection import config_from_connection
from amt_client import AmtClient, AmtConfigurationError, AmtError, HttpRetryPolicy, ServerConfig
from amt_client.engine import MIN_SECRET_CHARS, redact, secret_forms
from tests.crafted import Crafted

PASSWORDS = [
    "s3cr3t-Pa55",
    r"a.b*c+?(x)[y]{z}^$|\d",
    "pa\"ss'wd",
    "back\\slash\\",
    "pässwörd€",
    "zero\u200bwidth",
    "1",
    "p" * 299 + "!",
]
IDS = ["plain", "regex", "quotes", "backslash", "unicode", "zero-width", "one-char", "300-chars"]


def forms_in(text: str, password: str) -> list[str]:
    """Every way ``password`` can be read back from ``text`` (for one long enough to be a secret)."""
    found = [form for form in secret_forms(password) if form in text]
    return found if len(password) >= MIN_SECRET_CHARS else []


@pytest.fixture
def server(logged_on_server: Crafted) -> Crafted:
    return logged_on_server


def client(server: Crafted, password: str) -> AmtClient:
    AmtClient.forget_tokens()
    config = ServerConfig(server.url, "amtopcon", password, timeout=2, connect_timeout=2)
    return AmtClient(config, retry_policy=HttpRetryPolicy(max_retries=0))


def error_text(server: Crafted, password: str) -> str:
    with client(server, password) as amt, pytest.raises(AmtError) as err:
        amt.get_job_status(5)
    return str(err.value)


@pytest.mark.parametrize("password", PASSWORDS, ids=IDS)
def test_an_error_body_echoing_the_password_past_any_cut_shows_no_form_of_it(server, password):
    echo = {"message": "x" * 150 + f" password {password} refused " + "y" * 10_000}
    server.answer("POST", "/api/Logon", 401, echo)
    text = error_text(server, password)
    assert forms_in(text, password) == [] and len(text) < 1000


@pytest.mark.parametrize("password", PASSWORDS, ids=IDS)
def test_an_unreadable_answer_echoing_the_password_shows_no_form_of_it(server, password):
    server.answer("GET", "/api/MonitorJob/5", 200, f"<html>login {password} failed</html>".encode())
    assert forms_in(error_text(server, password), password) == []


@pytest.mark.parametrize("password", PASSWORDS, ids=IDS)
def test_a_field_of_the_wrong_type_holding_the_password_shows_no_form_of_it(server, password):
    server.answer("GET", "/api/MonitorJob/5", body={"batchRequestId": 5, "completionCode": {"echo": password}})
    assert forms_in(error_text(server, password), password) == []


@pytest.mark.parametrize("password", PASSWORDS, ids=IDS)
def test_a_text_plain_answer_with_no_charset_is_read_as_utf8_and_scrubbed(server, password):
    body = f"denied: {password}".encode()
    server.routes[("GET", "/api/MonitorJob/5")] = (500, {"Content-Type": "text/plain"}, body)
    assert forms_in(error_text(server, password), password) == []


@pytest.mark.parametrize("password", PASSWORDS, ids=IDS)
def test_every_form_of_a_secret_is_scrubbed_and_a_short_one_is_left_alone(password):
    for form in secret_forms(password):
        text = f"[10] Batch Request Id : 12 {form} json:{json.dumps({'p': password})}"
        scrubbed = redact(text, [password])
        if len(password) < MIN_SECRET_CHARS:
            assert scrubbed == text  # never "[***0]": too short to tell from other text
        else:
            assert forms_in(scrubbed, password) == [] and "[10] Batch Request Id : 12" in scrubbed


def test_the_forms_cover_escaping_quoting_and_the_wrong_charset():
    forms = secret_forms("pä'ss\u200b\"")
    assert "pä'ss\u200b\"" in forms
    assert json.dumps("pä'ss\u200b\"")[1:-1] in forms  # JSON, ASCII escapes
    assert repr("pä'ss\u200b\"")[1:-1] in forms
    assert quote("pä'ss\u200b\"", safe="") in forms and quote_plus("pä'ss\u200b\"") in forms
    assert "pä'ss\u200b\"".encode().decode("latin-1") in forms


class _Conn:
    def __init__(self, **fields: Any):
        self.conn_id = "amt_test"
        self.conn_type = "amt"
        self.host = fields.get("host")
        self.schema = None
        self.port = fields.get("port")
        self.login = "amtopcon"
        self.password = fields.get("password", "pw-in-field")
        self.extra_dejson: dict[str, Any] = {}


@pytest.mark.parametrize("password", [p for p in PASSWORDS if len(p) >= MIN_SECRET_CHARS])
def test_a_url_with_a_password_and_another_port_never_echoes_the_password(password):
    host = f"http://amtopcon:{quote(password, safe='')}@batch:4004"
    with pytest.raises(AmtConfigurationError) as err:
        config_from_connection(_Conn(host=host, port=5005))
    assert forms_in(str(err.value), password) == [] and "user name or password" in str(err.value)


@pytest.mark.parametrize("password", PASSWORDS, ids=IDS)
def test_the_redactor_of_job_messages_hides_every_form_and_keeps_short_ones_readable(password):
    config = ServerConfig("http://batch:4004", "amtopcon", password)
    with AmtClient(config) as amt:
        line = f"AMT [10] user amtopcon logged on with {password!r} / {quote(password, safe='')}"
        shown = amt.redactor()(line)
    assert forms_in(shown, password) == []
    assert shown.startswith("AMT [10] user amtopcon")


def test_message_text_of_a_one_character_password_is_not_mangled():
    config = ServerConfig("http://batch:4004", "amtopcon", "1")
    with AmtClient(config) as amt:
        assert amt.redactor()("AMT [10] Batch Request Id : 12") == "AMT [10] Batch Request Id : 12"


@pytest.mark.parametrize("password", PASSWORDS, ids=IDS)
def test_the_test_buttons_text_shows_no_form_of_the_password(server, password, monkeypatch):
    """The connection form's Test button shows ``AmtHook.test_connection()``'s text."""
    from airflow_provider_amt.hooks.amt import AmtHook

    server.answer("GET", "/api/Heartbeat", body={"status": "up", "version": f"echo {password}"})
    server.answer("POST", "/api/Logon", 401, {"message": f"user amtopcon with {password!r} refused"})
    conn = {"conn_type": "amt", "host": server.url, "login": "amtopcon", "password": password}
    monkeypatch.setenv("AIRFLOW_CONN_AMT_SECRET_TABLE", json.dumps(conn))
    AmtClient.forget_tokens()
    ok, text = AmtHook("amt_secret_table", retry_policy=HttpRetryPolicy(max_retries=0)).test_connection()
    assert not ok and "401" in text
    assert forms_in(text, password) == []


@pytest.mark.parametrize("password", PASSWORDS, ids=IDS)
def test_a_trigger_event_shows_no_form_of_the_password(server, password, monkeypatch):
    """An ``error`` event's message is an error text: scrubbed like any other."""
    import asyncio

    from airflow_provider_amt.triggers.amt import AmtJobTrigger

    server.answer("GET", "/api/MonitorJob/5", 403, {"message": f"token for {password} refused"})
    conn = {"conn_type": "amt", "host": server.url, "login": "amtopcon", "password": password}
    monkeypatch.setenv("AIRFLOW_CONN_AMT_SECRET_EVENT", json.dumps(conn))

    async def collect() -> list[Any]:
        trigger = AmtJobTrigger(5, "amt_secret_event", poll_interval=0.2, initial_interval=0.05)
        return [event.payload async for event in trigger.run()]

    (event,) = asyncio.run(collect())
    assert event["status"] == "error" and forms_in(json.dumps(event), password) == []
    assert forms_in(event["message"], password) == []
