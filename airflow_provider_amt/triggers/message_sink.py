"""Where a watched job's messages go from the triggerer: the task log, once, within the read budget.

Made by the ``TriggererRuntime`` for each trigger (:meth:`TriggererRuntime.message_sink`); the
client library's polling loop calls :meth:`MessageSink.may_read` when the status says there are
new messages and :meth:`MessageSink.log_page` with each page it read. The sink owns the two rules
that make thousands of triggers affordable on one loop:

* **where the messages go** (``[amt] trigger_messages``): ``live``, the task log; ``at_read``, nowhere
  (no read at all: the job is watched like one that writes none, and ``AmtTaskLogHandler`` adds its
  messages from AMT when the log is read), since every line a triggerer logs wakes its supervisor;
* **the read budget**: under load a trigger reads at most every ``triggers / [amt]
  message_read_rate`` seconds; its first read and the final drain at once, the read after its
  first at a random point of that spacing (after a restart every trigger reads within seconds, and
  with the same spacing after it their later reads would come in waves that saturate the loop);
* **the checkpoint** (``checkpoint``): read before the first page or state change is logged (an
  earlier copy of the trigger, before a restart or a move, may have logged further, and the cursor
  starts from there), and saved within the triggerer's save budget after each page or state change.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_amt.joblog import log_messages, log_state
from airflow_provider_amt.triggers.checkpoint import Checkpoint
from amt_client import AmtMessage, MessageCursor, StateChange

if TYPE_CHECKING:
    from airflow_provider_amt.triggers.runtime import TriggererRuntime

#: How long a trigger's first message read may wait for its checkpoint read before it polls on.
CHECKPOINT_PATIENCE = 1.0


class MessageSink:
    """One trigger's messages: when to read them, and logging each page once (see the module docstring)."""

    __slots__ = ("checkpoint", "cursor", "log", "read_at", "redact", "runtime")  # one per watched job

    def __init__(
        self,
        runtime: TriggererRuntime,
        task_instance: Any,
        batch_request_id: int,
        cursor: MessageCursor,
        log: Any,
        redact: Callable[[str], str],
    ) -> None:
        self.runtime = runtime
        self.cursor = cursor
        self.log = log
        self.redact = redact
        self.checkpoint = Checkpoint(task_instance, batch_request_id, log, runtime)
        #: When messages were last read (None: not yet).
        self.read_at: float | None = None

    async def may_read(self, final: bool) -> bool:
        """The job has new messages: read them now, or at a later poll?

        Later while the trigger read messages less than the read spacing ago (never for its first
        read or the final drain), and while its checkpoint has not been read (in its turn); never
        where the triggerer leaves the messages to the log handler (``[amt] trigger_messages``).
        """
        if not self.runtime.options.messages_live:
            return False
        spacing = self.runtime.message_read_spacing()
        if not final and self.read_at is not None and time.monotonic() - self.read_at < spacing:
            return False
        if not await self.checkpoint.loaded(final, patience=CHECKPOINT_PATIENCE):
            return False
        if self.checkpoint.floor > self.cursor.offset:
            self.log.info("Resuming AMT messages from %s (logged up to there before)", self.checkpoint.floor)
            self.cursor.offset = self.checkpoint.floor
        phase = random.random() * spacing if self.read_at is None else 0.0
        self.read_at = time.monotonic() - phase
        return True

    async def log_page(self, page: Sequence[AmtMessage]) -> None:
        """Log what of a page no copy of this trigger has logged, then let the checkpoint save past it."""
        page = await self.checkpoint.unlogged(page)
        if not page:
            return
        log_messages(self.log, page, self.redact)
        self.checkpoint.logged(page[-1].index + 1)

    async def on_state(self, change: StateChange) -> bool:
        """Log the job's new state unless an earlier copy of this trigger logged it (then take its time);
        ``False`` (not now) while the checkpoint has not been read.

        Where the triggerer logs no messages (``at_read``) the checkpoint is not read first: the read
        would be this trigger's only request before its saves, and at thousands of triggers those reads
        held Airflow's own trigger starts up in the supervisor's one queue for minutes (10,000 started
        in 9 minutes instead of 2, docs/performance.md). A moved copy may then log the state once more.
        """
        checkpoint = self.checkpoint
        if self.runtime.options.messages_live and not await checkpoint.loaded(False, patience=CHECKPOINT_PATIENCE):
            return False
        if checkpoint.state is not None and checkpoint.state[0] == int(change.code):
            self.cursor.state, self.cursor.state_since = checkpoint.state
            return True
        log_state(self.log, change)
        checkpoint.logged_state((int(change.code), change.since))
        return True

    def close(self) -> None:
        """The trigger ends: a checkpoint read or save still waiting for its turn is not made."""
        self.checkpoint.close()
