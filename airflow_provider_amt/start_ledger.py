"""Exactly one AMT job per task instance, across tries: the task's record of its Start.

A Start is the one call that must never happen twice by accident (a payroll job run twice). The
operators therefore keep, in ``task_state_store`` (which survives retries, Airflow 3.3+), a record
``{"task_id": <GUID>, "batch_request_id": <id or null>}``:

* written with ``batch_request_id: null`` *before* the Start is sent ("a Start is in flight"),
* completed with the id AMT returned,
* removed when the Start provably never reached AMT (refused, or the connection never opened).

The GUID task id is stable for the task instance (all tries send the same one). A later try reads
the record first (:func:`job_of_earlier_try`):

* an id: reconnect to that job while it runs, take its success if it already succeeded, and start
  anew only after it failed (that is what a retry is for);
* a Start in flight with no answer: ask AMT which batch request carries the GUID (an **assumed**
  capability, see docs/api-contract.md). Found: as above. AMT says none: the Start never arrived,
  start. AMT cannot say: fail with :class:`~amt_client.AmtUnconfirmedStartError`, naming the GUID,
  unless the task explicitly allows a fresh start.

Without ``task_state_store`` (Airflow before 3.3) a retry asks AMT by GUID the same way, where AMT
can answer.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from typing import Any

from airflow_provider_amt.keys import STATE_BATCH_REQUEST_ID, STATE_START
from amt_client import AmtError, AmtNotFoundError, AmtUnconfirmedStartError, JobStatus, Outcome, Rules, StartRequest
from amt_client.codes import Code
from amt_client.validation import is_int

#: Namespace of the task ids (GUIDs) sent to AMT; changing it loses the link to tasks in flight.
_TASK_ID_NAMESPACE = uuid.UUID("5b0c7f44-6a55-4c1e-9d0e-4f1f0c6a8a11")


@dataclass
class StartLedger:
    """The task instance's record of its Start (a no-op where there is no ``task_state_store``)."""

    store: Any  # context["task_state_store"], or None
    task_id: str  # the stable GUID sent as AMT's taskId
    #: The connection of the server the Start was sent to (a task with alternates has several).
    conn_id: str | None = None

    def connection(self) -> str | None:
        """The connection a recorded Start went to (None: no record, or one written before alternates)."""
        if self.store is None:
            return None
        record = self.store.get(STATE_START)
        if isinstance(record, dict) and record.get("task_id") == self.task_id:
            conn_id = record.get("amt_conn_id")
            return conn_id if isinstance(conn_id, str) and conn_id else None
        return None

    def recorded(self) -> tuple[bool, int | None]:
        """``(a Start was recorded, its batch request id if known)``; reads provider 0.1.0's key too."""
        if self.store is None:
            return False, None
        record = self.store.get(STATE_START)
        if isinstance(record, dict) and record.get("task_id") == self.task_id:
            batch_request_id = record.get("batch_request_id")
            return True, batch_request_id if is_int(batch_request_id) else None
        legacy = self.store.get(STATE_BATCH_REQUEST_ID)
        return (True, legacy) if is_int(legacy) else (False, None)

    def sending(self) -> None:
        self._write(None)

    def started(self, batch_request_id: int) -> None:
        self._write(int(batch_request_id))

    def _write(self, batch_request_id: int | None) -> None:
        if self.store is None:
            return
        record: dict[str, Any] = {"task_id": self.task_id, "batch_request_id": batch_request_id}
        if self.conn_id is not None:
            record["amt_conn_id"] = self.conn_id
        self.store.set(STATE_START, record)

    def failed(self, error: AmtError) -> None:
        """Forget a Start that provably never reached AMT; keep "in flight" when it may have."""
        if self.store is not None and not error.request_may_have_arrived:
            self.store.delete(STATE_START)

    def send(self, hook: Any, start: StartRequest, log: Any) -> int:
        """Send the Start (a worker's): recorded as in flight before it is sent, completed with AMT's
        answer, forgotten only when it provably never arrived."""
        self.conn_id = getattr(hook, "amt_conn_id", None)
        self.sending()
        try:
            batch_request_id: int = hook.start(start)
        except AmtError as err:
            self.failed(err)
            raise
        self.started(batch_request_id)
        log.info("AMT accepted the request: batch request id %s (task id %s)", batch_request_id, start.task_id)
        return batch_request_id


@dataclass(frozen=True)
class EarlierTry:
    """What an earlier try left this one: a job to watch instead of starting one (``watch``), or the
    job it started and the code that job failed on (``failed``: a recovery run may resume it)."""

    watch: int | None = None
    failed: tuple[int, Code] | None = None


def job_of_earlier_try(
    hook: Any, ledger: StartLedger, rules: Rules, *, try_number: int, allow_fresh_start: bool, log: Any
) -> EarlierTry:
    """The batch request this try should watch instead of starting one (``watch`` None: start one)."""
    recorded, batch_request_id = ledger.recorded()
    if not _earlier_start_possible(ledger, recorded, try_number):
        return EarlierTry()  # the first Start of this task instance
    if batch_request_id is None:
        found = hook.find_batch_requests(ledger.task_id)
        if found is None:
            if ledger.store is None:
                log.warning(
                    "This Airflow has no task_state_store and AMT cannot be asked by task id %s whether an earlier "
                    "try started a job; starting one.",
                    ledger.task_id,
                )
                return EarlierTry()
            _unconfirmed(ledger.task_id, allow_fresh_start, log)  # raises unless a fresh start is allowed
            return EarlierTry()
        if not found:
            if recorded:
                log.info("The earlier try's Start (task id %s) never reached AMT; starting now", ledger.task_id)
            return EarlierTry()
        batch_request_id = found[-1]
        log.warning(
            "AMT has batch request %s for task id %s, started by an earlier try", batch_request_id, ledger.task_id
        )
        ledger.started(batch_request_id)
    return _reuse(hook, batch_request_id, rules, log)


def _earlier_start_possible(ledger: StartLedger, recorded: bool, try_number: int) -> bool:
    """Whether an earlier try may have sent a Start: it recorded one, or there is nowhere to record
    one (no ``task_state_store``) and this is not the first try."""
    return recorded or (ledger.store is None and try_number > 1)


class EarlierJob(enum.Enum):
    """What a try does with a job an earlier try (or an earlier copy of its trigger) started."""

    RECONNECT = "reconnect"  # it still runs: watch it
    SUCCEEDED = "succeeded"  # it already succeeded: take its success, start nothing
    START_ANEW = "start_anew"  # it failed (or AMT forgot it): that is what a retry is for


def earlier_job(status: JobStatus | None, rules: Rules) -> EarlierJob:
    """The one rule for reusing an earlier try's job (``None``: AMT no longer knows it)."""
    if status is None:
        return EarlierJob.START_ANEW
    if not rules.is_final(status.code):
        return EarlierJob.RECONNECT
    return EarlierJob.SUCCEEDED if rules.outcome(status.code) is Outcome.SUCCESS else EarlierJob.START_ANEW


def log_earlier_job(log: Any, verdict: EarlierJob, batch_request_id: int, status: JobStatus | None) -> None:
    if status is None:
        log.warning("AMT no longer knows batch request %s of an earlier try; starting anew", batch_request_id)
    elif verdict is EarlierJob.RECONNECT:
        log.warning("Reconnecting to AMT batch request %s started by an earlier try (%s)", batch_request_id, status)
    elif verdict is EarlierJob.SUCCEEDED:
        log.warning(
            "AMT batch request %s of an earlier try already succeeded (%s); not starting it again",
            batch_request_id,
            status,
        )
    else:
        log.info(
            "AMT batch request %s of an earlier try ended with %s; this try starts a new job", batch_request_id, status
        )


def _reuse(hook: Any, batch_request_id: int, rules: Rules, log: Any) -> EarlierTry:
    try:
        status: JobStatus | None = hook.get_job_status(batch_request_id)
    except AmtNotFoundError:
        status = None
    verdict = earlier_job(status, rules)
    log_earlier_job(log, verdict, batch_request_id, status)
    if verdict is not EarlierJob.START_ANEW:
        return EarlierTry(watch=batch_request_id)
    return EarlierTry(failed=(batch_request_id, status.code) if status is not None else None)


def _unconfirmed(task_id: str, allow_fresh_start: bool, log: Any) -> None:
    if allow_fresh_start:
        log.warning(
            "The earlier try's Start (task id %s) got no answer and AMT cannot say whether it arrived; "
            "starting again because allow_fresh_start is set (there may now be two jobs).",
            task_id,
        )
        return
    raise unconfirmed_start(task_id)


def unconfirmed_start(task_id: str) -> AmtUnconfirmedStartError:
    """The error of a try that cannot know whether an earlier Start (with ``task_id``) started a job."""
    return AmtUnconfirmedStartError(
        f"An earlier try sent a Start with task id {task_id} and got no answer; it may have started an AMT job, "
        "and this AMT Batch Server cannot be asked which batch request has that task id. Nothing was sent. "
        f"Check in AMT (job history, taskId {task_id}) whether the job ran. If it did not, clear this task with "
        "allow_fresh_start=True on the operator to start it; if it did, mark the task as you see fit."
    )


def task_guid(dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    """AMT's ``taskId`` for a task instance: the same for every try, so a retry can find what an earlier
    try started (and the same whether the task starts on a worker or in the triggerer)."""
    return str(uuid.uuid5(_TASK_ID_NAMESPACE, f"{dag_id}/{run_id}/{task_id}/{map_index}"))
