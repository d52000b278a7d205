"""Operators that start an AMT batch job or script and wait for it, on the worker or deferred.

``AmtBatchJobOperator`` and ``AmtScriptOperator`` share :class:`AmtBaseOperator`; they differ only
in their :class:`~amt_client.TaskType` (which names the arguments and checks the values: TaskValues
versus ``NAME=value`` script parameters).

Guarantees, and where they come from:

* Nothing is sent until every argument (after templating) and the trigger kwargs are valid: the
  one ``StartRequest`` is built and the trigger is serialised first.
* Exactly one AMT job per task instance across tries (``start_ledger``): the GUID task id is
  stable for the task instance, the Start is recorded in ``task_state_store`` before it is sent, and
  a retry reconnects to (or takes the success of) the job an earlier try started; a Start whose
  outcome is unknown is never silently sent again.
* ``execution_timeout`` is honoured while deferred (the trigger carries the deadline); the job
  is killed on timeout, also on the framework's ``__fail__`` path (``resume_execution``).
* Killing the task sends ``on_kill_action`` (Kill by default, or Stop, or nothing) to the AMT job:
  the trigger's ``on_kill`` when deferred, the operator's ``on_kill`` on the worker.
* ``AmtJobActionOperator`` (OpConJobAction's Stop and Kill as a task of its own) lives in
  ``job_action`` and is importable from here too.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.triggers.base import StartTriggerArgs

from airflow_provider_amt.compat import (
    TRIGGER_FAIL_REPR,
    TRIGGER_TIMEOUT,
    AirflowProviderDeprecationWarning,
    AirflowTaskTimeout,
    default_deferrable,
    start_from_trigger_supported,
)
from airflow_provider_amt.events import read_event
from airflow_provider_amt.fail_fast import raise_failed_fast, retries_only_where_they_help
from airflow_provider_amt.hooks.amt import DEFAULT_CONN_NAME, AmtHook
from airflow_provider_amt.joblog import log_job_information
from airflow_provider_amt.keys import XCOM_BATCH_REQUEST_ID, XCOM_CONN_ID, XCOM_JOB_URL, XCOM_RECOVERY_OF
from airflow_provider_amt.links import AmtJobLink
from airflow_provider_amt.operators.job_action import AmtJobActionOperator
from airflow_provider_amt.recovery import log_recovery, recovers, recovery_argument, recovery_start
from airflow_provider_amt.start_ledger import StartLedger, job_of_earlier_try, task_guid
from airflow_provider_amt.templating import check_untemplated
from airflow_provider_amt.triggers.start import AmtStartJobTrigger
from airflow_provider_amt.worker_watch import (
    DEFAULT_FAIL_FAST_CODES,
    JobWait,
    WatchedJob,
    WatchingTask,
    WatchOptions,
)
from amt_client import (
    AmtCompletionCode,
    AmtServerUnavailableError,
    AmtValidationError,
    Outcome,
    StartRequest,
    WatchResult,
    validation,
)
from amt_client.codes import Code
from amt_client.start import COMMON_FIELDS, TaskType

__all__ = ["AmtBaseOperator", "AmtBatchJobOperator", "AmtJobActionOperator", "AmtScriptOperator"]


def _kill_policy(on_kill_action: Any, cancel_on_kill: Any) -> str | None:
    """``on_kill_action`` as given, or None when the 0.2 switch ``cancel_on_kill`` is off.

    ``cancel_on_kill`` is deprecated (one setting for one behaviour) and goes in 0.4; until then it
    works and warns. Triggers stored by 0.2 still carry it, so the trigger reads it without a word.
    """
    action = validation.end_action(on_kill_action, "on_kill_action")
    if cancel_on_kill is None:
        return action
    warnings.warn(
        "cancel_on_kill is deprecated and will be removed in 0.4: use on_kill_action "
        "(on_kill_action=None leaves the AMT job running; 'kill', the default, or 'stop' end it).",
        AirflowProviderDeprecationWarning,
        stacklevel=4,
    )
    if validation.flag(cancel_on_kill, "cancel_on_kill"):
        return action
    if action not in (None, "kill"):  # "kill" is the default: only another choice contradicts
        raise AmtValidationError(
            f"cancel_on_kill=False and on_kill_action={action!r} contradict each other: "
            "set on_kill_action alone (None leaves the job running)."
        )
    return None


class AmtBaseOperator(WatchingTask, BaseOperator):
    """Start a predefined AMT task and, by default, wait for its completion code.

    :param application_name: AMT application (e.g. ``DEMO2``); None uses the connection's
        ``default_application``. Templated.
    :param amt_user: AMT user the job runs as (AMT's ``amtUser``; an invalid one ends the job with 99).
        Templated. Not called ``run_as_user``: that is ``BaseOperator``'s Unix impersonation argument.
    :param queue_name: AMT queue; None uses the application's default queue. Templated.
    :param submit_user: who submits the request (AMT expects ``BATCH``).
    :param station: where the request comes from (AMT expects ``OPCON``).
    :param amt_conn_id: Airflow connection of type ``amt``, or a list of up to four: the primary
        first, then alternates. A Start goes to the first server it provably reaches; the job is then
        watched, stopped and killed there (see docs/operators.md, Alternate servers).
    :param deferrable: wait in the triggerer instead of holding a worker slot
        (default ``[operators] default_deferrable``).
    :param poll_interval: longest pause between status checks, in seconds (polls start faster).
    :param wait_for_completion: False starts the job and returns at once (watch it with
        ``AmtJobSensor``).
    :param success_codes: completion codes that count as success (OpCon-style criteria): codes, names
        of the code table (``"DONE"``) or ranges (``"0-4"``).
    :param skip_codes: job endings that end the task as skipped (same forms), e.g. ``[6, 12]``.
    :param fail_fast_codes: job endings that fail the task without its retries (default ``[99]``
        INVALID AMT USER); configuration, validation and authentication errors and a refused Start
        always do.
    :param on_kill_action: what killing the task (marking it failed/success, clearing it) sends to the
        AMT job: ``"kill"`` (default), ``"stop"``, or None to leave the job running.
    :param cancel_on_kill: deprecated (removed in 0.4): False is the same as ``on_kill_action=None``.
    :param skip_on_skipped_by_ops: end the task as skipped when AMT reports 6 SKIPPED_BY_OPS (the same
        as 6 in ``skip_codes``).
    :param outage_grace_period: seconds AMT may stay unreachable while a job is watched.
    :param undefined_grace_period: seconds a 19 UNDEFINED state is tolerated before it is a failure.
    :param max_time_in_state: seconds the job may stay in a state that is not an ending, by code or
        name (``{14: 1800, "QUEUED": 600}``): longer, and the job is killed and the task fails with
        ``AirflowTaskTimeout`` naming the state and how long (like ``execution_timeout``).
    :param allow_fresh_start: when an earlier try's Start got no answer and AMT cannot be asked whether
        it arrived, start again anyway (there may then be two jobs). Default False: the try fails
        with ``AmtUnconfirmedStartError`` naming the task id, and nothing is sent.
    :param recover_on_retry: scripts only: when the earlier try's job ended 22 ABORTED WITH RECOVER or
        27 KilledWithRecover, the retry's Start adds AMT's recovery argument after the parameters:
        ``True`` sends ``/recover``; a string is the argument itself, ``{batch_request_id}`` standing
        for the request to recover (``"/r:{batch_request_id}"``). Default False: a retry starts over.
    :param start_from_trigger: start the job from the triggerer and end the task there: the task never
        runs on a worker (Airflow 3.3+; on older versions, and for mapped tasks, it runs as
        ``deferrable=True``). Templated fields are rendered in the triggerer. See docs/operators.md.
    """

    #: What this operator starts; it names the arguments (``job_name`` / ``script_name``...).
    amt_task_type: ClassVar[TaskType] = TaskType.BATCH_JOB
    template_fields: Sequence[str] = ("application_name", "amt_user", "queue_name")
    ui_color = "#c6e2ff"
    operator_extra_links = (AmtJobLink(),)

    def __init__(
        self,
        *,
        application_name: str | None = None,
        amt_user: str | None = None,
        queue_name: str | None = None,
        submit_user: str = "BATCH",
        station: str = "OPCON",
        amt_conn_id: str | Sequence[str] = DEFAULT_CONN_NAME,
        deferrable: bool = default_deferrable(),
        poll_interval: float = 10.0,
        wait_for_completion: bool = True,
        success_codes: Sequence[int] = (int(AmtCompletionCode.DONE),),
        cancel_on_kill: bool | None = None,
        on_kill_action: str | None = "kill",
        skip_on_skipped_by_ops: bool = False,
        skip_codes: Sequence[int | str] = (),
        fail_fast_codes: Sequence[int | str] = DEFAULT_FAIL_FAST_CODES,
        outage_grace_period: float = 300.0,
        undefined_grace_period: float = 60.0,
        max_time_in_state: Mapping[int | str, float] | None = None,
        allow_fresh_start: bool = False,
        start_from_trigger: bool = False,
        recover_on_retry: bool | str = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.recover_on_retry = recovery_argument(recover_on_retry, self.amt_task_type)
        #: The connections a Start may go to: the primary, then its alternates.
        self.amt_conn_ids = validation.connection_ids(amt_conn_id)
        self.allow_fresh_start = validation.flag(allow_fresh_start, "allow_fresh_start")
        self.start_from_trigger = validation.flag(start_from_trigger, "start_from_trigger")
        self.application_name = application_name
        self.amt_user = amt_user
        self.queue_name = queue_name
        self.submit_user = submit_user
        self.station = station
        self.watch_options = WatchOptions.checked(
            self.amt_conn_ids[0],
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
        self.poll_interval = validation.seconds(poll_interval, "poll_interval", minimum=0.1, exclusive=False)
        self.wait_for_completion = validation.flag(wait_for_completion, "wait_for_completion")
        self.on_kill_action = _kill_policy(on_kill_action, cancel_on_kill)
        self._wait: JobWait | None = None  # the watch of this task's job, once the job is known
        self._recovery_of: int | None = None  # the batch request this try's Start resumes (recover_on_retry)

    # --- what is started ------------------------------------------------------------------------------

    def _fields(self) -> dict[str, Any]:
        """The Start's fields as this task holds them (rendered once ``execute`` runs)."""
        kind = self.amt_task_type
        return {
            "application_name": self.application_name,
            "name": getattr(self, kind.name_argument),
            "values": getattr(self, kind.values_argument),
            "run_as_user": self.amt_user,
            "queue_name": self.queue_name,
            "submit_user": self.submit_user,
            "station": self.station,
        }

    def _validate_static(self) -> None:
        """Fail at parse time for arguments that hold no template and are already wrong."""
        kind = self.amt_task_type
        fields = self._fields()
        checks: dict[str, tuple[Any, Callable[[Any, str], Any]]] = {
            "application_name": (fields["application_name"], validation.optional_text),
            kind.name_argument: (fields["name"], validation.require_text),
            kind.values_argument: (fields["values"], kind.normalise_values),
            "amt_user": (fields["run_as_user"], COMMON_FIELDS["run_as_user"]),
            "queue_name": (fields["queue_name"], COMMON_FIELDS["queue_name"]),
            "submit_user": (fields["submit_user"], COMMON_FIELDS["submit_user"]),
            "station": (fields["station"], COMMON_FIELDS["station"]),
        }
        check_untemplated(checks)
        if self.start_from_trigger:
            self._start_in_the_triggerer()

    def _start_in_the_triggerer(self) -> None:
        """``start_from_trigger``: hand Airflow the trigger that starts the job (its kwargs hold the
        templated fields by their names, which Airflow 3.3 renders in the triggerer)."""
        if not self.wait_for_completion:
            raise AmtValidationError(
                "start_from_trigger=True needs wait_for_completion=True: the trigger ends the task"
            )
        if len(self.amt_conn_ids) > 1:
            raise AmtValidationError(
                "start_from_trigger=True takes one connection: alternate servers are tried by a Start on a worker "
                "(start_from_trigger=False)."
            )
        if not start_from_trigger_supported():
            warnings.warn(
                f"Task {self.task_id!r}: start_from_trigger needs Airflow 3.3 or later; this task starts on a "
                "worker and defers (deferrable=True) instead.",
                UserWarning,
                stacklevel=3,
            )
            self.start_from_trigger, self.deferrable = False, True
            return
        kind, options = self.amt_task_type, self.watch_options
        trigger = AmtStartJobTrigger(
            kind.value,
            self.amt_conn_id,
            application_name=self.application_name,
            amt_user=self.amt_user,
            queue_name=self.queue_name,
            submit_user=self.submit_user,
            station=self.station,
            poll_interval=self.poll_interval,
            success_codes=options.rules.success_codes,
            outage_grace_period=options.outage_grace_period,
            undefined_grace_period=options.undefined_grace_period,
            on_kill_action=self.on_kill_action,
            skip_on_skipped_by_ops=options.rules.skip_on_skipped_by_ops,
            skip_codes=options.rules.skip_codes,
            fail_fast_codes=options.rules.fail_fast_codes,
            max_time_in_state=options.max_time_in_state,
            recover_on_retry=self.recover_on_retry,
            allow_fresh_start=self.allow_fresh_start,
            **{
                kind.name_argument: getattr(self, kind.name_argument),
                kind.values_argument: getattr(self, kind.values_argument),
            },
        )
        classpath, trigger_kwargs = trigger.serialize()
        self.start_trigger_args = StartTriggerArgs(
            trigger_cls=classpath, trigger_kwargs=trigger_kwargs, next_method="execute_complete", timeout=None
        )

    def _start_request(self, context: Any) -> StartRequest:
        fields = self._fields()
        fields["application_name"] = fields["application_name"] or self.hook.config.default_application
        if not fields["application_name"]:
            raise AmtValidationError(
                "application_name is required: set it on the task or 'default_application' in the "
                f"extras of connection {self.amt_conn_id!r}."
            )
        ti = context["ti"]
        guid = task_guid(ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1))
        return StartRequest(self.amt_task_type, task_id=guid, **fields)

    def _deadline(self, context: Any) -> float | None:
        if not self.execution_timeout:
            return None
        started = getattr(context["ti"], "start_date", None)
        began = started.timestamp() if started is not None else time.time()
        return began + self.execution_timeout.total_seconds()

    def _watch(self, start: StartRequest, batch_request_id: int, deadline: float | None, ti: Any = None) -> JobWait:
        job = self.hook.config.contract.identified(batch_request_id, start)  # with the ids its server wants
        watched = WatchedJob(job, start.what, deadline=deadline)
        self._wait = JobWait(watched, self.watch_options, self.hook, self.log, ti)
        return self._wait

    # --- the task ---------------------------------------------------------------------------------

    def execute(self, context: Any) -> dict[str, Any]:
        with retries_only_where_they_help():
            return self._execute(context)

    def _execute(self, context: Any) -> dict[str, Any]:
        if self.start_from_trigger:  # a mapped task: Airflow starts it on a worker after all
            self.log.info("start_from_trigger: a mapped task starts on a worker; it defers from here")
            self.deferrable = True
        start, conn_id, batch_request_id = self._start_or_reconnect(context, self._start_request(context))
        self._use_connection(conn_id)
        wait = self._watch(start, batch_request_id, self._deadline(context), context["ti"])
        job, hook, rules = wait.job, self.hook, self.watch_options.rules
        context["ti"].xcom_push(key=XCOM_BATCH_REQUEST_ID, value=int(job.batch_request_id))
        if len(self.amt_conn_ids) > 1:  # which server has the job: for resume_execution and downstream tasks
            context["ti"].xcom_push(key=XCOM_CONN_ID, value=conn_id)
        job_url = hook.config.job_url(job.batch_request_id)
        if job_url is not None:
            context["ti"].xcom_push(key=XCOM_JOB_URL, value=job_url)
        log_job_information(self.log, hook.config, start, job.batch_request_id, self.amt_conn_id, hook.redactor())
        status = hook.get_job_status(job.batch_request_id)
        if not self.wait_for_completion:
            self.log.info("wait_for_completion is off: AMT batch request %s is %s", job.batch_request_id, status)
            return wait.ending(status.code, rules.outcome(status.code))
        if rules.is_final(status.code):
            return wait.finish(status.code)
        if self.deferrable:
            trigger, timeout = wait.deferral(context, self.poll_interval, self.on_kill_action, status)
            self.defer(
                trigger=trigger, method_name="execute_complete", kwargs={"deadline": job.deadline}, timeout=timeout
            )
        return self._conclude(wait, wait.on_worker(self.poll_interval))

    def _start_or_reconnect(self, context: Any, start: StartRequest) -> tuple[StartRequest, str, int]:
        """The batch request of this task instance and the connection of its server: an earlier try's
        job, or one started now (once), as a recovery run of the earlier try's job where
        ``recover_on_retry`` says so."""
        ledger = StartLedger(context.get("task_state_store"), start.task_id or "")
        # where an earlier try's Start may be: the server its record names; without a record store
        # (Airflow before 3.3) every server the task names is asked by task id
        asked = (ledger.connection() or self.amt_conn_ids[0],) if ledger.store is not None else self.amt_conn_ids
        failed: tuple[str, int, Code] | None = None
        for conn_id in asked:
            earlier = job_of_earlier_try(
                self._hook_for(conn_id),
                ledger,
                self.watch_options.rules,
                try_number=int(getattr(context["ti"], "try_number", 1) or 1),
                allow_fresh_start=self.allow_fresh_start,
                log=self.log,
            )
            if earlier.watch is not None:
                return start, conn_id, earlier.watch
            if earlier.failed is not None:
                failed = (conn_id, *earlier.failed)
        order = self.amt_conn_ids
        if self.recover_on_retry is not None and failed is not None and recovers(failed[2]):
            conn_id, recovered, code = failed
            start = recovery_start(start, self.recover_on_retry, recovered)
            order = (conn_id, *(c for c in self.amt_conn_ids if c != conn_id))  # where the job to resume is
            log_recovery(self.log, recovered, code, start)
            self._recovery_of = int(recovered)
            context["ti"].xcom_push(key=XCOM_RECOVERY_OF, value=self._recovery_of)  # for the try's resumption
        conn_id, batch_request_id = self._send(ledger, start, order)
        return start, conn_id, batch_request_id

    def _send(self, ledger: StartLedger, start: StartRequest, conn_ids: Sequence[str]) -> tuple[str, int]:
        """Send the Start to the first server it provably reaches: the next alternate only when it
        provably never arrived at this one (the connection could not be opened, nothing was sent). A
        server that answered, even with a refusal, or may have received it, is never passed by."""
        for position, conn_id in enumerate(conn_ids):
            try:
                return conn_id, ledger.send(self._hook_for(conn_id), start, self.log)
            except AmtServerUnavailableError as err:
                if err.request_may_have_arrived or position == len(conn_ids) - 1:
                    raise
                self.log.warning(
                    "The Start never reached the server of connection %r (%s); sending it to the alternate %r",
                    conn_id,
                    err,
                    conn_ids[position + 1],
                )
        raise AssertionError("unreachable: a task names at least one connection")

    def _hook_for(self, conn_id: str) -> AmtHook:
        """The hook of one of the task's connections (the task's own ``hook`` for the one it uses)."""
        return self.hook if conn_id == self.amt_conn_id else AmtHook(conn_id)

    def _accepted_connection(self, context: Any) -> str | None:
        """After a deferral, the connection whose server accepted this try's Start (XCom ``amt_conn_id``,
        pushed only by a task with alternates; one it does not name is not used)."""
        if len(self.amt_conn_ids) == 1:
            return None
        accepted = context["ti"].xcom_pull(task_ids=self.task_id, key=XCOM_CONN_ID)
        return accepted if accepted in self.amt_conn_ids else None

    def _use_connection(self, conn_id: str | None) -> None:
        """From here on the task works with the server of ``conn_id``, which has its job (an alternate
        that accepted the Start): its watch, messages, Stop and Kill go there."""
        if conn_id is None or conn_id == self.amt_conn_id:
            return
        self.amt_conn_id = conn_id
        self.watch_options = dataclasses.replace(self.watch_options, amt_conn_id=conn_id)
        self.__dict__.pop("hook", None)  # WatchingTask.hook is cached per connection

    def execute_complete(self, context: Any, event: dict[str, Any], deadline: float | None = None) -> dict[str, Any]:
        """Resume after the trigger: check the event strictly, then finish from its message cursor (on
        the server that has the job). The start trigger resumes a task here only to fail it without
        its retries (``fail_fast``)."""
        with retries_only_where_they_help():
            raise_failed_fast(event)
            self._use_connection(self._accepted_connection(context))
            expected = context["ti"].xcom_pull(task_ids=self.task_id, key=XCOM_BATCH_REQUEST_ID)
            if self.recover_on_retry is not None:  # what this try's Start resumed, for its lineage
                recovered = context["ti"].xcom_pull(task_ids=self.task_id, key=XCOM_RECOVERY_OF)
                self._recovery_of = recovered if validation.is_int(recovered) else None
            checked = read_event(event, expected if validation.is_int(expected) else None)
            wait = self._watch(self._start_request(context), checked.batch_request_id, deadline, context["ti"])
            return self._conclude(wait, wait.resumed(checked))

    def _conclude(self, wait: JobWait, ended: WatchResult) -> dict[str, Any]:
        """How the watch ended, as the task's end: the job's own ending by the rules; at the deadline
        the job is killed (the kill policy names ``execution_timeout`` and ``max_time_in_state``, and
        the watch's message says which); a job AMT could not be asked
        about but that still runs is watched on from here.

        Not deferred again: a second deferral in this try would reuse (and truncate) this try's
        trigger log file on the same triggerer.
        """
        while True:
            ended = wait.settled(ended)
            if ended.outcome is Outcome.TIMEOUT:
                wait.end("kill", ended.message)
                wait.log_rest(Outcome.TIMEOUT)
                job = wait.job
                raise AirflowTaskTimeout(
                    f"AMT {job.what} (batch request {job.batch_request_id}) was killed: {ended.message}"
                )
            if ended.outcome.job_ended:
                assert ended.code is not None  # a job's ending always carries its code
                return wait.finish(ended.code)
            self.log.warning(
                "AMT could not be watched (%s) but batch request %s is %s; waiting on the worker",
                ended.message,
                wait.job.batch_request_id,
                ended.code.amt_name if ended.code is not None else "running",
            )
            ended = wait.on_worker(self.poll_interval)

    # --- OpenLineage (Airflow's OpenLineage provider calls these when the task ends) -------------

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The AMT run and job facets (``airflow_provider_amt.lineage``) of a task that succeeded."""
        from airflow_provider_amt.lineage import operator_lineage

        return operator_lineage(self, task_instance)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """The same for a task that failed: the code AMT ended the job with, where it got that far."""
        from airflow_provider_amt.lineage import operator_lineage

        return operator_lineage(self, task_instance)

    # --- killing --------------------------------------------------------------------------------------

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any) -> Any:
        """The framework resumes with ``__fail__`` after its deferral timeout or a trigger crash.

        Its timeout is the task's deadline (the kill policy names it): the job is killed. A trigger
        crash is our own trouble: the job is left running, and the log says how to get it back.
        """
        if next_method == TRIGGER_FAIL_REPR:
            batch_request_id = context["ti"].xcom_pull(task_ids=self.task_id, key=XCOM_BATCH_REQUEST_ID)
            self._use_connection(self._accepted_connection(context))
            error = str((next_kwargs or {}).get("error", "unknown"))
            if validation.is_int(batch_request_id) and error == TRIGGER_TIMEOUT:
                job = WatchedJob(batch_request_id, f"batch request {batch_request_id}")
                JobWait(job, self.watch_options, self.hook, self.log).end("kill", f"the deferral failed ({error})")
            elif validation.is_int(batch_request_id):
                self.log.error(
                    "The deferral failed (%s): AMT batch request %s is left running; a retry of this task "
                    "reconnects to it (one AMT job per task instance), or stop it with AmtJobActionOperator.",
                    error,
                    batch_request_id,
                )
        return super().resume_execution(next_method, next_kwargs, context)

    @property
    def cancel_on_kill(self) -> bool:
        """Whether killing the task ends the AMT job (0.2's name for ``on_kill_action is not None``;
        deprecated with the argument, removed in 0.4)."""
        return self.on_kill_action is not None


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

    amt_task_type = TaskType.SCRIPT
    template_fields: Sequence[str] = (*AmtBaseOperator.template_fields, "script_name", "script_parameters")

    def __init__(
        self, *, script_name: str, script_parameters: dict[str, Any] | Sequence[str] | None = None, **kwargs: Any
    ):
        super().__init__(**kwargs)
        self.script_name = script_name
        self.script_parameters = script_parameters
        self._validate_static()
