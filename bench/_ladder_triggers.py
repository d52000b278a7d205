"""The job ids of ``triggerer_ladder.py``'s designs; its peer design, as the official providers'
triggers poll: a new HTTP session per poll, the status only, a fixed pause, nothing logged, no
checkpoint (it watches job ``first + map_index`` of the fake server, ``AMT_BENCH_URL``, like
``_outage_trigger.OutageBenchTrigger``); and its floor: what Airflow itself costs per deferred task
whose trigger writes to its task log, without a poll.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from airflow.triggers.base import BaseTrigger, TriggerEvent

from amt_client import DEFAULT_CONTRACT

#: The designs of the ladder, and the first job id of each (``_fake_amt.py --quiet-from`` makes the
#: jobs from 1,000,001 on write no messages). ``at_read`` watches the jobs that write messages with
#: ``[amt] trigger_messages = at_read`` (the log handler shows them).
DESIGNS = ("messages", "at_read", "quiet", "peer", "floor")
FIRST_JOB = {"messages": 1, "at_read": 1, "quiet": 1_000_001, "peer": 2_000_001, "floor": 3_000_001}
#: The triggerer's environment per design (besides the ladder's own).
TRIGGERER_ENV = {"at_read": {"AIRFLOW__AMT__TRIGGER_MESSAGES": "at_read"}}


class PeerStatusTrigger(BaseTrigger):
    def __init__(self, batch_request_id: int, poll_interval: float = 30.0, **ignored: Any):
        super().__init__()
        self.batch_request_id = batch_request_id
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {
            "batch_request_id": self.batch_request_id,
            "poll_interval": self.poll_interval,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        job = self.batch_request_id + int(getattr(self.task_instance, "map_index", 0) or 0)
        url = f"{os.environ['AMT_BENCH_URL']}{DEFAULT_CONTRACT.paths.monitor.format(batch_request_id=job)}"
        while True:
            async with aiohttp.ClientSession() as session, session.get(url) as response:
                code = (await response.json())[DEFAULT_CONTRACT.fields.completion_code]
            if code != 2:
                yield TriggerEvent({"status": "ended", "completion_code": code})
                return
            await asyncio.sleep(self.poll_interval)


class FloorTrigger(BaseTrigger):
    """A deferred task's trigger that writes one line to its task log and then waits without a poll:
    what every such task costs the triggerer (the supervisor's log file and logger for the task, the
    runner's task and log context) whatever the trigger does. The ladder reads the designs' CPU and
    memory net of it."""

    def __init__(self, batch_request_id: int, **ignored: Any):
        super().__init__()
        self.batch_request_id = batch_request_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {"batch_request_id": self.batch_request_id}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        self.log.info("Waiting for batch request %s", self.batch_request_id)
        await asyncio.Event().wait()  # until the run ends and the triggerer cancels the trigger
        yield TriggerEvent({"status": "never"})
