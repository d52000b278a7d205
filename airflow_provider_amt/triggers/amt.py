"""``AmtJobTrigger``: watches one AMT batch request from the triggerer.

Why it is built the way it is:

* It keeps no state outside its kwargs (a trigger may run twice at once, or move to another
  triggerer at any time) and every event carries the batch request id.
* The watching itself is the client library's one polling loop (``AsyncAmtClient.watch_job``,
  the same loop the worker-side wait runs): fast first polls backing off to ``poll_interval`` with
  jitter, outages ridden out for ``outage_grace_period``, 19 UNDEFINED given
  ``undefined_grace_period``, ``deadline`` (the task's ``execution_timeout``, which Airflow does
  not enforce while a task is deferred) reported as ``timeout``. All triggers share one aiohttp
  session and one logon per event loop.
* What all AMT triggers of a triggerer share (options, budgets, the loop's stall watch, kills in
  flight) is one ``TriggererRuntime`` per event loop (``runtime``), taken when ``run()`` starts.
* New messages are logged as they arrive (unless ``[amt] trigger_messages`` is ``at_read``: then
  one line says the log handler adds them when the log is read), through a ``MessageSink`` the runtime makes
  (``message_sink``): it reads them only when the status says there are new ones (where the server
  gives a count) and within the triggerer's read budget, and checkpoints the cursor (``checkpoint``:
  within a per-triggerer budget, never backwards), so a restarted or moved trigger resumes where the
  last one stopped; the event reports the offset reached, so the worker finishes from there instead
  of logging anything twice. A triggerer restart's first polls are spread (``runtime.START_RATE``).
* The first runtime in a triggerer raises the process's young-generation GC threshold
  (``collector``, ``[amt] triggerer_gc_threshold``): at Python's default, thousands of jobs in
  flight make full collections that hold the event loop for hundreds of milliseconds every few seconds.
* ``on_kill`` (Airflow 3.3) sends ``on_kill_action`` (Kill by default, or Stop, or nothing) to the
  AMT job when a user marks the task failed/success or clears it, and not when the trigger only
  moved to another triggerer (the task is still deferred then).
  ``cleanup`` only releases the HTTP session: it also runs on triggerer restarts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_amt import metrics
from airflow_provider_amt.class_logger import ClassLogger
from airflow_provider_amt.events import AmtTriggerEvent
from airflow_provider_amt.hooks.amt import AmtAsyncHook
from airflow_provider_amt.joblog import at_read_line, log_ending
from airflow_provider_amt.triggers.message_sink import MessageSink
from airflow_provider_amt.triggers.runtime import TriggererRuntime
from airflow_provider_amt.triggers.task_instance import current_state, watched_batch_request
from amt_client import (
    AmtCompletionCode,
    AmtError,
    AmtValidationError,
    BatchRequestId,
    MessageCursor,
    Outcome,
    Rules,
    WatchResult,
    WatchSettings,
    validation,
)

#: Time the trigger allows on_kill's Kill call (the framework's own bound is 30 s by default).
KILL_TIMEOUT = 20.0
#: Kwargs that triggers serialized by provider 0.1.0 carry and that mean nothing now.
LEGACY_KWARGS = frozenset({"stream_messages"})


def _settings_kwargs(settings: WatchSettings) -> dict[str, Any]:
    """The trigger kwargs that carry the watch settings (plain JSON, names as in 0.1.0)."""
    return {
        "poll_interval": settings.poll_interval,
        "deadline": settings.deadline,
        "success_codes": list(settings.rules.success_codes),
        "outage_grace_period": settings.outage_grace_period,
        "undefined_grace_period": settings.undefined_grace_period,
        "initial_interval": settings.initial_interval,
        # added in 0.3, written only when set: a 0.2 triggerer can still run every other trigger
        **({"skip_on_skipped_by_ops": True} if settings.rules.skip_on_skipped_by_ops else {}),
        **({"max_time_in_state": limits_kwarg(settings)} if settings.max_time_in_state else {}),
    }


def limits_kwarg(settings: WatchSettings) -> dict[str, float]:
    """``max_time_in_state`` as plain JSON (object keys are text: ``{"14": 1800.0}``)."""
    return {str(code): seconds for code, seconds in settings.max_time_in_state.items()}


def _cursor_kwargs(cursor: MessageCursor) -> dict[str, Any]:
    """The job's state the task reported when it deferred (added in 0.3, written only when known)."""
    reported = cursor.reported
    return {} if reported is None else {"state": reported[0], "state_since": reported[1]}


class AmtJobTrigger(ClassLogger, BaseTrigger):
    """Wait for an AMT batch request to end, streaming its messages into the task log.

    :param batch_request_id: the BatchRequestId AMT returned on Start.
    :param amt_conn_id: Airflow connection of type ``amt``.
    :param poll_interval: longest pause between two status checks, in seconds.
    :param deadline: epoch seconds after which a ``timeout`` event is sent (None: no deadline).
    :param message_offset: index of the first message not yet written to the task log.
    :param success_codes: completion codes that count as success (default ``[4]``).
    :param skip_on_skipped_by_ops: 6 SKIPPED_BY_OPS ends the watch as ``skipped`` (triggers stored
        by 0.2 lack it and say ``failed``: their task decides by the code, as it always did).
    :param job_ids: the job's ids its server's contract sends with every call (document key ``ids``;
        only then): the Start's values by name (``task_id``, ``application``...).
    :param on_kill_action: what a user killing the deferred task sends to the AMT job: ``"kill"``,
        ``"stop"`` or None (nothing).
    :param cancel_on_kill: False means ``on_kill_action=None`` (the 0.2 name, still read).
    :param outage_grace_period: seconds of failing server calls tolerated before an ``error`` event.
    :param undefined_grace_period: seconds 19 UNDEFINED may last before it counts as failed.
    :param initial_interval: first pause between polls (the interval grows from here).
    :param max_time_in_state: seconds the job may stay in a state, by code (``{"14": 1800}``): longer
        ends the watch with ``timeout`` (the task then acts on the job by its kill policy).
    :param state: the job's state the task already logged (so the trigger logs only later ones), and
    :param state_since: epoch seconds since when the job is in it.
    """

    def __init__(
        self,
        batch_request_id: int,
        amt_conn_id: str = "amt_default",
        poll_interval: float = 10.0,
        deadline: float | None = None,
        message_offset: int = 0,
        success_codes: Sequence[int] | None = None,
        cancel_on_kill: bool = True,
        outage_grace_period: float = 300.0,
        undefined_grace_period: float = 60.0,
        initial_interval: float = 1.0,
        on_kill_action: str | None = "kill",
        skip_on_skipped_by_ops: bool = False,
        job_ids: Mapping[str, str] | None = None,
        max_time_in_state: Mapping[Any, float] | None = None,
        state: int | None = None,
        state_since: float | None = None,
        **legacy: Any,
    ):
        super().__init__()
        unknown = sorted(set(legacy) - LEGACY_KWARGS)
        if unknown:
            raise AmtValidationError(f"{type(self).__name__} got unknown arguments {unknown}.")
        number = validation.batch_request_id(batch_request_id)
        # the ids of the job its server's contract sends with each call (document key ``ids``), if any
        job_ids = job_ids or getattr(batch_request_id, "ids", None)
        self.batch_request_id: int = BatchRequestId(number, job_ids) if job_ids else number
        self._init_watch(
            amt_conn_id,
            message_offset,
            WatchSettings(
                rules=Rules(
                    success_codes=tuple(success_codes or (int(AmtCompletionCode.DONE),)),
                    skip_on_skipped_by_ops=validation.flag(skip_on_skipped_by_ops, "skip_on_skipped_by_ops"),
                ),
                poll_interval=poll_interval,
                initial_interval=initial_interval,
                deadline=deadline,
                outage_grace_period=outage_grace_period,
                undefined_grace_period=undefined_grace_period,
                max_time_in_state=max_time_in_state or {},
            ),
            validation.end_action(on_kill_action, "on_kill_action") if cancel_on_kill else None,
        )
        if validation.is_int(state) and validation.is_number(state_since):
            self._cursor.state, self._cursor.state_since = state, float(state_since)  # type: ignore[arg-type]

    def _init_watch(
        self, amt_conn_id: str, message_offset: int, settings: WatchSettings, on_kill_action: str | None
    ) -> None:
        """What every AMT trigger holds besides the batch request id (a subclass may learn that later)."""
        self.amt_conn_id = validation.connection_id(amt_conn_id)
        self.message_offset = validation.offset(message_offset, "message_offset")
        self.settings = settings
        self.on_kill_action = on_kill_action
        self._hook: AmtAsyncHook | None = None
        self._sink: MessageSink | None = None  # run() takes one from the triggerer's runtime
        self._cursor = MessageCursor(self.message_offset, keep=0)  # the worker reports the last ones
        #: The checkpoint offset this copy wrote itself just before watching (the start trigger's seed):
        #: then it needs no first read. None: another process wrote it, or this may be a moved copy.
        self._seeded_offset: int | None = None

    @classmethod
    def for_job(
        cls,
        batch_request_id: int,
        amt_conn_id: str,
        settings: WatchSettings,
        *,
        message_offset: int,
        on_kill_action: str | None,
        cursor: MessageCursor | None = None,
    ) -> AmtJobTrigger:
        return cls(
            batch_request_id,
            amt_conn_id,
            message_offset=message_offset,
            on_kill_action=on_kill_action,
            job_ids=getattr(batch_request_id, "ids", None),
            **_settings_kwargs(settings),
            **(_cursor_kwargs(cursor) if cursor is not None else {}),
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "batch_request_id": int(self.batch_request_id),
                "amt_conn_id": self.amt_conn_id,
                "message_offset": self.message_offset,
                "on_kill_action": self.on_kill_action,
                **_settings_kwargs(self.settings),
                **({"job_ids": dict(ids)} if (ids := getattr(self.batch_request_id, "ids", None)) else {}),
                **_cursor_kwargs(self._cursor),
            },
        )

    @property
    def hook(self) -> AmtAsyncHook:
        if self._hook is None:
            self._hook = AmtAsyncHook(self.amt_conn_id, connections=TriggererRuntime.current().connections)
        return self._hook

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Watch the job and send one event (the task resumes on a worker with it)."""
        event = await self._watched()
        yield TriggerEvent(event.payload())

    async def _watched(self) -> AmtTriggerEvent:
        """Watch the job to its end. Nothing here ends the job: an ``AmtError`` that waiting cannot fix,
        or any failure of this trigger's own, becomes an ``error`` ending (the task then asks AMT once
        more, and the job is left as it is)."""
        runtime = None
        try:
            try:
                runtime = TriggererRuntime.current()
                runtime.loop_watch.attach()
                ended = await self._watch(runtime)
            except AmtError as err:  # e.g. the connection could not even be read: waiting will not help
                ended = WatchResult(Outcome.ERROR, None, str(err))
            except Exception as err:  # our own trouble: reported, never the job's end
                self.log.error(
                    "The trigger of AMT batch request %s failed (%s: %s); the job is left as it is",
                    self.batch_request_id,
                    type(err).__name__,
                    err,
                    exc_info=True,
                )
                ended = WatchResult(Outcome.ERROR, None, f"the AMT trigger failed: {type(err).__name__}: {err}")
            return AmtTriggerEvent(self.batch_request_id, ended, self._cursor.offset)
        finally:
            if self._sink is not None:
                self._sink.close()
            if runtime is not None:
                runtime.loop_watch.detach()
            # cleanup() is not called under ``airflow dags test``; releasing twice is harmless.
            await self.cleanup()

    async def _watch(self, runtime: TriggererRuntime) -> WatchResult:
        cursor = self._cursor
        sink = self._sink = runtime.message_sink(
            self.task_instance, self.batch_request_id, cursor, self.log, self.hook.redactor()
        )
        if self._seeded_offset is not None:
            sink.checkpoint.seeded(self._seeded_offset)
        self.log.info(
            "Watching AMT batch request %s from message %s (poll every <= %ss)%s",
            self.batch_request_id,
            cursor.offset,
            self.settings.poll_interval,
            "" if runtime.options.messages_live else "\n" + at_read_line(self.batch_request_id, cursor.offset),
        )
        await runtime.starts.wait()
        return await self.hook.watch_job(
            self.batch_request_id, cursor, self.settings, sink.log_page, sink.may_read, sink.on_state
        )

    @property
    def cancel_on_kill(self) -> bool:
        """Whether killing the task ends the AMT job (the 0.2 name of ``on_kill_action is not None``)."""
        return self.on_kill_action is not None

    async def on_kill(self) -> None:
        """A user ended the deferred task: send ``on_kill_action`` to the AMT job too, once.

        Airflow 3.3 also calls this when the trigger merely moved: a triggerer that stalled past the
        health threshold and resumed cancels the copies another triggerer has taken over, as if a user
        had acted. So the task instance's state is checked first: still ``deferred`` on this job
        (the batch request id in its XCom) means someone (another triggerer, or a new try that
        reconnected to this job) is watching it, and the job is left alone; deferred on another job
        means the task was cleared and its new try started that one, so this job is killed. Where the
        state cannot be read, the framework's word (a user action) is taken.
        A job that has already ended (another copy of this trigger killed it) gets no second Kill.

        The decision runs shielded, in a task of its own with its own HTTP session: Airflow 3.3.2
        cancels a cancelling trigger again on every triggerer loop (about a second) until it has
        finished, and that second cancellation would otherwise abort ``on_kill`` between its calls,
        silently, before the Kill is sent (seen on a loaded host). Bounded by ``KILL_TIMEOUT``.
        """
        decision = asyncio.ensure_future(asyncio.wait_for(self._decide_and_kill(), KILL_TIMEOUT))
        TriggererRuntime.current().keep_until_done(decision)
        try:
            await asyncio.shield(decision)
        except asyncio.TimeoutError:
            self.log.error("Killing AMT batch request %s took longer than %ss", self.batch_request_id, KILL_TIMEOUT)

    async def _decide_and_kill(self) -> None:
        action = self.on_kill_action
        if action is None:
            self.log.info("on_kill_action is None: AMT batch request %s keeps running", self.batch_request_id)
            metrics.kill_skipped("cancel_on_kill_off")
            return
        state = await current_state(self.task_instance, self.log)
        if state == "deferred":
            watched = await watched_batch_request(self.task_instance, self.log)
            if watched in (None, self.batch_request_id):
                self.log.warning(
                    "This trigger was cancelled but the task is still deferred (the trigger moved to another "
                    "triggerer): AMT batch request %s is left running",
                    self.batch_request_id,
                )
                metrics.kill_skipped("task_still_deferred")
                return
            self.log.warning(
                "The task was cleared and its new try watches AMT batch request %s: killing %s",
                watched,
                self.batch_request_id,
            )
        # run() may close the trigger's own hook meanwhile
        hook = AmtAsyncHook(self.amt_conn_id, connections=TriggererRuntime.current().connections)
        try:
            ending = await hook.end_job(action, self.batch_request_id)
            log_ending(self.log, ending, "the task was killed")
        except Exception as err:  # on_kill must not raise; the reason goes to the log
            self.log.error("Could not %s AMT batch request %s: %s", action, self.batch_request_id, err)
        finally:
            await hook.close()

    async def cleanup(self) -> None:
        """Release the shared HTTP session; never touch the AMT job here (runs on restarts too).

        No last checkpoint save: on a triggerer's graceful stop its supervisor no longer answers
        (Airflow 3.3.2), so a save here would only hold up the stop.
        """
        self._sink = None
        if self._hook is not None:
            hook, self._hook = self._hook, None
            await hook.close()
