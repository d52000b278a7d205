"""Spreads what many triggers would otherwise all do in the same second.

A triggerer that restarts (or takes over a failed one) starts every trigger at once: 20,000 first
polls in one loop iteration lag the loop by seconds, and 20,000 checkpoint reads in a second
through the supervisor delay its heartbeat. A :class:`Pace` hands out slots at a rate, with a
burst, so normal starts (a few a second) never wait and a storm is spread evenly. One pace per
kind of work per event loop; the rates are ``[amt] start_rate`` and ``[amt] checkpoint_read_rate``.
Work each trigger repeats (checkpoint saves, message reads) is spread by :func:`spacing` instead.
"""

from __future__ import annotations

import asyncio
import time
from weakref import WeakKeyDictionary


class Pace:
    """Slots at ``rate`` a second, the first ``burst`` of them at once (a token bucket); rate 0: no bound."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = max(1.0, rate if burst is None else burst)
        self._next = float("-inf")  # when the next slot is free

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


def spacing(triggers: int, rate: float, least: float = 0.0) -> float:
    """Seconds between two of one trigger's actions when all ``triggers`` of a triggerer share ``rate``
    of them a second (0: no bound), never less than ``least``: the checkpoint's saves and the
    message reads are budgeted this way."""
    return least if rate <= 0 else max(least, triggers / rate)


_PACES: WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Pace]] = WeakKeyDictionary()


def pace(kind: str, rate: float) -> Pace:
    """The running loop's pace for ``kind`` (made with ``rate`` on first use)."""
    paces = _PACES.setdefault(asyncio.get_running_loop(), {})
    if kind not in paces:
        paces[kind] = Pace(rate)
    return paces[kind]
