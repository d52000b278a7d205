"""The trigger's message cursor, kept in XCom of its own task instance.

A trigger holds no state outside its kwargs, and its kwargs carry the offset it was *started*
with. After a triggerer restart, or when a trigger moves to another triggerer, a fresh instance
would log every message from that offset again. The triggerer proxies XCom reads and writes from
a trigger for its own task instance (through the API server), and XComs live as long as the try,
so the trigger saves ``{"batch_request_id": n, "offset": m}`` and resumes from it. With it goes the
job's state last logged (``"state": 14, "state_since": epoch seconds``): a copy that finds the
job in that state logs no state change, and counts ``max_time_in_state`` from that time. Where XCom is
not reachable (for instance triggers run inline by ``airflow dags test``), the checkpoint is simply
skipped: the kwargs offset still holds.

What it costs, and why it is bounded: each save is a read and a write through the triggerer's
supervisor, which answers them one at a time in the loop that also heartbeats; saving after every
page of every watched job adds up at scale (``docs/performance.md`` has the figures). So all AMT
triggers of one triggerer together save at most ``[amt] checkpoint_rate`` times a second: a trigger
saves after a page at most every ``triggers / rate`` seconds (after every page while there are few),
never more often than ``[amt] checkpoint_interval`` (0 by default), its first save at a random
point of that spacing (triggers that started together would otherwise save together), and the
saves that come due together wait their turn in one queue at that rate (``pacing``). No watch
waits for a save: it runs beside the watch, one at a time per trigger, and takes the newest offset
logged when its turn comes (pages logged meanwhile are coalesced into it). What is logged waits at
most that spacing for its save even if nothing is logged after it (a quiet job's one state line: a
timer for its turn). A triggerer that stops or crashes between two saves makes the next copy log
again what was logged since the last save; ``AmtTaskLogHandler`` shows each message once anyway,
Airflow's default handler shows the repeat (``docs/logs.md``). (No save on cancellation: during a
graceful stop the supervisor no longer answers.)

When it is read: not before the first poll, but when the trigger first has messages to log (never by
the copy of a start trigger that seeded it itself: ``Checkpoint.seeded``), and then at ``[amt]
checkpoint_read_rate`` for the whole triggerer (``pacing``): after a restart every trigger starts at
once, and 20,000 reads in one second would hold up the supervisor's heartbeat.
Status polls go on while a read waits its turn; only the logging waits (the final drain too).

Monotonic: a save first reads the checkpoint and never writes an offset below the one saved; an
offset found ahead of the copy's own means another copy of the trigger has logged further, and the
copy logs nothing below it any more. Without a compare-and-set in XCom, two copies writing within
the same round trip can still interleave; the log handler's rule covers that case too.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_amt import metrics
from airflow_provider_amt.compat import aget_xcom, aset_xcom
from airflow_provider_amt.keys import XCOM_MESSAGE_CURSOR as XCOM_KEY
from airflow_provider_amt.triggers.task_instance import ti_keys
from amt_client import AmtMessage, MessageCursor, validation

#: A job's state and since when (epoch seconds), as the checkpoint holds it.
State = tuple[int, float]

if TYPE_CHECKING:
    from airflow_provider_amt.triggers.runtime import TriggererRuntime


def seed(ti: Any, batch_request_id: int, cursor: MessageCursor) -> None:
    """Written by the worker just before it defers: the trigger's first ``load`` finds a checkpoint
    (no "XCom not found" error in the triggerer's log for every trigger start)."""
    ti.xcom_push(key=XCOM_KEY, value=_value(batch_request_id, cursor.offset, cursor.reported))


def _value(batch_request_id: int, offset: int, state: State | None = None) -> dict[str, Any]:
    value: dict[str, Any] = {"batch_request_id": int(batch_request_id), "offset": offset}  # the number, not its ids
    if state is not None:
        value["state"], value["state_since"] = state
    return value


@dataclass(frozen=True)
class Saved:
    """What a copy of the trigger saved: the offset of the first message not logged, the state logged."""

    offset: int
    state: State | None = None


async def load(task_instance: Any, batch_request_id: int, log: Any) -> Saved | None:
    """What a previous instance of this trigger reached for this job, if it saved a checkpoint."""
    keys = ti_keys(task_instance)
    if keys is None:
        return None
    try:
        value = await aget_xcom(XCOM_KEY, **keys)
    except Exception as err:  # no supervisor channel (dags test) or an older Airflow
        log.debug("AMT message checkpoint not readable: %s", err)
        return None
    metrics.checkpoint("read")
    if isinstance(value, dict) and value.get("batch_request_id") == batch_request_id:
        offset = value.get("offset")
        if validation.is_int(offset) and offset >= 0:
            return Saved(offset, _state(value.get("state"), value.get("state_since")))
    return None


def _state(code: Any, since: Any) -> State | None:
    """A saved state, if it is one (a checkpoint written before 0.3 has none)."""
    if validation.is_int(code) and isinstance(since, (int, float)) and not isinstance(since, bool):
        return code, float(since)
    return None


async def save(task_instance: Any, batch_request_id: int, offset: int, log: Any, state: State | None = None) -> bool:
    keys = ti_keys(task_instance)
    if keys is None:
        return False
    try:
        await aset_xcom(XCOM_KEY, _value(batch_request_id, offset, state), **keys)
    except Exception as err:
        log.debug("AMT message checkpoint not writable: %s", err)
        return False
    metrics.checkpoint("write")
    return True


@dataclass
class Checkpoint:
    """One trigger copy's view of the shared cursor: what is known saved, and when to save next.

    ``runtime`` is the triggerer's: its checkpoint paces queue the reads and saves of all its AMT
    triggers, its spacing says how often each saves, and its loop watch tells whether the loop
    stalled since this copy last looked (then another triggerer may have logged further).
    """

    task_instance: Any
    batch_request_id: int
    log: Any
    runtime: TriggererRuntime
    #: The highest offset known to be saved, by this copy or another: nothing below is logged again.
    floor: int = field(default=0, init=False)
    #: The job's state last known saved (by this copy or another), with since when.
    state: State | None = field(default=None, init=False)
    _saved_at: float | None = field(default=None, init=False)  # None: no page logged yet
    _created: float = field(default_factory=lambda: time.monotonic(), init=False)
    _checked_at: float = field(default_factory=time.monotonic, init=False)
    _first_read: asyncio.Future[int] | None = field(default=None, init=False)
    _unsaved: int = field(default=0, init=False)  # the newest offset logged and not yet saved (0: none)
    _unsaved_state: State | None = field(default=None, init=False)  # a state logged and not yet saved
    _saving: asyncio.Future[None] | None = field(default=None, init=False)
    _due: asyncio.TimerHandle | None = field(default=None, init=False)  # the next save's turn, if one waits for it

    async def loaded(self, wait: bool, patience: float = 0.0) -> bool:
        """Whether the first read is done (it is started, in its turn, on the first call).

        ``wait``: until it is; else up to ``patience`` seconds (a read that is quick, as on a triggerer
        that is not restarting, then lets the first messages be logged at the poll that found them).
        """
        if ti_keys(self.task_instance) is None:  # nothing to read (dags test, unit tests)
            return True
        if self._first_read is None:
            self._first_read = self.runtime.checkpoint_reads.in_turn(self.refresh)
        if not wait and not self._first_read.done():
            if patience <= 0:
                return False
            await asyncio.wait([self._first_read], timeout=patience)
            if not self._first_read.done():
                return False
        await self._first_read
        return True

    def seeded(self, offset: int) -> None:
        """This copy wrote the checkpoint at ``offset`` itself just now (the start trigger's seed after
        its Start): that is its first read, made without a round trip through the supervisor."""
        self.floor = max(self.floor, offset)
        if self._first_read is None:
            self._first_read = asyncio.get_running_loop().create_future()
            self._first_read.set_result(self.floor)

    def close(self) -> None:
        """The trigger ends: a first read or a save still waiting for its turn is not made (a save under
        way finishes; the event carries the offset anyway)."""
        if self._due is not None:
            self._due.cancel()
            self._due = None
        for waiting in (self._first_read, self._saving):
            if waiting is not None and not waiting.done():
                waiting.cancel()

    async def refresh(self) -> int:
        """Read the checkpoint (at start, after a stall, before a save); returns the floor."""
        saved = await load(self.task_instance, self.batch_request_id, self.log)
        if saved is not None:
            self.floor = max(self.floor, saved.offset)
            self.state = saved.state or self.state
        return self.floor

    async def unlogged(self, page: Sequence[AmtMessage]) -> list[AmtMessage]:
        """The part of a page no copy of the trigger has logged yet.

        After this triggerer's loop stalled, another triggerer may have taken the trigger over and
        logged further: the checkpoint is read again first, and what it covers is not logged again.
        """
        if self.runtime.loop_watch.stalled_since(self._checked_at) and await self.refresh() > page[0].index:
            self.log.info(
                "This triggerer was stalled and another copy of the trigger has logged AMT messages up to "
                "%s: not logging them again",
                self.floor - 1,
            )
        self._checked_at = time.monotonic()
        return [message for message in page if message.index >= self.floor]

    def logged(self, offset: int) -> None:
        """A page up to ``offset`` is in the log: queue a save if the budget allows one now.

        Returns at once: the save runs in its turn, beside the watch, and a save already queued or
        under way takes this offset along (it saves the newest one logged when it starts).
        """
        self._unsaved = max(self._unsaved, offset)
        self._queue_save()

    def logged_state(self, state: State) -> None:
        """The job's new state is in the log: saved like a page (with the next save, in its turn)."""
        self._unsaved_state = state
        self._queue_save()

    def _queue_save(self) -> None:
        """Queue a save of what is logged and not saved if its turn has come, else wait for the turn.

        What is logged is saved when its turn comes even if the trigger logs nothing after it (a quiet
        job's state line, a job's last page before a long wait): else a moved copy would log it again.
        What is logged while a save runs is saved after that one, in its turn.
        """
        if not (self._unsaved or self._unsaved_state):
            return
        now = time.monotonic()
        every = self.runtime.checkpoint_save_spacing()
        if self._saved_at is None:  # the first page: the spacing counts from the start, at a random phase
            self._saved_at = self._created - random.random() * (every - self.runtime.options.checkpoint_interval)
        if self._saving is not None and not self._saving.done():
            return  # the save under way (or queued) takes this along, or _after_save comes back for it
        if now - self._saved_at >= every:
            if self._due is not None:
                self._due.cancel()
                self._due = None
            self._saving = self.runtime.checkpoint_saves.in_turn(self._save_unsaved)
            self._saving.add_done_callback(self._after_save)
        elif self._due is None:
            self._due = asyncio.get_running_loop().call_later(self._saved_at + every - now, self._turn_came)

    def _turn_came(self) -> None:
        self._due = None
        self._queue_save()

    def _after_save(self, saving: asyncio.Future[None]) -> None:
        """A save ended: what was logged while it ran waits for the next turn (not after close())."""
        if not saving.cancelled():
            self._queue_save()

    async def _save_unsaved(self) -> None:
        offset, self._unsaved = self._unsaved, 0
        state, self._unsaved_state = self._unsaved_state, None
        if offset or state:
            await self.save(offset, state)

    async def save(self, offset: int, state: State | None = None) -> None:
        """Save ``offset`` unless a saved one is already at or past it (never backwards), and ``state``
        (a new state this copy logged) with it."""
        self._saved_at = time.monotonic()
        if await self.refresh() >= offset and (state is None or state == self.state):
            self.log.info(
                "Another copy of this trigger has logged AMT messages up to %s: not saving an older checkpoint",
                self.floor - 1,
            )
            return
        offset = max(offset, self.floor)
        if await save(self.task_instance, self.batch_request_id, offset, self.log, state or self.state):
            self.floor, self.state = offset, state or self.state
