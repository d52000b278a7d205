"""What the operators and the sensor share on the worker: watching an AMT job and ending the task.

* :class:`WatchedJob` is the job a task instance watches (id, description, message cursor, deadline).
* :class:`AmtJobWatcher` (a mixin) holds the connection, the outcome rules and the grace periods,
  defers to :class:`~airflow_provider_amt.triggers.amt.AmtJobTrigger` or waits on the worker
  (both through the client library's one polling loop), and turns how the watch ended into the
  task's outcome in :meth:`AmtJobWatcher._conclude`. The operators and the sensor differ only in
  what a timeout and an unwatchable-but-running job mean to them (two small hooks).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.triggers.base import BaseTrigger

from airflow_provider_amt import metrics
from airflow_provider_amt.compat import AirflowSkipException, trigger_on_kill_supported
from airflow_provider_amt.events import AmtTriggerEvent
from airflow_provider_amt.hooks.amt import AmtHook
from airflow_provider_amt.joblog import log_completion, log_ending, log_messages
from airflow_provider_amt.triggers import checkpoint
from airflow_provider_amt.triggers.amt import AmtJobTrigger
from amt_client import (
    AmtCompletionCode,
    AmtError,
    AmtJobFailedError,
    AmtMessage,
    JobStatus,
    MessageCursor,
    Outcome,
    Rules,
    WatchResult,
    WatchSettings,
    validation,
)
from amt_client.engine import reworded
from amt_client.policy import LAST_MESSAGES, failure_message

#: What a task that fails because its job could not be watched says about the job (it is never
#: ended for our own trouble, see the kill policy).
LEFT_AS_IT_IS = (
    "Nothing was sent to the AMT job: if it still runs, it is left running, and a retry of this task "
    "reconnects to it (one AMT job per task instance)."
)
#: Extra time given to the framework's deferral timeout, so the trigger's own ``timeout`` event
#: (which lets the task kill the job and log why) always arrives first.
DEFERRAL_TIMEOUT_PADDING = timedelta(minutes=2)


@dataclass
class WatchedJob:
    """The AMT batch request a task instance watches, and how far its messages are in the task log."""

    batch_request_id: int
    what: str  # "batch job DEMO2/REPORTTEST01", for messages
    cursor: MessageCursor
    deadline: float | None = None  # epoch seconds (execution_timeout / sensor timeout)


def result(batch_request_id: int, code: AmtCompletionCode, outcome: Outcome) -> dict[str, Any]:
    """The task's return value (XCom ``return_value``): the code, its AMT name and what it meant."""
    return {
        "batch_request_id": batch_request_id,
        "completion_code": int(code),
        "status": code.amt_name,
        "outcome": outcome.value,
    }


class AmtJobWatcher:
    """Mixin for ``BaseOperator`` subclasses that watch an AMT job (see the module docstring)."""

    log: Any  # from BaseOperator
    if TYPE_CHECKING:  # BaseOperator.defer, which this mixin always sits beside

        def defer(
            self,
            *,
            trigger: BaseTrigger,
            method_name: str,
            kwargs: dict[str, Any] | None = None,
            timeout: timedelta | int | float | None = None,
        ) -> NoReturn: ...

    amt_conn_id: str
    success_codes: tuple[int, ...]
    skip_on_skipped_by_ops: bool
    outage_grace_period: float
    undefined_grace_period: float
    #: What killing the task sends to the AMT job: "kill", "stop" or None (operators: "kill",
    #: the sensor: None). The deferred task's trigger carries it too.
    on_kill_action: str | None = None
    #: The batch request this task watches once it knows it (for ``on_kill`` on the worker).
    _watched_id: int | None = None

    def _init_watch(
        self,
        amt_conn_id: str,
        success_codes: Any,
        skip_on_skipped_by_ops: bool,
        outage_grace_period: float,
        undefined_grace_period: float,
    ) -> None:
        self.amt_conn_id = validation.connection_id(amt_conn_id)
        self.success_codes = validation.success_codes(success_codes)
        self.skip_on_skipped_by_ops = validation.flag(skip_on_skipped_by_ops, "skip_on_skipped_by_ops")
        self.outage_grace_period = validation.seconds(outage_grace_period, "outage_grace_period")
        self.undefined_grace_period = validation.seconds(undefined_grace_period, "undefined_grace_period")

    @cached_property
    def hook(self) -> AmtHook:
        return AmtHook(self.amt_conn_id)

    @property
    def rules(self) -> Rules:
        return Rules(success_codes=self.success_codes, skip_on_skipped_by_ops=self.skip_on_skipped_by_ops)

    def _watch_settings(self, poll_interval: float, deadline: float | None) -> WatchSettings:
        return WatchSettings(
            rules=self.rules,
            poll_interval=poll_interval,
            deadline=deadline,
            outage_grace_period=self.outage_grace_period,
            undefined_grace_period=self.undefined_grace_period,
        )

    # --- waiting: in the triggerer, or here ---------------------------------------------------------

    def _trigger(self, job: WatchedJob, poll_interval: float) -> AmtJobTrigger:
        return AmtJobTrigger.for_job(
            job.batch_request_id,
            self.amt_conn_id,
            self._watch_settings(poll_interval, job.deadline),
            message_offset=job.cursor.offset,
            on_kill_action=self.on_kill_action,
        )

    def _defer_watch(
        self, context: Any, job: WatchedJob, poll_interval: float, status: JobStatus | None = None
    ) -> NoReturn:
        """Log the messages the job has written so far, then hand the watch to the triggerer.

        Logging them here first puts a job's first lines in the task log at once: a trigger starts
        a second or two after the deferral (the triggerer picks new triggers up about once a second)
        and may wait for its checkpoint read. Skipped when ``status`` says there are none yet; a
        failed read is left to the trigger.
        """
        if status is None or status.message_count is None or status.message_count > job.cursor.offset:
            try:
                self.hook.read_messages(job.batch_request_id, job.cursor, self._log_page)
            except AmtError as err:
                self.log.warning("Could not read AMT messages before deferring (the trigger will): %s", err)
        checkpoint.seed(context["ti"], job.batch_request_id, job.cursor.offset)
        if self.on_kill_action is not None and not trigger_on_kill_supported():
            self.log.warning(
                "This Airflow does not tell a deferred trigger that its task was killed (Airflow 3.3+ does): "
                "marking this task failed or clearing it while it is deferred leaves AMT batch request %s "
                "running. Use deferrable=False where on_kill_action must reach AMT.",
                job.batch_request_id,
            )
        timeout = None
        if job.deadline is not None:
            timeout = timedelta(seconds=max(0.0, job.deadline - time.time())) + DEFERRAL_TIMEOUT_PADDING
        self.defer(
            trigger=self._trigger(job, poll_interval),
            method_name="execute_complete",
            kwargs={"deadline": job.deadline},
            timeout=timeout,
        )

    def _wait_on_worker(self, job: WatchedJob, poll_interval: float) -> WatchResult:
        """The non-deferrable wait: the same polling loop as the trigger, streaming messages into the log."""
        self._watched_id = job.batch_request_id
        return self.hook.watch_job(
            job.batch_request_id, job.cursor, self._watch_settings(poll_interval, job.deadline), self._log_page
        )

    def _log_page(self, page: Sequence[AmtMessage]) -> None:
        log_messages(self.log, page, self.hook.redactor())

    # --- ending the AMT job ----------------------------------------------------------------------------

    def _end(self, action: str, batch_request_id: int, reason: str) -> None:
        """Stop or Kill the job unless it has ended; log what happened and its completion code."""
        try:
            log_ending(self.log, self.hook.end_job(action, batch_request_id), reason)
        except AmtError as err:
            self.log.error("Could not %s AMT batch request %s (%s): %s", action, batch_request_id, reason, err)

    def on_kill(self) -> None:
        """The task was killed while it waited on the worker: send ``on_kill_action`` to the job."""
        if self._watched_id is not None and self.on_kill_action is not None:
            self._end(self.on_kill_action, self._watched_id, "the task was killed")

    # --- ending the task ------------------------------------------------------------------------------

    def _conclude(self, job: WatchedJob, ended: WatchResult) -> dict[str, Any]:
        """Turn how the watch ended into the task's outcome (the one place that does).

        A timeout is the subclass's to raise; a job that could not be watched but still runs is the
        subclass's to go on watching (or to fail): the watch it returns is concluded here in turn.
        """
        while True:
            if ended.outcome is Outcome.TIMEOUT:
                self._timed_out(job, ended.message)
            code = ended.code
            if ended.outcome is Outcome.ERROR:
                code = self._recheck(job, ended.message)
                if not self.rules.is_final(code):
                    ended = self._still_running(job, ended.message, code)
                    continue
            assert code is not None  # a final verdict always carries its code
            return self._finish(job, code)

    def _conclude_event(self, job: WatchedJob, event: AmtTriggerEvent) -> dict[str, Any]:
        job.cursor.offset = event.message_offset
        return self._conclude(job, event.result)

    def _timed_out(self, job: WatchedJob, message: str) -> NoReturn:  # pragma: no cover - subclasses say
        """The deadline passed: end the task (and the job, where the kill policy says so)."""
        raise NotImplementedError

    def _still_running(self, job: WatchedJob, message: str, code: AmtCompletionCode) -> WatchResult:
        """AMT could not be watched, but asking once more says the job still runs: fail, or watch on."""
        raise AmtError(
            f"AMT {job.what} (batch request {job.batch_request_id}) could not be watched: {message}. {LEFT_AS_IT_IS}"
        )

    def _recheck(self, job: WatchedJob, reason: str) -> AmtCompletionCode:
        """After an ``error`` ending: ask AMT once more before failing the task."""
        try:
            return self.hook.get_job_status(job.batch_request_id).code
        except AmtError as err:
            raise reworded(
                err,
                f"{reason}; checking batch request {job.batch_request_id} again failed too: {err}. {LEFT_AS_IT_IS}",
            ) from err

    def _finish(self, job: WatchedJob, code: AmtCompletionCode) -> dict[str, Any]:
        """Log the messages still missing and the completion block; return, skip or fail by the rules."""
        self.hook.read_messages(job.batch_request_id, job.cursor, self._log_page)
        outcome = self.rules.ending(code)
        log_completion(self.log, code, outcome)
        metrics.outcome(code)
        if outcome is Outcome.SUCCESS:
            return result(job.batch_request_id, code, outcome)
        last = list(job.cursor.last)
        if not last and job.cursor.offset:  # the trigger logged them: fetch the tail again for the error text
            last = self.hook.get_messages(
                job.batch_request_id, max(0, job.cursor.offset - LAST_MESSAGES), LAST_MESSAGES
            )
        message = self.hook.redactor()(failure_message(job.what, job.batch_request_id, code, last))
        if outcome is Outcome.SKIPPED:
            raise AirflowSkipException(message)
        raise AmtJobFailedError(message)

    def _log_rest(self, job: WatchedJob, outcome: Outcome) -> None:
        """After the job was killed (timeout): the messages still missing and the completion block."""
        try:
            code = self.hook.get_job_status(job.batch_request_id).code
            self.hook.read_messages(job.batch_request_id, job.cursor, self._log_page)
            log_completion(self.log, code, outcome)
        except AmtError as err:
            self.log.warning("Could not read the end of the AMT job log: %s", err)
