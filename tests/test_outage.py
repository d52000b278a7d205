"""An outage lowers our traffic instead of multiplying it (issue 22): one view of a server's health
per event loop (per process for the sync client), a single probe at a time with backoff while the
server is away, and the watches waiting on it with their outage clocks running.

``ServerHealth`` is driven with a fake clock; the loop test runs 200 real watches of one event loop
against a loopback server that cuts every connection for a while.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest

from amt_client import AmtClient, AsyncAmtClient, MessageCursor, ServerConfig, WatchSettings
from amt_client.engine import RESUME_SPREAD, FailureKind, Response, TransportFailure
from amt_client.health import FIRST_BACKOFF, MAX_BACKOFF, OPEN_AFTER, ServerHealth
from amt_client.policy import Outcome
from tests.crafted import Crafted
from tests.test_hostile_server import reset_mid_body


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


CUT = TransportFailure(FailureKind.MAYBE_SENT, "ConnectionResetError")
OK = Response(200, "{}")


def test_the_breaker_opens_after_consecutive_failures_and_lets_one_probe_through():
    clock = Clock()
    health = ServerHealth(clock=clock, rng=random.Random(3))
    for _ in range(OPEN_AFTER - 1):
        assert health.admit(5.0)
        health.record(CUT)
    assert health.admit(5.0)  # still closed: one failure more opens it
    health.record(CUT)
    assert not health.admit(5.0) and health.is_open
    clock.now += MAX_BACKOFF * 2
    assert health.admit(5.0)  # the probe
    assert not health.admit(5.0)  # and only it
    health.record(OK)
    assert not health.is_open and health.admit(5.0) and health.admit(5.0)


def test_a_failed_probe_doubles_the_wait_up_to_its_cap_and_a_lost_probe_expires():
    clock = Clock()
    health = ServerHealth(clock=clock, rng=random.Random(3))
    for _ in range(OPEN_AFTER):
        health.record(CUT)
    waits = []
    for _ in range(8):
        opened = clock.now
        while not health.admit(5.0):
            clock.now += 0.05
        waits.append(clock.now - opened)
        health.record(CUT)
    assert waits[0] <= FIRST_BACKOFF * 1.3 and max(waits) <= MAX_BACKOFF * 1.3
    assert waits[-1] > waits[0] * 4
    clock.now += MAX_BACKOFF * 2
    assert health.admit(5.0)  # a probe that never reports back (its task was cancelled)...
    clock.now += 5.1
    assert health.admit(5.0)  # ...does not hold the server shut


def test_any_answer_closes_it_and_a_held_request_is_never_sent():
    clock = Clock()
    health = ServerHealth(clock=clock, rng=random.Random(3))
    for _ in range(OPEN_AFTER):
        health.record(Response(503, "down"))
    assert health.is_open
    clock.now += MAX_BACKOFF * 2
    assert health.admit(5.0)
    health.record(Response(404, "no such job"))  # an answer: the server is there
    assert not health.is_open


@pytest.fixture
def flaky(logged_on_server: Crafted) -> Crafted:
    return logged_on_server


def _running(server: Crafted, code: int) -> None:
    for i in range(1, 201):
        body = {"batchRequestId": i, "completionCode": code, "messageCount": 0}
        server.answer("GET", f"/api/MonitorJob/{i}", body=body)
        server.answer("GET", f"/api/GetMessages/{i}", body={"batchRequestId": i, "messages": []})
        server.raw.pop(("GET", f"/api/MonitorJob/{i}"), None)


def _cut(server: Crafted) -> None:
    for i in range(1, 201):
        server.answer_raw("GET", f"/api/MonitorJob/{i}", reset_mid_body)


def _polls(server: Crafted) -> int:
    return sum(1 for _, path, *_ in server.seen if path.startswith("/api/MonitorJob/"))


def test_two_hundred_watches_send_less_during_an_outage_and_all_resume_within_a_poll(flaky):
    """200 jobs polled every 2 s; the server cuts every connection for 6 s, then reports DONE."""
    poll, outage = 2.0, 6.0
    config = ServerConfig(flaky.url, "amtopcon", "pw-secret", timeout=2, connect_timeout=1)
    settings = WatchSettings(poll_interval=poll, initial_interval=poll, outage_grace_period=60)
    _running(flaky, 2)
    marks: dict[str, Any] = {}

    async def scenario() -> list[Any]:
        clients = [AsyncAmtClient(config) for _ in range(200)]
        watches = [
            asyncio.ensure_future(c.watch_job(i + 1, MessageCursor(), settings, lambda page: None))
            for i, c in enumerate(clients)
        ]
        await asyncio.sleep(poll + 1.0)
        marks["before"] = _polls(flaky)
        _cut(flaky)
        await asyncio.sleep(outage)
        marks["during"] = _polls(flaky) - marks["before"]
        _running(flaky, 4)
        marks["back"] = time.monotonic()
        results = await asyncio.gather(*watches)
        marks["all_ended"] = time.monotonic() - marks["back"]
        for c in clients:
            await c.close()
        return results

    results = asyncio.run(scenario())
    print(f"outage: {marks['during']} requests of 200 watches in {outage:g} s at a {poll:g} s poll")
    assert all(r.outcome.job_ended and int(r.code) == 4 for r in results)
    # at most one request per job per poll interval while the server is away (today: several)
    assert marks["during"] <= 200 * outage / poll, marks
    assert marks["during"] <= 200, marks  # in fact far fewer: probes, not polls
    # every job polled again within a poll of the return: found by a probe, then spread over the poll
    assert marks["all_ended"] <= poll * RESUME_SPREAD + MAX_BACKOFF * 1.2 + 1.0, marks


def test_the_sync_client_of_one_process_shares_the_servers_health(flaky):
    config = ServerConfig(flaky.url, "amtopcon", "pw-secret", timeout=1, connect_timeout=1, max_retries=4)
    _cut(flaky)
    AmtClient.forget_tokens()
    with AmtClient(config) as amt:
        settings = WatchSettings(poll_interval=0.3, initial_interval=0.3, outage_grace_period=3)
        ended = amt.watch_job(1, MessageCursor(), settings, lambda page: None)
    assert ended.outcome is Outcome.ERROR and "unreachable" in ended.message
    # 3 s of outage at a poll every 0.3 s with 4 retries each: dozens of attempts without a breaker
    assert _polls(flaky) <= OPEN_AFTER + 3 / FIRST_BACKOFF + 2, _polls(flaky)
