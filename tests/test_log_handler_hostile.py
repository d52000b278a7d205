"""The log handler under hostile log text (issue 22): a log line never chooses the connection, an id
is read strictly, one view costs a bounded number of AMT calls, and any AMT trouble leaves the file
log as it is with one line saying why."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from airflow.utils.log.file_task_handler import StructuredLogMessage

from airflow_provider_amt.joblog import BATCH_REQUEST_ID_LABEL, CONNECTION_LABEL, message_indexes, message_text
from airflow_provider_amt.log.task_handler import AmtTaskLogHandler
from tests.crafted import Crafted

#: The logger of the operators' own records (Airflow's ``airflow.task.operators.<module>.<class>``).
OPERATOR_LOGGER = "airflow.task.operators.airflow_provider_amt.operators.amt.AmtBatchJobOperator"


def block(connection: str, request_id: str, logger: str | None = OPERATOR_LOGGER) -> list[StructuredLogMessage]:
    extra = {"logger": logger} if logger else {}
    return [
        StructuredLogMessage(event="---------- AMT job information ----------", **extra),
        StructuredLogMessage(event=f"{CONNECTION_LABEL:<18}: {connection}", **extra),
        StructuredLogMessage(event=f"{BATCH_REQUEST_ID_LABEL:<18}: {request_id}", **extra),
    ]


def read(lines: list[StructuredLogMessage]) -> list[str]:
    handler = AmtTaskLogHandler(base_log_folder="/tmp")
    return [str(line.event) for line in handler._with_amt(iter(lines))]


@pytest.fixture
def payments_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Crafted]:
    """An ``http`` connection whose host records every request: it must never see one."""
    server = Crafted()
    conn = {"conn_type": "http", "host": server.url, "login": "payments", "password": "pay-secret-123"}
    monkeypatch.setenv("AIRFLOW_CONN_PAYMENTS_API", json.dumps(conn))
    yield server
    server.shutdown()


def test_a_connection_of_another_type_is_never_used(payments_api):
    events = read([*block("payments_api", "1"), StructuredLogMessage(event="AMT [3] x")])
    assert payments_api.seen == []
    assert sum("could not be checked against AMT" in e for e in events) == 1
    assert "pay-secret-123" not in "\n".join(events)


def test_a_job_block_that_the_provider_did_not_log_is_ignored(payments_api, amt_conn, emulator):
    emulator.clear_requests()
    for logger in (None, "task.stdout", "airflow.task.operators.unusual.PythonOperator"):
        events = read([*block("amt_default", "1", logger), StructuredLogMessage(event="AMT [3] x")])
        assert not any("AMT" in e and "added" in e for e in events)
    assert emulator.requests("GetMessages") == [] and payments_api.seen == []


@pytest.mark.parametrize("raw", ["\u00b2", "9" * 5000, "-1", "0", "1e3", "\uff11"])
def test_odd_ids_leave_the_log_as_it_is(amt_conn, emulator, raw):
    emulator.clear_requests()
    lines = [*block("amt_default", raw), StructuredLogMessage(event="AMT [3] x")]
    assert read(lines) == [str(line.event) for line in lines]
    assert emulator.requests("GetMessages") == []


def test_a_thousand_gaps_cost_a_bounded_number_of_reads(amt, amt_conn, emulator):
    from amt_client import AmtCompletionCode
    from tests.test_completion import start, wait_for

    request_id = start(amt, "REPORTTEST01", task_values=["A", "B", "C"])
    wait_for(amt, request_id, {AmtCompletionCode.DONE})
    messages = amt.get_messages(request_id)
    emulator.clear_requests()
    crafted = [StructuredLogMessage(event=f"AMT [{2 * i + 1}] crafted gap line") for i in range(1000)]
    events = read(
        [*block("amt_default", str(request_id)), StructuredLogMessage(event=message_text(messages[0])), *crafted]
    )
    assert len(emulator.requests("GetMessages")) <= 3
    shown = [i for e in events for i in message_indexes(e)]
    assert len(shown) == len(set(shown))  # each index once, whatever the log claims
