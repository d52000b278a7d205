"""``AmtJobTrigger``: watches one AMT batch request from the triggerer.

Why it is built the way it is:

* It keeps no state outside its kwargs (a trigger may run twice at once, or move to another
  triggerer at any time) and every event carries the batch request id.
* It polls through the shared async client (one aiohttp session per loop and server), starting
  fast and backing off to ``poll_interval`` for long jobs, with jitter so many triggers started
  together do not poll in lock-step.
* New messages are fetched from an offset and logged as they arrive, so a reader of the task log
  sees them within one poll; the event reports the offset reached so the worker finishes from
  there instead of logging anything twice.
* Transient server trouble is ridden out for ``outage_grace_period`` seconds; 19 UNDEFINED is
  given ``undefined_grace_period`` seconds before it counts as a failure.
* ``deadline`` (epoch seconds) carries the task's ``execution_timeout``, which Airflow does not
  enforce while a task is deferred; the trigger reports ``timeout`` and the worker kills the job.
* ``on_kill`` (Airflow 3.3) kills the AMT job when a user marks the task failed/success or clears
  it. ``cleanup`` only releases the HTTP session: it also runs on triggerer restarts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_amt.api_contract import MAX_MESSAGES_PAGE
from airflow_provider_amt.codes import AmtCompletionCode
from airflow_provider_amt.exceptions import AmtError, AmtResponseError, AmtServerUnavailableError
from airflow_provider_amt.hooks.amt import AmtAsyncHook
from airflow_provider_amt.joblog import MessageCursor, adrain_messages
from airflow_provider_amt.outcome import Rules
from airflow_provider_amt.triggers import _checkpoint
from airflow_provider_amt.watch import JobWatch, Verdict

#: Time the trigger allows on_kill's Kill call (the framework's own bound is 30 s by default).
KILL_TIMEOUT = 20.0


def _number(value: Any, name: str, minimum: float = 0.0, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ValueError(f"AmtJobTrigger: {name} must be a number >= {minimum}, got {value!r}")
    return float(value)


class AmtJobTrigger(BaseTrigger):
    """Wait for an AMT batch request to end, streaming its messages into the task log.

    :param batch_request_id: the BatchRequestId AMT returned on Start.
    :param amt_conn_id: Airflow connection of type ``amt``.
    :param poll_interval: longest pause between two status checks, in seconds.
    :param deadline: epoch seconds after which a ``timeout`` event is sent (None: no deadline).
    :param message_offset: index of the first message not yet written to the task log.
    :param success_codes: completion codes that count as success (default ``[4]``).
    :param stream_messages: log messages while the job runs (otherwise the worker logs them all).
    :param cancel_on_kill: kill the AMT job when a user kills the deferred task.
    :param outage_grace_period: seconds of failing server calls tolerated before an ``error`` event.
    :param undefined_grace_period: seconds 19 UNDEFINED may last before it counts as failed.
    :param initial_interval: first pause between polls (the interval grows from here).
    """

    def __init__(
        self,
        batch_request_id: int,
        amt_conn_id: str = "amt_default",
        poll_interval: float = 10.0,
        deadline: float | None = None,
        message_offset: int = 0,
        success_codes: list[int] | None = None,
        stream_messages: bool = True,
        cancel_on_kill: bool = True,
        outage_grace_period: float = 300.0,
        undefined_grace_period: float = 60.0,
        initial_interval: float = 1.0,
    ):
        super().__init__()
        if isinstance(batch_request_id, bool) or not isinstance(batch_request_id, int) or batch_request_id <= 0:
            raise ValueError(f"AmtJobTrigger: batch_request_id must be a positive int, got {batch_request_id!r}")
        if not isinstance(amt_conn_id, str) or not amt_conn_id:
            raise ValueError(f"AmtJobTrigger: amt_conn_id must be a connection id, got {amt_conn_id!r}")
        if isinstance(message_offset, bool) or not isinstance(message_offset, int) or message_offset < 0:
            raise ValueError(f"AmtJobTrigger: message_offset must be an int >= 0, got {message_offset!r}")
        self.batch_request_id = batch_request_id
        self.amt_conn_id = amt_conn_id
        self.poll_interval = _number(poll_interval, "poll_interval", 0.1)
        self.deadline = _number(deadline, "deadline", 0.0, allow_none=True)
        self.message_offset = message_offset
        self.success_codes = [int(c) for c in (success_codes or [int(AmtCompletionCode.DONE)])]
        self.stream_messages = bool(stream_messages)
        self.cancel_on_kill = bool(cancel_on_kill)
        self.outage_grace_period = _number(outage_grace_period, "outage_grace_period")
        self.undefined_grace_period = _number(undefined_grace_period, "undefined_grace_period")
        self.initial_interval = min(_number(initial_interval, "initial_interval", 0.05), self.poll_interval)
        self._hook: AmtAsyncHook | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "batch_request_id": self.batch_request_id,
                "amt_conn_id": self.amt_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "message_offset": self.message_offset,
                "success_codes": list(self.success_codes),
                "stream_messages": self.stream_messages,
                "cancel_on_kill": self.cancel_on_kill,
                "outage_grace_period": self.outage_grace_period,
                "undefined_grace_period": self.undefined_grace_period,
                "initial_interval": self.initial_interval,
            },
        )

    @property
    def hook(self) -> AmtAsyncHook:
        if self._hook is None:
            self._hook = AmtAsyncHook(self.amt_conn_id)
        return self._hook

    def _event(self, status: str, cursor: MessageCursor, code: AmtCompletionCode | None, message: str) -> TriggerEvent:
        return TriggerEvent(
            {
                "status": status,
                "batch_request_id": self.batch_request_id,
                "completion_code": None if code is None else int(code),
                "completion_name": None if code is None else code.amt_name,
                "message_offset": cursor.offset,
                "message": message,
            }
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        watch = JobWatch(
            Rules(success_codes=tuple(self.success_codes)),
            poll_interval=self.poll_interval,
            initial_interval=self.initial_interval,
            deadline=self.deadline,
            outage_grace_period=self.outage_grace_period,
            undefined_grace_period=self.undefined_grace_period,
        )
        cursor = MessageCursor(self.message_offset)
        saved = await _checkpoint.load(self.task_instance, self.batch_request_id, self.log)
        if saved is not None and saved > cursor.offset:
            # An earlier instance of this trigger (before a restart or a move) logged these already.
            cursor.offset = saved
        self.log.info(
            "Watching AMT batch request %s from message %s (poll every <= %ss)",
            self.batch_request_id,
            cursor.offset,
            self.poll_interval,
        )
        try:
            async for event in self._watch(watch, cursor):
                yield event
        finally:
            # cleanup() is not called under ``airflow dags test``; releasing twice is harmless.
            await self.cleanup()

    async def _watch(self, watch: JobWatch, cursor: MessageCursor) -> AsyncIterator[TriggerEvent]:
        while True:
            code: AmtCompletionCode | None = None
            try:
                status = await self.hook.get_job_status(self.batch_request_id)
                code = status.code
                if self.stream_messages:  # log new messages page by page, saving the cursor after each
                    await adrain_messages(
                        self.hook, self.batch_request_id, cursor, self.log, MAX_MESSAGES_PAGE, after_page=self._save
                    )
                verdict = watch.on_status(code, str(status))
            except (AmtServerUnavailableError, AmtResponseError) as err:
                self.log.warning("AMT status check failed, will retry: %s", err)
                verdict = watch.on_transient_error(err)
            except AmtError as err:  # authentication, not found, configuration: waiting will not help
                verdict = Verdict("error", message=str(err))
            if verdict.kind == "wait":
                await asyncio.sleep(verdict.pause)
                continue
            yield self._event(verdict.event_status or verdict.kind, cursor, code, verdict.message)
            return

    async def _save(self, cursor: MessageCursor) -> None:
        await _checkpoint.save(self.task_instance, self.batch_request_id, cursor.offset, self.log)

    async def on_kill(self) -> None:
        """A user killed the deferred task: kill the AMT job too (idempotent; stale rows are fine)."""
        if not self.cancel_on_kill:
            self.log.info("cancel_on_kill is off: AMT batch request %s keeps running", self.batch_request_id)
            return
        try:
            await asyncio.wait_for(self.hook.kill_job(self.batch_request_id), KILL_TIMEOUT)
            self.log.warning("Killed AMT batch request %s because the task was killed", self.batch_request_id)
        except Exception as err:
            self.log.error("Could not kill AMT batch request %s: %s", self.batch_request_id, err)

    async def cleanup(self) -> None:
        """Release the shared HTTP session; never touch the AMT job here (runs on restarts too)."""
        if self._hook is not None:
            await self._hook.close()
            self._hook = None
