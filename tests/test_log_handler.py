"""``AmtTaskLogHandler``: each AMT message once, in AMT's order, gaps filled, live and after the end.

The handler's stream is driven directly with log lines as Airflow's reader yields them, against a
real job on the emulator; the cluster tests read the same handler through the real api-server.
"""

from __future__ import annotations

from typing import Any

import pytest
from airflow.utils.log.file_task_handler import StructuredLogMessage

from airflow_provider_amt.joblog import (
    BATCH_REQUEST_ID_LABEL,
    COMPLETION_HEADER,
    CONNECTION_LABEL,
    at_read_line,
    message_index,
    message_indexes,
    message_text,
)
from airflow_provider_amt.log.task_handler import AmtTaskLogHandler
from amt_client import AmtCompletionCode
from tests.test_completion import start, wait_for
from tests.test_log_handler_hostile import OPERATOR_LOGGER

#: The logger name of an AMT trigger's records in the triggerer.
TRIGGER_LOGGER = "airflow.task.triggers.airflow_provider_amt.triggers.start.AmtStartJobTrigger"


@pytest.fixture
def job(amt) -> tuple[int, list[Any]]:
    """A finished job and its messages (REPORTTEST01 with three TaskValues: 8 messages)."""
    request_id = start(amt, "REPORTTEST01", task_values=["A", "B", "C"])
    wait_for(amt, request_id, {AmtCompletionCode.DONE})
    return request_id, amt.get_messages(request_id)


def _log(request_id: int, messages: list[Any], indexes: list[int]) -> list[StructuredLogMessage]:
    head = [
        StructuredLogMessage(event="---------- AMT job information ----------", logger=OPERATOR_LOGGER),
        StructuredLogMessage(event=f"{CONNECTION_LABEL:<18}: amt_default", logger=OPERATOR_LOGGER),
        StructuredLogMessage(event=f"{BATCH_REQUEST_ID_LABEL:<18}: {request_id}", logger=OPERATOR_LOGGER),
    ]
    ids = getattr(request_id, "ids", {})  # a job whose server wants its ids: the block names them
    for label, name in (("Application", "application"), ("Batch Job", "name"), ("Task Id", "task_id")):
        if name in ids:
            head.append(StructuredLogMessage(event=f"{label:<18}: {ids[name]}", logger=OPERATOR_LOGGER))
    lines = [StructuredLogMessage(event=message_text(messages[i])) for i in indexes]
    return [*head, *lines, StructuredLogMessage(event="Completion Code : DONE (4)")]


def _events(out: Any) -> tuple[list[int], list[str]]:
    events = [str(line.event) for line in out]
    indexes = [i for event in events for i in message_indexes(event)]
    return indexes, events


def _read(lines: list[StructuredLogMessage], **kwargs: Any) -> tuple[list[int], list[str]]:
    return _events(list(AmtTaskLogHandler(base_log_folder="/tmp")._with_amt(iter(lines), **kwargs)))


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


def test_records_of_several_messages_are_checked_line_by_line(job):
    """Records that hold several message lines (``joblog.MESSAGES_PER_LOG_RECORD``): a record whose
    lines were all shown goes, one with some shown keeps only the others, a gap before one is filled."""
    request_id, messages = job
    head, tail = _log(request_id, messages, [])[:3], _log(request_id, messages, [])[-1:]

    def record(*indexes: int) -> StructuredLogMessage:
        return StructuredLogMessage(event="\n".join(message_text(messages[i]) for i in indexes), level="info")

    indexes, events = _read([*head, record(0, 1, 2), record(1, 2), record(2, 3, 4), record(6, 7), *tail])
    assert indexes == list(range(len(messages)))
    assert events[3] == record(0, 1, 2).event
    assert events[4] == record(3, 4).event  # 2 was shown: the record keeps 3 and 4
    assert events[5] == f"AMT messages 5-5 of batch request {request_id} were not in the task log files; added from AMT"
    assert message_index(events[6]) == 5 and events[7] == record(6, 7).event


def test_a_truncated_start_is_filled_in_place_not_at_the_end(job):
    """A trigger that came back to a triggerer truncated that triggerer's file: 0-3 are gone."""
    request_id, messages = job
    indexes, events = _read(_log(request_id, messages, [4, 5, 6, 7]))
    assert indexes == list(range(len(messages)))
    note = events.index(
        f"AMT messages 0-3 of batch request {request_id} were not in the task log files; added from AMT"
    )
    assert message_index(events[note + 1]) == 0 and events.index("Completion Code : DONE (4)") > note


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


def _get_messages_calls(emulator: Any) -> int:
    return len(emulator.requests("GetMessages"))


def test_a_live_log_shows_repeats_once_and_fills_inner_gaps_but_not_the_tail(job, emulator):
    """While the task is deferred: a page logged again after a crash, a truncated trigger log file."""
    request_id, messages = job
    lines = _log(request_id, messages, [0, 1, 4, 5, 4, 5])[:-1]  # no completion block yet
    before = _get_messages_calls(emulator)
    indexes, events = _read(lines, ended=False)
    assert indexes == [0, 1, 2, 3, 4, 5]  # 2-3 from AMT, in place; 6-7 are the trigger's to log
    assert sum("added from AMT" in e for e in events) == 1
    assert _get_messages_calls(emulator) == before + 1  # the one gap, not the tail
    complete = _log(request_id, messages, [0, 1, 2, 3, 3])[:-1]
    before = _get_messages_calls(emulator)
    assert _read(complete, ended=False)[0] == [0, 1, 2, 3]
    assert _get_messages_calls(emulator) == before  # nothing missing: AMT is not asked


def test_tailing_from_a_position_counts_what_was_shown_before_it(job):
    request_id, messages = job
    lines = _log(request_id, messages, [0, 1, 2, 3, 2, 3, 4, 5])[:-1]
    shown = 5  # the job block (3 lines) and messages 0-1 were read before
    indexes, events = _read(lines, shown=shown, ended=False)
    assert indexes == [2, 3, 4, 5] and not any("AMT job information" in e for e in events)


def test_the_handler_reads_a_tail_whole_and_cuts_it_after_airflows_header(job, monkeypatch):
    """``log_pos`` (the JSON API's continuation token): Airflow is asked for the whole log instead."""
    from airflow.utils.log.file_task_handler import FileTaskHandler

    request_id, messages = job
    lines = _log(request_id, messages, [0, 1, 2, 1, 2, 3])[:-1]
    asked: list[Any] = []

    def whole_log(self: Any, ti: Any, try_number: int, metadata: Any = None) -> tuple[Any, Any]:
        asked.append(dict(metadata or {}))
        header = [
            StructuredLogMessage(event="::group::Log message source details"),
            StructuredLogMessage(event="/logs/attempt=1.log"),
            StructuredLogMessage(event="::endgroup::"),
        ]
        return iter([*header, *lines]), {"end_of_log": False, "log_pos": len(lines)}

    monkeypatch.setattr(FileTaskHandler, "_read", whole_log)

    class Deferred:
        state = "deferred"
        try_number = 1

    handler = AmtTaskLogHandler(base_log_folder="/tmp")
    out, metadata = handler._read(Deferred(), 1, {"log_pos": 4, "end_of_log": False})
    indexes, _ = _events(out)
    assert asked == [{"end_of_log": False}] and metadata["log_pos"] == len(lines)
    assert indexes == [1, 2, 3]  # 0 was shown before the position; the repeats of 1 and 2 are dropped


def _at_read_log(request_id: int, messages: list[Any], *, ended: bool) -> list[StructuredLogMessage]:
    """A ``start_from_trigger`` task's log when its triggerer logs no messages (``[amt] trigger_messages``)."""
    head = _log(request_id, messages, [])[:-1]
    watching = f"Watching AMT batch request {request_id} from message 0 (poll every <= 30.0s)"
    at_read = StructuredLogMessage(event=f"{watching}\n{at_read_line(request_id, 0)}", logger=TRIGGER_LOGGER)
    state = StructuredLogMessage(event="AMT state: RUNNING (2) since 02:14:07 UTC", logger=TRIGGER_LOGGER)
    end = [
        StructuredLogMessage(event=COMPLETION_HEADER, logger=TRIGGER_LOGGER),
        StructuredLogMessage(event="Completion Code : DONE (4)", logger=TRIGGER_LOGGER),
    ]
    return [*head, at_read, state, *(end if ended else [])]


def test_where_the_triggerer_logs_no_messages_a_whole_read_shows_them_from_amt_while_the_job_runs(job, emulator):
    request_id, messages = job
    lines = _at_read_log(request_id, messages, ended=False)
    indexes, events = _read(lines, ended=False)
    assert indexes == list(range(len(messages)))
    last = len(messages) - 1
    assert events[-len(messages) - 1] == (
        f"AMT messages 0-{last} of batch request {request_id} were not in the task log files; added from AMT"
    )
    # tailing from a position: what a reader saw before is unknown, so nothing is added (no repeats)
    before = _get_messages_calls(emulator)
    assert _read(lines, shown=len(lines) - 1, ended=False)[0] == []
    assert _get_messages_calls(emulator) == before


def test_after_the_end_messages_added_from_amt_come_before_the_completion_block(job):
    request_id, messages = job
    indexes, events = _read(_at_read_log(request_id, messages, ended=True))
    assert indexes == list(range(len(messages)))
    assert events.index(COMPLETION_HEADER) > max(i for i, e in enumerate(events) if message_indexes(e))
    assert events[-1] == "Completion Code : DONE (4)"


def test_the_at_read_line_counts_only_when_the_provider_logged_it(job, emulator):
    """A line any task printed cannot make the handler ask AMT for the tail of a running job."""
    request_id, messages = job
    lines = _at_read_log(request_id, messages, ended=False)
    for line in lines:
        if "added from AMT when the log is read" in str(line.event):
            line.logger = "airflow.task"  # printed by a DAG's own code
    before = _get_messages_calls(emulator)
    assert _read(lines, ended=False)[0] == []
    assert _get_messages_calls(emulator) == before


def test_a_job_block_whose_lines_share_a_record_names_the_job_too(job):
    request_id, messages = job
    block = StructuredLogMessage(
        event=f"{CONNECTION_LABEL:<18}: amt_default\n{BATCH_REQUEST_ID_LABEL:<18}: {request_id}", logger=OPERATOR_LOGGER
    )
    indexes, _ = _read([block, StructuredLogMessage(event=message_text(messages[2]))])
    assert indexes == list(range(len(messages)))  # 0-1 filled before 2, the tail after it
