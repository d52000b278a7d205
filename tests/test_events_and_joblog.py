"""The trigger event (built once, read back strictly) and the JORS layout of the job log."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_amt.events import AmtTriggerEvent, read_event
from airflow_provider_amt.joblog import MAX_MESSAGE_CHARS, job_reference, log_job_information, message_text
from amt_client import (
    AmtCompletionCode,
    AmtMessage,
    AmtResponseError,
    Rules,
    ServerConfig,
    StartRequest,
    VerdictKind,
    WatchResult,
)
from amt_client.contract import WireContract

GOOD = {"status": "failed", "batch_request_id": 7, "completion_code": 11, "message_offset": 3, "message": "x"}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"status": "weird"}, "unknown status"),
        ({"batch_request_id": "7"}, "no valid batch_request_id"),
        ({"batch_request_id": True}, "no valid batch_request_id"),
        ({"batch_request_id": 8}, "is for batch request 8, but this task watches 7"),
        ({"message_offset": -1}, "no valid message_offset"),
        ({"completion_code": 17}, "unknown AMT completion code 17"),
        ({"completion_code": None}, "must be an integer"),
        ({"message": 5}, "message must be a string"),
        ({"status": "timeout", "completion_code": 17}, "unknown AMT completion code 17"),
    ],
)
def test_malformed_trigger_events_are_refused(change, match):
    with pytest.raises(AmtResponseError, match=match):
        read_event({**GOOD, **change}, expected_id=7)


def test_good_events_read_back_into_how_the_watch_ended():
    event = read_event(GOOD, 7)
    assert event == AmtTriggerEvent(7, WatchResult(VerdictKind.FINAL, AmtCompletionCode.ERROR, "x"), 3)
    timeout = read_event({**GOOD, "status": "timeout", "completion_code": None}, None)
    assert (timeout.result.kind, timeout.result.code) == (VerdictKind.TIMEOUT, None)
    legacy = read_event({**GOOD, "completion_name": "ERROR"}, 7)  # events written by provider 0.1.0
    assert legacy == event
    with pytest.raises(AmtResponseError, match="must be a dict"):
        read_event(["not", "a", "dict"], 7)


@pytest.mark.parametrize(
    ("kind", "code", "status"),
    [
        (VerdictKind.FINAL, AmtCompletionCode.DONE, "success"),
        (VerdictKind.FINAL, AmtCompletionCode.ERROR, "failed"),
        (VerdictKind.FINAL, AmtCompletionCode.UNDEFINED, "failed"),
        (VerdictKind.FINAL, AmtCompletionCode.KILLED, "cancelled"),
        (VerdictKind.FINAL, AmtCompletionCode.DEL_QUEUE, "cancelled"),
        (VerdictKind.TIMEOUT, AmtCompletionCode.RUNNING, "timeout"),
        (VerdictKind.ERROR, None, "error"),
    ],
)
def test_every_ending_becomes_an_event_that_reads_back_the_same(kind, code, status):
    event = AmtTriggerEvent(9, WatchResult(kind, code, "why"), 12)
    payload = event.payload(Rules())
    assert payload["status"] == status
    assert read_event(payload, 9) == event


def test_huge_messages_are_cut_with_a_marker_not_dropped():
    text = message_text(AmtMessage(index=4, text="x" * (MAX_MESSAGE_CHARS + 1234)))
    assert text.startswith("AMT [4] xxx") and text.endswith("[... message cut: 1234 more characters]")


def _block(contract: WireContract, caplog: pytest.LogCaptureFixture) -> list[str]:
    config = ServerConfig("http://amt:42000", "u", "pw", contract=contract)
    start = StartRequest.script("DEMO2", "X.ps1", {"A": "1"}, task_id="guid-1")
    logger = logging.getLogger("test.joblog")
    with caplog.at_level(logging.INFO, logger="test.joblog"):
        log_job_information(logger, config, start, 42, "amt_prod")
    return [r.getMessage() for r in caplog.records]


def test_the_job_information_block_is_built_from_the_start_request_and_read_back_by_the_handler(caplog):
    lines = _block(WireContract(), caplog)
    assert "Script            : X.ps1" in lines and "Parameters        : A=1" in lines
    assert "Task Id           : guid-1" in lines and not any(line.startswith("API Contract") for line in lines)
    references = dict(filter(None, map(job_reference, lines)))
    assert references == {"Connection": "amt_prod", "Batch Request Id": "42"}


def test_a_contract_that_differs_from_the_default_is_shown(caplog):
    contract = WireContract().with_overrides({"logon": "/amt/Logon"}, "X-Token")
    assert "API Contract      : logon=/amt/Logon, token header=X-Token" in _block(contract, caplog)
