"""``outage_cost.py``'s DAG: JOBS mapped tasks that start straight in the triggerer, map index i
watching the AMT job ``AMT_BENCH_FIRST_ID + i`` (``bench/_outage_trigger.py``), so the emulator's
request log shows which watch polled when."""

from __future__ import annotations

import os
from typing import Any

from airflow.sdk import DAG, BaseOperator
from airflow.triggers.base import StartTriggerArgs

JOBS = int(os.environ.get("AMT_BENCH_JOBS", "2000"))


class WatchItsJobFromTheTriggerer(BaseOperator):
    start_from_trigger = True
    start_trigger_args = StartTriggerArgs(
        trigger_cls="_outage_trigger.OutageBenchTrigger",
        trigger_kwargs={
            "batch_request_id": int(os.environ.get("AMT_BENCH_FIRST_ID", "1")),
            "amt_conn_id": "amt_default",
            "poll_interval": float(os.environ.get("AMT_BENCH_POLL_INTERVAL", "30")),
            "outage_grace_period": 600,
        },
        next_method="execute_complete",
    )

    def __init__(self, n: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.n = n

    def execute(self, context: Any) -> None:  # never called: the task starts in the triggerer
        raise RuntimeError("start_from_trigger")

    def execute_complete(self, context: Any, event: Any = None) -> Any:
        return event


with DAG("amt_outage_bench", schedule=None, catchup=False, max_active_tasks=100_000):
    WatchItsJobFromTheTriggerer.partial(task_id="watch").expand(n=list(range(JOBS)))
