"""What a worker does with an AMT job it watches, shared by the operators and the sensor.

* :func:`finish` logs the messages still missing from the task log, the completion block, and
  turns the code into the task's outcome (result, skip, or ``AmtJobFailedError``).
* :func:`wait` is the non-deferrable loop: the same policy as the trigger (``JobWatch``), with the
  sync hook, streaming messages into the task log as they arrive.
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import Any

from airflow_provider_amt.api_contract import MAX_MESSAGES_PAGE
from airflow_provider_amt.codes import AmtCompletionCode
from airflow_provider_amt.compat import AirflowSkipException
from airflow_provider_amt.exceptions import (
    AmtError,
    AmtJobFailedError,
    AmtResponseError,
    AmtServerUnavailableError,
    AmtValidationError,
)
from airflow_provider_amt.hooks.amt import AmtHook
from airflow_provider_amt.joblog import LAST_MESSAGES, MessageCursor, drain_messages, log_completion
from airflow_provider_amt.outcome import Outcome, Rules, failure_message, parse_success_codes
from airflow_provider_amt.watch import JobWatch, Verdict


class AmtWatchSettings:
    """What the operators and the sensor share: connection, outcome rules and grace periods."""

    amt_conn_id: str
    success_codes: tuple[int, ...]
    skip_on_skipped_by_ops: bool

    def _init_watch(
        self,
        amt_conn_id: str,
        success_codes: Any,
        skip_on_skipped_by_ops: bool,
        outage_grace_period: float,
        undefined_grace_period: float,
    ) -> None:
        self.amt_conn_id = amt_conn_id
        self.success_codes = parse_success_codes(success_codes)
        self.skip_on_skipped_by_ops = skip_on_skipped_by_ops
        self.outage_grace_period = positive_seconds(outage_grace_period, "outage_grace_period")
        self.undefined_grace_period = positive_seconds(undefined_grace_period, "undefined_grace_period")

    @cached_property
    def hook(self) -> AmtHook:
        return AmtHook(self.amt_conn_id)

    @property
    def rules(self) -> Rules:
        return Rules(success_codes=self.success_codes, skip_on_skipped_by_ops=self.skip_on_skipped_by_ops)


def positive_seconds(value: Any, argument: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise AmtValidationError(f"{argument} must be a positive number of seconds, got {value!r}.")
    return float(value)


def result(batch_request_id: int, code: AmtCompletionCode) -> dict[str, Any]:
    """The task's return value (XCom ``return_value``)."""
    return {"batch_request_id": batch_request_id, "completion_code": int(code), "status": code.amt_name}


def finish(
    log: Any,
    hook: AmtHook,
    rules: Rules,
    what: str,
    batch_request_id: int,
    code: AmtCompletionCode,
    cursor: MessageCursor,
) -> dict[str, Any]:
    drain_messages(hook, batch_request_id, cursor, log, MAX_MESSAGES_PAGE)
    outcome = rules.outcome(code)
    if outcome is Outcome.WAIT:  # 19 UNDEFINED past its grace period
        outcome = Outcome.FAILED
    log_completion(log, code, outcome.value)
    if outcome is Outcome.SUCCESS:
        return result(batch_request_id, code)
    last = list(cursor.last)
    if not last and cursor.offset:  # the trigger logged them: fetch the tail again for the error text
        last = hook.get_messages(batch_request_id, max(0, cursor.offset - LAST_MESSAGES), LAST_MESSAGES)
    message = hook.redactor()(failure_message(what, batch_request_id, code, last))
    if outcome is Outcome.SKIPPED:
        raise AirflowSkipException(message)
    raise AmtJobFailedError(message)


def log_rest(log: Any, hook: AmtHook, batch_request_id: int, cursor: MessageCursor, outcome: str) -> None:
    """After the job was killed (timeout): the messages still missing and the completion block."""
    try:
        code = hook.get_job_status(batch_request_id).code
        drain_messages(hook, batch_request_id, cursor, log, MAX_MESSAGES_PAGE)
        log_completion(log, code, outcome)
    except AmtError as err:
        log.warning("Could not read the end of the AMT job log: %s", err)


def wait(
    log: Any,
    hook: AmtHook,
    rules: Rules,
    batch_request_id: int,
    cursor: MessageCursor,
    *,
    poll_interval: float,
    deadline: float | None,
    outage_grace_period: float,
    undefined_grace_period: float,
) -> tuple[Verdict, AmtCompletionCode | None]:
    """Poll on the worker until the job is final, times out, or AMT stays unreachable."""
    watch = JobWatch(
        rules,
        poll_interval=poll_interval,
        deadline=deadline,
        outage_grace_period=outage_grace_period,
        undefined_grace_period=undefined_grace_period,
    )
    while True:
        code: AmtCompletionCode | None = None
        try:
            status = hook.get_job_status(batch_request_id)
            code = status.code
            drain_messages(hook, batch_request_id, cursor, log, MAX_MESSAGES_PAGE)
            verdict = watch.on_status(code, str(status))
        except (AmtServerUnavailableError, AmtResponseError) as err:
            log.warning("AMT status check failed, will retry: %s", err)
            verdict = watch.on_transient_error(err)
        if verdict.kind != "wait":
            return verdict, code
        time.sleep(verdict.pause)


def recheck(hook: AmtHook, batch_request_id: int, reason: str) -> AmtCompletionCode:
    """After an ``error`` event: ask AMT once more before failing the task."""
    try:
        return hook.get_job_status(batch_request_id).code
    except AmtError as err:
        raise type(err)(f"{reason}; checking batch request {batch_request_id} again failed too: {err}") from err
