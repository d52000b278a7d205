"""A shared tick: what many triggers send the triggerer's supervisor, sent together once a second.

Airflow's triggerer supervisor wakes up for anything the trigger runner sends it (a log record, an
XCom read or write), and every wake-up reloads its triggers from the database and cleans unused ones
before it waits again: milliseconds at hundreds of triggers, more at thousands, in the process that
also heartbeats. AMT triggers that logged each page as their poll found it, and saved checkpoints
spread evenly, woke it about twenty times a second at 500 jobs writing messages (``make
bench-triggerer``). So a trigger with a page to log, or a checkpoint save whose turn came, first
waits for the loop's next tick (at most ``TICK`` seconds): all of them then write in the same loop
iteration, and the supervisor reads them in a few wake-ups a second instead of one each.

A waiter has a future of its own (one shared future would be cancelled for all when one trigger is).
"""

from __future__ import annotations

import asyncio
from weakref import WeakKeyDictionary

#: Seconds between two ticks: the supervisor's own longest wait for activity.
TICK = 1.0


class Tick:
    """The waiters of one event loop, released together on the next whole ``TICK`` of the loop's clock."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiters: list[asyncio.Future[None]] = []

    def next(self) -> asyncio.Future[None]:
        """A future done at the next tick."""
        waiter: asyncio.Future[None] = self._loop.create_future()
        if not self._waiters:
            now = self._loop.time()
            self._loop.call_at(now - now % TICK + TICK, self._release)
        self._waiters.append(waiter)
        return waiter

    def _release(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


_TICKS: WeakKeyDictionary[asyncio.AbstractEventLoop, Tick] = WeakKeyDictionary()


def next_tick() -> asyncio.Future[None]:
    """The running loop's next tick."""
    loop = asyncio.get_running_loop()
    tick = _TICKS.get(loop)
    if tick is None:
        tick = _TICKS[loop] = Tick(loop)
    return tick.next()
