"""Operators that start an AMT batch job or script and wait for it, on the worker or deferred.

``AmtBatchJobOperator`` and ``AmtScriptOperator`` share :class:`AmtBaseOperator`; they differ
only in the name of the thing they start and in how its values are checked (TaskValues versus
``NAME=value`` script parameters).

Guarantees, and where they come from:

* Nothing is sent until every argument (after templating) and the trigger kwargs are valid.
* The BatchRequestId is pushed to XCom and kept in ``task_state_store`` right after the Start;
  a retry after a worker crash reconnects to a job that is still running instead of starting a
  second one.
* ``execution_timeout`` is honoured while deferred (the trigger carries the deadline); the job
  is killed on timeout, also on the framework's ``__fail__`` path (``resume_execution``).
* With ``cancel_on_kill``, killing the task kills the AMT job: the trigger's ``on_kill`` when
  deferred, the operator's ``on_kill`` on the worker.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator

from airflow_provider_amt import api_contract as contract
from airflow_provider_amt import validation
from airflow_provider_amt.codes import AmtCompletionCode
from airflow_provider_amt.compat import TRIGGER_FAIL_REPR, AirflowTaskTimeout, default_deferrable
from airflow_provider_amt.exceptions import AmtError, AmtNotFoundError, AmtValidationError
from airflow_provider_amt.hooks.amt import AmtHook
from airflow_provider_amt.joblog import JobDescription, MessageCursor, log_job_information
from airflow_provider_amt.keys import STATE_BATCH_REQUEST_ID, XCOM_BATCH_REQUEST_ID, XCOM_CONN_ID
from airflow_provider_amt.operators import _worker
from airflow_provider_amt.outcome import validate_event
from airflow_provider_amt.triggers.amt import AmtJobTrigger

#: Extra time given to the framework's deferral timeout, so the trigger's own ``timeout`` event
#: (which lets the operator kill the job and log why) always arrives first.
DEFERRAL_TIMEOUT_PADDING = timedelta(minutes=2)
_TASK_ID_NAMESPACE = uuid.UUID("5b0c7f44-6a55-4c1e-9d0e-4f1f0c6a8a11")


def _templated(value: Any) -> bool:
    """True when a value still holds Jinja and can only be checked after rendering."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(_templated(k) or _templated(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_templated(v) for v in value)
    return False


class AmtBaseOperator(_worker.AmtWatchSettings, BaseOperator):
    """Start a predefined AMT task and, by default, wait for its completion code.

    :param application_name: AMT application (e.g. ``DEMO2``); None uses the connection's
        ``default_application``. Templated.
    :param amt_user: AMT user the job runs as (AMT's ``amtUser``; an invalid one ends the job with 99).
        Templated. Not called ``run_as_user``: that is ``BaseOperator``'s Unix impersonation argument.
    :param queue_name: AMT queue; None uses the application's default queue. Templated.
    :param submit_user: who submits the request (AMT expects ``BATCH``).
    :param station: where the request comes from (AMT expects ``OPCON``).
    :param amt_conn_id: Airflow connection of type ``amt``.
    :param deferrable: wait in the triggerer instead of holding a worker slot
        (default ``[operators] default_deferrable``).
    :param poll_interval: longest pause between status checks, in seconds (polls start faster).
    :param wait_for_completion: False starts the job and returns at once (watch it with
        ``AmtJobSensor``).
    :param success_codes: completion codes that count as success (OpCon-style criteria).
    :param cancel_on_kill: kill the AMT job when the task is killed (marked failed/success or cleared).
    :param skip_on_skipped_by_ops: end the task as skipped when AMT reports 6 SKIPPED_BY_OPS.
    :param outage_grace_period: seconds AMT may stay unreachable while a job is watched.
    :param undefined_grace_period: seconds a 19 UNDEFINED state is tolerated before it is a failure.
    """

    amt_task_type = "BatchJob"  # AMT's taskType
    task_type_label = "Batch Job"  # as the job information block prints it
    name_argument = "job_name"
    values_argument = "task_values"
    values_validator = staticmethod(validation.task_values)
    template_fields: Sequence[str] = ("application_name", "amt_user", "queue_name")
    ui_color = "#c6e2ff"

    def __init__(
        self,
        *,
        application_name: str | None = None,
        amt_user: str | None = None,
        queue_name: str | None = None,
        submit_user: str = "BATCH",
        station: str = "OPCON",
        amt_conn_id: str = AmtHook.default_conn_name,
        deferrable: bool = default_deferrable(),
        poll_interval: float = 10.0,
        wait_for_completion: bool = True,
        success_codes: Sequence[int] = (int(AmtCompletionCode.DONE),),
        cancel_on_kill: bool = True,
        skip_on_skipped_by_ops: bool = False,
        outage_grace_period: float = 300.0,
        undefined_grace_period: float = 60.0,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.application_name = application_name
        self.amt_user = amt_user
        self.queue_name = queue_name
        self.submit_user = submit_user
        self.station = station
        self._init_watch(
            amt_conn_id, success_codes, skip_on_skipped_by_ops, outage_grace_period, undefined_grace_period
        )
        self.deferrable = deferrable
        self.poll_interval = _worker.positive_seconds(poll_interval, "poll_interval")
        self.wait_for_completion = wait_for_completion
        self.cancel_on_kill = cancel_on_kill
        self._running_id: int | None = None

    # --- subclasses say what they start --------------------------------------------------------

    def _name(self) -> Any:
        return getattr(self, self.name_argument)

    def _values(self) -> Any:
        return getattr(self, self.values_argument)

    # --- validation ------------------------------------------------------------------------------

    def _validate_static(self) -> None:
        """Fail at parse time for arguments that hold no template and are already wrong."""
        checks = {
            "application_name": (self.application_name, validation.optional_text),
            self.name_argument: (self._name(), validation.require_text),
            self.values_argument: (self._values(), self.values_validator),
            "amt_user": (self.amt_user, validation.optional_text),
            "queue_name": (self.queue_name, validation.optional_text),
            "submit_user": (self.submit_user, validation.require_text),
            "station": (self.station, validation.require_text),
        }
        for argument, (value, check) in checks.items():
            if not _templated(value):
                check(value, argument)

    def _build_start(self, application: Any, name: Any, values: Any, fields: dict[str, Any]) -> contract.StartRequest:
        return contract.build_start(
            self.amt_task_type,
            application,
            name,
            values,
            run_as_user=fields.get("run_as_user"),
            queue_name=fields.get("queue_name"),
            submit_user=self.submit_user,
            station=self.station,
            task_id=fields.get("task_id"),
        )

    def _start_request(self, context: Any) -> contract.StartRequest:
        application = self.application_name or self.hook.config.default_application
        if not application:
            raise AmtValidationError(
                "application_name is required: set it on the task or 'default_application' in the "
                f"extras of connection {self.amt_conn_id!r}."
            )
        ti = context["ti"]
        key = f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{getattr(ti, 'map_index', -1)}/{ti.try_number}"
        fields = {
            "run_as_user": self.amt_user,
            "queue_name": self.queue_name,
            "task_id": str(uuid.uuid5(_TASK_ID_NAMESPACE, key)),
        }
        return self._build_start(application, self._name(), self._values(), fields)

    def _job(self, start: contract.StartRequest) -> JobDescription:
        return JobDescription(
            task_type=self.task_type_label,
            application_name=start.application_name,
            name=start.name,
            values=start.values,
            submit_user=start.submit_user,
            station=start.station,
            run_as_user=start.run_as_user,
            queue_name=start.queue_name,
        )

    def _deadline(self, context: Any) -> float | None:
        if not self.execution_timeout:
            return None
        started = getattr(context["ti"], "start_date", None)
        began = started.timestamp() if started is not None else time.time()
        return began + self.execution_timeout.total_seconds()

    def _trigger(self, batch_request_id: int, deadline: float | None, offset: int) -> AmtJobTrigger:
        return AmtJobTrigger(
            batch_request_id=batch_request_id,
            amt_conn_id=self.amt_conn_id,
            poll_interval=float(self.poll_interval),
            deadline=deadline,
            message_offset=offset,
            success_codes=list(self.success_codes),
            cancel_on_kill=self.cancel_on_kill,
            outage_grace_period=float(self.outage_grace_period),
            undefined_grace_period=float(self.undefined_grace_period),
        )

    def _check_trigger_kwargs(self, deadline: float | None) -> None:
        """Trigger kwargs must survive serde as plain JSON; find out before a job is started."""
        _, kwargs = self._trigger(1, deadline, 0).serialize()
        try:
            if json.loads(json.dumps(kwargs)) != kwargs:
                raise TypeError("kwargs change in a JSON round trip")
        except (TypeError, ValueError) as err:
            raise AmtValidationError(f"the AMT trigger arguments are not plain JSON ({err}): {kwargs!r}") from None

    # --- the task ---------------------------------------------------------------------------------

    def execute(self, context: Any) -> dict[str, Any]:
        start = self._start_request(context)
        deadline = self._deadline(context)
        if self.deferrable and self.wait_for_completion:
            self._check_trigger_kwargs(deadline)
        hook = self.hook
        batch_request_id = self._reconnect(context, hook) or self._submit(context, hook, start)
        self._running_id = batch_request_id
        log_job_information(self.log, hook.config.base_url, self._job(start), batch_request_id, redact=hook.redactor())
        status = hook.get_job_status(batch_request_id)
        if not self.wait_for_completion:
            self.log.info("wait_for_completion is off: AMT batch request %s is %s", batch_request_id, status)
            return _worker.result(batch_request_id, status.code)
        cursor = MessageCursor(0)
        if self.deferrable and not self.rules.is_final(status.code):
            self._defer(batch_request_id, deadline, cursor)
        if self.rules.is_final(status.code):
            return self._finish(batch_request_id, status.code, cursor, start)
        return self._wait_here(batch_request_id, cursor, start, deadline)

    def _wait_here(
        self, batch_request_id: int, cursor: MessageCursor, start: contract.StartRequest, deadline: float | None
    ) -> dict[str, Any]:
        """Wait on the worker (non-deferrable mode, or after the triggerer lost track of AMT)."""
        verdict, code = _worker.wait(
            self.log,
            self.hook,
            self.rules,
            batch_request_id,
            cursor,
            poll_interval=float(self.poll_interval),
            deadline=deadline,
            outage_grace_period=float(self.outage_grace_period),
            undefined_grace_period=float(self.undefined_grace_period),
        )
        return self._conclude(verdict.kind, verdict.message, batch_request_id, code, cursor, start, deadline)

    def _submit(self, context: Any, hook: AmtHook, start: contract.StartRequest) -> int:
        batch_request_id = hook.start(start)
        store = context.get("task_state_store")
        if store is not None:
            store.set(STATE_BATCH_REQUEST_ID, batch_request_id)
        self._push_ids(context, batch_request_id)
        self.log.info("AMT accepted the request: batch request id %s (task id %s)", batch_request_id, start.task_id)
        return batch_request_id

    def _reconnect(self, context: Any, hook: AmtHook) -> int | None:
        """Find the job an earlier try of this task started and that is still running."""
        store = context.get("task_state_store")
        stored = store.get(STATE_BATCH_REQUEST_ID) if store is not None else None
        if not isinstance(stored, int) or isinstance(stored, bool):
            return None
        try:
            status = hook.get_job_status(stored)
        except AmtNotFoundError:
            return None
        if self.rules.is_final(status.code):
            self.log.info("AMT batch request %s of an earlier try already ended (%s); starting anew", stored, status)
            return None
        self.log.warning("Reconnecting to AMT batch request %s started by an earlier try (%s)", stored, status)
        self._push_ids(context, stored)
        return stored

    def _push_ids(self, context: Any, batch_request_id: int) -> None:
        context["ti"].xcom_push(key=XCOM_BATCH_REQUEST_ID, value=batch_request_id)
        context["ti"].xcom_push(key=XCOM_CONN_ID, value=self.amt_conn_id)

    def _defer(self, batch_request_id: int, deadline: float | None, cursor: MessageCursor) -> None:
        timeout = None
        if deadline is not None:
            timeout = timedelta(seconds=max(0.0, deadline - time.time())) + DEFERRAL_TIMEOUT_PADDING
        self.defer(
            trigger=self._trigger(batch_request_id, deadline, cursor.offset),
            method_name="execute_complete",
            kwargs={"deadline": deadline},
            timeout=timeout,
        )

    def _finish(
        self, batch_request_id: int, code: AmtCompletionCode, cursor: MessageCursor, start: contract.StartRequest
    ) -> dict[str, Any]:
        self._running_id = None
        return _worker.finish(self.log, self.hook, self.rules, self._job(start).what, batch_request_id, code, cursor)

    def _conclude(
        self,
        kind: str,
        message: str,
        batch_request_id: int,
        code: AmtCompletionCode | None,
        cursor: MessageCursor,
        start: contract.StartRequest,
        deadline: float | None,
    ) -> dict[str, Any]:
        if kind == "timeout":
            self._kill(batch_request_id, "execution_timeout was reached")
            _worker.log_rest(self.log, self.hook, batch_request_id, cursor, "timeout")
            raise AirflowTaskTimeout(
                f"AMT {self._job(start).what} (batch request {batch_request_id}) was killed: {message}"
            )
        if kind == "error":
            code = _worker.recheck(self.hook, batch_request_id, message)
            if not self.rules.is_final(code):
                # Deferring again in this try would reuse (and truncate) this try's trigger log
                # file on the same triggerer, so the rest of the wait happens here.
                self.log.warning(
                    "AMT could not be watched (%s) but batch request %s is %s; waiting on the worker",
                    message,
                    batch_request_id,
                    code.amt_name,
                )
                return self._wait_here(batch_request_id, cursor, start, deadline)
        assert code is not None
        return self._finish(batch_request_id, code, cursor, start)

    def execute_complete(self, context: Any, event: dict[str, Any], deadline: float | None = None) -> dict[str, Any]:
        """Resume after the trigger: check the event strictly, then finish from its message cursor."""
        expected = context["ti"].xcom_pull(task_ids=self.task_id, key=XCOM_BATCH_REQUEST_ID)
        event = validate_event(event, expected if isinstance(expected, int) else None)
        batch_request_id = event["batch_request_id"]
        self._running_id = batch_request_id
        start = self._start_request(context)
        cursor = MessageCursor(event["message_offset"])
        code = None if event["completion_code"] is None else AmtCompletionCode.parse(event["completion_code"])
        kind = event["status"] if event["status"] in ("timeout", "error") else "final"
        return self._conclude(kind, event.get("message", ""), batch_request_id, code, cursor, start, deadline)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any) -> Any:
        """The framework's deferral timeout resumes with ``__fail__``: kill the AMT job on that path too."""
        if next_method == TRIGGER_FAIL_REPR:
            batch_request_id = context["ti"].xcom_pull(task_ids=self.task_id, key=XCOM_BATCH_REQUEST_ID)
            if isinstance(batch_request_id, int):
                self._kill(batch_request_id, f"the deferral failed ({(next_kwargs or {}).get('error', 'unknown')})")
        return super().resume_execution(next_method, next_kwargs, context)

    def _kill(self, batch_request_id: int, reason: str) -> None:
        try:
            self.hook.kill_job(batch_request_id)
            self.log.warning("Killed AMT batch request %s: %s", batch_request_id, reason)
        except AmtError as err:
            self.log.error("Could not kill AMT batch request %s (%s): %s", batch_request_id, reason, err)

    def on_kill(self) -> None:
        """Worker side of ``cancel_on_kill`` (and of ``execution_timeout`` in sync mode)."""
        if self._running_id is not None and self.cancel_on_kill:
            self._kill(self._running_id, "the task was killed")


class AmtBatchJobOperator(AmtBaseOperator):
    """Start an AMT batch job with up to 20 TaskValues and wait for it.

    :param job_name: the batch job defined in AMT (e.g. ``REPORTTEST01``). Templated.
    :param task_values: up to 20 strings (numbers are turned into strings), bare values or
        ``name=value``. Templated.
    """

    template_fields: Sequence[str] = (*AmtBaseOperator.template_fields, "job_name", "task_values")

    def __init__(self, *, job_name: str, task_values: Sequence[Any] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.job_name = job_name
        self.task_values = task_values
        self._validate_static()


class AmtScriptOperator(AmtBaseOperator):
    """Start an AMT script with up to 20 ``NAME=value`` parameters and wait for it.

    :param script_name: the script (e.g. ``RUN_PARAMETERSTEST.ps1``); relative names resolve in
        the application's scripts folder. Templated.
    :param script_parameters: a dict ``{"NAME": "value"}`` or a list of ``"NAME=value"``. Templated.
    """

    amt_task_type = "Script"
    task_type_label = "Script"
    name_argument = "script_name"
    values_argument = "script_parameters"
    values_validator = staticmethod(validation.script_parameters)
    template_fields: Sequence[str] = (*AmtBaseOperator.template_fields, "script_name", "script_parameters")

    def __init__(
        self, *, script_name: str, script_parameters: dict[str, Any] | Sequence[str] | None = None, **kwargs: Any
    ):
        super().__init__(**kwargs)
        self.script_name = script_name
        self.script_parameters = script_parameters
        self._validate_static()
