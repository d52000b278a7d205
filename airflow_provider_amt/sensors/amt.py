"""``AmtJobSensor``: wait for an AMT batch request that something else started.

Typical use: an ``AmtBatchJobOperator`` with ``wait_for_completion=False`` starts the job and a
sensor waits for it later, perhaps after other work. The same outcome rules as the operators
apply (``success_codes``, SKIPPED_BY_OPS mapping). The sensor does not own the job, so it never
kills it: not on timeout and not when the sensor task is killed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator

from airflow_provider_amt import validation
from airflow_provider_amt.codes import AmtCompletionCode
from airflow_provider_amt.compat import AirflowSensorTimeout, default_deferrable
from airflow_provider_amt.exceptions import AmtError
from airflow_provider_amt.hooks.amt import AmtHook
from airflow_provider_amt.joblog import MessageCursor
from airflow_provider_amt.operators import _worker
from airflow_provider_amt.outcome import validate_event
from airflow_provider_amt.triggers.amt import AmtJobTrigger


class AmtJobSensor(_worker.AmtWatchSettings, BaseSensorOperator):
    """Succeed when an AMT batch request ends with a success code; fail when it ends otherwise.

    :param batch_request_id: the BatchRequestId (an int or a numeric string). Templated, e.g.
        ``"{{ ti.xcom_pull(task_ids='start', key='batch_request_id') }}"``.
    :param amt_conn_id: Airflow connection of type ``amt``.
    :param success_codes: completion codes that count as success (default ``(4,)``).
    :param skip_on_skipped_by_ops: end as skipped when AMT reports 6 SKIPPED_BY_OPS.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param outage_grace_period: seconds AMT may stay unreachable while deferred.
    :param undefined_grace_period: seconds a 19 UNDEFINED state is tolerated while deferred.
    """

    template_fields: Sequence[str] = ("batch_request_id",)
    ui_color = "#c6e2ff"

    def __init__(
        self,
        *,
        batch_request_id: int | str,
        amt_conn_id: str = AmtHook.default_conn_name,
        success_codes: Sequence[int] = (int(AmtCompletionCode.DONE),),
        skip_on_skipped_by_ops: bool = False,
        deferrable: bool = default_deferrable(),
        outage_grace_period: float = 300.0,
        undefined_grace_period: float = 60.0,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.batch_request_id = batch_request_id
        self._init_watch(
            amt_conn_id, success_codes, skip_on_skipped_by_ops, outage_grace_period, undefined_grace_period
        )
        self.deferrable = deferrable
        if not (isinstance(batch_request_id, str) and "{{" in batch_request_id):
            validation.batch_request_id(batch_request_id)

    def _id(self) -> int:
        return validation.batch_request_id(self.batch_request_id)

    def _what(self) -> str:
        return f"batch request {self._id()}"

    def poke(self, context: Any) -> bool:
        status = self.hook.get_job_status(self._id())
        self.log.info("AMT batch request %s is %s", status.batch_request_id, status)
        if not self.rules.is_final(status.code):
            return False
        _worker.finish(self.log, self.hook, self.rules, self._what(), self._id(), status.code, MessageCursor(0))
        return True

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):
            return None
        deadline = time.time() + float(self.timeout) if self.timeout else None
        self.defer(
            trigger=AmtJobTrigger(
                batch_request_id=self._id(),
                amt_conn_id=self.amt_conn_id,
                poll_interval=float(self.poke_interval),
                deadline=deadline,
                success_codes=list(self.success_codes),
                cancel_on_kill=False,
                outage_grace_period=float(self.outage_grace_period),
                undefined_grace_period=float(self.undefined_grace_period),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout)) + timedelta(minutes=2) if self.timeout else None,
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> None:
        event = validate_event(event, self._id())
        cursor = MessageCursor(event["message_offset"])
        if event["status"] == "timeout":
            raise AirflowSensorTimeout(f"AMT {self._what()} did not end in time: {event['message']}")
        if event["status"] == "error":
            code = _worker.recheck(self.hook, self._id(), event["message"])
            if not self.rules.is_final(code):
                raise AmtError(f"AMT {self._what()} could not be watched: {event['message']}")
        else:
            code = AmtCompletionCode.parse(event["completion_code"])
        _worker.finish(self.log, self.hook, self.rules, self._what(), self._id(), code, cursor)
