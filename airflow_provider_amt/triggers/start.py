"""``AmtStartJobTrigger``: start an AMT job from the triggerer and end its task there (no worker).

The starting operators use it with ``start_from_trigger=True`` (Airflow 3.3+): the scheduler
creates this trigger straight away, Airflow renders the operator's templated fields into it in the
triggerer, and the trigger ends the task with ``TaskSuccessEvent`` / ``TaskFailedEvent`` /
``TaskSkippedEvent``, having written the XComs the classic path pushes (``batch_request_id`` and the
``return_value`` with the completion code) itself (see ``_push``). Airflow routes a failure to a retry when the task has
retries left, and runs the callbacks.

Exactly one Start per try, across triggerer moves and restarts, and the classic path's rule across
tries (``start_ledger``): the trigger asks AMT which batch requests carry the task instance's GUID
(an **assumed** capability) and reads its own XCom record (key ``amt_start``, written before the
Start is sent and completed after it). A record of this try means an earlier copy of this trigger
sent the Start: its job is adopted, whatever its state; one recorded without its answer may still
be on its way, so AMT's "none" is believed only after one request's bound. Otherwise, a job of an
earlier try is reconnected to while it runs, its success taken, and a new one started after its
failure; none at all: this is the first Start. A server that cannot be asked leaves the record
alone to decide; an unanswered Start then fails the task with ``AmtUnconfirmedStartError`` unless
``allow_fresh_start``. Reading a record that is not there yet makes Airflow's client log one
``XCom not found`` line per try in the triggerer's log (no other channel tells a first copy from a
later one); the message checkpoint is seeded after the Start, so it adds none, and the copy that
seeded it does not read it back (every XCom round trip wakes the triggerer's supervisor).

``execution_timeout`` is Airflow's own trigger timeout here: the scheduler resumes the task on a
worker with ``__fail__``, whose ``resume_execution`` kills the job (as on the classic path). A
trigger's own trouble fails the task and leaves the job running; a retry reconnects to it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from airflow.triggers.base import TaskFailedEvent, TaskSkippedEvent, TaskSuccessEvent, TriggerEvent

from airflow_provider_amt import metrics
from airflow_provider_amt.compat import aget_xcom, aset_xcom
from airflow_provider_amt.events import AmtTriggerEvent
from airflow_provider_amt.fail_fast import AmtJobFailedFastError, failed_fast_event
from airflow_provider_amt.joblog import log_completion, log_ending, log_job_information
from airflow_provider_amt.keys import XCOM_BATCH_REQUEST_ID, XCOM_JOB_LINK, XCOM_JOB_URL, XCOM_START
from airflow_provider_amt.recovery import log_recovery, recovers, recovery_argument, recovery_start
from airflow_provider_amt.start_ledger import EarlierJob, earlier_job, log_earlier_job, task_guid, unconfirmed_start
from airflow_provider_amt.triggers import checkpoint
from airflow_provider_amt.triggers.amt import AmtJobTrigger, limits_kwarg
from airflow_provider_amt.triggers.runtime import TriggererRuntime
from airflow_provider_amt.triggers.task_instance import ti_keys
from airflow_provider_amt.worker_watch import DEFAULT_FAIL_FAST_CODES, LEFT_AS_IT_IS, result
from amt_client import (
    AmtCompletionCode,
    AmtError,
    AmtMessage,
    AmtNotFoundError,
    AmtValidationError,
    JobStatus,
    MessageCursor,
    Outcome,
    Rules,
    StartRequest,
    WatchSettings,
    validation,
)
from amt_client.codes import Code
from amt_client.policy import LAST_MESSAGES, failure_message
from amt_client.start import TaskType

#: Seconds between two lookups while a copy waits for a Start of its try that may still land.
FIND_EVERY = 2.0


class AmtStartJobTrigger(AmtJobTrigger):
    """Start an AMT batch job or script, watch it, and end the task (``start_from_trigger``).

    Built by the operators (their arguments, as the operator's docstring describes them); its
    attributes carry the operator's templated field names so that Airflow 3.3 renders them here.

    :param amt_task_type: ``"BatchJob"`` or ``"Script"`` (AMT's ``taskType``).
    :param allow_fresh_start: see the operators.
    """

    def __init__(
        self,
        amt_task_type: str,
        amt_conn_id: str = "amt_default",
        application_name: str | None = None,
        amt_user: str | None = None,
        queue_name: str | None = None,
        submit_user: str = "BATCH",
        station: str = "OPCON",
        job_name: str | None = None,
        task_values: Sequence[Any] | None = None,
        script_name: str | None = None,
        script_parameters: Any = None,
        poll_interval: float = 10.0,
        success_codes: Sequence[int] | None = None,
        outage_grace_period: float = 300.0,
        undefined_grace_period: float = 60.0,
        initial_interval: float = 1.0,
        on_kill_action: str | None = "kill",
        skip_on_skipped_by_ops: bool = False,
        allow_fresh_start: bool = False,
        skip_codes: Sequence[int] = (),
        fail_fast_codes: Sequence[int] = DEFAULT_FAIL_FAST_CODES,
        recover_on_retry: bool | str | None = None,
        max_time_in_state: Mapping[Any, float] | None = None,
    ):
        super(AmtJobTrigger, self).__init__()
        try:
            self.amt_task_type = TaskType(amt_task_type)
        except ValueError:
            raise AmtValidationError(f"amt_task_type must be one of {[t.value for t in TaskType]}") from None
        self.application_name = application_name
        self.amt_user = amt_user
        self.queue_name = queue_name
        self.submit_user = submit_user
        self.station = station
        self.job_name = job_name
        self.task_values = task_values
        self.script_name = script_name
        self.script_parameters = script_parameters
        self.allow_fresh_start = validation.flag(allow_fresh_start, "allow_fresh_start")
        self.recover_on_retry = recovery_argument(recover_on_retry, self.amt_task_type)
        self.batch_request_id = 0  # no batch request yet: run() starts or adopts one
        self._what = self.amt_task_type.label.lower()  # "batch job DEMO2/REPORTTEST01" once the Start is built
        self._task_id: str | None = None  # the GUID sent as AMT's taskId, once the Start is built
        self._init_watch(
            amt_conn_id,
            0,
            WatchSettings(
                rules=Rules(
                    success_codes=validation.success_codes(success_codes or (int(AmtCompletionCode.DONE),)),
                    skip_on_skipped_by_ops=validation.flag(skip_on_skipped_by_ops, "skip_on_skipped_by_ops"),
                    skip_codes=validation.completion_codes(skip_codes, "skip_codes"),
                    fail_fast_codes=validation.completion_codes(fail_fast_codes, "fail_fast_codes"),
                ),
                poll_interval=poll_interval,
                initial_interval=initial_interval,
                outage_grace_period=outage_grace_period,
                undefined_grace_period=undefined_grace_period,
                max_time_in_state=max_time_in_state or {},
            ),
            validation.end_action(on_kill_action, "on_kill_action"),
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        settings = self.settings
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "amt_task_type": self.amt_task_type.value,
                "amt_conn_id": self.amt_conn_id,
                "application_name": self.application_name,
                "amt_user": self.amt_user,
                "queue_name": self.queue_name,
                "submit_user": self.submit_user,
                "station": self.station,
                "job_name": self.job_name,
                "task_values": self.task_values,
                "script_name": self.script_name,
                "script_parameters": self.script_parameters,
                "poll_interval": settings.poll_interval,
                "success_codes": list(settings.rules.success_codes),
                "outage_grace_period": settings.outage_grace_period,
                "undefined_grace_period": settings.undefined_grace_period,
                "initial_interval": settings.initial_interval,
                "on_kill_action": self.on_kill_action,
                "skip_on_skipped_by_ops": settings.rules.skip_on_skipped_by_ops,
                "allow_fresh_start": self.allow_fresh_start,
                # added with issue 26, written only when not the default (a trigger stored before reads the same)
                **({"skip_codes": list(settings.rules.skip_codes)} if settings.rules.skip_codes else {}),
                **(
                    {"fail_fast_codes": list(settings.rules.fail_fast_codes)}
                    if settings.rules.fail_fast_codes != DEFAULT_FAIL_FAST_CODES
                    else {}
                ),
                **({"recover_on_retry": self.recover_on_retry} if self.recover_on_retry else {}),
                **({"max_time_in_state": limits_kwarg(settings)} if settings.max_time_in_state else {}),
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Start (or adopt) the job, watch it, and end the task: one event, never the job's end."""
        try:
            start = await self._start_request()
            self._what, self._task_id = start.what, start.task_id
            started = await self._start_or_adopt(start)
            self.batch_request_id = (await self.hook.get_config()).contract.identified(started, start)
        except AmtError as err:  # refused, invalid, or a Start whose fate AMT cannot tell
            if err.request_may_have_arrived:
                self.log.error(
                    "The Start of the AMT %s got no answer (%s); a retry of this task finds the job by its task id",
                    self.amt_task_type.label.lower(),
                    err,
                )
            else:
                self.log.error("The AMT %s was not started: %s", self.amt_task_type.label.lower(), err)
            await self.cleanup()
            fast = failed_fast_event(err)
            yield TaskFailedEvent() if fast is None else TriggerEvent(fast)  # a retry cannot help: no retries
            return
        except Exception as err:  # our own trouble: a Start may have been sent; a retry finds it by task id
            self.log.error("Starting the AMT job failed (%s: %s). %s", type(err).__name__, err, LEFT_AS_IT_IS)
            await self.cleanup()
            yield TaskFailedEvent()
            return
        event = await self._watched()
        yield await self._task_end(event)

    # --- the Start --------------------------------------------------------------------------------

    async def _start_request(self) -> StartRequest:
        keys = ti_keys(self.task_instance)
        if keys is None:
            raise AmtValidationError("AmtStartJobTrigger runs only for a task instance (start_from_trigger)")
        kind = self.amt_task_type
        config = await self.hook.get_config()
        application = self.application_name or config.default_application
        if not application:
            raise AmtValidationError(
                "application_name is required: set it on the task or 'default_application' in the "
                f"extras of connection {self.amt_conn_id!r}."
            )
        return StartRequest(
            kind,
            task_id=task_guid(keys["dag_id"], keys["run_id"], keys["task_id"], keys["map_index"]),
            application_name=application,
            name=getattr(self, kind.name_argument),
            values=getattr(self, kind.values_argument),
            run_as_user=self.amt_user,
            queue_name=self.queue_name,
            submit_user=self.submit_user,
            station=self.station,
        )

    async def _start_or_adopt(self, start: StartRequest) -> int:
        """The batch request this try watches: started here, or found (see the module docstring)."""
        guid = start.task_id or ""
        try_number = int(getattr(self.task_instance, "try_number", 1) or 1)
        found, record = await asyncio.gather(self.hook.find_batch_requests(guid), self._read_record(guid))
        if record is not None and record[0] == try_number:  # an earlier copy of this trigger sent the Start
            return await self._adopt_this_try(start, try_number, record[1], found)
        if found == []:
            return await self._submit(start, try_number)
        earlier = found[-1] if found else (record[1] if record is not None else None)
        if earlier is None:
            if record is not None and not self.allow_fresh_start:  # an earlier try's Start got no answer
                raise unconfirmed_start(guid)
            return await self._submit(start, try_number)
        try:
            status: JobStatus | None = await self.hook.get_job_status(earlier)
        except AmtNotFoundError:
            status = None
        verdict = earlier_job(status, self.settings.rules)
        log_earlier_job(self.log, verdict, earlier, status)
        if verdict is EarlierJob.START_ANEW:
            if self.recover_on_retry is not None and status is not None and recovers(status.code):
                start = recovery_start(start, self.recover_on_retry, earlier)
                log_recovery(self.log, earlier, status.code, start)
            return await self._submit(start, try_number)
        await self._announce(start, try_number, earlier)
        return earlier

    async def _adopt_this_try(
        self, start: StartRequest, try_number: int, recorded: int | None, found: list[int] | None
    ) -> int:
        """This try's job, whatever its state: never a second Start while the first may still land.

        A Start recorded without its answer may still be on its way to AMT (the copy that sent it
        died while it was in flight), so AMT's "none" is believed only after one request's bound
        (``connect_timeout + timeout``) has passed since this copy began to look.
        """
        guid = start.task_id or ""
        if recorded is not None:
            self.log.info("Watching AMT batch request %s, which this try started", recorded)
            return recorded
        if found == []:
            found = await self._find_within(guid)
        if found:
            self.log.warning("AMT has batch request %s for task id %s, started by this try", found[-1], guid)
            await self._announce(start, try_number, found[-1])  # the copy that sent the Start never learnt the id
            return found[-1]
        if found is None and not self.allow_fresh_start:
            raise unconfirmed_start(guid)
        if found is None:
            self.log.warning("allow_fresh_start is set: starting again (there may now be two jobs)")
        else:
            self.log.warning("The Start this try recorded never reached AMT (task id %s); starting now", guid)
        return await self._submit(start, try_number)

    async def _find_within(self, guid: str) -> list[int]:
        """Ask AMT for the task id's batch requests until it has one or one request's bound has passed."""
        config = await self.hook.get_config()
        bound = config.connect_timeout + config.timeout
        self.log.info(
            "A Start of this try (task id %s) was in flight when the last copy of this trigger stopped; "
            "waiting up to %ss for AMT to show it",
            guid,
            bound,
        )
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            await asyncio.sleep(min(FIND_EVERY, max(0.0, deadline - time.monotonic())))
            found = await self.hook.find_batch_requests(guid)
            if found:
                return found
        return []

    async def _submit(self, start: StartRequest, try_number: int) -> int:
        guid = start.task_id or ""
        await self._record(guid, try_number, None)  # a Start is in flight
        batch_request_id = await self.hook.start(start)
        self.log.info("AMT accepted the request: batch request id %s (task id %s)", batch_request_id, guid)
        await self._announce(start, try_number, batch_request_id)
        return batch_request_id

    async def _announce(self, start: StartRequest, try_number: int, batch_request_id: int) -> None:
        """The job is known: the record completed, then what the classic path does on the worker: the
        XCom that on_kill, the log handler and DAGs read, a checkpoint at message 0 (this try's log
        starts there), the job information block.

        The writes are sent together: each round trip wakes the triggerer's supervisor for a loop that
        reloads its triggers from the database, and requests that arrive together share one. Their
        order does not matter (a copy could always stop between any two of them; see the module
        docstring for what the next one does)."""
        job_url = (await self.hook.get_config()).job_url(batch_request_id)
        links = [] if job_url is None else [XCOM_JOB_URL, XCOM_JOB_LINK]  # no worker writes the link's XCom here
        seeded, *_ = await asyncio.gather(
            checkpoint.save(self.task_instance, batch_request_id, 0, self.log),
            self._record(start.task_id or "", try_number, batch_request_id),
            self._push(XCOM_BATCH_REQUEST_ID, int(batch_request_id)),  # missing: on_kill takes the framework's word
            *(self._push(key, job_url) for key in links),
        )
        if seeded:
            self._seeded_offset = 0  # the watch logs from there without reading it back
        hook = self.hook
        log_job_information(
            self.log, await hook.get_config(), start, batch_request_id, self.amt_conn_id, hook.redactor()
        )

    async def _read_record(self, guid: str) -> tuple[int, int | None] | None:
        """``(try number, batch request id or None)`` of the last Start sent for this task instance."""
        keys = ti_keys(self.task_instance)
        if keys is None:
            return None
        try:
            value = await aget_xcom(XCOM_START, **keys)
        except Exception as err:
            self.log.debug("The AMT start record is not readable: %s", err)
            return None
        if not isinstance(value, dict) or value.get("task_id") != guid:
            return None
        if not validation.is_int(value.get("try_number")):
            return None
        batch_request_id = value.get("batch_request_id")
        return value["try_number"], batch_request_id if validation.is_int(batch_request_id) else None

    async def _record(self, guid: str, try_number: int, batch_request_id: int | None) -> None:
        """Write the record. Before a Start (``batch_request_id`` None) a failure propagates: no Start is
        sent unrecorded. After it, the job runs and is watched anyway: a failure is only logged (a copy
        of this trigger would then find the job through AMT, or fail rather than start another)."""
        keys = ti_keys(self.task_instance)
        if keys is None:
            return
        value = {"task_id": guid, "try_number": try_number, "batch_request_id": _number(batch_request_id)}
        if batch_request_id is None:
            await aset_xcom(XCOM_START, value, **keys)
        else:
            await self._push(XCOM_START, value)

    # --- the task's end ------------------------------------------------------------------------------

    async def _task_end(self, event: AmtTriggerEvent) -> TriggerEvent:
        """How the watch ended, as the task's end (the rules of the classic path's ``_conclude``; there is
        no deadline here: an ``error`` ending is rechecked, then the job's ending decides)."""
        ended = event.result
        try:
            if ended.outcome is Outcome.ERROR:  # ask AMT once more
                code = (await self.hook.get_job_status(self.batch_request_id)).code
                ended = ended.rechecked(code, self.settings.rules)
            if ended.outcome is Outcome.TIMEOUT:  # max_time_in_state, the only deadline here
                return await self._timed_out(ended.message)
            if not ended.outcome.job_ended or ended.code is None:
                self.log.error(
                    "AMT batch request %s could not be watched: %s. %s",
                    self.batch_request_id,
                    ended.message,
                    LEFT_AS_IT_IS,
                )
                return TaskFailedEvent()
            return await self._finished(ended.code, ended.outcome, event.message_offset)
        except AmtError as err:
            self.log.error(
                "%s; checking batch request %s again failed too: %s. %s",
                ended.message,
                self.batch_request_id,
                err,
                LEFT_AS_IT_IS,
            )
            return TaskFailedEvent()
        finally:
            await self.cleanup()

    async def _timed_out(self, reason: str) -> TriggerEvent:
        """The job stayed in a state longer than ``max_time_in_state``: killed (the kill policy names
        it, as the classic path does), its code in XCom, the task failed (its retries apply)."""
        ending = await self.hook.end_job("kill", self.batch_request_id)
        log_ending(self.log, ending, reason)
        log_completion(self.log, ending.code, Outcome.TIMEOUT)
        job_url = (await self.hook.get_config()).job_url(self.batch_request_id)
        await self._push("return_value", result(self.batch_request_id, ending.code, Outcome.TIMEOUT, job_url))
        self.log.error("AMT %s (batch request %s) was killed: %s", self._what, self.batch_request_id, reason)
        return TaskFailedEvent()

    async def _finished(self, code: Code, outcome: Outcome, offset: int) -> TriggerEvent:
        log_completion(self.log, code, outcome)
        metrics.outcome(code)
        job_url = (await self.hook.get_config()).job_url(self.batch_request_id)
        await self._push("return_value", result(self.batch_request_id, code, outcome, job_url))
        if outcome is Outcome.SUCCESS:
            return TaskSuccessEvent()
        last = await self._last_messages(offset)
        message = self.hook.redactor()(failure_message(self._what, self.batch_request_id, code, last))
        self.log.error(message)
        if outcome is Outcome.SKIPPED:
            return TaskSkippedEvent()
        if self.settings.rules.fails_fast(code):  # resumed on a worker only to fail without retries
            fast = AmtJobFailedFastError(message, int(code), code.amt_name, int(self.batch_request_id))
            return TriggerEvent(failed_fast_event(fast))
        return TaskFailedEvent()

    async def _last_messages(self, offset: int) -> Sequence[AmtMessage]:
        """The job's last messages for the failure text: the ones before ``offset`` (where the log got to);
        where the triggerer logged none (``[amt] trigger_messages = at_read``), read to the end for them."""
        if TriggererRuntime.current().options.messages_live:
            return await self.hook.get_messages(self.batch_request_id, max(0, offset - LAST_MESSAGES), LAST_MESSAGES)
        cursor = MessageCursor(offset)
        await self.hook.read_messages(self.batch_request_id, cursor, _ignore)
        return cursor.last

    async def _push(self, key: str, value: Any) -> None:
        """Write an XCom of this task instance through the triggerer, as a worker writes it.

        Not through the end event's ``xcoms``: Airflow 3.3.2 stores those JSON-encoded once more
        than a worker's, and a downstream task then pulls a string (``'{"batch_request_id": ...}'``,
        ``'17'``) where the classic path gives it a dict or an int.
        """
        keys = ti_keys(self.task_instance)
        if keys is None:
            return
        try:
            await aset_xcom(key, value, **keys)
        except Exception as err:  # the job's outcome stands; the XCom is missing, and the log says so
            self.log.warning("Could not push XCom %r: %s", key, err)

    async def on_kill(self) -> None:
        """As ``AmtJobTrigger.on_kill`` once the job is known. Before, there is nothing to end, but a
        Start may be on its way: the log names the task id to look for in AMT."""
        if not self.batch_request_id:
            self.log.warning(
                "The task was killed before its AMT job was known: nothing was sent to end it. If a Start was "
                "under way, the job may run: look for task id %s in AMT's job history.",
                self._task_id or "(not built yet)",
            )
            return
        await super().on_kill()


def _ignore(page: Sequence[AmtMessage]) -> None:
    """A page read only for the cursor's last messages."""


def _number(batch_request_id: int | None) -> int | None:
    """What XCom holds of a batch request id: the number (a job's ids stay with the trigger)."""
    return None if batch_request_id is None else int(batch_request_id)
