"""What the operators and the sensor share on the worker: one task's watch of one AMT job.

* :class:`WatchOptions` is what a watching task decides by: its connection, outcome rules and
  grace periods, checked once when the task is made.
* :class:`WatchedJob` is the job a task instance watches (id, description, message cursor, deadline).
* :class:`JobWait` is that watch, composed into the operators and the sensor (not a mixin): it
  prepares a deferral to :class:`~airflow_provider_amt.triggers.amt.AmtJobTrigger` or waits on the
  worker (both through the client library's one polling loop), settles an ``error`` ending by
  asking AMT once more, and finishes the task by the rules. What a timeout or an unwatchable but
  running job means stays in each task's own ``execute`` flow, where a reader looks for it.
* :class:`WatchingTask` is the little the operator and the sensor have in common as tasks: the
  hook of their connection and ``on_kill`` (both send ``on_kill_action`` through their wait).
"""

from __future__ import annotations

import operator
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow_provider_amt import metrics
from airflow_provider_amt.compat import (
    AirflowProviderDeprecationWarning,
    AirflowSkipException,
    trigger_on_kill_supported,
)
from airflow_provider_amt.events import AmtTriggerEvent
from airflow_provider_amt.fail_fast import AmtJobFailedFastError
from airflow_provider_amt.hooks.amt import AmtHook
from airflow_provider_amt.joblog import log_completion, log_ending, log_messages, log_state
from airflow_provider_amt.triggers import checkpoint
from airflow_provider_amt.triggers.amt import AmtJobTrigger
from amt_client import (
    AmtError,
    AmtJobFailedError,
    AmtMessage,
    JobStatus,
    MessageCursor,
    Outcome,
    Rules,
    StateChange,
    WatchResult,
    WatchSettings,
    validation,
)
from amt_client.codes import Code
from amt_client.engine import reworded
from amt_client.policy import DEFAULT_FAIL_FAST_CODES, LAST_MESSAGES, failure_message
from amt_client.start import BatchRequestId, optional_job_ids

#: What a task that fails because its job could not be watched says about the job (it is never
#: ended for our own trouble, see the kill policy).
LEFT_AS_IT_IS = (
    "Nothing was sent to the AMT job: if it still runs, it is left running, and a retry of this task "
    "reconnects to it (one AMT job per task instance)."
)
#: Extra time given to the framework's deferral timeout, so the trigger's own ``timeout`` event
#: (which lets the task kill the job and log why) always arrives first.
DEFERRAL_TIMEOUT_PADDING = timedelta(minutes=2)


def result(batch_request_id: int, code: Code, outcome: Outcome, job_url: str | None = None) -> dict[str, Any]:
    """The task's XCom ``return_value`` for every ending (pushed before a task fails or skips): the
    code, its AMT name, what it meant, and where a person sees the job (with a ``job_url_template``).
    ``status`` is 0.2's name of ``completion_name``, kept."""
    value: dict[str, Any] = {
        "batch_request_id": int(batch_request_id),  # the number (a job may carry its ids too)
        "completion_code": int(code),
        "completion_name": code.amt_name,
        "status": code.amt_name,
        "outcome": outcome.value,
    }
    if job_url is not None:
        value["job_url"] = job_url
    return value


def with_job_ids(batch_request_id: int, ids: Any) -> int:
    """A batch request id with the job's ``ids`` a DAG gives (for a contract that sends them with
    its calls: ``ids``), or the plain number without them."""
    checked = optional_job_ids(ids)
    return BatchRequestId(batch_request_id, checked) if checked is not None else batch_request_id


@dataclass(frozen=True)
class WatchOptions:
    """What a task that watches an AMT job decides by (checked on creation, when the DAG is parsed)."""

    amt_conn_id: str
    rules: Rules
    outage_grace_period: float
    undefined_grace_period: float
    max_time_in_state: dict[int, float] = field(default_factory=dict)

    @classmethod
    def checked(
        cls,
        amt_conn_id: Any,
        success_codes: Any,
        skip_on_skipped_by_ops: Any,
        outage_grace_period: Any,
        undefined_grace_period: Any,
        skip_codes: Any = (),
        fail_fast_codes: Any = DEFAULT_FAIL_FAST_CODES,
        max_time_in_state: Any = None,
    ) -> WatchOptions:
        return cls(
            validation.connection_id(amt_conn_id),
            Rules(
                success_codes=validation.success_codes(success_codes),
                skip_on_skipped_by_ops=validation.flag(skip_on_skipped_by_ops, "skip_on_skipped_by_ops"),
                skip_codes=validation.completion_codes(skip_codes, "skip_codes"),
                fail_fast_codes=validation.completion_codes(fail_fast_codes, "fail_fast_codes"),
            ),
            validation.seconds(outage_grace_period, "outage_grace_period"),
            validation.seconds(undefined_grace_period, "undefined_grace_period"),
            validation.state_limits({} if max_time_in_state is None else max_time_in_state),
        )

    def settings(self, poll_interval: float, deadline: float | None) -> WatchSettings:
        return WatchSettings(
            rules=self.rules,
            poll_interval=poll_interval,
            deadline=deadline,
            outage_grace_period=self.outage_grace_period,
            undefined_grace_period=self.undefined_grace_period,
            max_time_in_state=self.max_time_in_state,
        )


class _DeprecatedWatchOption:
    """0.2's attribute of a watching task, now read from ``watch_options``: read-only, warns."""

    def __init__(self, path: str):
        self.path = path

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, task: Any, owner: type | None = None) -> Any:
        if task is None:
            return self
        warnings.warn(
            f"{type(task).__name__}.{self.name} is deprecated and will be removed in 0.4: "
            f"read .watch_options.{self.path}",
            AirflowProviderDeprecationWarning,
            stacklevel=2,
        )
        return operator.attrgetter(self.path)(task.watch_options)


class WatchAttributesOf02:
    """The attributes 0.2's operators and sensor had, deprecated (removed in 0.4 with this class):
    what a watching task decides by is its ``watch_options``."""

    success_codes = _DeprecatedWatchOption("rules.success_codes")
    skip_on_skipped_by_ops = _DeprecatedWatchOption("rules.skip_on_skipped_by_ops")
    outage_grace_period = _DeprecatedWatchOption("outage_grace_period")
    undefined_grace_period = _DeprecatedWatchOption("undefined_grace_period")


@dataclass
class WatchedJob:
    """The AMT batch request a task instance watches, and how far its messages are in the task log."""

    batch_request_id: int
    what: str  # "batch job DEMO2/REPORTTEST01", for messages
    cursor: MessageCursor = field(default_factory=MessageCursor)
    deadline: float | None = None  # epoch seconds (execution_timeout / sensor timeout)


@dataclass
class JobWait:
    """One task's watch of one AMT job on the worker (see the module docstring)."""

    job: WatchedJob
    options: WatchOptions
    hook: AmtHook
    log: Any  # the task's logger: the job's messages go to the task log
    ti: Any = None  # the task instance: an ending that raises pushes its return_value through it
    #: the ``return_value`` of the job's ending once known (the task's OpenLineage facets read it)
    ended: dict[str, Any] | None = field(default=None, init=False)

    # --- waiting: in the triggerer, or here ---------------------------------------------------------

    def deferral(
        self, context: Any, poll_interval: float, on_kill_action: str | None, status: JobStatus | None
    ) -> tuple[AmtJobTrigger, timedelta | None]:
        """What ``defer`` needs to hand this watch to the triggerer: ``(trigger, timeout)``.

        The messages the job has written so far are logged here first, which puts a job's first lines
        in the task log at once: a trigger starts a second or two after the deferral and may wait for
        its checkpoint read. Skipped when ``status`` says there are none yet; a failed read is left to
        the trigger. The job's state in ``status`` is logged here too, and handed on (checkpoint and
        trigger), so that the trigger reports only the states after it.
        """
        job = self.job
        if status is not None:
            self.saw(status.code)
        if status is None or status.message_count is None or status.message_count > job.cursor.offset:
            try:
                self.hook.read_messages(job.batch_request_id, job.cursor, self._log_page)
            except AmtError as err:
                self.log.warning("Could not read AMT messages before deferring (the trigger will): %s", err)
        checkpoint.seed(context["ti"], job.batch_request_id, job.cursor)
        if on_kill_action is not None and not trigger_on_kill_supported():
            self.log.warning(
                "This Airflow does not tell a deferred trigger that its task was killed (Airflow 3.3+ does): "
                "marking this task failed or clearing it while it is deferred leaves AMT batch request %s "
                "running. Use deferrable=False where on_kill_action must reach AMT.",
                job.batch_request_id,
            )
        trigger = AmtJobTrigger.for_job(
            job.batch_request_id,
            self.options.amt_conn_id,
            self.options.settings(poll_interval, job.deadline),
            message_offset=job.cursor.offset,
            on_kill_action=on_kill_action,
            cursor=job.cursor,
        )
        timeout = None
        if job.deadline is not None:
            timeout = timedelta(seconds=max(0.0, job.deadline - time.time())) + DEFERRAL_TIMEOUT_PADDING
        return trigger, timeout

    def on_worker(self, poll_interval: float) -> WatchResult:
        """The non-deferrable wait: the same polling loop as the trigger, streaming messages into the log."""
        job = self.job
        settings = self.options.settings(poll_interval, job.deadline)
        return self.hook.watch_job(job.batch_request_id, job.cursor, settings, self._log_page, self._log_state)

    def resumed(self, event: AmtTriggerEvent) -> WatchResult:
        """How the trigger's watch ended; the trigger logged the messages up to its offset."""
        self.job.cursor.offset = event.message_offset
        return event.result

    def _log_page(self, page: Sequence[AmtMessage]) -> None:
        log_messages(self.log, page, self.hook.redactor())

    def _log_state(self, change: StateChange) -> None:
        log_state(self.log, change)

    def saw(self, code: Code) -> None:
        """The task read the job's status itself (before deferring): log its state if it is a new one."""
        cursor = self.job.cursor
        if not self.options.rules.is_final(code) and cursor.state != int(code):
            change = StateChange(cursor.state, code, time.time())
            self._log_state(change)
            cursor.took(change)

    # --- how the watch ended ------------------------------------------------------------------------

    def settled(self, ended: WatchResult) -> WatchResult:
        """An ``error`` ending asked once more: the job's own ending if it has ended meanwhile, else the
        ``error`` ending with the code it still runs with. Raises when AMT cannot be asked at all."""
        if ended.outcome is not Outcome.ERROR:
            return ended
        job = self.job
        try:
            code = self.hook.get_job_status(job.batch_request_id).code
        except AmtError as err:
            raise reworded(
                err,
                f"{ended.message}; checking batch request {job.batch_request_id} again failed too: {err}. "
                f"{LEFT_AS_IT_IS}",
            ) from err
        return ended.rechecked(code, self.options.rules)

    def unwatchable(self, reason: str) -> AmtError:
        """The error of a task that ends because its running job could not be watched."""
        job = self.job
        return AmtError(
            f"AMT {job.what} (batch request {job.batch_request_id}) could not be watched: {reason}. {LEFT_AS_IT_IS}"
        )

    def finish(self, code: Code) -> dict[str, Any]:
        """The job ended on ``code``: log the messages still missing and the completion block, then
        return, skip or fail by the rules (the code decides, whatever an event's status said)."""
        job = self.job
        self.hook.read_messages(job.batch_request_id, job.cursor, self._log_page)
        rules = self.options.rules
        outcome = rules.ending(code)
        log_completion(self.log, code, outcome)
        metrics.outcome(code)
        ending = self.ending(code, outcome)
        if outcome is Outcome.SUCCESS:
            return ending
        self.push(ending)
        last = list(job.cursor.last)
        if not last and job.cursor.offset:  # the trigger logged them: fetch the tail again for the error text
            last = self.hook.get_messages(
                job.batch_request_id, max(0, job.cursor.offset - LAST_MESSAGES), LAST_MESSAGES
            )
        message = self.hook.redactor()(failure_message(job.what, job.batch_request_id, code, last))
        if outcome is Outcome.SKIPPED:
            raise AirflowSkipException(message)
        failed = AmtJobFailedFastError if rules.fails_fast(code) else AmtJobFailedError
        raise failed(message, int(code), code.amt_name, int(job.batch_request_id))

    def ending(self, code: Code, outcome: Outcome) -> dict[str, Any]:
        """The task's ``return_value`` for the job's ending on ``code``."""
        batch_request_id = self.job.batch_request_id
        self.ended = result(batch_request_id, code, outcome, self.hook.config.job_url(batch_request_id))
        return self.ended

    def push(self, ending: dict[str, Any]) -> None:
        """Push the ``return_value`` of a task that is about to fail or skip (a task that returns it
        needs none): a downstream ``all_done`` task reads the code of a failed job there."""
        if self.ti is None:
            return
        try:
            self.ti.xcom_push(key="return_value", value=ending)
        except Exception as err:  # the task's end stands; the log says what is missing
            self.log.warning("Could not push the AMT ending to XCom: %s", err)

    # --- ending the AMT job (only where the kill policy says) ---------------------------------------

    def end(self, action: str, reason: str) -> None:
        """Stop or Kill the job unless it has ended; log what happened and its completion code."""
        batch_request_id = self.job.batch_request_id
        try:
            log_ending(self.log, self.hook.end_job(action, batch_request_id), reason)
        except AmtError as err:
            self.log.error("Could not %s AMT batch request %s (%s): %s", action, batch_request_id, reason, err)

    def log_rest(self, outcome: Outcome) -> None:
        """After the job was ended (a timeout): the messages still missing, the completion block, and
        the task's ``return_value`` with the code the job ended on."""
        job = self.job
        try:
            code = self.hook.get_job_status(job.batch_request_id).code
            self.hook.read_messages(job.batch_request_id, job.cursor, self._log_page)
            log_completion(self.log, code, outcome)
        except AmtError as err:
            self.log.warning("Could not read the end of the AMT job log: %s", err)
            return
        self.push(self.ending(code, outcome))


class WatchingTask(WatchAttributesOf02):
    """What the operators and the sensor share as tasks (a base class, no callbacks into them)."""

    amt_conn_id: str
    on_kill_action: str | None
    _wait: JobWait | None  # the watch of this task's job, once the job is known
    log: Any

    @cached_property
    def hook(self) -> AmtHook:
        return AmtHook(self.amt_conn_id)

    def on_kill(self) -> None:
        """The task was killed while it watched its job on the worker: send ``on_kill_action`` to the
        job (nothing when it is None, the sensor's default: a sensor watches a job it did not start)."""
        if self._wait is not None and self.on_kill_action is not None:
            self._wait.end(self.on_kill_action, "the task was killed")
