"""Credentials stay with their server, and a misbehaving server cannot make the client misbehave.

A small crafted HTTP(S) server on loopback answers what the emulator never would: redirects,
oversized or drip-fed answers, tokens with CR/LF, answers about another job, echoed passwords.
Every test runs with the sync and the async client (the hooks are these clients).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Iterator
from typing import Any

import pytest

from amt_client import (
    AmtClient,
    AmtConfigurationError,
    AmtResponseError,
    AmtServerUnavailableError,
    AsyncAmtClient,
    HttpRetryPolicy,
    ServerConfig,
)
from tests.crafted import Crafted

SECRET = "s3cr3t-Pa55"
NO_RETRIES = HttpRetryPolicy(max_retries=0)


@pytest.fixture
def server() -> Iterator[Crafted]:
    crafted = Crafted()
    yield crafted
    crafted.shutdown()


@pytest.fixture
def elsewhere() -> Iterator[Crafted]:
    """The server a redirect points at: it must never see a request."""
    crafted = Crafted()
    yield crafted
    crafted.shutdown()


@pytest.fixture(params=["sync", "async"])
def call(request: pytest.FixtureRequest):
    """``call(config, "get_job_status", 5)`` on a fresh sync or async client."""

    def run(config: ServerConfig, method: str, *args: Any) -> Any:
        if request.param == "sync":
            AmtClient.forget_tokens()
            with AmtClient(config, retry_policy=NO_RETRIES) as client:
                return getattr(client, method)(*args)

        async def go() -> Any:
            async with AsyncAmtClient(config, retry_policy=NO_RETRIES) as client:
                return await getattr(client, method)(*args)

        return asyncio.run(go())

    return run


def config(server: Crafted, **kwargs: Any) -> ServerConfig:
    return ServerConfig(server.url, "amtopcon", SECRET, **{"timeout": 2, "connect_timeout": 2, **kwargs})


# --- redirects ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirected_logon_is_refused_and_the_password_goes_nowhere_else(server, elsewhere, call, status):
    server.answer("POST", "/api/Logon", status, {}, Location=f"{elsewhere.url}/steal")
    with pytest.raises(AmtConfigurationError, match=f"HTTP {status} redirecting to {elsewhere.url}/steal") as err:
        call(config(server), "get_job_status", 5)
    assert elsewhere.seen == [] and SECRET not in str(err.value)
    assert "Redirects are not followed" in str(err.value)


def test_a_redirected_call_never_carries_the_token_elsewhere(server, elsewhere, call):
    server.logon_ok("tok-secret")
    server.answer("GET", "/api/MonitorJob/5", 302, {}, Location=f"{elsewhere.url}/api/MonitorJob/5")
    with pytest.raises(AmtConfigurationError, match="redirecting to") as err:
        call(config(server), "get_job_status", 5)
    assert elsewhere.seen == [] and "tok-secret" not in str(err.value)


# --- answers that cannot be trusted -----------------------------------------------------------------------


def test_an_answer_about_another_job_is_refused(server, call):
    server.logon_ok()
    server.answer("GET", "/api/MonitorJob/5", body={"batchRequestId": 6, "completionCode": 4})
    with pytest.raises(AmtResponseError, match="about batch request 6, not 5"):
        call(config(server), "get_job_status", 5)
    server.answer("POST", "/api/OpConJobAction", body={"batchRequestId": 6, "completionCode": 3})
    with pytest.raises(AmtResponseError, match="about batch request 6, not 5"):
        call(config(server), "kill_job", 5)


@pytest.mark.parametrize("token", ["tok\r\nX-Injected: 1", "tok\x00", "to k", "tök"])
def test_a_token_a_header_cannot_carry_is_refused_without_showing_it(server, call, token):
    server.logon_ok(token)
    with pytest.raises(AmtResponseError, match="characters an HTTP header cannot carry") as err:
        call(config(server), "get_job_status", 5)
    assert token not in str(err.value) and repr(token)[1:-1] not in str(err.value)
    assert [path for _, path, _, _ in server.seen] == ["/api/Logon"]  # the token was never sent


def test_oversized_answers_are_refused(server, call):
    server.logon_ok()
    server.answer("GET", "/api/GetMessages/5", body={"messages": [{"index": 0, "text": "x" * 300_000}]})
    with pytest.raises(AmtResponseError, match="answered with more than 131072 bytes"):
        call(config(server, max_response_bytes=128 * 1024), "get_messages", 5)


def test_a_huge_error_text_is_cut_and_an_echoed_password_is_masked(server, call):
    server.answer("POST", "/api/Logon", 401, {"message": f"user amtopcon password {SECRET} refused " + "x" * 1_000_000})
    with pytest.raises(Exception) as err:
        call(config(server), "get_job_status", 5)
    text = str(err.value)
    assert len(text) < 1000 and SECRET not in text and "password *** refused" in text


def test_a_drip_fed_answer_cannot_hold_a_call_past_its_time(server, call):
    server.logon_ok()
    server.answer("GET", "/api/MonitorJob/5", 200, [b" "] * 20)  # 20 chunks, 0.3 s apart: 6 s
    began = time.monotonic()
    with pytest.raises(AmtServerUnavailableError, match="may have arrived"):
        call(config(server, timeout=1, connect_timeout=1), "get_job_status", 5)
    assert time.monotonic() - began < 4.5


@pytest.mark.parametrize("retry_after", ["soon", "-5", "1e9", "Wed, 99 Foo 2026", "", "7" * 40])
def test_any_retry_after_shape_is_survived(server, call, retry_after):
    server.logon_ok()
    server.answer("GET", "/api/MonitorJob/5", 503, {"message": "busy"}, Retry_After=retry_after)
    with pytest.raises(AmtServerUnavailableError, match="HTTP 503: busy"):
        call(config(server), "get_job_status", 5)


# --- the URL and TLS ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "match"),
    [
        (f"http://amtopcon:{SECRET}@batch:4004", "contains a user name or password"),
        ("http://batch:99999", "port outside 1-65535"),
        ("http://batch server:4004", "not a valid Batch Server URL"),
        ("http://batch:4004/?debug=1", "not a valid Batch Server URL"),
        ("ftp://batch:21", "is not an http"),
    ],
)
def test_bad_urls_are_configuration_errors_that_never_show_a_password(url, match):
    with pytest.raises(AmtConfigurationError, match=match) as err:
        ServerConfig(url, "amtopcon", SECRET)
    assert SECRET not in str(err.value)


@pytest.fixture
def tls_server(tls_files) -> Iterator[Crafted]:
    _, cert, key = tls_files
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    crafted = Crafted(tls=context)
    crafted.answer("GET", "/api/Heartbeat", body={"status": "up"})
    yield crafted
    crafted.shutdown()


def test_the_configured_ca_bundle_wins_over_the_environment(tls_server, tls_files, call, monkeypatch, tmp_path):
    ca, _, _ = tls_files
    wrong = tmp_path / "other-ca.pem"
    wrong.write_text("not a certificate\n")
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.setenv(variable, str(wrong))
    assert call(config(tls_server, verify=str(ca)), "heartbeat") == "AMT Batch Server is up"
    with pytest.raises(AmtConfigurationError, match="TLS handshake failed"):
        call(config(tls_server), "heartbeat")  # the default trust store does not know the test CA


def test_https_is_never_redirected_to_http(tls_server, tls_files, elsewhere, call):
    ca, _, _ = tls_files
    tls_server.answer("POST", "/api/Logon", 307, {}, Location=f"{elsewhere.url}/api/Logon")
    with pytest.raises(AmtConfigurationError, match=f"redirecting to {elsewhere.url}"):
        call(config(tls_server, verify=str(ca)), "get_job_status", 5)
    assert elsewhere.seen == []


def test_turning_verification_off_says_so_once_per_client(tls_server, caplog):
    log = logging.getLogger("test.amt.tls")
    with caplog.at_level(logging.WARNING, logger="test.amt.tls"):
        client = AmtClient(config(tls_server, verify=False), log=log)
        assert client.heartbeat() == "AMT Batch Server is up" and client.heartbeat()
    warnings = [r.getMessage() for r in caplog.records if "verification is off" in r.getMessage()]
    assert len(warnings) == 1 and tls_server.url in warnings[0]


def test_a_missing_or_unreadable_ca_bundle_is_named(tmp_path):
    with pytest.raises(AmtConfigurationError, match=r"CA bundle '/nowhere/ca\.pem' cannot be read"):
        ServerConfig("https://batch:4004", "u", "p", verify="/nowhere/ca.pem")
    folder = tmp_path / "a-folder.pem"
    folder.mkdir()
    with pytest.raises(AmtConfigurationError, match="cannot be read"):
        ServerConfig("https://batch:4004", "u", "p", verify=str(folder))
