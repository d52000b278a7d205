"""Property-based fuzzing of what a server may do (issue 22), bounded to about a minute in ``make test``.

* **Both drivers over a real socket**: Hypothesis makes the server's answer (status, headers,
  Content-Encoding, Retry-After, a JSON body of any shape and depth or raw bytes, gzip of either,
  completion codes, message lists with odd indexes, severities and timestamps, an echoed password)
  and sometimes a broken exchange (a reset, a short body, a stall past the request's time). Any
  call ends in a result or a typed ``AmtError``, within its time bound, and no form of the password
  is in any text it produced.
* **The watch** (the engine's polling loop, driven with a fake clock): any sequence of answers and
  transport failures, and a caller whose page or state callback fails or holds back at random,
  ends in a ``WatchResult``, and the watch never sends Stop or Kill on its own; the states it
  reports are never endings and never the one the caller took last.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amt_client import (
    AmtClient,
    AmtError,
    AsyncAmtClient,
    HttpRetryPolicy,
    MessageCursor,
    ServerConfig,
    StateChange,
    WatchSettings,
)
from amt_client.engine import (
    AwaitServer,
    Deliver,
    Engine,
    FailureKind,
    MayRead,
    NeedToken,
    Response,
    Send,
    Sleep,
    TransportFailure,
    secret_forms,
)
from amt_client.policy import Outcome, WatchResult
from tests.crafted import Crafted

PASSWORD = "pa'ss\\wörd\u200b\"x"
TIMEOUT, CONNECT_TIMEOUT = 0.3, 0.3
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same examples on every run: CI stays reproducible
)

# --- what a server may answer ------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.just(PASSWORD),
)
any_json = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
codes = st.one_of(st.integers(min_value=-3, max_value=120), st.sampled_from(["4", "²", "x", "9" * 30]), scalars)
odd_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["a\nAMT [0] forged", "\u2028", "\x85"]
)
message = st.fixed_dictionaries(
    {"index": st.integers(min_value=-1, max_value=3) | scalars, "text": odd_text | scalars},
    optional={"severity": odd_text | scalars, "timestamp": odd_text | scalars},
)
plausible = st.one_of(
    st.fixed_dictionaries(
        {"batchRequestId": st.sampled_from([5, 6, "5", None]), "completionCode": codes},
        optional={"messageCount": scalars, "message": scalars},
    ),
    st.fixed_dictionaries(
        {"messages": st.lists(message, max_size=4)}, optional={"batchRequestId": st.sampled_from([5, 6])}
    ),
    st.fixed_dictionaries({"batchRequestIds": st.lists(scalars, max_size=3)}, optional={"taskId": scalars}),
    st.fixed_dictionaries({"message": st.just(f"denied for {PASSWORD}") | odd_text, "error": scalars}),
)


@st.composite
def answers(draw: st.DrawFn) -> dict[str, Any]:
    shape = draw(st.sampled_from(["json", "plausible", "bytes", "deep"]))
    if shape == "bytes":
        body = draw(st.binary(max_size=200))
    elif shape == "deep":
        depth = draw(st.integers(min_value=500, max_value=5000))
        body = b"[" * depth + b"]" * depth
    else:
        body = json.dumps(draw(plausible if shape == "plausible" else any_json)).encode()
    headers: dict[str, str] = {}
    encoding = draw(st.sampled_from([None, None, "gzip", "deflate", "br", "gzip-broken"]))
    if encoding == "gzip":
        body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
    elif encoding == "gzip-broken":
        body, headers["Content-Encoding"] = body[:1] + b"\x00" + body[1:], "gzip"
    elif encoding:
        headers["Content-Encoding"] = encoding
    if draw(st.booleans()):
        headers["Retry-After"] = draw(st.sampled_from(["1", "0", "-1", "soon", "9" * 40, "Wed, 21 Oct 2015"]))
    if draw(st.booleans()):
        headers["Content-Type"] = draw(
            st.sampled_from(["text/plain", "application/json; charset=latin-1", "x; charset=nope"])
        )
    status = draw(st.sampled_from([200, 200, 200, 201, 204, 301, 400, 401, 403, 404, 409, 418, 429, 500, 503]))
    broken = draw(st.sampled_from([None] * 12 + ["reset", "short", "stall"]))
    return {"status": status, "headers": headers, "body": body, "broken": broken}


def _writer(answer: dict[str, Any]) -> Any:
    def write(handler: Any) -> None:
        body, broken = answer["body"], answer["broken"]
        head = f"HTTP/1.1 {answer['status']} X\r\n"
        for name, value in answer["headers"].items():
            head += f"{name}: {value}\r\n"
        length = len(body) + (50 if broken else 0)
        handler.wfile.write((head + f"Content-Length: {length}\r\n\r\n").encode("utf-8"))
        handler.wfile.write(body)
        handler.wfile.flush()
        if broken == "stall":
            time.sleep(TIMEOUT + CONNECT_TIMEOUT + 0.3)
        elif broken == "reset":
            import socket
            import struct

            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    return write


OPERATIONS = {
    "status": ("GET", "/api/MonitorJob/5", lambda c: c.get_job_status(5)),
    "messages": ("GET", "/api/GetMessages/5", lambda c: c.get_messages(5)),
    "find": ("GET", "/api/FindBatchRequest", lambda c: c.find_batch_requests("task-1")),
    "kill": ("POST", "/api/OpConJobAction", lambda c: c.kill_job(5)),
    "logon": ("POST", "/api/Logon", lambda c: c.get_job_status(5)),
}


@pytest.fixture(scope="module")
def server() -> Iterator[Crafted]:
    crafted = Crafted()
    yield crafted
    crafted.shutdown()


def _leaks(text: str) -> list[str]:
    return [form for form in secret_forms(PASSWORD) if form in text]


def _call(driver: str, server: Crafted, operation: Any) -> Any:
    config = ServerConfig(server.url, "amtopcon", PASSWORD, timeout=TIMEOUT, connect_timeout=CONNECT_TIMEOUT)
    retries = HttpRetryPolicy(max_retries=0)
    if driver == "sync":
        AmtClient.forget_tokens()
        with AmtClient(config, retry_policy=retries) as client:
            return operation(client)

    async def go() -> Any:
        async with AsyncAmtClient(config, retry_policy=retries) as client:
            return await operation(client)

    return asyncio.run(go())


@pytest.mark.parametrize("driver", ["sync", "async"])
@FUZZ
@given(answer=answers(), operation=st.sampled_from(sorted(OPERATIONS)))
def test_any_answer_ends_in_a_result_or_a_typed_error_in_time_and_shows_no_password(server, driver, answer, operation):
    method, path, call = OPERATIONS[operation]
    server.routes.clear()
    server.raw.clear()
    if operation != "logon":
        server.logon_ok()
    server.answer_raw(method, path, _writer(answer))
    began = time.monotonic()
    try:
        result = _call(driver, server, call)
    except AmtError as err:
        text = f"{err} {err!r}"
    else:
        text = repr(result)
    elapsed = time.monotonic() - began
    assert _leaks(text) == [], text
    # two requests at most (a logon and the call), each within connect_timeout + timeout
    assert elapsed < 2 * (TIMEOUT + CONNECT_TIMEOUT) + 1.0, elapsed


# --- the watch ---------------------------------------------------------------------------------------

replies = st.one_of(
    st.builds(
        TransportFailure,
        st.sampled_from([FailureKind.NOT_SENT, FailureKind.MAYBE_SENT, FailureKind.HELD]),
        st.text(max_size=10),
    ),
    st.builds(
        Response,
        st.sampled_from([200, 200, 200, 401, 404, 429, 500, 503]),
        st.one_of(
            plausible.map(json.dumps),
            st.fixed_dictionaries({"batchRequestId": st.just(7), "completionCode": codes}).map(json.dumps),
            st.text(max_size=20),
        ),
        st.sampled_from([None, "1", "²"]),
    ),
)


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@settings(max_examples=400, deadline=None, derandomize=True)
@given(
    script=st.lists(replies, min_size=1, max_size=30),
    failing_pages=st.sets(st.integers(0, 10), max_size=4),
    state_replies=st.lists(st.sampled_from([None, False, "raise"]), max_size=8),
    limits=st.dictionaries(st.sampled_from([0, 1, 2, 5, 13, 14, 19, 20]), st.floats(0.5, 600), max_size=3),
)
def test_a_watch_ends_in_a_result_and_never_ends_the_job_itself(script, failing_pages, state_replies, limits):
    clock = _Clock()
    config = ServerConfig("http://amt.test:1", "amtopcon", PASSWORD, max_retries=2)
    engine = Engine(config, HttpRetryPolicy(max_retries=2, base_delay=0.1, max_delay=1), clock=clock, wall_clock=clock)
    settings_ = WatchSettings(
        poll_interval=5,
        outage_grace_period=60,
        undefined_grace_period=10,
        deadline=clock.now + 3600,
        max_time_in_state=limits,
    )
    cursor = MessageCursor()
    steps = engine.watch(7, cursor, settings_)
    sent: list[Send] = []
    states: list[tuple[int | None, StateChange]] = []  # (the cursor's state when asked, the change)
    pages = 0
    reply: Any = None
    error: Exception | None = None
    for _ in range(10_000):
        try:
            step = steps.throw(error) if error else steps.send(reply)
        except StopIteration as done:
            result = done.value
            break
        reply, error = None, None
        if isinstance(step, Send):
            sent.append(step)
            reply = script[min(len(sent) - 1, len(script) - 1)]
        elif isinstance(step, (Sleep, AwaitServer)):
            clock.now += step.seconds
            reply = False if isinstance(step, AwaitServer) else None
        elif isinstance(step, NeedToken):
            reply = "tok-1"
        elif isinstance(step, MayRead):
            reply = True
        elif isinstance(step, StateChange):
            states.append((cursor.state, step))
            answer = state_replies[len(states) - 1] if len(states) <= len(state_replies) else None
            if answer == "raise":
                error = RuntimeError("the caller's state writer failed")
            else:
                reply = answer
        elif isinstance(step, Deliver):
            pages += 1
            if pages in failing_pages:
                error = RuntimeError("the caller's log writer failed")
    else:
        pytest.fail("the watch neither ended nor gave up within 10,000 steps")
    for taken, change in states:
        assert not change.code.is_terminal and int(change.code) != taken and change.previous == taken
    assert isinstance(result, WatchResult) and result.outcome in set(Outcome) - {Outcome.WAIT}
    actions = [s.json.get("action") for s in sent if isinstance(s.json, dict)]
    assert "Kill" not in actions and "Stop" not in actions
    assert _leaks(result.message) == []
