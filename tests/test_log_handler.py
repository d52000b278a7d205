"""``AmtTaskLogHandler`` on an ended task's log: each AMT message once, in AMT's order, gaps filled.

The handler's stream is driven directly with log lines as Airflow's reader yields them, against a
real job on the emulator; the cluster tests read the same handler through the real api-server.
"""

from __future__ import annotations

from typing import Any

import pytest
from airflow.utils.log.file_task_handler import StructuredLogMessage

from airflow_provider_amt.joblog import BATCH_REQUEST_ID_LABEL, CONNECTION_LABEL, message_text
from airflow_provider_amt.log.task_handler import AmtTaskLogHandler
from amt_client import AmtCompletionCode
from tests.test_completion import start, wait_for


@pytest.fixture
def job(amt) -> tuple[int, list[Any]]:
    """A finished job and its messages (REPORTTEST01 with three TaskValues: 8 messages)."""
    request_id = start(amt, "REPORTTEST01", task_values=["A", "B", "C"])
    wait_for(amt, request_id, {AmtCompletionCode.DONE})
    return request_id, amt.get_messages(request_id)


def _log(request_id: int, messages: list[Any], indexes: list[int]) -> list[StructuredLogMessage]:
    head = [
        StructuredLogMessage(event="---------- AMT job information ----------"),
        StructuredLogMessage(event=f"{CONNECTION_LABEL:<18}: amt_default"),
        StructuredLogMessage(event=f"{BATCH_REQUEST_ID_LABEL:<18}: {request_id}"),
    ]
    lines = [StructuredLogMessage.model_validate({"event": message_text(messages[i]), "amt_index": i}) for i in indexes]
    return [*head, *lines, StructuredLogMessage(event="Completion Code : DONE (4)")]


def _read(lines: list[StructuredLogMessage]) -> tuple[list[int], list[str]]:
    out = list(AmtTaskLogHandler(base_log_folder="/tmp")._with_amt(iter(lines)))
    events = [str(line.event) for line in out]
    indexes = [int(e.split("]")[0][len("AMT [") :]) for e in events if e.startswith("AMT [")]
    return indexes, events


def test_a_complete_log_passes_through_unchanged(job):
    request_id, messages = job
    lines = _log(request_id, messages, list(range(len(messages))))
    indexes, events = _read(lines)
    assert indexes == list(range(len(messages))) and events == [str(line.event) for line in lines]


def test_repeated_messages_are_shown_once(job):
    request_id, messages = job
    indexes, events = _read(_log(request_id, messages, [0, 1, 2, 3, 2, 3, 4, 5, 6, 7, 7]))
    assert indexes == list(range(len(messages)))
    assert not any("added from AMT" in e for e in events)


def test_a_truncated_start_is_filled_in_place_not_at_the_end(job):
    """A trigger that came back to a triggerer truncated that triggerer's file: 0-3 are gone."""
    request_id, messages = job
    indexes, events = _read(_log(request_id, messages, [4, 5, 6, 7]))
    assert indexes == list(range(len(messages)))
    note = events.index(
        f"AMT messages 0-3 of batch request {request_id} were not in the task log files; added from AMT"
    )
    assert events[note + 1].startswith("AMT [0]") and events.index("Completion Code : DONE (4)") > note


def test_gaps_in_the_middle_and_the_tail_are_filled_in_order(job):
    request_id, messages = job
    indexes, events = _read(_log(request_id, messages, [0, 1, 4, 5]))
    assert indexes == list(range(len(messages)))
    assert sum("added from AMT" in e for e in events) == 2


def test_an_unreachable_amt_leaves_the_log_as_it_is_and_says_why(job, emulator):
    request_id, messages = job
    emulator.set_faults([{"route": "GetMessages", "action": "error", "status": 503}])
    indexes, events = _read(_log(request_id, messages, [2, 3, 5]))
    assert indexes == [2, 3, 5]
    reasons = [e for e in events if "could not be checked against AMT" in e]
    assert len(reasons) == 1 and "HTTP 503" in reasons[0]


def test_a_log_without_a_job_block_is_not_touched():
    lines = [StructuredLogMessage(event="hello"), StructuredLogMessage(event="AMT [3] not from an AMT task")]
    assert _read(lines)[1] == ["hello", "AMT [3] not from an AMT task"]
