"""The sans-IO engine, driven by a scripted server and a fake clock: no sockets, no sleeping, no Airflow.

Every retry, re-logon, backoff and paging branch is reached here; the real drivers (requests and
aiohttp) are exercised against the emulator in ``tests/test_hooks.py``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from amt_client import (
    Action,
    AmtAuthenticationError,
    AmtCompletionCode,
    AmtConfigurationError,
    AmtError,
    AmtNotFoundError,
    AmtResponseError,
    AmtServerUnavailableError,
    AmtUnknownCodeError,
    AmtValidationError,
    JobEnding,
    MessageCursor,
    Outcome,
    Rules,
    ServerConfig,
    StartRequest,
    StateChange,
    WatchSettings,
)
from amt_client.contract import WireContract
from amt_client.engine import (
    Deliver,
    Engine,
    FailureKind,
    HttpRetryPolicy,
    MayRead,
    NeedToken,
    Response,
    Send,
    Sleep,
    TokenSlot,
    TransportFailure,
    parse_retry_after,
)

URL = "http://amt.test:42000"


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def ok(body: Any) -> Response:
    return Response(200, json.dumps(body))


def status_body(code: int, request_id: int = 7) -> Response:
    return ok({"batchRequestId": request_id, "completionCode": code})


def page(start: int, count: int) -> Response:
    return ok(
        {"messages": [{"index": i, "text": f"line {i}", "severity": "INFO"} for i in range(start, start + count)]}
    )


@dataclass
class Driver:
    """Carries out the engine's steps against a scripted server; time only moves when the engine sleeps."""

    server: Callable[[Send], Any]
    clock: Clock = field(default_factory=Clock)
    sent: list[Send] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)
    needs: list[NeedToken] = field(default_factory=list)
    tokens: TokenSlot = field(default_factory=TokenSlot)
    logons: int = 0
    pages: list[list[int]] = field(default_factory=list)
    stop_after_pages: int | None = None
    logon_error: Exception | None = None
    asked: list[bool] = field(default_factory=list)
    may_read: Callable[[bool], bool] = lambda wait: True
    states: list[StateChange] = field(default_factory=list)
    take_state: Callable[[StateChange], Any] = lambda change: None

    def run(self, steps: Any) -> Any:
        reply: Any = None
        error: Exception | None = None
        while True:
            try:
                step = steps.throw(error) if error else steps.send(reply)
            except StopIteration as done:
                return done.value
            reply, error = None, None
            try:
                reply = self.perform(step)
            except Exception as err:  # an AmtError met while carrying out a step goes back in
                error = err

    def perform(self, step: Any) -> Any:
        if isinstance(step, Send):
            self.sent.append(step)
            reply = self.server(step)
            if isinstance(reply, Exception):
                raise reply
            return reply
        if isinstance(step, Sleep):
            self.sleeps.append(step.seconds)
            self.clock.now += step.seconds
            return None
        if isinstance(step, NeedToken):
            self.needs.append(step)
            token = self.tokens.current(step)
            if token is None and self.logon_error:
                raise self.logon_error
            if token is None:
                self.logons += 1
                token = self.tokens.store(f"tok-{self.logons}", None)
            return token
        if isinstance(step, MayRead):
            self.asked.append(step.final)
            return self.may_read(step.final)
        if isinstance(step, StateChange):
            self.states.append(step)
            return self.take_state(step)
        assert isinstance(step, Deliver)
        self.pages.append([m.index for m in step.messages])
        return False if self.stop_after_pages == len(self.pages) else None


def scripted(*replies: Any) -> Callable[[Send], Any]:
    """Answers in order; the last answer repeats."""
    queue = list(replies)

    def server(send: Send) -> Any:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return server


def engine(clock: Clock | None = None, retries: int = 3, contract: WireContract | None = None) -> Engine:
    config = ServerConfig(URL, "amtopcon", "pw-secret", max_retries=retries, contract=contract or WireContract())
    clock = clock or Clock()
    return Engine(config, HttpRetryPolicy(max_retries=retries), rng=random.Random(7), clock=clock, wall_clock=clock)


# --- one call ---------------------------------------------------------------------------------------


def test_a_call_asks_for_a_token_and_sends_it_in_the_contracts_header():
    driver = Driver(scripted(status_body(2)))
    status = driver.run(engine().status(7))
    assert status.code is AmtCompletionCode.RUNNING
    (send,) = driver.sent
    assert (send.method, send.url, send.headers["X-AMT-LogonToken"]) == ("GET", f"{URL}/api/MonitorJob/7", "tok-1")
    assert driver.needs == [NeedToken()]


def test_heartbeat_and_logon_need_no_token_and_never_carry_one():
    driver = Driver(scripted(ok({"status": "up", "version": "8"}), ok({"amtLogonToken": "t", "expiresIn": 60})))
    assert driver.run(engine().heartbeat()) == "AMT Batch Server is up (version 8)"
    assert driver.run(engine().logon()) == ("t", 60.0)
    assert driver.needs == [] and all("X-AMT-LogonToken" not in s.headers for s in driver.sent)
    assert driver.sent[1].json == {"userName": "amtopcon", "password": "pw-secret"}


def test_a_refused_token_is_replaced_once_then_the_refusal_is_an_authentication_error():
    driver = Driver(scripted(Response(401, "{}"), status_body(4)))
    assert driver.run(engine().status(7)).code is AmtCompletionCode.DONE
    assert driver.needs == [NeedToken(), NeedToken(stale="tok-1")] and driver.logons == 2
    assert [s.headers["X-AMT-LogonToken"] for s in driver.sent] == ["tok-1", "tok-2"]
    refusing = Driver(scripted(Response(401, json.dumps({"message": "expired"}))))
    with pytest.raises(AmtAuthenticationError, match=r"expired.*refused even after logging on again"):
        refusing.run(engine().status(7))
    assert len(refusing.sent) == 2 and refusing.sleeps == []


def test_a_refused_logon_says_to_check_the_user_and_password():
    driver = Driver(scripted(Response(401, json.dumps({"message": "invalid API user or password"}))))
    with pytest.raises(AmtAuthenticationError, match=r"invalid API user or password. Check the API user and password"):
        driver.run(engine().logon())


def test_retryable_statuses_back_off_exponentially_with_jitter_then_give_up():
    driver = Driver(scripted(Response(503, "busy")))
    with pytest.raises(AmtServerUnavailableError, match=r"HTTP 503: busy.*code 23 WEB_SERVER_ERROR"):
        driver.run(engine(retries=3).status(7))
    assert len(driver.sent) == 4 and len(driver.sleeps) == 3
    for attempt, delay in enumerate(driver.sleeps):
        cap = 0.5 * 2**attempt
        assert cap / 2 <= delay <= cap  # full jitter in the upper half of the capped exponential


def test_backoff_is_capped_and_retry_after_wins_in_both_forms_within_its_bound():
    policy = HttpRetryPolicy(max_retries=20, base_delay=0.5, max_delay=15.0, max_retry_after=120.0)
    assert all(7.5 <= policy.delay(attempt) <= 15.0 for attempt in range(6, 20))
    clock = Clock(1_700_000_000.0)
    assert parse_retry_after("3", clock) == 3.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:30 GMT", clock) == pytest.approx(10.0)
    assert parse_retry_after("soon", clock) is None and parse_retry_after(None, clock) is None
    assert policy.delay(0, retry_after=500.0) == 120.0 and policy.delay(0, retry_after=-4) == 0.0
    driver = Driver(scripted(Response(429, "{}", retry_after="2"), status_body(2)))
    driver.run(engine().status(7))
    assert driver.sleeps == [2.0]


def test_a_start_is_resent_only_when_it_provably_never_arrived():
    start = StartRequest.batch_job("DEMO2", "REPORTTEST01")
    refused = Driver(
        scripted(TransportFailure(FailureKind.NOT_SENT, "ConnectError: refused"), ok({"batchRequestId": 9}))
    )
    assert refused.run(engine().start(start)) == 9 and len(refused.sent) == 2
    too_many = Driver(scripted(Response(429, "{}"), ok({"batchRequestId": 9})))
    assert too_many.run(engine().start(start)) == 9 and len(too_many.sent) == 2
    for reply in (Response(503, "{}"), Response(500, "{}")):
        failing = Driver(scripted(reply))
        with pytest.raises(AmtServerUnavailableError):
            failing.run(engine().start(start))
        assert len(failing.sent) == 1
    dropped = Driver(scripted(TransportFailure(FailureKind.MAYBE_SENT, "ServerDisconnected: gone")))
    with pytest.raises(AmtServerUnavailableError, match=r"got no answer .*\(the request may have arrived\) after 1"):
        dropped.run(engine().start(start))
    assert len(dropped.sent) == 1


def test_reads_are_resent_after_any_transport_failure_and_say_why_they_gave_up():
    driver = Driver(scripted(TransportFailure(FailureKind.MAYBE_SENT, "ReadTimeout: slow"), status_body(2)))
    assert driver.run(engine().status(7)).code is AmtCompletionCode.RUNNING and len(driver.sleeps) == 1
    down = Driver(scripted(TransportFailure(FailureKind.NOT_SENT, "ConnectError: refused")))
    with pytest.raises(AmtServerUnavailableError, match="could not reach the AMT Batch Server after 3 attempt"):
        down.run(engine(retries=2).heartbeat())


def test_tls_failures_are_configuration_errors_and_never_retried():
    driver = Driver(scripted(TransportFailure(FailureKind.TLS, "SSLError: certificate verify failed")))
    with pytest.raises(AmtConfigurationError, match=r"TLS handshake failed.*ca_bundle"):
        driver.run(engine().status(7))
    assert len(driver.sent) == 1


@pytest.mark.parametrize(
    ("reply", "error", "match"),
    [
        (Response(400, json.dumps({"message": "bad id"})), AmtValidationError, "HTTP 400: bad id. Fix the request"),
        (Response(404, "{}"), AmtNotFoundError, "HTTP 404"),
        (Response(418, "teapot"), AmtResponseError, "not part of the AMT API contract"),
        (Response(200, "<html>proxy</html>"), AmtResponseError, "not JSON"),
        (status_body(42), AmtUnknownCodeError, "unknown AMT completion code 42"),
        (Response(500, "x" * 5000), AmtServerUnavailableError, r"x{200}\.\.\."),
    ],
)
def test_answers_that_cannot_be_used_are_typed_errors_without_retries_where_retrying_cannot_help(reply, error, match):
    driver = Driver(scripted(reply))
    with pytest.raises(error, match=match):
        driver.run(engine(retries=0).status(7))


def test_an_amt_error_met_while_getting_a_token_surfaces_from_the_call():
    driver = Driver(scripted(status_body(2)), logon_error=AmtAuthenticationError("logon refused"))
    with pytest.raises(AmtAuthenticationError, match="logon refused"):
        driver.run(engine().status(7))
    assert driver.sent == []


def test_check_reports_both_parts_and_never_raises():
    good = Driver(scripted(ok({"status": "up"})))
    assert good.run(engine().check()) == (True, "AMT Batch Server is up; logon as amtopcon succeeded.")
    assert good.needs == [NeedToken(fresh=True)]
    down = Driver(scripted(ok({"status": "maintenance"})))
    ok_flag, text = down.run(engine().check())
    assert not ok_flag and "reports status 'maintenance'" in text


def test_paths_and_token_header_follow_the_contract():
    contract = WireContract().with_overrides({"monitor": "/amt/jobs/{batch_request_id}/state"}, "X-Token")
    driver = Driver(scripted(status_body(2)))
    driver.run(engine(contract=contract).status(7))
    assert driver.sent[0].url == f"{URL}/amt/jobs/7/state" and driver.sent[0].headers["X-Token"] == "tok-1"


# --- tokens -----------------------------------------------------------------------------------------


def test_the_token_slot_renews_early_replaces_only_the_stale_token_and_forgets_on_fresh():
    clock = Clock(0.0)
    slot = TokenSlot(clock=clock)
    assert slot.current(NeedToken()) is None
    slot.store("a", 600.0)
    clock.now = 569.0
    assert slot.current(NeedToken()) == "a"
    clock.now = 571.0  # renewed 10 % (at most 30 s) before the announced 600 s
    assert slot.current(NeedToken()) is None
    slot.store("b", None)
    assert slot.current(NeedToken(stale="a")) == "b"  # someone else already replaced the stale one
    assert slot.current(NeedToken(stale="b")) is None
    slot.store("c", None)
    assert slot.current(NeedToken(fresh=True)) is None


# --- paging -----------------------------------------------------------------------------------------


def small_pages() -> WireContract:
    return WireContract(max_messages_page=3)


def test_messages_are_drained_page_by_page_and_the_cursor_moves_before_each_delivery():
    driver = Driver(scripted(page(0, 3), page(3, 3), page(6, 1)))
    cursor = MessageCursor(0)
    assert driver.run(engine(contract=small_pages()).drain(7, cursor)) == 7
    assert driver.pages == [[0, 1, 2], [3, 4, 5], [6]]
    assert [dict(s.params) for s in driver.sent] == [
        {"offset": "0", "limit": "3"},
        {"offset": "3", "limit": "3"},
        {"offset": "6", "limit": "3"},
    ]
    assert cursor.offset == 7 and [m.index for m in cursor.last] == [2, 3, 4, 5, 6]


def test_an_empty_page_delivers_nothing_and_a_caller_can_stop_reading():
    empty = Driver(scripted(page(4, 0)))
    assert empty.run(engine(contract=small_pages()).drain(7, MessageCursor(4))) == 0 and empty.pages == []
    stopping = Driver(scripted(page(0, 3), page(3, 3)), stop_after_pages=1)
    assert stopping.run(engine(contract=small_pages()).drain(7, MessageCursor(0))) == 3
    assert len(stopping.sent) == 1


def test_a_gap_in_the_message_indexes_is_refused():
    driver = Driver(scripted(ok({"messages": [{"index": 5, "text": "a"}]})))
    with pytest.raises(AmtResponseError, match="message 0 has index 5, expected 4"):
        driver.run(engine().drain(7, MessageCursor(4)))


# --- polling ----------------------------------------------------------------------------------------


def settings(**kwargs: Any) -> WatchSettings:
    return WatchSettings(**{"poll_interval": 10.0, "initial_interval": 1.0, **kwargs})


def test_a_watch_polls_streams_messages_and_ends_when_the_job_is_final():
    answers = iter([status_body(1), page(0, 0), status_body(2), page(0, 2), status_body(4), page(2, 1)])
    driver = Driver(lambda send: next(answers))
    cursor = MessageCursor(0)
    ended = driver.run(engine().watch(7, cursor, settings()))
    assert (ended.outcome.job_ended, ended.code) == (True, AmtCompletionCode.DONE)
    assert driver.pages == [[0, 1], [2]] and cursor.offset == 3
    assert len(driver.sleeps) == 2 and driver.sleeps[1] > driver.sleeps[0]  # polls back off


def counted(code: int, count: int) -> Response:
    return ok({"batchRequestId": 7, "completionCode": code, "messageCount": count})


def test_a_message_count_in_the_status_skips_getmessages_while_nothing_is_new_but_never_the_final_drain():
    answers = iter(
        [
            counted(2, 0),  # nothing written yet: no GetMessages
            counted(2, 2),
            page(0, 2),
            counted(2, 2),  # nothing new: no GetMessages
            counted(4, 2),  # final: drained anyway, and the job wrote one more after the count
            page(2, 1),
        ]
    )
    driver = Driver(lambda send: next(answers))
    cursor = MessageCursor(0)
    ended = driver.run(engine().watch(7, cursor, settings()))
    assert ended.outcome.job_ended and driver.pages == [[0, 1], [2]] and cursor.offset == 3
    assert [s.url.rsplit("/api/", 1)[1] for s in driver.sent] == [
        "MonitorJob/7",
        "MonitorJob/7",
        "GetMessages/7",
        "MonitorJob/7",
        "MonitorJob/7",
        "GetMessages/7",
    ]


def test_a_caller_may_hold_message_reading_back_while_status_polls_go_on_and_the_final_drain_waits():
    answers = iter([counted(2, 2), counted(2, 3), page(1, 2), counted(4, 3), page(3, 0)])
    cursor = MessageCursor(0)

    def may_read(final: bool) -> bool:
        if len(driver.asked) < 2 and not final:
            return False  # the first poll: the caller's checkpoint is not read yet
        cursor.offset = max(cursor.offset, 1)  # it says message 0 is logged already
        return True

    driver = Driver(lambda send: next(answers), may_read=may_read)
    assert driver.run(engine().watch(7, cursor, settings())).outcome.job_ended
    assert driver.asked == [False, False, True] and driver.pages == [[1, 2]] and cursor.offset == 3
    assert [s.url.rsplit("/", 2)[1] for s in driver.sent] == [
        "MonitorJob",
        "MonitorJob",
        "GetMessages",
        "MonitorJob",
        "GetMessages",
    ]


@pytest.mark.parametrize("count", [None, -1, "3", True, 1.5])
def test_without_a_usable_message_count_every_poll_reads_the_messages(count: Any):
    body = {"batchRequestId": 7, "completionCode": 2, **({} if count is None else {"messageCount": count})}
    answers = iter([ok(body), page(0, 0), ok(body), page(0, 1), status_body(4), page(1, 0)])
    driver = Driver(lambda send: next(answers))
    assert driver.run(engine().watch(7, MessageCursor(0), settings())).outcome.job_ended
    assert [s.url.rsplit("/", 2)[1] for s in driver.sent] == ["MonitorJob", "GetMessages"] * 3
    assert driver.pages == [[0]]


def test_outages_are_ridden_out_for_the_grace_period_then_end_the_watch_with_an_error():
    clock = Clock()
    driver = Driver(scripted(Response(503, "down")), clock=clock)
    ended = driver.run(engine(clock, retries=0).watch(7, MessageCursor(0), settings(outage_grace_period=60)))
    assert ended.outcome is Outcome.ERROR and "AMT unreachable for" in ended.message and ended.code is None
    assert 60 <= sum(driver.sleeps) <= 75


def test_errors_that_waiting_cannot_fix_end_the_watch_at_once():
    driver = Driver(scripted(Response(404, json.dumps({"message": "no such request"}))))
    ended = driver.run(engine().watch(7, MessageCursor(0), settings()))
    assert ended.outcome is Outcome.ERROR and "no such request" in ended.message and driver.sleeps == []


def running(send: Send) -> Response:
    return status_body(2) if "MonitorJob" in send.url else page(0, 0)


def test_the_deadline_ends_a_watch_with_a_timeout_without_overshooting():
    clock = Clock()
    driver = Driver(running, clock=clock)
    ended = driver.run(engine(clock).watch(7, MessageCursor(0), settings(deadline=clock.now + 25)))
    assert ended.outcome is Outcome.TIMEOUT and "deadline" in ended.message
    assert sum(driver.sleeps) == pytest.approx(25.0)


def test_undefined_is_tolerated_for_its_grace_period_then_final():
    clock = Clock()
    driver = Driver(lambda send: status_body(19) if "MonitorJob" in send.url else page(0, 0), clock=clock)
    ended = driver.run(engine(clock).watch(7, MessageCursor(0), settings(undefined_grace_period=30)))
    assert (ended.outcome.job_ended, ended.code) == (True, AmtCompletionCode.UNDEFINED)
    assert sum(driver.sleeps) >= 30


def test_success_codes_decide_what_is_final():
    driver = Driver(lambda send: status_body(13) if "MonitorJob" in send.url else page(0, 0))
    wait_for_file_ok = settings(rules=Rules(success_codes=(4, 13)))
    ended = driver.run(engine().watch(7, MessageCursor(0), wait_for_file_ok))
    assert (ended.outcome.job_ended, ended.code) == (True, AmtCompletionCode.WAIT_FOR_FILE)


def statuses(*codes: int) -> Callable[[Send], Response]:
    """A job that is in these states at its polls (the last repeats), writing no messages."""
    answers = list(codes)

    def server(send: Send) -> Response:
        if "MonitorJob" not in send.url:
            return page(0, 0)
        return counted(answers.pop(0) if len(answers) > 1 else answers[0], 0)

    return server


def test_each_state_a_job_waits_in_is_reported_once_with_the_time_it_was_first_seen():
    clock = Clock()
    driver = Driver(statuses(1, 1, 2, 2, 14, 14, 14, 2, 4), clock=clock)
    cursor = MessageCursor(0)
    assert driver.run(engine(clock).watch(7, cursor, settings())).outcome is Outcome.SUCCESS
    reported = [(change.previous, int(change.code)) for change in driver.states]
    assert reported == [(None, 1), (1, 2), (2, 14), (14, 2)]  # not the ending: the completion block says it
    assert driver.states[2].since == 1_000_000.0 + sum(driver.sleeps[:4])  # the poll that first saw 14
    assert (cursor.state, cursor.state_since) == (2, driver.states[3].since)


def test_a_state_the_cursor_holds_is_not_reported_again_and_a_report_held_back_comes_at_the_next_poll():
    clock = Clock()
    driver = Driver(statuses(2, 14, 14, 14, 4), clock=clock)
    held = iter([False, False])  # the caller cannot report the first 14 yet (its checkpoint is not read)
    driver.take_state = lambda change: next(held, None)
    cursor = MessageCursor(0, state=2, state_since=5.0)  # a watch before this one reported RUNNING
    driver.run(engine(clock).watch(7, cursor, settings()))
    assert [int(change.code) for change in driver.states] == [14, 14, 14]
    assert len({change.since for change in driver.states}) == 1  # since when it was first seen, each time
    assert cursor.state == 14 and cursor.state_since == driver.states[0].since


def test_a_caller_that_knows_the_state_from_an_earlier_watch_keeps_its_time():
    clock = Clock()
    cursor = MessageCursor(0)

    def known(change: StateChange) -> None:
        cursor.state, cursor.state_since = int(change.code), 42.0  # an earlier copy reported it then

    driver = Driver(statuses(14, 4), clock=clock, take_state=known)
    driver.run(engine(clock).watch(7, cursor, settings()))
    assert cursor.state_since == 42.0


def test_a_job_held_in_a_state_past_its_limit_ends_the_watch_with_a_timeout_naming_the_state():
    clock = Clock()
    driver = Driver(statuses(1, 14), clock=clock)
    limits = settings(max_time_in_state={"WAIT FOR INPUT REQUEST": 100, 1: 5})
    ended = driver.run(engine(clock).watch(7, MessageCursor(0), limits))
    assert ended.outcome is Outcome.TIMEOUT and ended.code is AmtCompletionCode.WAIT_FOR_INPUT_REQUEST
    assert "WAIT FOR INPUT REQUEST (14) for 100 s: max_time_in_state allows it 100 s" in ended.message
    held_since = driver.states[-1].since
    assert clock.now - held_since == pytest.approx(100.0)  # polled when the limit came, not a pause later


def test_the_time_in_a_state_counts_from_when_an_earlier_watch_saw_it_begin():
    clock = Clock()
    driver = Driver(statuses(14), clock=clock)
    cursor = MessageCursor(0, state=14, state_since=clock.now - 90)  # seen 90 s ago before a deferral
    ended = driver.run(engine(clock).watch(7, cursor, settings(max_time_in_state={14: 100})))
    assert ended.outcome is Outcome.TIMEOUT and driver.states == []
    assert sum(driver.sleeps) == pytest.approx(10.0)


# --- trust: what a failed Start says, redirects, size, time, secrets -------------------------------------


@pytest.mark.parametrize(
    ("reply", "arrived"),
    [
        (TransportFailure(FailureKind.NOT_SENT, "ConnectError: refused"), False),
        (TransportFailure(FailureKind.TLS, "SSLError: bad certificate"), False),
        (TransportFailure(FailureKind.MAYBE_SENT, "ServerDisconnected: dropped"), True),
        (Response(503, "{}"), True),
        (Response(200, "<html>"), True),  # it answered, but nobody can read which job it started
        (Response(400, json.dumps({"message": "bad"})), False),
        (Response(307, "", location="http://elsewhere/"), False),
        (ok({"batchRequestId": 0, "message": "job not defined"}), False),
    ],
)
def test_a_failed_start_says_whether_it_may_have_reached_the_server(reply, arrived):
    driver = Driver(scripted(reply))
    with pytest.raises(AmtError) as err:
        driver.run(engine(retries=0).start(StartRequest.batch_job("DEMO2", "REPORTTEST01")))
    assert err.value.request_may_have_arrived is arrived


def test_redirects_and_oversized_answers_are_never_used():
    moved = Driver(scripted(Response(302, "", location="https://other.example/api")))
    with pytest.raises(AmtConfigurationError, match=r"redirecting to https://other\.example/api"):
        moved.run(engine().status(7))
    assert len(moved.sent) == 1
    huge = Driver(scripted(Response(200, "{", too_large=True)))
    with pytest.raises(AmtResponseError, match="more than 16777216 bytes"):
        huge.run(engine().status(7))


def test_call_timeout_bounds_all_retries_of_one_call():
    clock = Clock()
    config = ServerConfig(URL, "u", "pw", max_retries=20, call_timeout=30)
    slow = Engine(config, HttpRetryPolicy(max_retries=20), rng=random.Random(1), clock=clock, wall_clock=clock)
    driver = Driver(scripted(Response(503, "busy", retry_after="10")), clock=clock)
    with pytest.raises(AmtServerUnavailableError, match=r"longer than call_timeout \(30 s\)"):
        driver.run(slow.status(7))
    assert driver.sleeps == [10.0, 10.0] and len(driver.sent) == 3  # a 3rd wait would leave no time to send


def test_errors_never_carry_the_password_or_the_token():
    echo = Driver(scripted(Response(400, json.dumps({"message": "token tok-1 and password pw-secret rejected"}))))
    with pytest.raises(AmtValidationError) as err:
        echo.run(engine().status(7))
    assert "tok-1" not in str(err.value) and "password *** rejected" in str(err.value)


# --- Stop and Kill ---------------------------------------------------------------------------------


def _actions(driver: Driver) -> list[str]:
    return [s.json["action"] for s in driver.sent if s.method == "POST" and s.json and "action" in s.json]


def test_ending_a_job_that_has_ended_sends_nothing():
    driver = Driver(scripted(status_body(4)))
    ending = driver.run(engine(driver.clock).end(Action.KILL, 7))
    assert ending == JobEnding(7, Action.KILL, AmtCompletionCode.DONE, sent=False)
    assert _actions(driver) == [] and "already ended (DONE (4)): no Kill sent" in str(ending)


def test_stopping_a_queued_job_reports_del_queue():
    action_answer = ok({"batchRequestId": 7})
    driver = Driver(scripted(status_body(1), action_answer, status_body(10)))
    ending = driver.run(engine(driver.clock).end(Action.STOP, 7))
    assert ending == JobEnding(7, Action.STOP, AmtCompletionCode.DEL_QUEUE, sent=True)
    assert _actions(driver) == ["Stop"] and str(ending) == "Stopped AMT batch request 7: completion code DEL_QUEUE (10)"


def test_a_kill_waits_for_the_end_code_and_gives_up_after_the_settle_time():
    driver = Driver(scripted(status_body(2), ok({"batchRequestId": 7}), status_body(2), status_body(2), status_body(3)))
    ending = driver.run(engine(driver.clock).end(Action.KILL, 7))
    assert ending.code is AmtCompletionCode.KILLED and ending.sent and driver.sleeps == [0.25, 0.5]
    stuck = Driver(scripted(status_body(2), ok({"batchRequestId": 7}), status_body(2)))
    ending = stuck.run(engine(stuck.clock).end(Action.KILL, 7, settle=3.0))
    assert ending.code is AmtCompletionCode.RUNNING and sum(stuck.sleeps) >= 3.0 and _actions(stuck) == ["Kill"]
    assert "still RUNNING (2)" in str(ending)
