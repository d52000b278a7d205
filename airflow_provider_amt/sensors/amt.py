"""``AmtJobSensor``: wait for an AMT batch request that something else started.

Typical use: an ``AmtBatchJobOperator`` with ``wait_for_completion=False`` starts the job and a
sensor waits for it later, perhaps after other work. The same outcome rules, deferral and
completion handling as the operators apply (``worker_watch.JobWait``). The sensor does not
own the job, so by default it never ends it: not on timeout, and not when the sensor task is
killed unless ``on_kill_action`` says so.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator

from airflow_provider_amt.compat import AirflowSensorTimeout, default_deferrable
from airflow_provider_amt.events import read_event
from airflow_provider_amt.fail_fast import retries_only_where_they_help
from airflow_provider_amt.hooks.amt import DEFAULT_CONN_NAME
from airflow_provider_amt.templating import check_untemplated
from airflow_provider_amt.worker_watch import (
    DEFAULT_FAIL_FAST_CODES,
    JobWait,
    WatchedJob,
    WatchingTask,
    WatchOptions,
    with_job_ids,
)
from amt_client import AmtCompletionCode, AmtValidationError, JobStatus, MessageCursor, Outcome, validation
from amt_client.policy import JobWatch
from amt_client.start import optional_job_ids


class AmtJobSensor(WatchingTask, BaseSensorOperator):
    """Succeed when an AMT batch request ends with a success code; fail when it ends otherwise.

    :param batch_request_id: the BatchRequestId (an int or a numeric string). Templated, e.g.
        ``"{{ ti.xcom_pull(task_ids='start', key='batch_request_id') }}"``.
    :param amt_conn_id: Airflow connection of type ``amt``.
    :param success_codes: completion codes that count as success (default ``(4,)``).
    :param skip_on_skipped_by_ops: end as skipped when AMT reports 6 SKIPPED_BY_OPS.
    :param skip_codes: job endings that end the sensor as skipped (codes, names or ranges).
    :param fail_fast_codes: job endings that fail the sensor without its retries (default ``[99]``).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param outage_grace_period: seconds AMT may stay unreachable while deferred.
    :param undefined_grace_period: seconds a 19 UNDEFINED state is tolerated while deferred.
    :param max_time_in_state: seconds the job may stay in a state that is not an ending, by code or
        name (``{14: 1800}``): longer, and the sensor fails with ``AirflowSensorTimeout`` naming the
        state (the job is left alone). Deferrable or ``mode="poke"`` (a rescheduled sensor would not
        know since when the job is in its state).
    :param on_kill_action: what killing the sensor task sends to the job: None (default: the sensor
        watches a job it did not start), ``"kill"`` or ``"stop"``.
    :param job_ids: only for a Batch Server whose contract document sends the job's ids with every
        call (``ids``): the job's ``task_id``, ``application``, ``name``... Templated.
    """

    template_fields: Sequence[str] = ("batch_request_id", "job_ids")
    ui_color = "#c6e2ff"

    def __init__(
        self,
        *,
        batch_request_id: int | str,
        amt_conn_id: str = DEFAULT_CONN_NAME,
        success_codes: Sequence[int] = (int(AmtCompletionCode.DONE),),
        skip_on_skipped_by_ops: bool = False,
        skip_codes: Sequence[int | str] = (),
        fail_fast_codes: Sequence[int | str] = DEFAULT_FAIL_FAST_CODES,
        deferrable: bool = default_deferrable(),
        outage_grace_period: float = 300.0,
        undefined_grace_period: float = 60.0,
        max_time_in_state: Mapping[int | str, float] | None = None,
        on_kill_action: str | None = None,
        job_ids: Mapping[str, str] | None = None,
        **kwargs: Any,
    ):
        for name in ("timeout", "poke_interval"):  # NaN or infinity would break the wait after it began
            if kwargs.get(name) is not None:
                value = kwargs[name]
                seconds = value.total_seconds() if isinstance(value, timedelta) else value
                validation.seconds(seconds, name, exclusive=name == "poke_interval")
        super().__init__(**kwargs)
        self.batch_request_id = batch_request_id
        self.watch_options = WatchOptions.checked(
            amt_conn_id,
            success_codes,
            skip_on_skipped_by_ops,
            outage_grace_period,
            undefined_grace_period,
            skip_codes=skip_codes,
            fail_fast_codes=fail_fast_codes,
            max_time_in_state=max_time_in_state,
        )
        self.amt_conn_id = self.watch_options.amt_conn_id
        self.deferrable = validation.flag(deferrable, "deferrable")
        if self.watch_options.max_time_in_state and self.mode == "reschedule" and not self.deferrable:
            raise AmtValidationError(
                "max_time_in_state needs deferrable=True or mode='poke': a rescheduled sensor does not know "
                "since when the job is in its state."
            )
        self._cursor = MessageCursor()  # the job's state across pokes (poke mode)
        self.on_kill_action = validation.end_action(on_kill_action, "on_kill_action")
        self.job_ids = job_ids
        check_untemplated(
            {
                "batch_request_id": (batch_request_id, validation.batch_request_id),
                "job_ids": (job_ids, optional_job_ids),
            }
        )
        self._wait: JobWait | None = None  # the watch of the job, once poked

    def _watch(self, deadline: float | None = None, ti: Any = None) -> JobWait:
        batch_request_id = with_job_ids(validation.batch_request_id(self.batch_request_id), self.job_ids)
        job = WatchedJob(batch_request_id, f"batch request {batch_request_id}", self._cursor, deadline)
        self._wait = JobWait(job, self.watch_options, self.hook, self.log, ti)
        return self._wait

    def poke(self, context: Any) -> bool:
        wait = self._watch(ti=context.get("ti"))
        status = self.hook.get_job_status(wait.job.batch_request_id)
        self.log.info("AMT batch request %s is %s", status.batch_request_id, status)
        if not self.watch_options.rules.is_final(status.code):
            wait.saw(status.code)
            self._check_time_in_state(status)
            return False
        wait.finish(status.code)
        return True

    def _check_time_in_state(self, status: JobStatus) -> None:
        """Between pokes: the client's rule of ``max_time_in_state``, on the state since it was first seen."""
        options = self.watch_options
        if not options.max_time_in_state:
            return
        verdict = JobWatch(options.settings(float(self.poke_interval), None)).on_status(
            status.code, status, self._cursor.state_since
        )
        if verdict.outcome is Outcome.TIMEOUT:
            raise AirflowSensorTimeout(f"AMT batch request {status.batch_request_id}: {verdict.message}")

    def execute(self, context: Any) -> Any:
        with retries_only_where_they_help():
            return self._execute(context)

    def _execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):
            return None
        deadline = time.time() + float(self.timeout) if self.timeout else None
        wait = self._watch(deadline, context.get("ti"))
        trigger, timeout = wait.deferral(context, float(self.poke_interval), self.on_kill_action, None)
        self.defer(trigger=trigger, method_name="execute_complete", kwargs={"deadline": deadline}, timeout=timeout)

    def execute_complete(self, context: Any, event: dict[str, Any], deadline: float | None = None) -> None:
        """Resume after the trigger. A timeout leaves the job alone (the sensor does not own it); so
        does a job that still runs but could not be watched: the task fails saying so."""
        with retries_only_where_they_help():
            self._conclude(context, event, deadline)

    def _conclude(self, context: Any, event: dict[str, Any], deadline: float | None) -> None:
        wait = self._watch(deadline, context.get("ti"))
        ended = wait.settled(wait.resumed(read_event(event, wait.job.batch_request_id)))
        if ended.outcome is Outcome.TIMEOUT:
            raise AirflowSensorTimeout(f"AMT {wait.job.what} did not end in time: {ended.message}")
        if not ended.outcome.job_ended or ended.code is None:
            raise wait.unwatchable(ended.message)
        wait.finish(ended.code)
