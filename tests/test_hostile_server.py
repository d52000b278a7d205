"""Whatever a server or the network does, both clients end in a typed ``AmtError`` within their bounds.

Each test crafts one hostile behaviour on a loopback server (``tests/crafted.py``) and runs it
through the sync and the async client: a stall mid-body, a reset mid-body, a broken gzip body, a
decompression bomb, JSON nested past the parser's depth, duplicated keys, odd ``Retry-After``
values, headers dripped a byte at a time. Regression tests of issue 22's first and third items.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import struct
import time
import tracemalloc
from typing import Any

import pytest

from amt_client import (
    AmtClient,
    AmtError,
    AmtResponseError,
    AmtServerUnavailableError,
    AsyncAmtClient,
    HttpRetryPolicy,
    ServerConfig,
    StartRequest,
)
from tests.crafted import Crafted
from tests.test_security import SECRET, call

__all__ = ["call"]


@pytest.fixture
def server(logged_on_server: Crafted) -> Crafted:
    return logged_on_server


def config(server: Crafted, **kwargs: Any) -> ServerConfig:
    return ServerConfig(server.url, "amtopcon", SECRET, **{"timeout": 1, "connect_timeout": 1, **kwargs})


def _head(handler: Any, length: int, **headers: str) -> None:
    handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
    for name, value in headers.items():
        handler.wfile.write(f"{name.replace('_', '-')}: {value}\r\n".encode())
    handler.wfile.write(f"Content-Length: {length}\r\n\r\n".encode())
    handler.wfile.flush()


def stall_mid_body(handler: Any) -> None:
    _head(handler, 100)
    handler.wfile.write(b'{"batc')
    handler.wfile.flush()
    time.sleep(3)


def reset_mid_body(handler: Any) -> None:
    _head(handler, 1000)
    handler.wfile.write(b'{"batchRequestId": 5, ')
    handler.wfile.flush()
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.connection.close()


def drip_headers(handler: Any) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 40:
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(0.25)


@pytest.mark.parametrize("writer", [stall_mid_body, reset_mid_body], ids=["stall", "reset"])
def test_a_body_cut_off_is_an_outage_not_a_crash(server, call, writer):
    server.answer_raw("GET", "/api/MonitorJob/5", writer)
    with pytest.raises(AmtServerUnavailableError, match="may have arrived"):
        call(config(server), "get_job_status", 5)


def test_a_start_whose_answer_is_cut_off_may_have_arrived(server, call):
    server.answer_raw("POST", "/api/OpConJobAction", reset_mid_body)
    start = StartRequest.batch_job("DEMO2", "REPORTTEST01")
    with pytest.raises(AmtServerUnavailableError) as err:
        call(config(server), "start", start)
    assert err.value.request_may_have_arrived is True
    assert sum(1 for method, path, *_ in server.seen if path == "/api/OpConJobAction") == 1  # never sent twice


def test_a_broken_gzip_body_is_a_response_error(server, call):
    server.answer("GET", "/api/MonitorJob/5", 200, b"this is not gzip at all", Content_Encoding="gzip")
    with pytest.raises(AmtResponseError, match="could not be decoded"):
        call(config(server), "get_job_status", 5)


def test_an_unknown_content_encoding_is_a_response_error(server, call):
    server.answer("GET", "/api/MonitorJob/5", 200, b"{}", Content_Encoding="x-compress-9")
    with pytest.raises(AmtResponseError, match="x-compress-9"):
        call(config(server), "get_job_status", 5)


def test_a_gzip_answer_is_read(server, call):
    body = gzip.compress(b'{"batchRequestId": 5, "completionCode": 2}')
    server.answer("GET", "/api/MonitorJob/5", 200, body, Content_Encoding="gzip")
    assert int(call(config(server), "get_job_status", 5).code) == 2


def test_a_decompression_bomb_is_cut_at_the_decoded_limit(server, call):
    bomb = gzip.compress(b"[" + b" " * (64 * 1024 * 1024) + b"]", compresslevel=9)  # 64 MiB in ~64 KiB
    assert len(bomb) < 200 * 1024
    server.answer("GET", "/api/MonitorJob/5", 200, bomb, Content_Encoding="gzip")
    tracemalloc.start()
    try:
        with pytest.raises(AmtResponseError, match="more than 1048576 bytes"):
            call(config(server, max_response_bytes=1024 * 1024), "get_job_status", 5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12 * 1024 * 1024, f"reading the bomb took {peak / 2**20:.0f} MiB"


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_json_nested_past_any_parser_is_a_response_error(server, call, depth):
    server.answer("GET", "/api/MonitorJob/5", 200, b"[" * depth + b"]" * depth)
    with pytest.raises(AmtResponseError, match="nested"):
        call(config(server), "get_job_status", 5)


def test_duplicated_keys_in_an_answer_are_refused(server, call):
    server.answer("GET", "/api/MonitorJob/5", 200, b'{"batchRequestId": 5, "completionCode": 2, "completionCode": 4}')
    with pytest.raises(AmtResponseError, match=r"completionCode.*more than once"):
        call(config(server), "get_job_status", 5)


@pytest.mark.parametrize("retry_after", ["\u00b2", "\u0663", "9" * 5000, "1" * 20, "\udcff"])
def test_retry_after_digits_of_any_script_and_length_are_survived(server, call, retry_after):
    def busy(handler: Any) -> None:  # the header's bytes as UTF-8 (http.server would refuse them)
        body = b'{"message": "busy"}'
        value = retry_after.encode("utf-8", "surrogateescape")
        handler.wfile.write(b"HTTP/1.1 503 Busy\r\nRetry-After: " + value + b"\r\n")
        handler.wfile.write(b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)

    server.answer_raw("GET", "/api/MonitorJob/5", busy)
    with pytest.raises(AmtServerUnavailableError, match="HTTP 503: busy"):
        call(config(server), "get_job_status", 5)


def test_retry_after_of_other_scripts_is_ignored_by_the_retry_policy(server):
    from amt_client.engine import parse_retry_after

    assert parse_retry_after("\u00b2") is None
    assert parse_retry_after("9" * 5000) is None
    assert parse_retry_after("12") == 12.0


def test_dripped_headers_cannot_hold_a_call_past_its_request_bound(server, call):
    server.answer_raw("GET", "/api/MonitorJob/5", drip_headers)
    began = time.monotonic()
    with pytest.raises(AmtServerUnavailableError):
        call(config(server, max_retries=0), "get_job_status", 5)
    assert time.monotonic() - began < 3.5  # the bound is connect_timeout + timeout: 2 s


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_call_timeout_bounds_the_whole_call_retries_included(server, driver):
    server.answer_raw("GET", "/api/MonitorJob/5", drip_headers)
    settings = config(server, call_timeout=3)
    retries = HttpRetryPolicy(max_retries=5, base_delay=0.2, max_delay=0.2)
    began = time.monotonic()
    with pytest.raises(AmtServerUnavailableError):
        if driver == "sync":
            with AmtClient(settings, retry_policy=retries) as client:
                client.get_job_status(5)
        else:

            async def go() -> None:
                async with AsyncAmtClient(settings, retry_policy=retries) as client:
                    await client.get_job_status(5)

            asyncio.run(go())
    assert time.monotonic() - began < 3.6


def test_every_failure_is_an_amt_error(server, call):
    """A header no parser expects: still an ``AmtError``, never a bare exception."""

    def bad_header(handler: Any) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n{}")

    server.answer_raw("GET", "/api/MonitorJob/5", bad_header)
    with pytest.raises(AmtError):
        call(config(server, max_retries=0), "get_job_status", 5)


def test_no_retry_hammers_a_server_inside_the_call(server, call):
    """The test client's NO_RETRIES fixture: one attempt per call (so the counts above are one call's)."""
    server.answer_raw("GET", "/api/MonitorJob/5", reset_mid_body)
    with pytest.raises(AmtServerUnavailableError):
        call(config(server), "get_job_status", 5)
    assert sum(1 for _, path, *_ in server.seen if path == "/api/MonitorJob/5") == 1


# --- answers about something else, and lines a server could forge ----------------------------------


def test_a_messages_answer_about_another_batch_request_is_refused(server, call):
    server.answer("GET", "/api/GetMessages/5", body={"batchRequestId": 6, "messages": [{"index": 0, "text": "x"}]})
    with pytest.raises(AmtResponseError, match="about batch request 6, not 5"):
        call(config(server), "get_messages", 5)


def test_a_find_answer_about_another_task_id_is_refused(server, call):
    server.answer("GET", "/api/FindBatchRequest", body={"taskId": "other-task", "batchRequestIds": [77]})
    with pytest.raises(AmtResponseError, match="about task id 'other-task'"):
        call(config(server), "find_batch_requests", "my-task")


@pytest.mark.parametrize("breaker", ["\n", "\r", "\u2028", "\x85", "\x0b"])
def test_a_severity_or_timestamp_holding_a_line_break_cannot_forge_a_message_line(server, call, breaker):
    from airflow_provider_amt.joblog import message_lines, message_text

    forged = f"WARN{breaker}AMT [0] forged"
    messages = [{"index": 0, "text": "real", "severity": forged, "timestamp": f"now{breaker}AMT [0] forged"}]
    server.answer("GET", "/api/GetMessages/5", body={"batchRequestId": 5, "messages": messages})
    (message,) = call(config(server), "get_messages", 5)
    line = message_text(message)
    assert len(line.splitlines()) == 1, line
    assert message_lines(line) == [(0, line)]


@pytest.mark.parametrize("breaker", ["\r", "\u2028", "\x85", "\x0c"])
def test_a_message_text_with_any_line_break_continues_indented(breaker):
    from airflow_provider_amt.joblog import message_lines, message_text
    from amt_client import AmtMessage

    line = message_text(AmtMessage(3, f"first{breaker}AMT [2] forged"))
    assert [index for index, _ in message_lines(line)] == [3]
    assert all(part.startswith("    ") for part in line.splitlines()[1:])
