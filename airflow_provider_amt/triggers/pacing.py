"""Spreads what many triggers would otherwise all do in the same second.

A triggerer that restarts (or takes over a failed one) starts every trigger at once: 20,000 first
polls in one loop iteration lag the loop by seconds, and 20,000 checkpoint reads in a second
through the supervisor delay its heartbeat. A :class:`Pace` hands out slots at a rate, with a
burst, so normal starts (a few a second) never wait and a storm is spread evenly. One pace per
kind of work per event loop (the ``TriggererRuntime`` holds them); the rates are ``[amt] start_rate``,
``[amt] checkpoint_read_rate`` and ``[amt] checkpoint_rate``.
Work each trigger repeats (checkpoint saves, message reads) is spread by :func:`spacing` instead.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Pace:
    """Slots at ``rate`` a second, the first ``burst`` of them at once (a token bucket); rate 0: no bound."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = max(1.0, rate if burst is None else burst)
        self._next = float("-inf")  # when the next slot is free
        self._queue: deque[tuple[Callable[[], Awaitable[Any]], asyncio.Future[Any], contextvars.Context]] = deque()
        self._server: asyncio.Task[None] | None = None
        self._started: set[asyncio.Future[Any]] = set()  # work under way (the loop keeps tasks weakly)

    def reserve(self) -> float:
        """Take the next slot; the seconds until it comes."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        slot = max(self._next, now - (self.burst - 1) / self.rate)
        self._next = slot + 1 / self.rate
        return max(0.0, slot - now)

    async def wait(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)

    def in_turn(self, work: Callable[[], Awaitable[T]]) -> asyncio.Future[T]:
        """``work()``'s result, started when its slot comes (cancel the future to drop it).

        Why not a task per caller: after a restart 20,000 triggers wait minutes for their checkpoint
        read, and a waiting task (with its context, coroutines and timer) costs several times what
        a queued future does, in memory and in what every garbage collection walks. One task per
        pace serves the queue in order; each piece of work runs in a task of its own only once it
        has started, so slow answers do not hold up the slots after them, and in the caller's
        context (a trigger's log lines carry its trigger id there).
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((work, future, contextvars.copy_context()))
        if self._server is None or self._server.done():
            self._server = asyncio.get_running_loop().create_task(self._serve())
        return future

    async def _serve(self) -> None:
        while self._queue:
            work, future, context = self._queue.popleft()
            if future.done():  # dropped while it waited
                continue
            await self.wait()
            if not future.done():
                started = context.run(asyncio.ensure_future, work())
                self._started.add(started)
                started.add_done_callback(self._started.discard)
                started.add_done_callback(functools.partial(_settle, future))


def _settle(future: asyncio.Future[Any], done: asyncio.Future[Any]) -> None:
    """Pass a finished piece of work's outcome on, unless its caller gave up on it meanwhile."""
    if future.done():
        if not done.cancelled():
            done.exception()  # retrieved: the caller no longer wants it
        return
    if done.cancelled():
        future.cancel()
    elif (error := done.exception()) is not None:
        future.set_exception(error)
    else:
        future.set_result(done.result())


def spacing(triggers: int, rate: float, least: float = 0.0) -> float:
    """Seconds between two of one trigger's actions when all ``triggers`` of a triggerer share ``rate``
    of them a second (0: no bound), never less than ``least``: the checkpoint's saves and the
    message reads are budgeted this way."""
    return least if rate <= 0 else max(least, triggers / rate)
