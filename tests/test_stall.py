"""The event-loop stall detector the trigger consults before logging after a triggerer stall."""

from __future__ import annotations

import asyncio
import time

from airflow_provider_amt.triggers import stall
from airflow_provider_amt.triggers.runtime import TriggererRuntime


def test_a_blocked_loop_is_noticed_and_only_until_it_runs_normally_again(monkeypatch):
    monkeypatch.setattr(stall, "TICK", 0.05)
    monkeypatch.setattr(stall, "STALL", 0.3)

    async def scenario() -> dict[str, object]:
        watch = TriggererRuntime.current().loop_watch
        watch.attach()
        shared = TriggererRuntime.current().loop_watch  # a second trigger on the same loop shares it
        shared.attach()
        before = time.monotonic()
        await asyncio.sleep(0.2)
        quiet = watch.stalled_since(before)
        time.sleep(0.6)  # the loop is frozen (SIGSTOP, a GC pause, a blocking call)
        during = watch.stalled_since(before)
        await asyncio.sleep(0.2)  # it runs again; the watch records the stall
        after = watch.stalled_since(before)
        fresh = time.monotonic()
        await asyncio.sleep(0.2)
        later = watch.stalled_since(fresh)
        same = shared is watch
        shared.detach()
        watch.detach()
        await asyncio.sleep(0)  # let the cancellation land
        running = sum(1 for task in asyncio.all_tasks() if task is not asyncio.current_task() and not task.done())
        return {"quiet": quiet, "during": during, "after": after, "later": later, "same": same, "left": running}

    seen = asyncio.run(scenario())
    assert seen == {"quiet": False, "during": True, "after": True, "later": False, "same": True, "left": 0}
