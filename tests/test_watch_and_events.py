"""Pure logic shared by the trigger and the worker: polling policy, outcomes, event validation."""

from __future__ import annotations

import itertools

import pytest

from airflow_provider_amt.codes import AmtCompletionCode as Code
from airflow_provider_amt.codes import AmtMessage
from airflow_provider_amt.exceptions import AmtResponseError, AmtValidationError
from airflow_provider_amt.joblog import MAX_MESSAGE_CHARS, message_text
from airflow_provider_amt.outcome import Outcome, Rules, failure_message, parse_success_codes, validate_event
from airflow_provider_amt.watch import JobWatch


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def watch(**kwargs) -> tuple[JobWatch, Clock]:
    clock = Clock()
    defaults = {"poll_interval": 10.0, "initial_interval": 1.0, "clock": clock, "wall_clock": clock}
    return JobWatch(Rules(), **{**defaults, **kwargs}), clock


def test_polls_start_fast_and_back_off_to_the_poll_interval_with_jitter():
    w, _ = watch()
    pauses = [w.on_status(Code.RUNNING, "RUNNING").pause for _ in range(12)]
    assert 0.85 <= pauses[0] <= 1.15
    assert all(b >= a * 1.1 for a, b in itertools.pairwise(pauses[:5]))  # growing 1.5x, jitter 15%
    assert all(8.5 <= p <= 11.5 for p in pauses[-3:])  # capped at poll_interval, jittered
    assert len({round(p, 6) for p in pauses[-3:]}) > 1


def test_final_codes_end_the_watch_with_the_event_status():
    w, _ = watch()
    assert w.on_status(Code.DONE, "DONE").event_status == "success"
    assert w.on_status(Code.ERROR, "ERROR").event_status == "failed"
    assert w.on_status(Code.KILLED, "KILLED").event_status == "cancelled"
    assert w.on_status(Code.DEL_QUEUE, "DEL_QUEUE").event_status == "cancelled"
    assert w.on_status(Code.QUEUED, "QUEUED").kind == "wait"


def test_deadline_gives_a_timeout_and_pauses_never_overshoot_it():
    w, clock = watch(deadline=1005.0)
    assert w.on_status(Code.RUNNING, "RUNNING").kind == "wait"
    clock.now = 1004.5
    assert w.on_status(Code.RUNNING, "RUNNING").pause <= 0.5
    clock.now = 1005.0
    verdict = w.on_status(Code.RUNNING, "RUNNING (2)")
    assert verdict.kind == "timeout" and "execution_timeout" in verdict.message


def test_outages_are_ridden_out_for_the_grace_period_then_reported():
    w, clock = watch(outage_grace_period=60)
    assert w.on_transient_error(RuntimeError("503")).kind == "wait"
    clock.now += 59
    assert w.on_transient_error(RuntimeError("503")).kind == "wait"
    clock.now += 1
    verdict = w.on_transient_error(RuntimeError("503"))
    assert verdict.kind == "error" and "unreachable for 60 s" in verdict.message
    w2, clock2 = watch(outage_grace_period=60)
    w2.on_transient_error(RuntimeError("x"))
    clock2.now += 50
    w2.on_status(Code.RUNNING, "RUNNING")  # a success resets the outage clock
    clock2.now += 50
    assert w2.on_transient_error(RuntimeError("x")).kind == "wait"


def test_undefined_is_waited_on_then_failed():
    w, clock = watch(undefined_grace_period=30)
    assert w.on_status(Code.UNDEFINED, "UNDEFINED").kind == "wait"
    clock.now += 30
    verdict = w.on_status(Code.UNDEFINED, "UNDEFINED")
    assert (verdict.kind, verdict.event_status) == ("final", "failed")


def test_rules_map_codes_to_outcomes():
    assert Rules().outcome(Code.DONE) is Outcome.SUCCESS
    assert Rules().outcome(Code.SKIPPED_BY_OPS) is Outcome.FAILED
    assert Rules(skip_on_skipped_by_ops=True).outcome(Code.SKIPPED_BY_OPS) is Outcome.SKIPPED
    assert Rules(success_codes=(4, 6)).outcome(Code.SKIPPED_BY_OPS) is Outcome.SUCCESS
    assert Rules().outcome(Code.WAIT_FOR_FILE) is Outcome.WAIT
    assert parse_success_codes(["4", 12]) == (4, 12)
    with pytest.raises(AmtValidationError, match="unknown AMT completion code 17"):
        parse_success_codes([4, 17])
    with pytest.raises(AmtValidationError, match="at least one"):
        parse_success_codes([])


GOOD = {"status": "failed", "batch_request_id": 7, "completion_code": 11, "message_offset": 3, "message": "x"}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"status": "weird"}, "unknown status"),
        ({"batch_request_id": "7"}, "no valid batch_request_id"),
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
        validate_event({**GOOD, **change}, expected_id=7)


def test_good_events_pass_and_non_dicts_do_not():
    assert validate_event(GOOD, 7) is GOOD
    assert validate_event({**GOOD, "status": "timeout", "completion_code": None}, None)
    with pytest.raises(AmtResponseError, match="must be a dict"):
        validate_event(["not", "a", "dict"], 7)


def test_huge_messages_are_cut_with_a_marker_not_dropped():
    text = message_text(AmtMessage(index=4, text="x" * (MAX_MESSAGE_CHARS + 1234)))
    assert text.startswith("AMT [4] xxx") and text.endswith("[... message cut: 1234 more characters]")


def test_failure_message_names_code_meaning_and_last_messages():
    last = [AmtMessage(1, "warning"), AmtMessage(2, "Error: disk full")]
    text = failure_message("batch job DEMO2/X", 9, Code.ERROR, last)
    assert text.startswith(
        "AMT batch job DEMO2/X (batch request 9) ended with completion code 11 ERROR: ended in error"
    )
    assert "  [2] Error: disk full" in text
    assert "wrote no messages" in failure_message("script DEMO2/S", 9, Code.KILLED, [])
