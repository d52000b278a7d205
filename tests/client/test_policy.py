"""The polling policy and outcome rules, with a fake clock (no Airflow, no I/O)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from amt_client import AmtMessage, AmtValidationError, Outcome, Rules, WatchResult, WatchSettings
from amt_client.codes import AmtCompletionCode as Code
from amt_client.policy import JobWatch, failure_message
from amt_client.validation import success_codes as parse_success_codes


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def watch(**kwargs) -> tuple[JobWatch, Clock]:
    clock = Clock()
    settings = WatchSettings(**{"poll_interval": 10.0, "initial_interval": 1.0, **kwargs})
    return JobWatch(settings, clock=clock, wall_clock=clock), clock


def test_polls_start_fast_and_back_off_to_the_poll_interval_with_jitter():
    w, _ = watch()
    pauses = [w.on_status(Code.RUNNING, "RUNNING").pause for _ in range(12)]
    assert 0.85 <= pauses[0] <= 1.15
    assert all(b >= a * 1.1 for a, b in itertools.pairwise(pauses[:5]))  # growing 1.5x, jitter 15%
    assert all(8.5 <= p <= 11.5 for p in pauses[-3:])  # capped at poll_interval, jittered
    assert len({round(p, 6) for p in pauses[-3:]}) > 1


def test_final_codes_end_the_watch():
    w, _ = watch()
    for code in (Code.DONE, Code.ERROR, Code.KILLED, Code.DEL_QUEUE):
        assert w.on_status(code, code.amt_name).outcome.job_ended
    assert w.on_status(Code.QUEUED, "QUEUED").outcome is Outcome.WAIT


def test_deadline_gives_a_timeout_and_pauses_never_overshoot_it():
    w, clock = watch(deadline=1005.0)  # the fake wall clock starts at 1000
    assert w.on_status(Code.RUNNING, "RUNNING").outcome is Outcome.WAIT
    clock.now = 1004.5
    assert w.on_status(Code.RUNNING, "RUNNING").pause <= 0.5
    clock.now = 1005.0
    verdict = w.on_status(Code.RUNNING, "RUNNING (2)")
    assert verdict.outcome is Outcome.TIMEOUT and "execution_timeout" in verdict.message


def test_outages_are_ridden_out_for_the_grace_period_then_reported():
    w, clock = watch(outage_grace_period=60)
    assert w.on_transient_error(RuntimeError("503")).outcome is Outcome.WAIT
    clock.now += 59
    assert w.on_transient_error(RuntimeError("503")).outcome is Outcome.WAIT
    clock.now += 1
    verdict = w.on_transient_error(RuntimeError("503"))
    assert verdict.outcome is Outcome.ERROR and "unreachable for 60 s" in verdict.message
    w2, clock2 = watch(outage_grace_period=60)
    w2.on_transient_error(RuntimeError("x"))
    clock2.now += 50
    w2.on_status(Code.RUNNING, "RUNNING")  # a success resets the outage clock
    clock2.now += 50
    assert w2.on_transient_error(RuntimeError("x")).outcome is Outcome.WAIT


def test_undefined_is_waited_on_then_failed():
    w, clock = watch(undefined_grace_period=30)
    assert w.on_status(Code.UNDEFINED, "UNDEFINED").outcome is Outcome.WAIT
    clock.now += 30
    verdict = w.on_status(Code.UNDEFINED, "UNDEFINED")
    assert verdict.outcome is Outcome.FAILED and "stayed 19 UNDEFINED for 30 s" in verdict.message


def test_rules_map_codes_to_outcomes():
    assert Rules().outcome(Code.DONE) is Outcome.SUCCESS
    assert Rules().outcome(Code.SKIPPED_BY_OPS) is Outcome.FAILED
    assert Rules(skip_on_skipped_by_ops=True).outcome(Code.SKIPPED_BY_OPS) is Outcome.SKIPPED
    assert Rules(success_codes=(4, 6)).outcome(Code.SKIPPED_BY_OPS) is Outcome.SUCCESS
    assert Rules().outcome(Code.WAIT_FOR_FILE) is Outcome.WAIT
    assert Rules().outcome(Code.KILLED) is Rules().outcome(Code.DEL_QUEUE) is Outcome.CANCELLED
    assert Rules().outcome(Code.KILLED_WITH_RECOVER) is Outcome.FAILED  # a recovery run may resume it
    assert Rules(success_codes=(3, 4)).outcome(Code.KILLED) is Outcome.SUCCESS
    assert parse_success_codes(["4", 12]) == (4, 12)
    with pytest.raises(AmtValidationError, match="unknown AMT completion code 42"):
        parse_success_codes([4, 42])
    with pytest.raises(AmtValidationError, match="at least one"):
        parse_success_codes([])


def test_skip_codes_and_fail_fast_codes_are_opcon_style_criteria():
    """Issue 26: several codes may end a task as skipped; some failures are not worth a retry."""
    rules = Rules(skip_codes=["ABORTED", 6])
    assert rules.skip_codes == (12, 6)
    assert rules.outcome(Code.ABORTED) is rules.outcome(Code.SKIPPED_BY_OPS) is Outcome.SKIPPED
    assert rules.outcome(Code.ERROR) is Outcome.FAILED
    assert Rules().fail_fast_codes == (99,) and Rules().fails_fast(Code.INVALID_AMT_USER)
    assert not Rules(fail_fast_codes=[]).fails_fast(Code.INVALID_AMT_USER)
    assert Rules(fail_fast_codes=["11-12"]).fail_fast_codes == (11, 12)
    with pytest.raises(AmtValidationError, match="2 RUNNING is not an ending of a job"):
        Rules(skip_codes=[2])
    with pytest.raises(AmtValidationError, match=r"skip_codes and success_codes both hold \[6\]"):
        Rules(success_codes=[4, 6], skip_codes=[6])


@pytest.mark.parametrize(
    ("given", "codes"),
    [
        (["0-4"], (0, 1, 2, 3, 4)),
        (["20-27"], (20, 21, 22, 23, 24, 27)),  # the table's codes within: 25 and 26 are none
        (["DONE", "wait for file", "KilledWithRecover", "skipped_by_ops"], (4, 13, 27, 6)),
        ([4, "4", "3-4"], (4, 3)),  # each once, in the order given
        (range(3, 5), (3, 4)),
    ],
)
def test_code_lists_take_codes_names_and_ranges_of_the_table(given, codes):
    assert parse_success_codes(given) == codes


@pytest.mark.parametrize(
    ("given", "match"),
    [
        (["4-0"], "runs backwards"),
        (["0-42"], "unknown AMT completion code 42"),
        (["DOEN"], "no completion code is named 'DOEN'"),
        ("4", "must be a list"),
        ([True], "must be an integer"),
    ],
)
def test_code_lists_refuse_what_the_table_does_not_hold(given, match):
    with pytest.raises(AmtValidationError, match=match):
        parse_success_codes(given)


def test_a_watch_that_ended_on_a_code_still_running_counts_it_failed():
    """19 UNDEFINED past its grace period ends a watch on a code that is not terminal: the task fails
    (one rule for the worker and the triggerer, not a WAIT turned into FAILED in each)."""
    assert Rules().ending(Code.UNDEFINED) is Outcome.FAILED
    assert Rules().ending(Code.DONE) is Outcome.SUCCESS
    assert Rules(skip_on_skipped_by_ops=True).ending(Code.SKIPPED_BY_OPS) is Outcome.SKIPPED
    assert Rules(success_codes=(4, 19)).ending(Code.UNDEFINED) is Outcome.SUCCESS


def test_failure_message_names_code_meaning_and_last_messages():
    last = [AmtMessage(1, "warning"), AmtMessage(2, "Error: disk full")]
    text = failure_message("batch job DEMO2/X", 9, Code.ERROR, last)
    assert text.startswith(
        "AMT batch job DEMO2/X (batch request 9) ended with completion code 11 ERROR: ended in error"
    )
    assert "  [2] Error: disk full" in text
    assert "wrote no messages" in failure_message("script DEMO2/S", 9, Code.KILLED, [])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"poll_interval": float("nan")}, "poll_interval must be a finite number"),
        ({"poll_interval": 0.01}, "poll_interval must be a finite number of seconds >= 0.1"),
        ({"deadline": float("inf")}, "deadline must be a finite number"),
        ({"outage_grace_period": -1}, "outage_grace_period"),
        ({"rules": Rules(success_codes=(4,)), "undefined_grace_period": "x"}, "undefined_grace_period"),
    ],
)
def test_watch_settings_refuse_numbers_that_would_break_a_running_wait(kwargs, match):
    with pytest.raises(AmtValidationError, match=match):
        WatchSettings(**kwargs)


def test_the_first_pause_never_exceeds_the_poll_interval():
    assert WatchSettings(poll_interval=0.5, initial_interval=1.0).initial_interval == 0.5


def test_a_final_verdict_carries_the_outcome_by_the_watchs_rules():
    skip = JobWatch(WatchSettings(rules=Rules(skip_on_skipped_by_ops=True)))
    assert skip.on_status(Code.SKIPPED_BY_OPS, "SKIPPED_BY_OPS").outcome is Outcome.SKIPPED
    assert JobWatch(WatchSettings()).on_status(Code.KILLED, "KILLED").outcome is Outcome.CANCELLED
    assert JobWatch(WatchSettings()).on_status(Code.DONE, "DONE").outcome is Outcome.SUCCESS


def test_0_2s_verdict_kind_still_reads_and_says_it_is_deprecated():
    """``VerdictKind`` and ``.kind`` go in 0.4; until then code written against 0.2 works and warns."""
    with pytest.warns(DeprecationWarning, match="read .outcome"):
        from amt_client import VerdictKind
    ended = WatchResult(Outcome.CANCELLED, Code.KILLED, "killed")
    with pytest.warns(DeprecationWarning, match="WatchResult.kind"):
        assert ended.kind is VerdictKind.FINAL
    with pytest.warns(DeprecationWarning):
        assert WatchResult(Outcome.TIMEOUT, None).kind is VerdictKind.TIMEOUT
    with pytest.warns(DeprecationWarning, match="Verdict.kind"):
        assert JobWatch(WatchSettings()).on_status(Code.RUNNING, "RUNNING").kind is VerdictKind.WAIT
    with pytest.raises(AttributeError):
        import amt_client

        amt_client.NoSuchName  # noqa: B018


def test_an_error_ending_rechecked_takes_the_jobs_own_ending_or_stays_an_error():
    """The worker's wait and the start trigger settle an ``error`` ending with this one rule."""
    unreachable = WatchResult(Outcome.ERROR, None, "AMT unreachable for 300 s")
    assert unreachable.rechecked(Code.DONE, Rules()) == WatchResult(Outcome.SUCCESS, Code.DONE, unreachable.message)
    assert unreachable.rechecked(Code.KILLED, Rules()).outcome is Outcome.CANCELLED
    assert unreachable.rechecked(Code.RUNNING, Rules()) == WatchResult(Outcome.ERROR, Code.RUNNING, unreachable.message)
    assert unreachable.rechecked(Code.UNDEFINED, Rules()).outcome is Outcome.ERROR  # not final by itself


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        ({14: 1800, "queued": "600"}, {14: 1800.0, 1: 600.0}),
        ({"WAIT FOR FILE": 60, "20-21": 30}, {13: 60.0, 20: 30.0, 21: 30.0}),
        ({}, {}),
    ],
)
def test_state_limits_take_codes_names_and_ranges(limits: Any, expected: dict[int, float]):
    assert WatchSettings(max_time_in_state=limits).max_time_in_state == expected


@pytest.mark.parametrize(
    ("limits", "match"),
    [
        ({4: 60}, "4 DONE is an ending of a job"),
        ({"11": 60}, "11 ERROR is an ending"),
        ({14: 0}, r"max_time_in_state\[14\] must be a finite number of seconds > 0"),
        ({14: float("nan")}, "finite number"),
        ({"WAIT FOR BEER": 60}, "no completion code is named"),
        ([14, 1800], "must be a dict of completion code to seconds"),
        ({500: 60}, "unknown AMT completion code 500"),
    ],
)
def test_state_limits_refuse_what_could_never_apply(limits: Any, match: str):
    with pytest.raises(AmtValidationError, match=match):
        WatchSettings(max_time_in_state=limits)
