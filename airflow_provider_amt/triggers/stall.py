"""Notices that this process's event loop did not run for a while (SIGSTOP, GC pause, VM migration).

A triggerer that stalls past Airflow's health threshold loses its triggers to another triggerer,
which resumes them from the saved message checkpoint. When the stalled one wakes up, its copies
run on for a moment before Airflow cancels them: without care they would log messages the other
copy has already logged, and save an older checkpoint over a newer one. A trigger that learns it
was stalled therefore re-reads the checkpoint before it logs or saves anything (``AmtJobTrigger``).
Normal operation costs nothing but one sleeping task per event loop.
"""

from __future__ import annotations

import asyncio
import time

#: How often the watch wakes up, and how much later than that counts as a stall (seconds).
TICK = 1.0
STALL = 5.0


class LoopWatch:
    """One per event loop (the ``TriggererRuntime``'s), shared by the triggers on it, running while
    any of them does."""

    def __init__(self) -> None:
        self.users = 0
        self.last_tick = time.monotonic()
        self.last_stall = float("-inf")
        self._task: asyncio.Task[None] | None = None

    def stalled_since(self, since: float) -> bool:
        """Whether the loop stalled after ``since`` (a ``time.monotonic()`` value), or is stalled now."""
        return self.last_stall >= since or time.monotonic() - self.last_tick > TICK + STALL

    def attach(self) -> None:
        """A trigger starts using the watch: it runs from the first one on."""
        self.users += 1
        if self._task is None:
            self.last_tick = time.monotonic()
            self._task = asyncio.get_running_loop().create_task(self._run())

    def detach(self) -> None:
        """A trigger is done with it: the last one stops it (no task left behind on a closing loop)."""
        self.users -= 1
        if self.users <= 0 and self._task is not None:
            self._task.cancel()
            self._task = None
            self.users = 0

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            if now - self.last_tick > TICK + STALL:
                self.last_stall = now
            self.last_tick = now
