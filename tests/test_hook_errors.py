"""Error paths: bad credentials, unreachable servers, malformed answers, secrets never shown."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
import requests_mock

from airflow_provider_amt.exceptions import (
    AmtAuthenticationError,
    AmtConfigurationError,
    AmtResponseError,
    AmtServerUnavailableError,
    AmtUnknownCodeError,
)
from airflow_provider_amt.hooks.amt import AmtAsyncHook, AmtHook
from amt_client import AmtClient
from tests.conftest import FAST_RETRIES, AsyncDriver

SECRET = "s3cr3t-Pa55"


def _make(kind, conn_id):
    if kind == "sync":
        AmtClient.forget_tokens()
        return AmtHook(conn_id, retry_policy=FAST_RETRIES)
    return AsyncDriver(AmtAsyncHook(conn_id, retry_policy=FAST_RETRIES))


@pytest.fixture(params=["sync", "async"])
def kind(request):
    return request.param


@pytest.fixture
def make_hook(kind):
    """``_make`` for this test's kind; an async hook's session and loop are closed after the test."""
    made = []

    def make(conn_id):
        made.append(_make(kind, conn_id))
        return made[-1]

    yield make
    for hook in made:
        if isinstance(hook, AsyncDriver):
            hook.close()


def _set_conn(monkeypatch, name, **fields):
    monkeypatch.setenv(f"AIRFLOW_CONN_{name.upper()}", json.dumps({"conn_type": "amt", **fields}))
    return name


def test_bad_password_is_an_authentication_error_without_the_password(make_hook, emulator, monkeypatch, existing_id):
    conn = _set_conn(monkeypatch, "amt_badpw", host=emulator.url, login="amtopcon", password=SECRET)
    hook = make_hook(conn)
    with pytest.raises(AmtAuthenticationError) as err:
        hook.get_job_status(existing_id)
    assert "Check the API user and password" in str(err.value) and "code 24" in str(err.value)
    assert SECRET not in str(err.value) and SECRET not in repr(err.value.__cause__)
    ok, message = hook.test_connection()
    assert not ok and "invalid API user or password" in message and SECRET not in message


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_server_is_retried_then_reported(make_hook, monkeypatch):
    url = f"http://127.0.0.1:{_free_port()}"
    conn = _set_conn(monkeypatch, "amt_down", host=url, login="u", password=SECRET)
    hook = make_hook(conn)
    with pytest.raises(AmtServerUnavailableError) as err:
        hook.heartbeat()
    text = str(err.value)
    # three failures in a row open the breaker: the fourth attempt is held back, never sent
    assert url in text and "after 3 attempt(s)" in text and "code 23 WEB_SERVER_ERROR" in text
    assert "Then held back, not sent" in text
    # before any Start, the logon is what cannot reach the server (held back now: one probe at a time)
    with pytest.raises(AmtServerUnavailableError, match=r"api/Logon"):
        hook.start_batch_job("DEMO2", "JOB")
    assert SECRET not in text
    ok, message = hook.test_connection()
    assert not ok and "held back" in message and "Connect" in message  # the last failure is named


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"login": "u", "password": "p"}, "'amt_bad': the Batch Server URL is missing"),
        ({"host": "ftp://x", "login": "u", "password": "p"}, "is not an http"),
        ({"host": "http://x:1"}, "API user \\(login\\) and password are required"),
        ({"host": "http://x:1", "login": "u", "password": "p", "extra": {"timeout": "soon"}}, "finite number"),
        ({"host": "http://x:1", "login": "u", "password": "p", "extra": {"max_retries": 99}}, "from 0 to 20"),
        ({"host": "http://x:1", "login": "u", "password": "p", "extra": {"verify_ssl": "perhaps"}}, "True or False"),
        ({"host": "http://x:1", "login": "u", "password": "p", "extra": {"api_paths": {"logn": "/x"}}}, "unknown"),
        ({"host": "http://x:1", "login": "u", "password": "p", "extra": {"api_paths": {"logon": "x"}}}, "start"),
        (  # without the placeholder the id goes in the query (issue 25); a placeholder must be the right one
            {"host": "http://x:1", "login": "u", "password": "p", "extra": {"api_paths": {"monitor": "/m/{id}"}}},
            "may contain \\{batch_request_id\\} once",
        ),
        (
            {"host": "http://x:1", "login": "u", "password": "p", "extra": {"contract": {"version": 1, "tokn": {}}}},
            "'amt_bad': contract document has unknown key 'tokn'",
        ),
        (
            {"host": "http://x:1", "login": "u", "password": "p", "extra": {"contract": '{"version": 1, "token": 5}'}},
            "'amt_bad': contract document, key 'token': must be an object",
        ),
        (
            {"host": "http://x:1", "login": "u", "password": "p", "extra": {"contract": "/etc/amt/nowhere.json"}},
            "'amt_bad': contract document '/etc/amt/nowhere.json' cannot be read",
        ),
        ({"host": "http://x:1", "login": "u", "password": "p", "extra": {"token_header": "X Bad"}}, "header name"),
        ({"host": "http://x:4004", "port": 4005, "login": "u", "password": "p"}, "port 4005 differs from the port"),
    ],
)
def test_incomplete_connections_say_what_is_missing(monkeypatch, fields, match):
    conn = _set_conn(monkeypatch, "amt_bad", **fields)
    with pytest.raises(AmtConfigurationError, match=match):
        AmtHook(conn).config  # noqa: B018


def test_connection_url_forms(monkeypatch, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    conn = _set_conn(
        monkeypatch,
        "amt_parts",
        host="batch",
        port=9001,
        schema="https",
        login="u",
        password="p",
        extra={"ca_bundle": str(ca), "timeout": 12, "default_application": "DEMO2"},
    )
    config = AmtHook(conn).config
    assert (config.base_url, config.verify, config.timeout, config.default_application) == (
        "https://batch:9001",
        str(ca),
        12.0,
        "DEMO2",
    )
    assert SECRET not in repr(config) and "password" not in repr(config)
    # the port repeated beside a URL that has it (the form shows the field): the same URL
    same = _set_conn(monkeypatch, "amt_same", host="http://batch:4004", port=4004, login="u", password="p")
    assert AmtHook(same).config.base_url == "http://batch:4004"


# --- malformed answers: requests-mock, sync client only -------------------------------------------

URL = "http://amt.test:42000"


@pytest.fixture
def mocked(monkeypatch):
    _set_conn(monkeypatch, "amt_mock", host=URL, login="u", password=SECRET)
    AmtClient.forget_tokens()
    with requests_mock.Mocker() as mock:
        mock.post(URL + "/api/Logon", json={"amtLogonToken": "tok-123", "expiresIn": 600})
        yield mock


@pytest.mark.parametrize(
    ("response", "match"),
    [
        ({"text": "<html>proxy error</html>"}, "not JSON.*proxy error.*points at the AMT Batch Server"),
        ({"json": {"batchRequestId": 5}}, "no field 'completionCode'"),
        ({"json": {"batchRequestId": 5, "completionCode": "soon"}}, "must be an integer"),
        ({"json": ["not", "an", "object"]}, "no field 'batchRequestId'"),
        ({"status_code": 418, "json": {"message": "teapot"}}, "HTTP 418: teapot.*not part of the AMT API contract"),
    ],
)
def test_malformed_status_answers_are_response_errors(mocked, response, match):
    mocked.get(URL + "/api/MonitorJob/5", **response)
    with pytest.raises(AmtResponseError, match=match):
        AmtHook("amt_mock", retry_policy=FAST_RETRIES).get_job_status(5)


def test_an_unknown_code_is_its_own_error_and_not_a_response_error(mocked):
    mocked.get(URL + "/api/MonitorJob/5", json={"batchRequestId": 5, "completionCode": 42})
    with pytest.raises(AmtUnknownCodeError, match=r"unknown AMT completion code 42.*left as it is"):
        AmtHook("amt_mock", retry_policy=FAST_RETRIES).get_job_status(5)


def test_non_contiguous_messages_are_refused(mocked):
    mocked.get(URL + "/api/GetMessages/5", json={"messages": [{"index": 0, "text": "a"}, {"index": 2, "text": "b"}]})
    with pytest.raises(AmtResponseError, match="message 1 has index 2, expected 1"):
        AmtHook("amt_mock").get_messages(5)


def test_token_is_sent_in_the_documented_header_and_never_in_errors(mocked):
    mocked.get(URL + "/api/MonitorJob/5", status_code=400, json={"message": "bad id"})
    with pytest.raises(Exception) as err:
        AmtHook("amt_mock").get_job_status(5)
    assert mocked.request_history[-1].headers["X-AMT-LogonToken"] == "tok-123"
    assert "tok-123" not in str(err.value) and SECRET not in str(err.value)


def test_logon_without_token_is_a_response_error(mocked):
    mocked.post(URL + "/api/Logon", json={"something": "else"})
    with pytest.raises(AmtResponseError, match="no field 'amtLogonToken'"):
        AmtHook("amt_mock").get_job_status(5)


def test_secrets_are_registered_with_airflows_masker(mocked):
    from airflow_provider_amt.compat import secrets_masker

    mocked.get(URL + "/api/MonitorJob/5", json={"batchRequestId": 5, "completionCode": 2})
    AmtHook("amt_mock").get_job_status(5)
    masker = secrets_masker()
    assert masker.redact(f"x {SECRET} tok-123 y") == "x *** *** y"


# --- the async client shares one session and one logon ----------------------------------------------


def test_concurrent_async_callers_share_one_session_and_one_logon(amt_conn, emulator, existing_id):
    async def scenario():
        hooks = [AmtAsyncHook(amt_conn) for _ in range(25)]
        emulator.clear_requests()
        await asyncio.gather(*(h.get_job_status(existing_id) for h in hooks))
        sessions = {id(h._shared_session.session) for h in hooks}
        logons = len(emulator.requests("Logon"))
        emulator.expire_tokens()
        emulator.clear_requests()
        await asyncio.gather(*(h.get_job_status(existing_id) for h in hooks))
        relogons = len(emulator.requests("Logon"))
        session = hooks[0]._shared_session.session
        for h in hooks:
            await h.close()
            await h.close()  # closing twice is harmless
        return sessions, logons, relogons, session.closed

    sessions, logons, relogons, closed = asyncio.run(scenario())
    assert len(sessions) == 1 and logons == 1 and relogons == 1 and closed


def test_each_event_loop_gets_its_own_session(amt_conn):
    async def session_id():
        async with AmtAsyncHook(amt_conn) as hook:
            await hook.heartbeat()
            return hook._shared_session.session

    first, second = asyncio.run(session_id()), asyncio.run(session_id())
    assert first is not second and first.closed and second.closed


def test_the_redactor_masks_password_and_current_token(mocked):
    mocked.get(URL + "/api/MonitorJob/5", json={"batchRequestId": 5, "completionCode": 2})
    hook = AmtHook("amt_mock")
    hook.get_job_status(5)
    assert hook.redactor()(f"echo {SECRET} and tok-123 done") == "echo *** and *** done"
