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
    #: Its lines are the provider's (the log handler acts only on those).
    _logger_name = "airflow_provider_amt.triggers.amt.AmtJobTrigger"

    async def run(self) -> Any:
        self.batch_request_id += int(getattr(self.task_instance, "map_index", 0) or 0)
        if _messages_at_read():  # what the operator's job block gives the log handler: which job, where
            self.log.info(
                "%-18s: %s\n%-18s: %s", "Connection", self.amt_conn_id, "Batch Request Id", self.batch_request_id
            )
        async for event in super().run():
            yield event


def _messages_at_read() -> bool:
    try:
        from airflow_provider_amt.triggers.runtime import TriggererRuntime
    except ImportError:  # a baseline tree older than the runtime
        return False
    return not getattr(TriggererRuntime.current().options, "messages_live", True)
