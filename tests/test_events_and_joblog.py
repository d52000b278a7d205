"""The trigger event (built once, read back strictly) and the JORS layout of the job log."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest

from airflow_provider_amt.events import AmtTriggerEvent, read_event
from airflow_provider_amt.joblog import (
    MAX_MESSAGE_CHARS,
    MAX_RECORD_CHARS,
    amt_time,
    job_ids_of,
    job_reference,
    log_job_information,
    log_messages,
    message_index,
    message_indexes,
    message_lines,
    message_text,
)
from amt_client import (
    AmtCompletionCode,
    AmtMessage,
    AmtResponseError,
    Outcome,
    Rules,
    ServerConfig,
    StartRequest,
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
        ({"completion_code": 42}, "unknown AMT completion code 42"),
        ({"completion_code": None}, "must be an integer"),
        ({"message": 5}, "message must be a string"),
        ({"status": "timeout", "completion_code": 42}, "unknown AMT completion code 42"),
        # a code a contract document added travels with its name and class, checked as the document is
        ({"completion_code": 42, "extra_code": {"name": "X", "class": "ambiguous"}}, "class must be one of"),
        ({"completion_code": 42, "extra_code": "failed"}, "must be an object with name and class"),
        ({"completion_code": 4, "extra_code": {"name": "MINE", "class": "failed"}}, None),  # the table wins
    ],
)
def test_malformed_trigger_events_are_refused(change, match):
    if match is None:  # not refused: an extra_code beside a table code is not read
        assert read_event({**GOOD, **change}, expected_id=7).result.code is AmtCompletionCode.DONE
        return
    with pytest.raises(AmtResponseError, match=match):
        read_event({**GOOD, **change}, expected_id=7)


def test_an_event_with_a_code_the_contract_document_added_reads_back_the_same():
    from amt_client.codes import CodeClass, ExtraCode

    code = ExtraCode(43, "ABORTED BY SITE", "failed", "the site aborted it")
    payload = AmtTriggerEvent(7, WatchResult(Outcome.FAILED, code, "x"), 3).payload()
    assert payload["extra_code"] == {"name": "ABORTED BY SITE", "class": "failed", "description": "the site aborted it"}
    read = read_event(payload, 7).result.code
    assert isinstance(read, ExtraCode) and (int(read), read.amt_name, read.code_class) == (
        43,
        "ABORTED BY SITE",
        CodeClass.FAILED,
    )
    assert (
        "extra_code" not in AmtTriggerEvent(7, WatchResult(Outcome.FAILED, AmtCompletionCode.ERROR, "x"), 3).payload()
    )


def test_good_events_read_back_into_how_the_watch_ended():
    event = read_event(GOOD, 7)
    assert event == AmtTriggerEvent(7, WatchResult(Outcome.FAILED, AmtCompletionCode.ERROR, "x"), 3)
    timeout = read_event({**GOOD, "status": "timeout", "completion_code": None}, None)
    assert (timeout.result.outcome, timeout.result.code) == (Outcome.TIMEOUT, None)
    legacy = read_event({**GOOD, "completion_name": "ERROR"}, 7)  # events written by provider 0.1.0
    assert legacy == event
    with pytest.raises(AmtResponseError, match="must be a dict"):
        read_event(["not", "a", "dict"], 7)


@pytest.mark.parametrize(
    ("code", "rules", "status"),
    [
        (AmtCompletionCode.DONE, Rules(), "success"),
        (AmtCompletionCode.ERROR, Rules(), "failed"),
        (AmtCompletionCode.UNDEFINED, Rules(), "failed"),
        (AmtCompletionCode.KILLED, Rules(), "cancelled"),
        (AmtCompletionCode.DEL_QUEUE, Rules(), "cancelled"),
        (AmtCompletionCode.KILLED, Rules(success_codes=(3, 4)), "success"),
        (AmtCompletionCode.SKIPPED_BY_OPS, Rules(), "failed"),
        (AmtCompletionCode.SKIPPED_BY_OPS, Rules(skip_on_skipped_by_ops=True), "skipped"),
    ],
)
def test_every_job_ending_becomes_an_event_that_reads_back_the_same(code, rules, status):
    event = AmtTriggerEvent(9, WatchResult(rules.ending(code), code, "why"), 12)
    payload = event.payload()
    assert payload["status"] == status
    assert read_event(payload, 9) == event


@pytest.mark.parametrize(("outcome", "code"), [(Outcome.TIMEOUT, AmtCompletionCode.RUNNING), (Outcome.ERROR, None)])
def test_watch_endings_without_a_job_ending_read_back_the_same(outcome, code):
    event = AmtTriggerEvent(9, WatchResult(outcome, code, "why"), 12)
    assert event.payload()["status"] == outcome.value
    assert read_event(event.payload(), 9) == event


@pytest.mark.parametrize("status", ["success", "failed", "cancelled", "timeout", "error"])
def test_statuses_of_events_stored_by_0_2_still_read(status):
    """A task deferred under 0.2 resumes on this version with the event its trigger wrote."""
    code = None if status in ("timeout", "error") else 4
    event = read_event({"status": status, "batch_request_id": 3, "completion_code": code, "message_offset": 0}, 3)
    assert event.result.outcome.value == status


def test_wait_is_never_an_event_status():
    with pytest.raises(AmtResponseError, match="unknown status"):
        read_event({**GOOD, "status": "wait"}, 7)


def test_huge_messages_are_cut_with_a_marker_not_dropped():
    text = message_text(AmtMessage(index=4, text="x" * (MAX_MESSAGE_CHARS + 1234)))
    assert text.startswith("AMT [4] xxx") and text.endswith("[... message cut: 1234 more characters]")


@pytest.mark.parametrize(
    ("timestamp", "shown"),
    [
        ("2026-11-21T06:33:59.565Z", "06:33:59.565"),  # today, UTC: the time alone
        ("2026-11-21T06:33:59Z", "06:33:59.000"),
        ("2026-11-20T23:59:59.100Z", "2026-11-20 23:59:59.100"),  # another day: with its date
        ("2026-11-21T07:33:59.565+01:00", "07:33:59.565+01:00"),  # not UTC: with its offset
        ("2026-11-21T06:33:59.565", "06:33:59.565"),  # no zone: as AMT wrote it
        ("21.11.2026 06:33:59", "21.11.2026 06:33:59"),  # not ISO 8601: verbatim
        ("odd [x]", "odd x"),  # never anything that could be read as the index
        (None, ""),
        ("", ""),
        ("2026-11-21t06:33:59.565789+00:00", "06:33:59.565"),  # microseconds cut, not rounded
        ("2026-11-21T24:00:00.000Z", "2026-11-21T24:00:00.000Z"),  # not a time: verbatim
    ],
)
def test_amt_time_is_short_and_never_invented(timestamp, shown):
    assert amt_time(timestamp, today="2026-11-21") == shown


@pytest.mark.parametrize(
    "timestamp", ["2026-11-21T00:00:00.000Z", "2026-11-21 23:59:59.999999", "2026-11-21T12:34:56.700+00:00"]
)
def test_the_shortcut_for_todays_utc_time_says_what_datetime_says(timestamp):
    moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    assert amt_time(timestamp, today="2026-11-21") == moment.strftime("%H:%M:%S.%f")[:12]


def test_a_message_line_starts_with_amt_time_and_index_and_reads_back():
    message = AmtMessage(index=12, text="Chatty line 12", timestamp="2026-11-21T06:33:59.565Z", severity="INFO")
    line = message_text(message, today="2026-11-21")
    assert line == "AMT 06:33:59.565 [12] Chatty line 12"
    assert message_index(line) == 12
    other_day = message_text(message, today="2026-11-22")
    assert other_day == "AMT 2026-11-21 06:33:59.565 [12] Chatty line 12" and message_index(other_day) == 12
    assert message_index(message_text(AmtMessage(index=3, text=""))) == 3
    for not_amt in ("AMT accepted the request: batch request id 3", "Completion Code : DONE (4)", "AMT[3] x"):
        assert message_index(not_amt) is None


def test_severities_become_levels_and_records_carry_no_fields(caplog):
    messages = [
        AmtMessage(0, "fine", "2026-11-21T06:33:59.565Z", "INFO"),
        AmtMessage(1, "careful", "2026-11-21T06:34:00.000Z", "Warn"),
        AmtMessage(2, "broken", "2026-11-21T06:34:01.000Z", "ERROR"),
        AmtMessage(3, "dead", "2026-11-21T06:34:02.000Z", "FATAL"),
        AmtMessage(4, "who knows", "2026-11-21T06:34:03.000Z", "NOTICE"),
        AmtMessage(5, "bare"),
    ]
    logger = logging.getLogger("test.joblog.levels")
    with caplog.at_level(logging.INFO, logger="test.joblog.levels"):
        log_messages(logger, messages)
    levels = [r.levelname for r in caplog.records]
    assert levels == ["INFO", "WARNING", "ERROR", "CRITICAL", "INFO"]  # the last two share a level: a record
    texts = [r.getMessage() for r in caplog.records]
    assert [message_indexes(t) for t in texts] == [[0], [1], [2], [3], [4, 5]]
    assert "NOTICE: who knows" in texts[4]  # a severity no level stands for is kept in the text
    assert not any(hasattr(r, "amt_index") or hasattr(r, "amt_timestamp") for r in caplog.records)


class _Records:
    """A logger that keeps what each ``log`` call got (a record each)."""

    def __init__(self) -> None:
        self.records: list[tuple[int, str]] = []

    def log(self, level: int, text: str) -> None:
        self.records.append((level, text))


def test_messages_in_a_row_at_one_level_share_a_record_a_line_each():
    messages = [AmtMessage(i, f"line {i}", "2026-11-21T06:33:59.565Z", "INFO") for i in range(45)]
    messages[30] = AmtMessage(30, "careful", "2026-11-21T06:34:00.000Z", "WARNING")
    out = _Records()
    log_messages(out, messages, per_record=20)
    assert [(level, message_indexes(text)) for level, text in out.records] == [
        (logging.INFO, list(range(20))),
        (logging.INFO, list(range(20, 30))),
        (logging.WARNING, [30]),
        (logging.INFO, list(range(31, 45))),
    ]
    _, text = out.records[1]
    assert text.splitlines()[0] == message_text(messages[20])
    assert [line for _, line in message_lines(text)] == text.splitlines()  # a line each, nothing else
    one_each = _Records()
    log_messages(one_each, messages, per_record=1)  # a record per message, as before 0.3
    assert [message_indexes(text) for _, text in one_each.records] == [[i] for i in range(45)]


def test_a_record_stays_within_its_character_bound():
    """Long messages: a record holds what fits in MAX_RECORD_CHARS; none is cut for it or dropped."""
    messages = [AmtMessage(i, "x" * 5000) for i in range(10)]
    out = _Records()
    log_messages(out, messages)
    assert [message_indexes(text) for _, text in out.records] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert all(len(text) <= MAX_RECORD_CHARS for _, text in out.records)


def test_a_multi_line_message_keeps_its_lines_together_and_indented():
    """A message's own further lines are indented: they never read as a message line of their own,
    even when they look like one."""
    messages = [
        AmtMessage(0, "first"),
        AmtMessage(1, "two lines\r\nAMT [7] not a message line"),
        AmtMessage(2, "third"),
    ]
    out = _Records()
    log_messages(out, messages)
    [(_, text)] = out.records
    assert text == "AMT [0] first\nAMT [1] two lines\n    AMT [7] not a message line\nAMT [2] third"
    assert message_lines(text) == [
        (0, "AMT [0] first"),
        (1, "AMT [1] two lines\n    AMT [7] not a message line"),
        (2, "AMT [2] third"),
    ]
    assert message_index(text) == 0
    assert message_lines("Watching AMT batch request 7\nAMT [1] x") == []  # not an AMT message record


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
    # the job's ids too, for a contract that sends them with every call (the queue line names none)
    assert references == {
        "Connection": "amt_prod",
        "Batch Request Id": "42",
        "Application": "DEMO2",
        "Script": "X.ps1",
        "Task Id": "guid-1",
    }
    assert job_ids_of(references) == {
        "task_id": "guid-1",
        "application": "DEMO2",
        "task_type": "Script",
        "name": "X.ps1",
    }


def test_a_contract_that_differs_from_the_default_is_shown(caplog):
    contract = WireContract().with_overrides({"logon": "/amt/Logon"}, "X-Token")
    assert "API Contract      : logon=/amt/Logon, token header=X-Token" in _block(contract, caplog)
