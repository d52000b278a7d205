"""The trigger's run loop and every branch of the operators' and the sensor's completion handling.

Driven directly (no scheduler, no ``dags test``) against the real emulator: the trigger's ``run()``
on an event loop, and ``execute_complete`` / ``resume_execution`` / ``on_kill`` with a small
task-instance stand-in, so each branch is reached on purpose rather than by end-to-end luck.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import re
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_provider_amt import config
from airflow_provider_amt.compat import (
    AirflowProviderDeprecationWarning,
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTimeout,
)
from airflow_provider_amt.hooks.amt import AmtHook
from airflow_provider_amt.operators.amt import AmtBatchJobOperator
from airflow_provider_amt.sensors.amt import AmtJobSensor
from airflow_provider_amt.triggers import amt as amt_trigger_module
from airflow_provider_amt.triggers import message_sink as message_sink_module
from airflow_provider_amt.triggers.amt import AmtJobTrigger
from airflow_provider_amt.triggers.runtime import TriggererRuntime
from amt_client import (
    AmtCompletionCode,
    AmtError,
    AmtJobFailedError,
    AmtNotFoundError,
    AmtResponseError,
    AmtValidationError,
    StartRequest,
)
from amt_client.start import TaskType
from tests.airflow_harness import AMT_INDEX
from tests.conftest import FAST_RETRIES

Code = AmtCompletionCode


def start(amt: AmtHook, job: str, **kwargs: Any) -> int:
    return amt.start_batch_job("DEMO2", job, **kwargs)


def wait_for(amt: AmtHook, request_id: int, codes: set[Code], timeout: float = 15.0) -> Code:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = amt.get_job_status(request_id).code
        if code in codes:
            return code
        time.sleep(0.05)
    raise AssertionError(f"batch request {request_id} never reached {codes}")


# --- the trigger's run loop ---------------------------------------------------------------------------


def runtime_with(**options: Any) -> TriggererRuntime:
    """A triggerer runtime with these ``[amt]`` options (the rest as configured)."""
    return TriggererRuntime(dataclasses.replace(config.trigger_options(), **options))


def run_trigger(trigger: AmtJobTrigger) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


def trigger_for(request_id: int, **kwargs: Any) -> AmtJobTrigger:
    return AmtJobTrigger(request_id, poll_interval=0.2, initial_interval=0.05, outage_grace_period=2, **kwargs)


def logged_indexes(output: str) -> list[int]:
    """The AMT message indexes in the order the trigger logged them (Airflow's console log format)."""
    return [int(index) for index in re.findall(AMT_INDEX, output)]


def test_the_trigger_logs_every_message_once_in_order_and_reports_the_offset(amt, capsys):
    request_id = start(amt, "REPORTTEST01", task_values=["A", "B"])
    (event,) = run_trigger(trigger_for(request_id))
    total = len(amt.get_messages(request_id))
    assert event == {
        "status": "success",
        "batch_request_id": request_id,
        "completion_code": 4,
        "message_offset": total,
        "message": event["message"],
    }
    assert logged_indexes(capsys.readouterr().out) == list(range(total))


def test_at_read_the_trigger_logs_no_message_and_the_worker_logs_them_all_from_its_offset(amt, emulator, capsys):
    """``[amt] trigger_messages = at_read``: the trigger polls the status only and reports the offset it
    was given, so the worker that resumes logs every message itself (its log is not the triggerer's)."""
    request_id = start(amt, "REPORTTEST01", task_values=["A", "B"])
    since = emulator.last_request_seq()

    async def collect() -> list[dict[str, Any]]:
        runtime_with(messages_live=False).install()
        return [event.payload async for event in trigger_for(request_id).run()]

    (event,) = asyncio.run(collect())
    assert event["status"] == "success" and event["message_offset"] == 0
    assert emulator.requests("GetMessages", since=since) == []
    out = capsys.readouterr().out
    assert logged_indexes(out) == [] and "on are added from AMT when the log is read" in out
    op = operator()
    complete(op, request_id, "success", 4, event["message_offset"])
    assert logged_indexes(capsys.readouterr().out) == list(range(len(amt.get_messages(request_id))))


def test_the_trigger_resumes_from_its_offset_without_repeating_messages(amt, capsys):
    request_id = start(amt, "REPORTTEST01", task_values=["A"])
    wait_for(amt, request_id, {Code.DONE})
    (event,) = run_trigger(trigger_for(request_id, message_offset=3))
    total = len(amt.get_messages(request_id))
    assert logged_indexes(capsys.readouterr().out) == list(range(3, total)) and event["message_offset"] == total


@pytest.mark.parametrize(
    ("job", "status", "code"),
    [("FAILINGREPORT", "failed", 11), ("ABORTINGREPORT", "failed", 12), ("SKIPPEDREPORT", "failed", 6)],
)
def test_failed_jobs_end_the_trigger_with_their_code(amt, job, status, code):
    (event,) = run_trigger(trigger_for(start(amt, job)))
    assert (event["status"], event["completion_code"]) == (status, code)


def test_a_skip_by_the_tasks_rules_is_reported_as_skipped_and_skips_the_task(amt):
    """One outcome from the trigger's event to the task's end: 6 SKIPPED_BY_OPS under
    ``skip_on_skipped_by_ops`` is ``skipped`` in the event (0.2 said ``failed``; both skip the task)."""
    skipped = start(amt, "SKIPPEDREPORT")
    (event,) = run_trigger(trigger_for(skipped, skip_on_skipped_by_ops=True))
    assert (event["status"], event["completion_code"]) == ("skipped", 6)
    with pytest.raises(AirflowSkipException, match="SKIPPED_BY_OPS"):
        complete(operator(skip_on_skipped_by_ops=True), skipped, "skipped", 6)


def test_a_killed_job_is_reported_as_cancelled(amt):
    request_id = start(amt, "LONGRUNNINGREPORT")
    wait_for(amt, request_id, {Code.RUNNING})
    amt.kill_job(request_id)
    (event,) = run_trigger(trigger_for(request_id))
    assert (event["status"], event["completion_code"]) == ("cancelled", 3)


def test_the_deadline_ends_the_trigger_with_a_timeout_and_leaves_the_job_to_the_worker(amt):
    request_id = start(amt, "LONGRUNNINGREPORT")
    (event,) = run_trigger(trigger_for(request_id, deadline=time.time() + 1.0))
    assert event["status"] == "timeout" and event["completion_code"] in (1, 2)
    assert amt.get_job_status(request_id).code in (Code.QUEUED, Code.RUNNING)  # the trigger never kills
    amt.kill_job(request_id)


def test_errors_that_waiting_cannot_fix_end_the_trigger_with_an_error_event(amt, monkeypatch):
    (unknown,) = run_trigger(trigger_for(999_999))
    assert unknown["status"] == "error" and "HTTP 404" in unknown["message"]
    monkeypatch.delenv("AIRFLOW_CONN_AMT_MISSING", raising=False)
    (missing,) = run_trigger(trigger_for(1, amt_conn_id="amt_missing"))
    assert (missing["status"], missing["completion_code"]) == ("error", None)
    assert "Connection 'amt_missing' is not defined" in missing["message"]


def test_an_outage_longer_than_the_grace_period_ends_the_trigger_with_an_error(amt, emulator):
    request_id = start(amt, "LONGRUNNINGREPORT")
    emulator.set_faults([{"route": "MonitorJob", "action": "error", "status": 503}])
    try:
        (event,) = run_trigger(trigger_for(request_id))
    finally:
        emulator.set_faults([])
    assert event["status"] == "error" and "unreachable for" in event["message"]
    amt.kill_job(request_id)


@pytest.mark.parametrize(
    ("kwargs", "sent"),
    [
        ({}, "Kill"),
        ({"on_kill_action": "stop"}, "Stop"),
        ({"on_kill_action": None}, None),
        ({"cancel_on_kill": False}, None),  # a trigger serialized by 0.2
    ],
)
def test_on_kill_sends_the_kill_policy_only_when_the_task_owns_it(amt, emulator, kwargs, sent):
    request_id = start(amt, "LONGRUNNINGREPORT")
    wait_for(amt, request_id, {Code.RUNNING})
    since = max((e["seq"] for e in emulator.requests()), default=0)
    asyncio.run(trigger_for(request_id, **kwargs).on_kill())
    actions = [e["action"] for e in emulator.requests("OpConJobAction") if e["seq"] > since]
    assert actions == ([sent] if sent else [])
    assert amt.get_job_status(request_id).code is (Code.KILLED if sent else Code.RUNNING)
    amt.kill_job(request_id)


class _Channel:
    """What every stand-in for the triggerer's supervisor channel shares: Airflow 3.0-3.1 reach it
    from a thread through the sync ``send`` (a connection's secrets, XCom)."""

    def send(self, msg: Any) -> Any:
        """Airflow 3.0-3.1: sync calls from a thread (connections, XCom) come through here."""
        from airflow.sdk.execution_time.comms import MaskSecret

        if isinstance(msg, MaskSecret):
            return None
        return asyncio.run(self.asend(msg))  # called from a worker thread: a loop of its own

    async def asend(self, msg: Any) -> Any:
        raise RuntimeError("not available in this test")


class _Supervisor(_Channel):
    """The triggerer's answers to ``GetTaskStates`` and ``GetXCom`` (what ``on_kill`` asks before acting)."""

    def __init__(self, state: str | None, watched: int | None = None):
        self.state = state
        self.watched = watched  # the batch request id in the task instance's XCom now
        self.asked: list[Any] = []

    async def asend(self, msg: Any) -> Any:
        from airflow.sdk.execution_time.comms import GetTaskStates, GetXCom, TaskStatesResult, XComResult

        if isinstance(msg, GetXCom):
            return XComResult(key=msg.key, value=self.watched)
        if not isinstance(msg, GetTaskStates):  # the connection: from the environment, as in dags test
            raise RuntimeError("not available in this test")
        self.asked.append(msg)
        return TaskStatesResult(task_states={msg.run_ids[0]: {msg.task_ids[0]: self.state}})


@pytest.mark.parametrize(
    ("state", "killed"),
    [("deferred", False), ("failed", True), ("success", True), (None, True), ("scheduled", True)],
    ids=["moved-to-another-triggerer", "marked-failed", "marked-success", "cleared", "cleared-rescheduled"],
)
def test_on_kill_leaves_a_job_alone_while_the_task_is_still_deferred(amt, monkeypatch, state, killed):
    from airflow.sdk.execution_time import task_runner

    request_id = start(amt, "LONGRUNNINGREPORT")
    supervisor = _Supervisor(state, watched=request_id)
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", supervisor, raising=False)
    wait_for(amt, request_id, {Code.RUNNING})
    trigger = trigger_for(request_id)
    trigger.task_instance = TaskInstance()  # type: ignore[assignment]
    asyncio.run(trigger.on_kill())
    (asked,) = supervisor.asked
    assert (asked.dag_id, asked.task_ids, asked.run_ids, asked.map_index) == ("unit", ["job"], ["run"], -1)
    assert amt.get_job_status(request_id).code is (Code.KILLED if killed else Code.RUNNING)
    amt.kill_job(request_id)


def test_a_copy_that_was_stalled_neither_relogs_nor_moves_the_checkpoint_back(amt, monkeypatch, capsys):
    """Another triggerer took the trigger over during a stall and logged up to message 3."""
    from airflow.sdk.execution_time.comms import GetXCom

    from airflow_provider_amt.triggers import stall

    request_id = start(amt, "SLOWREPORT")  # a message every 0.2 s for 5 s: pages saved while it runs
    channel = _Checkpoints()  # at start: nothing saved yet

    async def saved_by_the_other_copy_after_the_start(msg: Any) -> Any:
        if isinstance(msg, GetXCom) and channel.reads == 1:
            channel.value = {"batch_request_id": request_id, "offset": 4}
        return await _Checkpoints.asend(channel, msg)

    channel.asend = saved_by_the_other_copy_after_the_start  # type: ignore[method-assign]
    monkeypatch.setattr(stall.LoopWatch, "stalled_since", lambda self, since: True)
    event, logged = _watch_with(monkeypatch, channel, "0", request_id, **deferred_running(amt, request_id))
    total = len(amt.get_messages(request_id))
    assert logged == list(range(4, total)) and event["message_offset"] == total
    # only past what the other copy had saved, never behind it (the last pages need no save: the event has them)
    assert channel.writes and min(channel.writes) > 4 and channel.writes == sorted(set(channel.writes))
    assert "another copy of the trigger has logged AMT messages up to 3" in capsys.readouterr().out


class _Checkpoints(_Channel):
    """The triggerer's XCom channel for the checkpoint: what is saved, every read and write."""

    def __init__(self, saved: int | None = None, request_id: int = 0):
        self.value: Any = None if saved is None else {"batch_request_id": request_id, "offset": saved}
        self.reads = 0
        self.writes: list[int] = []

    async def asend(self, msg: Any) -> Any:
        from airflow.sdk.execution_time.comms import GetXCom, SetXCom, XComResult

        if isinstance(msg, GetXCom):
            self.reads += 1
            return XComResult(key=msg.key, value=self.value)
        if isinstance(msg, SetXCom):
            self.value = json.loads(msg.value) if isinstance(msg.value, str) else msg.value
            self.writes.append(self.value["offset"])
            return None
        raise RuntimeError("not available in this test")


def _watch_with(
    monkeypatch, channel: _Checkpoints, interval: str, request_id: int, **kwargs: Any
) -> tuple[dict[str, Any], list[int]]:
    from airflow.sdk.execution_time import task_runner

    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", channel, raising=False)
    monkeypatch.setenv("AIRFLOW__AMT__CHECKPOINT_INTERVAL", interval)
    monkeypatch.setenv("AIRFLOW__AMT__CHECKPOINT_RATE", "0")  # one trigger: the rate bound is not tested here
    logged: list[int] = []
    real_log_messages = message_sink_module.log_messages
    monkeypatch.setattr(
        message_sink_module,
        "log_messages",
        lambda log, page, *rest: (logged.extend(m.index for m in page), real_log_messages(log, page, *rest)),
    )
    trigger = trigger_for(request_id, **kwargs)
    trigger.task_instance = TaskInstance()  # type: ignore[assignment]
    (event,) = run_trigger(trigger)
    return event, logged


def deferred_running(amt: AmtHook, request_id: int) -> dict[str, Any]:
    """The trigger kwargs of a task that deferred once its job ran (it logged RUNNING itself): this
    copy has no state change to save, only pages."""
    wait_for(amt, request_id, {Code.RUNNING})
    return {"state": 2, "state_since": time.time()}


def test_the_checkpoint_is_saved_at_most_once_per_interval(amt, monkeypatch):
    """CHATTYREPORT writes a message every 0.3 s: many pages, each with new messages."""
    every_page = _Checkpoints()
    request_id = start(amt, "CHATTYREPORT")
    event, logged = _watch_with(monkeypatch, every_page, "0", request_id)
    assert logged == list(range(event["message_offset"]))
    assert len(every_page.writes) >= 3 and every_page.writes == sorted(set(every_page.writes))
    throttled = _Checkpoints()
    request_id = start(amt, "CHATTYREPORT")
    event, logged = _watch_with(monkeypatch, throttled, "3600", request_id)
    assert logged == list(range(event["message_offset"]))
    assert throttled.writes == [] and throttled.reads == 1  # the read at start; the event carries the offset


@pytest.mark.parametrize(
    ("triggers", "rate", "every"),
    [(1, 10.0, 30.0), (300, 10.0, 30.0), (500, 10.0, 50.0), (20_000, 10.0, 2000.0), (20_000, 0.0, 30.0)],
)
def test_the_triggers_of_one_triggerer_share_one_checkpoint_budget(triggers, rate, every):
    """``[amt] checkpoint_rate``: many triggers save less often each, so the supervisor's load is bounded."""
    runtime = runtime_with(checkpoint_interval=30.0, checkpoint_rate=rate)
    runtime.loop_watch.users = triggers  # the AMT triggers running on this event loop
    assert runtime.checkpoint_save_spacing() == every


def test_a_checkpoint_ahead_of_the_copy_is_never_saved_over(amt, monkeypatch):
    """After this copy's first page, another copy of the trigger saves an offset two messages ahead."""
    request_id = start(amt, "SLOWREPORT")  # a message every 0.2 s for 5 s: many pages
    channel = _Checkpoints(saved=0, request_id=request_id)
    ahead: list[int] = []
    logged_so_far: list[int] = []

    async def read_ahead(msg: Any) -> Any:
        from airflow.sdk.execution_time.comms import GetXCom

        if isinstance(msg, GetXCom) and channel.reads == 1:  # the read before this copy's first save
            ahead.append(logged_so_far[-1] + 3)
            channel.value = {"batch_request_id": request_id, "offset": ahead[0]}  # the other copy's save
        return await _Checkpoints.asend(channel, msg)

    channel.asend = read_ahead  # type: ignore[method-assign]
    real_log_messages = message_sink_module.log_messages

    def log_messages(log: Any, page: Any, *rest: Any) -> None:
        logged_so_far.extend(m.index for m in page)
        real_log_messages(log, page, *rest)

    monkeypatch.setattr(message_sink_module, "log_messages", log_messages)
    event, logged = _watch_with(monkeypatch, channel, "0", request_id, **deferred_running(amt, request_id))
    (other,) = ahead
    total = event["message_offset"]
    assert total == len(amt.get_messages(request_id)) and total > other
    assert logged == [i for i in range(total) if not other - 2 <= i < other]  # the other copy's part: not again
    assert channel.writes and min(channel.writes) > other and channel.writes == sorted(channel.writes)


def test_a_watch_never_waits_for_a_checkpoint_save(amt, monkeypatch):
    """A supervisor that takes 20 s to answer a save holds up neither the polls nor the logging: the
    save runs beside the watch (issue 23: the watch awaited it, so its next poll queued behind every
    other trigger's save)."""
    from airflow.sdk.execution_time.comms import SetXCom
    from airflow.triggers.base import TriggerEvent

    request_id = start(amt, "SLOWREPORT")  # a message every 0.2 s for 5 s: many pages
    channel = _Checkpoints()
    saves_begun: list[float] = []
    events_at: list[float] = []

    async def slow_saves(msg: Any) -> Any:
        if isinstance(msg, SetXCom):
            saves_begun.append(time.monotonic())
            await asyncio.sleep(20)
        return await _Checkpoints.asend(channel, msg)

    def stamped(payload: Any) -> Any:  # when the trigger sends its event (Airflow 3.0-3.2 run the save in a
        events_at.append(time.monotonic())  # thread, which asyncio.run then waits for when it closes the loop)
        return TriggerEvent(payload)

    monkeypatch.setattr(amt_trigger_module, "TriggerEvent", stamped)
    channel.asend = slow_saves  # type: ignore[method-assign]
    began = time.monotonic()
    event, logged = _watch_with(monkeypatch, channel, "0", request_id)
    assert event["status"] == "success" and logged == list(range(event["message_offset"]))
    assert event["message_offset"] == len(amt.get_messages(request_id))
    assert saves_begun and events_at and events_at[0] - began < 15  # the job's 5 s, not the save's 20
    assert len(saves_begun) == 1  # one save in flight per trigger: the pages after it wait, coalesced


def test_triggers_that_start_together_do_not_save_together(monkeypatch):
    """With more triggers than ``checkpoint_rate`` serves at once, each trigger's first save comes at a
    random point of its spacing, so a restart's triggers save spread out, not in waves."""
    from airflow_provider_amt.triggers import checkpoint as checkpoint_module
    from airflow_provider_amt.triggers.pacing import Pace

    now = [1000.0]
    monkeypatch.setattr(checkpoint_module.time, "monotonic", lambda: now[0])
    runtime = runtime_with(checkpoint_interval=0.0, checkpoint_rate=10.0)
    runtime.loop_watch.users = 1000  # at 10 saves a second: each trigger saves every 100 s
    saved: list[int] = []

    class Saves(Pace):
        def in_turn(self, work: Any) -> Any:
            saved.append(1)
            return asyncio.get_event_loop().create_future()

    runtime.checkpoint_saves = Saves(0)

    async def first_pages_then_later_ones() -> list[int]:
        checkpoints = [checkpoint_module.Checkpoint(None, n, None, runtime) for n in range(1000)]
        due = []
        for later in (0.0, 25.0, 50.0):
            now[0] = 1000.0 + later
            for each in checkpoints:
                each.logged(5)
            due.append(len(saved))
        return due

    at_start, after_a_quarter, after_half = asyncio.run(first_pages_then_later_ones())
    assert at_start < 50  # not all at once
    assert 150 < after_a_quarter < 350 and 400 < after_half < 600  # spread evenly over the spacing


@pytest.mark.parametrize("slow_first_save", [False, True], ids=["not_due_yet", "while_a_save_runs"])
def test_what_was_logged_is_saved_when_its_turn_comes_without_a_later_page(monkeypatch, slow_first_save):
    """A quiet job's state line (or a last page) logged before its save is due is saved when it comes
    due, not only when the trigger logs something else (issue 23's 10,000 quiet jobs: 9,600 of them
    never saved their state, so a moved copy would have logged it again). The same for what is logged
    while a save is under way: it is saved after that one."""
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.comms import SetXCom

    from airflow_provider_amt.triggers import checkpoint as checkpoint_module

    channel = _Checkpoints(saved=0, request_id=7)
    real_asend = channel.asend

    async def slow_first_write(msg: Any) -> Any:
        if slow_first_save and isinstance(msg, SetXCom) and not channel.writes:
            await asyncio.sleep(0.3)
        return await real_asend(msg)

    channel.asend = slow_first_write  # type: ignore[method-assign]
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", channel, raising=False)
    monkeypatch.setattr(checkpoint_module.random, "random", lambda: 0.0)  # the first save: a full spacing away
    runtime = runtime_with(checkpoint_interval=0.0, checkpoint_rate=10.0)
    runtime.loop_watch.users = 2  # each trigger saves at most every 0.2 s

    async def log_then_go_quiet() -> None:
        checkpoint = checkpoint_module.Checkpoint(TaskInstance(), 7, logging.getLogger(__name__), runtime)
        if slow_first_save:
            await asyncio.sleep(0.25)
            checkpoint.logged(3)  # due: its save starts and takes 0.3 s
            await asyncio.sleep(0.1)
        checkpoint.logged(5)  # the last page ...
        checkpoint.logged_state((14, 1000.0))  # ... and the job's new state, then nothing more
        await asyncio.sleep(1.2)
        checkpoint.close()

    asyncio.run(log_then_go_quiet())
    assert channel.writes[-1] == 5 and channel.value["state"] == 14
    assert len(channel.writes) == (2 if slow_first_save else 1)


def test_on_kill_survives_the_triggerers_repeated_cancellation(amt, monkeypatch):
    """Airflow 3.3.2 cancels a cancelling trigger again every loop: on_kill is interrupted, the Kill is not."""
    from airflow.sdk.execution_time import task_runner

    class SlowSupervisor(_Supervisor):
        async def asend(self, msg: Any) -> Any:
            await asyncio.sleep(0.3)  # a loaded triggerer answers slowly
            return await super().asend(msg)

    request_id = start(amt, "LONGRUNNINGREPORT")
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", SlowSupervisor("failed"), raising=False)
    wait_for(amt, request_id, {Code.RUNNING})
    trigger = trigger_for(request_id)
    trigger.task_instance = TaskInstance()  # type: ignore[assignment]

    async def as_the_triggerer_does() -> None:
        on_kill = asyncio.ensure_future(trigger.on_kill())
        await asyncio.sleep(0.1)
        on_kill.cancel()  # the second cancellation, while on_kill waits for the task state
        with pytest.raises(asyncio.CancelledError):
            await on_kill
        await asyncio.sleep(3)  # the loop goes on running (the triggerer's does)

    asyncio.run(as_the_triggerer_does())
    assert amt.get_job_status(request_id).code is Code.KILLED


@pytest.mark.parametrize("watched", ["another job", None], ids=["cleared-new-try-started-another", "unknown"])
def test_on_kill_of_a_task_deferred_on_another_job_kills_this_one(amt, monkeypatch, watched):
    """Cleared, and the new try (which found no record) started and deferred on a new job first."""
    from airflow.sdk.execution_time import task_runner

    request_id = start(amt, "LONGRUNNINGREPORT")
    other = request_id + 1000 if watched else None
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", _Supervisor("deferred", watched=other), raising=False)
    wait_for(amt, request_id, {Code.RUNNING})
    trigger = trigger_for(request_id)
    trigger.task_instance = TaskInstance()  # type: ignore[assignment]
    asyncio.run(trigger.on_kill())
    assert amt.get_job_status(request_id).code is (Code.KILLED if watched else Code.RUNNING)
    amt.kill_job(request_id)


# --- the operator's completion handling -----------------------------------------------------------------


@dataclass
class TaskInstance:
    """The parts of Airflow's RuntimeTaskInstance the operators use."""

    xcom: dict[str, Any] = field(default_factory=dict)
    dag_id: str = "unit"
    run_id: str = "run"
    task_id: str = "job"
    map_index: int = -1
    try_number: int = 1
    start_date: Any = None

    def xcom_pull(self, task_ids: str, key: str) -> Any:
        return self.xcom.get(key)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def operator(**kwargs: Any) -> AmtBatchJobOperator:
    op = AmtBatchJobOperator(task_id="job", application_name="DEMO2", job_name="REPORTTEST01", **kwargs)
    op.hook._retry_policy = FAST_RETRIES
    return op


def complete(op: AmtBatchJobOperator, request_id: int, status: str, code: int | None, offset: int = 0) -> Any:
    context = {"ti": TaskInstance({"batch_request_id": request_id})}
    event = {"status": status, "batch_request_id": request_id, "completion_code": code, "message_offset": offset}
    return op.execute_complete(context, {**event, "message": "from the trigger"})


def test_a_successful_event_returns_the_result_and_logs_the_rest(amt):
    request_id = start(amt, "REPORTTEST01")
    wait_for(amt, request_id, {Code.DONE})
    assert complete(operator(), request_id, "success", 4) == {
        "batch_request_id": request_id,
        "completion_code": 4,
        "completion_name": "DONE",
        "status": "DONE",
        "outcome": "success",
    }


@pytest.mark.parametrize(
    ("job", "code", "text"),
    [("FAILINGREPORT", 11, "11 ERROR"), ("ABORTINGREPORT", 12, "12 ABORTED"), ("SKIPPEDREPORT", 6, "6 SKIPPED_BY_OPS")],
)
def test_a_failed_event_fails_the_task_quoting_the_last_messages(amt, job, code, text):
    request_id = start(amt, job)
    wait_for(amt, request_id, {Code(code)})
    total = len(amt.get_messages(request_id))
    with pytest.raises(AmtJobFailedError, match=text) as err:
        complete(operator(), request_id, "failed", code, offset=total)  # the trigger logged them all
    last = amt.get_messages(request_id)[-1].text
    assert last in str(err.value)


def test_skipped_by_ops_can_skip_and_success_codes_can_widen_success(amt):
    skipped = start(amt, "SKIPPEDREPORT")
    wait_for(amt, skipped, {Code.SKIPPED_BY_OPS})
    with pytest.raises(AirflowSkipException, match="SKIPPED_BY_OPS"):
        complete(operator(skip_on_skipped_by_ops=True), skipped, "failed", 6)
    aborted = start(amt, "ABORTINGREPORT")
    wait_for(amt, aborted, {Code.ABORTED})
    assert complete(operator(success_codes=[4, 12]), aborted, "success", 12)["status"] == "ABORTED"


def test_undefined_past_its_grace_period_fails_the_task(amt):
    request_id = start(amt, "UNDEFINEDREPORT")
    wait_for(amt, request_id, {Code.UNDEFINED})
    with pytest.raises(AmtJobFailedError, match="19 UNDEFINED"):
        complete(operator(), request_id, "failed", 19)


def test_a_timeout_event_kills_the_job_and_fails_with_a_timeout(amt):
    request_id = start(amt, "LONGRUNNINGREPORT")
    wait_for(amt, request_id, {Code.RUNNING})
    with pytest.raises(AirflowTaskTimeout, match=f"batch request {request_id}\\) was killed"):
        complete(operator(), request_id, "timeout", 2)
    assert amt.get_job_status(request_id).code is Code.KILLED


def test_an_error_event_is_checked_once_more_with_amt(amt):
    done = start(amt, "REPORTTEST01")
    wait_for(amt, done, {Code.DONE})
    assert complete(operator(), done, "error", None)["status"] == "DONE"  # it had ended meanwhile
    running = start(amt, "REPORTTEST01")
    wait_for(amt, running, {Code.QUEUED, Code.RUNNING})
    # still running: the rest of the wait happens on the worker, then the task succeeds
    assert complete(operator(poll_interval=0.2), running, "error", None)["status"] == "DONE"
    with pytest.raises(AmtNotFoundError, match="checking batch request 999999 again failed too") as err:
        complete(operator(), 999_999, "error", None)
    assert "a retry of this task reconnects to it" in str(err.value)


def test_an_event_for_another_job_is_refused(amt):
    context = {"ti": TaskInstance({"batch_request_id": 5})}
    event = {"status": "success", "batch_request_id": 6, "completion_code": 4, "message_offset": 0}
    with pytest.raises(AmtResponseError, match="is for batch request 6, but this task watches 5"):
        operator().execute_complete(context, event)


def test_the_frameworks_deferral_failure_path_kills_the_job(amt):
    request_id = start(amt, "LONGRUNNINGREPORT")
    wait_for(amt, request_id, {Code.RUNNING})
    context = {"ti": TaskInstance({"batch_request_id": request_id})}
    with pytest.raises(Exception, match="Trigger timeout"):
        operator().resume_execution("__fail__", {"error": "Trigger timeout"}, context)
    assert amt.get_job_status(request_id).code is Code.KILLED


@pytest.mark.parametrize(
    ("kwargs", "ended"),
    [
        ({}, True),
        ({"on_kill_action": "stop"}, True),
        ({"on_kill_action": None}, False),
        ({"cancel_on_kill": False}, False),
    ],
)
@pytest.mark.filterwarnings("ignore:cancel_on_kill is deprecated")
def test_on_kill_on_the_worker_follows_on_kill_action(amt, kwargs, ended):
    request_id = start(amt, "LONGRUNNINGREPORT")
    wait_for(amt, request_id, {Code.RUNNING})
    op = operator(**kwargs)
    op._watch(StartRequest(TaskType.BATCH_JOB, "DEMO2", "LONGRUNNINGREPORT"), request_id, None)  # as execute()
    op.on_kill()
    assert amt.get_job_status(request_id).code is (Code.KILLED if ended else Code.RUNNING)
    amt.kill_job(request_id)


def test_cancel_on_kill_is_deprecated_in_favour_of_on_kill_action():
    """Issue 24: one setting for one behaviour. 0.2's switch still works for one release, with a warning
    that names its replacement; a DAG that does not pass it hears nothing."""
    with pytest.warns(AirflowProviderDeprecationWarning, match=r"cancel_on_kill is deprecated.*on_kill_action=None"):
        assert operator(cancel_on_kill=False).on_kill_action is None
    with pytest.warns(AirflowProviderDeprecationWarning, match="cancel_on_kill"):
        assert operator(cancel_on_kill=True).on_kill_action == "kill"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert operator(on_kill_action=None).on_kill_action is None
        assert AmtJobTrigger(batch_request_id=5, cancel_on_kill=False).on_kill_action is None  # stored by 0.2


def test_the_kill_policy_is_checked_when_the_dag_is_parsed():
    with pytest.raises(AmtValidationError, match="on_kill_action must be 'kill', 'stop' or None, not 'terminate'"):
        operator(on_kill_action="terminate")
    with pytest.raises(AmtValidationError, match="contradict each other"), pytest.warns(DeprecationWarning):
        operator(cancel_on_kill=False, on_kill_action="stop")
    assert operator(on_kill_action="STOP").on_kill_action == "stop" and operator().cancel_on_kill
    with pytest.raises(AmtValidationError, match="on_kill_action"):
        AmtJobSensor(task_id="watch", batch_request_id=5, on_kill_action=True)


# --- the sensor's ------------------------------------------------------------------------------------


def test_the_sensor_never_kills_and_says_why_it_stopped(amt):
    request_id = start(amt, "LONGRUNNINGREPORT")
    wait_for(amt, request_id, {Code.RUNNING})
    sensor = AmtJobSensor(task_id="watch", batch_request_id=str(request_id))
    event = {"status": "timeout", "batch_request_id": request_id, "completion_code": 2, "message_offset": 0}
    with pytest.raises(AirflowSensorTimeout, match="did not end in time"):
        sensor.execute_complete({}, {**event, "message": "deadline"})
    with pytest.raises(AmtError, match="could not be watched"):
        sensor.execute_complete({}, {**event, "status": "error", "completion_code": None, "message": "503s"})
    assert amt.get_job_status(request_id).code is Code.RUNNING
    assert sensor.poke({}) is False  # still running
    amt.kill_job(request_id)
    with pytest.raises(AmtJobFailedError, match="3 KILLED"):
        sensor.poke({})


@pytest.mark.parametrize("supported", [True, False], ids=["airflow-3.3", "before-3.3"])
def test_deferring_says_once_where_airflow_cannot_tell_the_trigger_of_a_kill(monkeypatch, caplog, capsys, supported):
    """Before 3.3 Airflow never calls a trigger's on_kill: the task log says the job would keep running."""
    from airflow_provider_amt import worker_watch
    from airflow_provider_amt.worker_watch import JobWait, WatchedJob
    from amt_client import MessageCursor

    try:
        from airflow.sdk.exceptions import TaskDeferred as task_deferred
    except ImportError:  # Airflow 3.0
        from airflow.exceptions import TaskDeferred as task_deferred  # type: ignore[no-redef]

    monkeypatch.setattr(worker_watch, "trigger_on_kill_supported", lambda: supported)
    op = operator(deferrable=True)
    ti = TaskInstance()
    wait = JobWait(WatchedJob(7, "batch job DEMO2/REPORTTEST01", MessageCursor(2)), op.watch_options, op.hook, op.log)
    with caplog.at_level("WARNING"), pytest.raises(task_deferred):
        trigger, timeout = wait.deferral({"ti": ti}, 1.0, op.on_kill_action, None)
        op.defer(trigger=trigger, method_name="execute_complete", timeout=timeout)
    assert (trigger.batch_request_id, trigger.message_offset, timeout) == (7, 2, None)
    assert ti.xcom["amt_message_cursor"] == {"batch_request_id": 7, "offset": 2}  # the trigger's first checkpoint
    # the task logger is structlog's (stdout) on 3.1+, stdlib logging on 3.0 (caplog, and a copy on stdout)
    printed, records = capsys.readouterr().out, "\n".join(r.getMessage() for r in caplog.records)
    logged = records if "does not tell a deferred trigger" in records else printed
    assert logged.count("does not tell a deferred trigger") == (0 if supported else 1), logged
    assert supported or "leaves AMT batch request 7 running" in logged


# --- state changes -----------------------------------------------------------------------------------


def state_changes(output: str) -> list[str]:
    """The state changes a log holds: ``RUNNING (2) → WAIT FOR INPUT REQUEST (14)`` (without the time)."""
    return re.findall(r"AMT state: (.+?) since \d\d:\d\d:\d\d UTC", output)


def test_a_moved_trigger_logs_no_state_change_again_and_counts_the_time_in_it_from_the_first_copy(
    amt, monkeypatch, capsys
):
    """Copy 1 logs RUNNING → 14 and saves it with the checkpoint; it moves; copy 2 (the same kwargs, as
    a trigger's never change) finds 14 saved: it logs nothing of it, and ``max_time_in_state`` counts
    from when copy 1 saw the job enter 14 (copy 2 alone would need the whole limit)."""
    from airflow.sdk.execution_time import task_runner

    request_id = start(amt, "WAITFORINPUT")
    kwargs = deferred_running(amt, request_id)  # the task logged RUNNING itself and deferred
    channel = _Checkpoints(saved=0, request_id=request_id)
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", channel, raising=False)
    monkeypatch.setenv("AIRFLOW__AMT__CHECKPOINT_RATE", "0")

    async def first_copy_until_it_saved_14() -> None:
        trigger = trigger_for(request_id, **kwargs)
        trigger.task_instance = TaskInstance()  # type: ignore[assignment]
        watching = asyncio.ensure_future(trigger.run().__anext__())
        deadline = time.monotonic() + 15
        while (channel.value or {}).get("state") != 14 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        watching.cancel()  # the triggerer lost it: no event
        with contextlib.suppress(asyncio.CancelledError):
            await watching

    try:
        asyncio.run(first_copy_until_it_saved_14())
        first = capsys.readouterr().out
        assert state_changes(first) == ["RUNNING (2) → WAIT FOR INPUT REQUEST (14)"], first[-3000:]
        assert channel.value["state"] == 14 and channel.value["offset"] >= 1
        time.sleep(2.0)  # the job sits in 14
        second_copy = trigger_for(request_id, max_time_in_state={"14": 2.5}, **kwargs)
        second_copy.task_instance = TaskInstance()  # type: ignore[assignment]
        began = time.monotonic()
        (event,) = run_trigger(second_copy)
        took = time.monotonic() - began
        second = capsys.readouterr().out
    finally:
        amt.kill_job(request_id)
    assert state_changes(second) == [], second[-3000:]
    assert event["status"] == "timeout" and event["completion_code"] == 14
    message = event["message"]
    assert "was in WAIT FOR INPUT REQUEST (14) for" in message and "max_time_in_state allows it 2.5 s" in message
    assert took < 2.0  # counted from copy 1's time (2 s before copy 2 began), not from copy 2's first poll


def test_the_worker_side_wait_logs_each_state_change_and_kills_the_job_at_its_state_limit(amt, capsys):
    operator = AmtBatchJobOperator(
        task_id="job",
        application_name="DEMO2",
        job_name="WAITFORINPUT",
        deferrable=False,
        poll_interval=0.2,
        max_time_in_state={"wait for input request": 1.0},
    )
    ti = TaskInstance()
    with pytest.raises(AirflowTaskTimeout, match=r"was in WAIT FOR INPUT REQUEST \(14\) for 1 s"):
        operator.execute({"ti": ti, "task_instance": ti, "dag_run": None})
    out = capsys.readouterr().out
    changes = state_changes(out)
    assert changes[0] in ("QUEUED (1)", "RUNNING (2)") and changes[-1].endswith(" → WAIT FOR INPUT REQUEST (14)")
    assert len(changes) == len(set(changes))  # each once
    assert re.search(r"Killed AMT batch request \d+: completion code KILLED \(3\) \(the job was in WAIT FOR", out)
    assert ti.xcom["return_value"]["completion_code"] == 3 and ti.xcom["return_value"]["outcome"] == "timeout"


def test_a_poking_sensor_logs_the_state_once_and_times_out_at_its_state_limit(amt, capsys):
    request_id = start(amt, "WAITFORINPUT")
    sensor = AmtJobSensor(
        task_id="sensor", batch_request_id=request_id, deferrable=False, max_time_in_state={14: 1.0}, poke_interval=0.2
    )
    ti = TaskInstance()
    try:
        with pytest.raises(AirflowSensorTimeout, match=r"was in WAIT FOR INPUT REQUEST \(14\) for 1 s"):
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not sensor.poke({"ti": ti}):
                time.sleep(0.2)
        assert amt.get_job_status(request_id).code is Code.WAIT_FOR_INPUT_REQUEST  # the sensor leaves it alone
    finally:
        amt.kill_job(request_id)
    changes = state_changes(capsys.readouterr().out)
    assert changes[-1].endswith(" → WAIT FOR INPUT REQUEST (14)") and len(changes) == len(set(changes))


def test_at_read_a_new_state_is_logged_without_a_checkpoint_read_first(amt, monkeypatch, capsys):
    """``[amt] trigger_messages = at_read``: the state change does not wait for the checkpoint's first
    read (at 10,000 triggers one read each held Airflow's own trigger starts up in the supervisor's
    queue for minutes). Here the triggerer answers no read before the trigger has ended (the state's
    save reads too): the state is logged all the same."""
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.comms import GetXCom

    ended = threading.Event()  # a thread's too: Airflow 3.0-3.2 read XCom from one

    class _NoReadAnsweredBeforeTheEnd(_Checkpoints):
        async def asend(self, msg: Any) -> Any:
            if isinstance(msg, GetXCom):
                self.reads += 1
                while not ended.is_set():
                    await asyncio.sleep(0.05)
            return await super().asend(msg)

    request_id = start(amt, "SLOWREPORT")  # 5 s: its first poll finds it running
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", _NoReadAnsweredBeforeTheEnd(), raising=False)

    async def collect() -> list[dict[str, Any]]:
        runtime_with(messages_live=False).install()
        trigger = trigger_for(request_id)
        trigger.task_instance = TaskInstance()  # type: ignore[assignment]
        try:
            return [event.payload async for event in trigger.run()]
        finally:
            ended.set()

    (event,) = asyncio.run(asyncio.wait_for(collect(), 60))
    assert event["status"] == "success"
    assert re.search(r"AMT state: .*RUNNING \(2\)", capsys.readouterr().out)
