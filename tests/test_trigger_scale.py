"""What lets one triggerer watch tens of thousands of AMT jobs (issue 11), checked for behaviour.

Figures live in ``bench/triggerer_scale.py``; these tests check that each mechanism does what it
says, against the real emulator where a server is involved: GetMessages only when the status says
there is something new, the checkpoint read after the first poll and in its turn, message reads
spaced under load, one connection read for many triggers, the connection gate, and the triggerer's
young-generation GC threshold.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_amt import config
from airflow_provider_amt.hooks import amt as hook_module
from airflow_provider_amt.triggers import checkpoint, collector
from airflow_provider_amt.triggers.amt import AmtJobTrigger
from airflow_provider_amt.triggers.message_sink import MessageSink
from airflow_provider_amt.triggers.pacing import Pace
from airflow_provider_amt.triggers.runtime import TriggererRuntime
from amt_client import AmtMessage, MessageCursor
from tests.test_completion import TaskInstance, logged_indexes, run_trigger, runtime_with, start, trigger_for


def _job_requests(emulator: Any, route: str, request_id: int) -> list[dict[str, Any]]:
    return [r for r in emulator.requests(route) if r["path"].split("?")[0].endswith(f"/{request_id}")]


@pytest.mark.parametrize("count", [True, False], ids=["count", "no-count"])
def test_getmessages_is_asked_only_when_the_status_says_there_is_something_new(amt, emulator, capsys, count):
    emulator.set_faults(message_count=count)
    request_id = start(amt, "REPORTTEST01", task_values=["A", "B"])
    trigger = AmtJobTrigger(request_id, poll_interval=0.1, initial_interval=0.05, outage_grace_period=2)
    (event,) = run_trigger(trigger)
    total = len(amt.get_messages(request_id))
    assert event["status"] == "success" and event["message_offset"] == total
    assert logged_indexes(capsys.readouterr().out) == list(range(total))  # each once, in order
    polls = len(_job_requests(emulator, "MonitorJob", request_id))
    reads = len(_job_requests(emulator, "GetMessages", request_id)) - 1  # the check above
    if count:  # a read per poll that found new messages, plus the final drain
        assert 2 <= reads < polls
    else:  # no count: a read every poll, as before
        assert reads == polls


def test_the_checkpoint_is_read_after_the_first_poll_and_only_then_are_messages_read(amt, emulator, monkeypatch):
    request_id = start(amt, "REPORTTEST01")
    reads: list[float] = []

    async def slow_read(key: str, **keys: Any) -> Any:
        reads.append(time.time())
        await asyncio.sleep(0.3)  # a busy supervisor
        return {"batch_request_id": request_id, "offset": 2}  # another copy logged 0 and 1

    monkeypatch.setattr(checkpoint, "aget_xcom", slow_read)
    monkeypatch.setattr(checkpoint, "aset_xcom", lambda *a, **k: asyncio.sleep(0))
    trigger = trigger_for(request_id)
    trigger.task_instance = TaskInstance()  # type: ignore[assignment]
    (event,) = run_trigger(trigger)
    first_poll = _job_requests(emulator, "MonitorJob", request_id)[0]["at"]
    first_read = _job_requests(emulator, "GetMessages", request_id)[0]
    assert first_poll < reads[0]  # the first poll did not wait for the checkpoint
    assert first_read["at"] >= reads[0] + 0.3 and "offset=2" in first_read["path"]  # resumed from it
    assert event["message_offset"] == len(amt.get_messages(request_id))


def _sink(message_read_rate: float) -> MessageSink:
    """A trigger's message sink on a runtime of its own (no task instance: no checkpoint to read)."""
    runtime = runtime_with(message_read_rate=message_read_rate)
    return runtime.message_sink(None, 7, MessageCursor(0, keep=0), AmtJobTrigger(7).log, str)


def test_message_reads_are_spaced_by_the_triggerers_read_budget_but_never_the_first_or_the_last():
    async def decisions() -> list[bool]:
        sink = _sink(message_read_rate=100.0)
        watch = sink.runtime.loop_watch
        watch.users = 1000  # a read every 1000 / 100 = 10 s per trigger
        first = await sink.may_read(final=False)
        soon = await sink.may_read(final=False)
        last = await sink.may_read(final=True)
        watch.users = 10  # few triggers: every poll
        sink.read_at = time.monotonic() - 0.2
        return [first, soon, last, await sink.may_read(final=False)]

    assert asyncio.run(decisions()) == [True, False, True, True]


def test_the_read_after_a_triggers_first_comes_at_a_random_point_of_its_spacing(monkeypatch):
    """A restart's triggers all read at once first; a random phase keeps their later reads from
    coming in waves."""
    from airflow_provider_amt.triggers import message_sink

    monkeypatch.setattr(message_sink.random, "random", lambda: 0.25)

    async def after_first_read() -> tuple[bool, float]:
        sink = _sink(message_read_rate=100.0)
        sink.runtime.loop_watch.users = 1000  # a read every 10 s per trigger
        first = await sink.may_read(final=False)
        assert sink.read_at is not None
        return first, time.monotonic() - sink.read_at

    first, elapsed = asyncio.run(after_first_read())
    assert first and 2.5 <= elapsed < 3.0  # the next read is due 7.5 s later, not 10 s


def test_a_pace_lets_a_burst_through_then_spreads_the_rest_at_its_rate():
    pace = Pace(rate=10.0, burst=3)
    delays = [pace.reserve() for _ in range(6)]
    assert delays[:3] == [0.0, 0.0, 0.0]
    assert [round(d, 1) for d in delays[3:]] == [0.1, 0.2, 0.3]
    assert Pace(rate=0).reserve() == 0.0  # 0: no bound


def test_work_in_turn_runs_in_order_at_the_pace_in_its_callers_context_and_can_be_dropped():
    """``Pace.in_turn``: what the checkpoint's first reads wait in (a future each, not a task each)."""
    import contextvars

    who: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")

    async def scenario() -> tuple[list[tuple[str, float]], list[Any], int]:
        pace = Pace(rate=20.0, burst=2)
        began = time.monotonic()
        ran: list[tuple[str, float]] = []

        def work(name: str) -> Any:
            async def run() -> str:
                ran.append((who.get(), round(time.monotonic() - began, 2)))
                if name == "broken":
                    raise RuntimeError("no answer")
                await asyncio.sleep(0.3 if name == "slow" else 0)  # a slow answer holds up no later slot
                return name

            return run

        futures = []
        for name in ("slow", "b", "dropped", "broken", "e"):
            who.set(name)  # each caller's own context (a trigger's log context)
            futures.append(pace.in_turn(work(name)))
        tasks_while_waiting = len(asyncio.all_tasks())
        futures[2].cancel()  # the trigger ended while its read waited: it is not made
        results = await asyncio.gather(*futures, return_exceptions=True)
        return ran, results, tasks_while_waiting

    ran, results, tasks_while_waiting = asyncio.run(scenario())
    assert [name for name, _ in ran] == ["slow", "b", "broken", "e"]  # in order, the dropped one not run
    started = [at for _, at in ran]
    assert started[0] < 0.05 and started[1] < 0.05  # the burst
    assert 0.04 < started[2] - started[1] < 0.2 and 0.04 < started[3] - started[2] < 0.2  # then 20 a second
    assert results[0] == "slow" and results[1] == "b" and results[4] == "e"
    assert isinstance(results[2], asyncio.CancelledError)
    assert isinstance(results[3], RuntimeError)  # a failure reaches its caller
    assert tasks_while_waiting == 2  # the test's own task and one server, not one task per caller


def test_thousands_of_triggers_starting_together_read_their_connection_once(monkeypatch, amt_conn):
    calls: list[str] = []
    real = hook_module.aget_connection

    async def counting(conn_id: str) -> Any:
        calls.append(conn_id)
        await asyncio.sleep(0.05)
        return await real(conn_id)

    monkeypatch.setattr(hook_module, "aget_connection", counting)

    async def resolve_all() -> set[int]:
        connections = TriggererRuntime.current().connections  # what every AMT trigger's hook is given
        hooks = [hook_module.AmtAsyncHook(amt_conn, connections=connections) for _ in range(200)]
        configs = await asyncio.gather(*(hook.get_config() for hook in hooks))
        return {id(config) for config in configs}

    assert len(asyncio.run(resolve_all())) == 1 and calls == [amt_conn]


def test_a_connection_that_cannot_be_read_is_not_kept(monkeypatch):
    from amt_client import AmtConfigurationError

    async def resolve_twice() -> list[str]:
        errors = []
        connections = TriggererRuntime.current().connections
        for _ in range(2):
            try:
                await hook_module.AmtAsyncHook("amt_no_such_connection", connections=connections).get_config()
            except AmtConfigurationError as err:
                errors.append(str(err))
        return errors

    errors = asyncio.run(resolve_twice())
    assert len(errors) == 2 and "amt_no_such_connection" in errors[1]


def test_the_cursor_of_a_trigger_keeps_no_messages():
    """A triggerer holds a cursor per watched job; the worker reports the last messages, not the trigger."""
    trigger = AmtJobTrigger(7)
    trigger._cursor.advance([AmtMessage(index=0, text="x" * 1000)])
    assert trigger._cursor.offset == 1 and trigger._cursor.last == ()


@pytest.fixture
def gc_threshold() -> Iterator[None]:
    """A process where no AMT trigger has run yet, at the threshold it started with; restored after."""
    before = gc.get_threshold()
    gc.set_threshold(collector.STARTING_YOUNG_THRESHOLD, before[1], before[2])
    yield
    gc.set_threshold(*before)


def test_the_first_trigger_raises_the_young_gc_threshold_from_the_option(amt, emulator, monkeypatch, gc_threshold):
    monkeypatch.setenv("AIRFLOW__AMT__TRIGGERER_GC_THRESHOLD", "25000")
    (event,) = run_trigger(trigger_for(start(amt, "REPORTTEST01")))
    assert event["status"] == "success"
    assert gc.get_threshold()[0] == 25_000


class _Lines:
    """A logger that keeps each line with the log context it was logged in."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[contextvars.ContextVar[Any], Any]]] = []

    def info(self, message: str, *args: Any) -> None:
        self.lines.append((message % args, dict(contextvars.copy_context())))


def test_the_threshold_is_raised_once_never_lowered_and_logged_outside_any_tasks_log(gc_threshold):
    trigger_id = contextvars.ContextVar("trigger_id")
    trigger_id.set(7)  # as the trigger runner binds it: the line would go to that task's log
    log = _Lines()
    assert collector.raise_young_threshold(10_000, log) is True  # type: ignore[arg-type]
    assert gc.get_threshold()[0] == 10_000
    ((line, context),) = log.lines
    started = collector.STARTING_YOUNG_THRESHOLD  # 700 before Python 3.13, 2000 from it
    assert f"from {started} to 10000" in line and trigger_id not in context  # the triggerer's own log
    gc.set_threshold(900, *gc.get_threshold()[1:])  # someone changed it afterwards: left alone
    assert collector.raise_young_threshold(10_000, log) is False and gc.get_threshold()[0] == 900
    assert len(log.lines) == 1


@pytest.mark.parametrize(("current", "option"), [(50_000, 10_000), (700, 0)], ids=["already-higher", "off"])
def test_the_threshold_is_left_alone_when_higher_or_switched_off(gc_threshold, current, option):
    gc.set_threshold(current, *gc.get_threshold()[1:])
    log = _Lines()
    assert collector.raise_young_threshold(option, log) is False  # type: ignore[arg-type]
    assert gc.get_threshold()[0] == current and log.lines == []


@pytest.mark.parametrize(("value", "read"), [("25000", 25_000), ("-5", 0), ("lots", 10_000), ("2.5e3", 10_000)])
def test_the_threshold_option_is_a_whole_number_never_below_zero(monkeypatch, value, read):
    monkeypatch.setenv("AIRFLOW__AMT__TRIGGERER_GC_THRESHOLD", value)

    assert config.trigger_options().triggerer_gc_threshold == read
