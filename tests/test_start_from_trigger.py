"""``start_from_trigger``: the operator hands Airflow a trigger that starts the job, and the trigger
(``AmtStartJobTrigger``) starts it exactly once, watches it and ends the task.

Driven directly against the real emulator, with a task-instance stand-in and an in-memory XCom in
place of the triggerer's channel, so each branch of "start or adopt" is reached on purpose. The real
triggerer runs these tasks in ``tests/test_start_from_trigger_cluster.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from unittest.mock import ANY

import pytest
from airflow.triggers.base import TaskFailedEvent, TaskSkippedEvent, TaskSuccessEvent

from airflow_provider_amt.compat import start_from_trigger_supported
from airflow_provider_amt.fail_fast import AmtValidationFailedFastError, raise_failed_fast
from airflow_provider_amt.joblog import MESSAGE_LINE_START
from airflow_provider_amt.keys import XCOM_BATCH_REQUEST_ID, XCOM_MESSAGE_CURSOR, XCOM_START
from airflow_provider_amt.operators.amt import AmtBatchJobOperator, AmtScriptOperator
from airflow_provider_amt.start_ledger import task_guid
from airflow_provider_amt.triggers import checkpoint
from airflow_provider_amt.triggers import start as start_module
from airflow_provider_amt.triggers.start import AmtStartJobTrigger
from amt_client import AmtValidationError

pytestmark = pytest.mark.skipif(not start_from_trigger_supported(), reason="start_from_trigger needs Airflow 3.3+")


@dataclass
class FakeTI:
    dag_id: str = "dag"
    run_id: str = field(default_factory=lambda: f"run-{uuid.uuid4()}")  # the emulator outlives a test
    task_id: str = "job"
    map_index: int = -1
    try_number: int = 1


class FakeXCom:
    """The XComs of the task instances the trigger writes (what the triggerer's channel proxies)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.reads: list[str] = []
        self.writes: list[str] = []

    async def get(self, key: str, **keys: Any) -> Any:
        self.reads.append(key)
        return self.values.get(key)

    async def set(self, key: str, value: Any, **keys: Any) -> None:
        self.writes.append(key)
        self.values[key] = json.loads(json.dumps(value))


@pytest.fixture
def xcom(monkeypatch) -> FakeXCom:
    store = FakeXCom()
    for module in (start_module, checkpoint):
        monkeypatch.setattr(module, "aget_xcom", store.get)
        monkeypatch.setattr(module, "aset_xcom", store.set)
    return store


def _trigger(ti: FakeTI, job: str = "REPORTTEST01", **kwargs: Any) -> AmtStartJobTrigger:
    trigger = AmtStartJobTrigger(
        "BatchJob",
        application_name="DEMO2",
        job_name=job,
        task_values=["A"],
        poll_interval=0.2,
        initial_interval=0.05,
        outage_grace_period=2,
        **kwargs,
    )
    trigger.task_instance = ti  # type: ignore[assignment]  # a stand-in, as the triggerer sets a real one
    return trigger


def _guid(ti: FakeTI) -> str:
    return task_guid(ti.dag_id, ti.run_id, ti.task_id, ti.map_index)


def _run(trigger: AmtStartJobTrigger) -> Any:
    async def collect() -> list[Any]:
        return [event async for event in trigger.run()]

    (event,) = asyncio.run(collect())
    return event


def _starts(emulator, since: int) -> list[dict[str, Any]]:
    return [e for e in emulator.requests("OpConJobAction", action="Start", since=since) if e["status"] == 200]


def test_a_job_that_succeeds_ends_the_task_with_success_and_the_xcoms(emulator, amt_conn, xcom, capsys):
    since = emulator.last_request_seq()
    ti = FakeTI()
    event = _run(_trigger(ti))
    (start,) = _starts(emulator, since)
    request_id = xcom.values[XCOM_BATCH_REQUEST_ID]
    assert isinstance(event, TaskSuccessEvent)
    # written through the triggerer as a worker writes them, not carried by the event (Airflow 3.3.2
    # would store those encoded once more: a downstream task would pull a string)
    assert event.xcoms is None
    assert xcom.values["return_value"] == {
        "batch_request_id": request_id,
        "completion_code": 4,
        "completion_name": "DONE",
        "status": "DONE",
        "outcome": "success",
    }
    assert json.loads(start["detail"])["taskId"] == _guid(ti)
    assert xcom.values[XCOM_START] == {
        "task_id": _guid(ti),
        "try_number": 1,
        "batch_request_id": request_id,
    }
    # The record is read before the Start (an earlier copy's Start may still be on its way to AMT).
    assert xcom.reads[0] == XCOM_START
    assert xcom.values[XCOM_MESSAGE_CURSOR]["batch_request_id"] == request_id
    out = capsys.readouterr().out + capsys.readouterr().err
    assert f"Batch Request Id  : {request_id}" in out and "Completion Code : DONE (4)" in out


def test_the_copy_that_seeded_the_checkpoint_does_not_read_it_back_before_logging(emulator, amt_conn, xcom):
    """Every XCom round trip wakes the triggerer's supervisor (issue 23): the copy that started the job
    wrote the checkpoint at message 0 itself, so it logs from there without reading it; only its saves
    read it first (another copy may have logged further), and a copy that did not seed it reads it."""
    ti = FakeTI()
    assert isinstance(_run(_trigger(ti, "CHATTYREPORT")), TaskSuccessEvent)
    saves = xcom.writes.count(XCOM_MESSAGE_CURSOR) - 1  # the seed, then the saves
    assert saves >= 1 and xcom.reads.count(XCOM_MESSAGE_CURSOR) == saves
    xcom.reads.clear()
    assert isinstance(_run(_trigger(ti, "CHATTYREPORT")), TaskSuccessEvent)  # a moved copy adopts the job
    assert xcom.reads[:2] == [XCOM_START, XCOM_MESSAGE_CURSOR]


def test_the_writes_after_the_start_go_to_the_supervisor_together(emulator, amt_conn, xcom):
    """Each round trip wakes the triggerer's supervisor for a loop that reloads its triggers (issue 23):
    the record, the batch request id and the checkpoint seed are sent together, and answered in one."""
    write, in_flight, most = xcom.set, [0], [0]

    async def slow_write(key: str, value: Any, **keys: Any) -> None:
        in_flight[0] += 1
        most[0] = max(most[0], in_flight[0])
        await asyncio.sleep(0.05)
        await write(key, value, **keys)
        in_flight[0] -= 1

    for module in (start_module, checkpoint):
        module.aset_xcom = slow_write  # type: ignore[attr-defined]  # undone by the fixture's monkeypatch
    ti = FakeTI()
    assert isinstance(_run(_trigger(ti)), TaskSuccessEvent)
    assert most[0] == 3
    assert xcom.values[XCOM_START] == {"task_id": _guid(ti), "try_number": 1, "batch_request_id": ANY}
    assert xcom.values[XCOM_START]["batch_request_id"] == xcom.values[XCOM_BATCH_REQUEST_ID]


def test_a_failed_job_ends_the_task_failed_with_its_code_and_last_messages(emulator, amt_conn, xcom, capsys):
    event = _run(_trigger(FakeTI(), "FAILINGREPORT"))
    assert isinstance(event, TaskFailedEvent)
    assert xcom.values["return_value"]["completion_code"] == 11
    text = capsys.readouterr().out
    assert "batch job DEMO2/FAILINGREPORT" in text and "(11)" in text and "division by zero" in text


def test_at_read_the_trigger_logs_no_message_and_reads_them_only_for_a_failure_text(
    emulator, amt_conn, xcom, capsys, monkeypatch
):
    """``[amt] trigger_messages = at_read``: one line says where the messages are; the watch polls the
    status only, and a failed job's last messages are still in its failure text."""
    monkeypatch.setenv("AIRFLOW__AMT__TRIGGER_MESSAGES", "at_read")
    since = emulator.last_request_seq()
    event = _run(_trigger(FakeTI(), "FAILINGREPORT"))
    assert isinstance(event, TaskFailedEvent)
    request_id = xcom.values[XCOM_BATCH_REQUEST_ID]
    text = capsys.readouterr().out
    assert not re.search(MESSAGE_LINE_START.format(index=r"\d+"), text)  # no message line in the log
    assert f"AMT messages of batch request {request_id} from message 0 on are added from AMT when the log is read" in (
        text
    )
    assert "(11)" in text and "division by zero" in text  # the failure text: the last messages
    # read once, for the failure text, after the job ended (a page, and perhaps the empty one after it)
    assert 1 <= len(emulator.requests("GetMessages", since=since)) <= 2


def test_skipped_by_ops_skips_the_task_when_asked(emulator, amt_conn, xcom):
    assert isinstance(_run(_trigger(FakeTI(), "SKIPPEDREPORT", skip_on_skipped_by_ops=True)), TaskSkippedEvent)
    assert isinstance(_run(_trigger(FakeTI(), "SKIPPEDREPORT")), TaskFailedEvent)


def test_a_moved_trigger_adopts_its_try_s_job_whatever_its_state(emulator, amt_conn, xcom):
    """A copy of the trigger on another triggerer (same try) never starts a second job, even one that failed."""
    ti = FakeTI()
    assert isinstance(_run(_trigger(ti, "FAILINGREPORT")), TaskFailedEvent)
    since = emulator.last_request_seq()
    assert isinstance(_run(_trigger(ti, "FAILINGREPORT")), TaskFailedEvent)
    assert _starts(emulator, since) == []


def test_a_copy_that_finds_its_try_s_start_unanswered_adopts_what_amt_has(emulator, amt_conn, xcom, amt):
    """The first copy recorded "in flight" and died before AMT's answer came: AMT has the job."""
    ti = FakeTI()
    guid = _guid(ti)
    request_id = amt.start_batch_job("DEMO2", "REPORTTEST01", task_id=guid)
    xcom.values[XCOM_START] = {"task_id": guid, "try_number": 1, "batch_request_id": None}
    since = emulator.last_request_seq()
    event = _run(_trigger(ti))
    assert isinstance(event, TaskSuccessEvent) and xcom.values[XCOM_BATCH_REQUEST_ID] == request_id
    assert _starts(emulator, since) == []


def test_a_retry_starts_anew_after_a_failure_and_reconnects_to_a_running_job(emulator, amt_conn, xcom):
    ti = FakeTI()
    _run(_trigger(ti, "FAILINGREPORT"))
    failed = xcom.values[XCOM_BATCH_REQUEST_ID]
    since = emulator.last_request_seq()
    ti.try_number = 2
    assert isinstance(_run(_trigger(ti, "FAILINGREPORT")), TaskFailedEvent)
    assert len(_starts(emulator, since)) == 1 and xcom.values[XCOM_BATCH_REQUEST_ID] != failed


def test_a_retry_reconnects_to_the_job_a_failed_try_left_running(emulator, amt_conn, xcom, amt):
    ti = FakeTI()
    guid = _guid(ti)
    request_id = amt.start_batch_job("DEMO2", "REPORTTEST01", task_id=guid)
    xcom.values[XCOM_START] = {"task_id": guid, "try_number": 1, "batch_request_id": request_id}
    since = emulator.last_request_seq()
    ti.try_number = 2
    event = _run(_trigger(ti))
    assert isinstance(event, TaskSuccessEvent) and xcom.values[XCOM_BATCH_REQUEST_ID] == request_id
    assert _starts(emulator, since) == []


def test_an_unanswered_start_on_a_server_without_lookup_is_never_sent_again(emulator, xcom, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_AMT_DEFAULT",
        emulator.connection_uri(timeout=5, connect_timeout=2, api_paths={"find_request": None}),
    )
    ti = FakeTI()
    guid = _guid(ti)
    xcom.values[XCOM_START] = {"task_id": guid, "try_number": 1, "batch_request_id": None}
    since = emulator.last_request_seq()
    assert isinstance(_run(_trigger(ti)), TaskFailedEvent)
    assert emulator.requests("OpConJobAction", action="Start", since=since) == []


def test_an_invalid_rendered_field_fails_the_task_before_anything_is_sent(emulator, amt_conn, xcom, capsys):
    since = emulator.last_request_seq()
    trigger = _trigger(FakeTI(), job="BAD\nNAME")
    event = _run(trigger)
    assert emulator.requests("OpConJobAction", since=since) == []
    assert "was not started" in capsys.readouterr().out
    # a retry cannot mend it (issue 26): not Airflow's TaskFailedEvent, which would use the task's
    # retries, but a resume on a worker whose execute_complete fails without them
    assert not isinstance(event, TaskFailedEvent) and event.payload["status"] == "failed_fast"
    with pytest.raises(AmtValidationFailedFastError, match="job_name contains the character U\\+000A"):
        raise_failed_fast(event.payload)


def test_the_operator_hands_airflow_the_start_trigger_with_its_templates():
    op = AmtScriptOperator(
        task_id="script",
        application_name="{{ params.app }}",
        script_name="RUN_PARAMETERSTEST.ps1",
        script_parameters={"DAY": "{{ ds }}"},
        start_from_trigger=True,
        on_kill_action="stop",
    )
    args = op.start_trigger_args
    assert args is not None and args.trigger_cls == "airflow_provider_amt.triggers.start.AmtStartJobTrigger"
    assert args.next_method == "execute_complete"
    kwargs = args.trigger_kwargs or {}
    assert kwargs["application_name"] == "{{ params.app }}" and kwargs["script_parameters"] == {"DAY": "{{ ds }}"}
    assert kwargs["amt_task_type"] == "Script" and kwargs["on_kill_action"] == "stop"
    # Airflow renders the operator's template fields that are trigger kwargs and trigger attributes
    trigger = AmtStartJobTrigger(**kwargs)
    assert {f for f in op.template_fields if f in kwargs and hasattr(trigger, f)} == set(op.template_fields)
    assert json.loads(json.dumps(kwargs)) == kwargs


def test_start_from_trigger_needs_wait_for_completion():
    with pytest.raises(AmtValidationError, match="wait_for_completion"):
        AmtBatchJobOperator(task_id="j", job_name="X", start_from_trigger=True, wait_for_completion=False)
    with pytest.raises(AmtValidationError, match="start_from_trigger"):
        AmtBatchJobOperator(task_id="j", job_name="X", start_from_trigger="false")


def test_killing_the_task_while_its_start_is_under_way_sends_nothing_and_names_the_task_id(
    emulator, amt_conn, xcom, capsys
):
    ti = FakeTI()
    trigger = _trigger(ti)
    emulator.set_faults([{"route": "Start", "action": "delay", "seconds": 3, "count": 1}])
    since = emulator.last_request_seq()

    async def kill_during_the_start() -> None:
        running = asyncio.ensure_future(trigger.run().__anext__())
        await asyncio.sleep(1.5)  # the Start waits for its answer
        await trigger.on_kill()
        running.cancel()  # as Airflow cancels the trigger, and then lets it clean up
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await trigger.cleanup()

    asyncio.run(kill_during_the_start())
    time.sleep(2.5)  # the held-back Start arrives after all: the job runs, as the log warns
    assert [e["action"] for e in emulator.requests("OpConJobAction", since=since)] == ["Start"]
    assert f"look for task id {_guid(ti)} in AMT" in capsys.readouterr().out


def test_a_record_that_cannot_be_completed_after_the_start_does_not_fail_the_task(emulator, amt_conn, xcom):
    """The job runs: failing to write its id into the record is our own trouble, and the watch goes on."""
    write = xcom.set

    async def fails_once_started(key: str, value: Any, **keys: Any) -> None:
        if key == XCOM_START and value["batch_request_id"] is not None:
            raise RuntimeError("the supervisor went away")
        await write(key, value, **keys)

    xcom.set = fails_once_started  # type: ignore[method-assign]
    start_module.aset_xcom = fails_once_started  # type: ignore[assignment]  # undone by the fixture's monkeypatch
    assert isinstance(_run(_trigger(FakeTI())), TaskSuccessEvent)


def test_a_start_whose_answer_is_lost_fails_the_try_and_the_retry_finds_the_job(emulator, amt_conn, xcom, capsys):
    ti = FakeTI()
    since = emulator.last_request_seq()
    emulator.set_faults([{"route": "Start", "action": "drop_after", "count": 1}])
    assert isinstance(_run(_trigger(ti)), TaskFailedEvent)
    assert "got no answer" in capsys.readouterr().out
    assert xcom.values[XCOM_START]["batch_request_id"] is None  # in flight
    ti.try_number = 2
    event = _run(_trigger(ti))
    assert isinstance(event, TaskSuccessEvent)
    assert len(emulator.requests("OpConJobAction", action="Start", since=since)) == 1


def test_a_copy_waits_for_a_start_of_its_try_that_amt_does_not_show_yet(emulator, amt_conn, xcom, amt):
    """The race the cluster test found: the last copy recorded its Start and died while the Start was
    still on its way (the server answers it seconds later). AMT has nothing yet; starting now would
    make two jobs. The copy waits up to one request's bound for AMT to show the job, and adopts it."""
    ti = FakeTI()
    guid = _guid(ti)
    xcom.values[XCOM_START] = {"task_id": guid, "try_number": 1, "batch_request_id": None}
    since = emulator.last_request_seq()
    late = threading.Timer(2.0, lambda: amt.start_batch_job("DEMO2", "REPORTTEST01", task_id=guid))
    late.start()
    try:
        event = _run(_trigger(ti))
    finally:
        late.join()
    assert isinstance(event, TaskSuccessEvent)
    assert len(_starts(emulator, since)) == 1  # the late one, none from the trigger
    assert xcom.values[XCOM_START]["batch_request_id"] == xcom.values[XCOM_BATCH_REQUEST_ID]


def test_a_start_of_its_try_that_amt_never_shows_is_sent_once_after_the_wait(emulator, amt_conn, xcom, capsys):
    ti = FakeTI()
    xcom.values[XCOM_START] = {"task_id": _guid(ti), "try_number": 1, "batch_request_id": None}
    since = emulator.last_request_seq()
    assert isinstance(_run(_trigger(ti)), TaskSuccessEvent)
    assert len(_starts(emulator, since)) == 1
    assert "never reached AMT" in capsys.readouterr().out
