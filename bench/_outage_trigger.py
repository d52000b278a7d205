"""The outage benchmark's trigger: ``AmtJobTrigger`` watching job ``first + map_index``.

A mapped task's start-from-trigger arguments are the same for every map index (Airflow 3.3.2), and
one task per job makes a 2,000-task DAG that the triggerer deserialises for each trigger it loads
(about three a second). So the mapped tasks all carry the first job's id, and each trigger adds its
map index when it runs: the emulator started the jobs with consecutive ids. Imported from
``bench/`` (``outage_cost.py`` puts it on the triggerer's PYTHONPATH), over either provider tree.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_amt.triggers.amt import AmtJobTrigger


class OutageBenchTrigger(AmtJobTrigger):
    async def run(self) -> Any:
        self.batch_request_id += int(getattr(self.task_instance, "map_index", 0) or 0)
        async for event in super().run():
            yield event
