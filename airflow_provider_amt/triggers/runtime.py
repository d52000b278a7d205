"""What the AMT triggers of one triggerer share: one :class:`TriggererRuntime` per event loop.

Why one object: a triggerer runs thousands of AMT triggers on one event loop, and a few things
must exist once for all of them — the ``[amt]`` options (read once: Airflow's config parser costs
~50 µs a read), the paces that spread a restart's first polls and checkpoint reads and the
checkpoint saves (``pacing``), the watch that notices a stalled loop (``stall``) and counts the
triggers sharing the budgets, and the kills still running after Airflow stopped waiting for them.
They live here, made when the first AMT trigger of a loop starts (:meth:`TriggererRuntime.current`)
and handed to each trigger; a test or a benchmark builds one and :meth:`install` s it.

Not here: the HTTP session and logon, which the client library shares per event loop for the
worker side too (``amt_client.aio``), and the process's GC threshold, which belongs to the process
(``collector``, asked once by the first runtime of the process).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from airflow_provider_amt import config
from airflow_provider_amt.hooks.connection import ConnectionReads
from airflow_provider_amt.triggers import collector
from airflow_provider_amt.triggers.message_sink import MessageSink
from airflow_provider_amt.triggers.pacing import Pace, spacing
from airflow_provider_amt.triggers.stall import LoopWatch
from amt_client import MessageCursor

log = logging.getLogger(__name__)

#: A restart's first polls per second (the first this many at once): 20,000 triggers start polling
#: within 20 s instead of lagging the loop by seconds (the storm in docs/performance.md; never a
#: site's knob: ``[amt] start_rate`` of 0.3's development was never released).
START_RATE = 1000.0
#: Checkpoint reads per second, one per trigger when it first has a state or messages to log: 40 % of
#: what one supervisor answers (a round trip of ~21 ms through the API server, docs/performance.md;
#: at 50 a second the reads alone kept it busy), so a restart's reads leave it time for its heartbeat,
#: its trigger loads and the log lines (20,000 triggers: 1,000 s, while status polls go on).
CHECKPOINT_READ_RATE = 20.0


class TriggererRuntime:
    """The shared state of the AMT triggers on one event loop (see the module docstring)."""

    def __init__(self, options: config.TriggerOptions) -> None:
        self.options = options
        #: Notices a stalled loop; its ``users`` are the AMT triggers running on the loop.
        self.loop_watch = LoopWatch()
        #: A restart's first polls, at ``START_RATE``.
        self.starts = Pace(START_RATE)
        #: The checkpoints' first reads, at ``CHECKPOINT_READ_RATE``.
        self.checkpoint_reads = Pace(CHECKPOINT_READ_RATE)
        #: The checkpoints' saves, at ``[amt] checkpoint_rate``.
        self.checkpoint_saves = Pace(options.checkpoint_rate)
        #: The connections the triggers' hooks read (one read for the triggers a restart starts together).
        self.connections = ConnectionReads()
        #: ``on_kill`` decisions still running after Airflow stopped waiting (a strong reference each).
        self.kills_in_flight: set[asyncio.Future[None]] = set()

    @classmethod
    def current(cls) -> TriggererRuntime:
        """The running loop's runtime, made (with the ``[amt]`` options) by its first AMT trigger."""
        loop = asyncio.get_running_loop()
        runtime = _RUNTIMES.get(loop)
        if runtime is None:
            runtime = _RUNTIMES[loop] = cls(config.trigger_options())
            collector.raise_young_threshold(runtime.options.triggerer_gc_threshold, log)
            if runtime.options.checkpoint_interval > 0:  # not a warning raised: the triggers must run on
                contextvars.Context().run(log.warning, config.CHECKPOINT_INTERVAL_DEPRECATED)
            if problem := config.trigger_messages_problem():
                contextvars.Context().run(log.warning, problem)
        return runtime

    def install(self) -> TriggererRuntime:
        """Make this the running loop's runtime (tests and benchmarks that set their own options)."""
        _RUNTIMES[asyncio.get_running_loop()] = self
        return self

    @property
    def triggers(self) -> int:
        """AMT triggers running on the loop: they share the read and save budgets."""
        return self.loop_watch.users

    def message_read_spacing(self) -> float:
        """Seconds between two message reads of one trigger (``[amt] message_read_rate`` shared)."""
        return spacing(self.triggers, self.options.message_read_rate)

    def checkpoint_save_spacing(self) -> float:
        """Seconds between two checkpoint saves of one trigger: ``[amt] checkpoint_interval``, longer
        where ``[amt] checkpoint_rate`` shared by all triggers needs it."""
        return spacing(self.triggers, self.options.checkpoint_rate, least=self.options.checkpoint_interval)

    def message_sink(
        self, task_instance: Any, batch_request_id: int, cursor: MessageCursor, log: Any, redact: Callable[[str], str]
    ) -> MessageSink:
        """Where one trigger's messages go (its checkpoint and its share of the read budget)."""
        return MessageSink(self, task_instance, batch_request_id, cursor, log, redact)

    def keep_until_done(self, future: asyncio.Future[None]) -> None:
        """Hold ``future`` until it is done (the loop keeps tasks only weakly)."""
        self.kills_in_flight.add(future)
        future.add_done_callback(self.kills_in_flight.discard)


#: The one registry: a runtime per event loop, gone with its loop.
_RUNTIMES: WeakKeyDictionary[asyncio.AbstractEventLoop, TriggererRuntime] = WeakKeyDictionary()
