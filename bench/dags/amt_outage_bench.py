"""``outage_cost.py``'s DAG: JOBS mapped tasks that start straight in the triggerer, each watching its
own AMT job (AMT_BENCH_REQUEST_IDS, comma-separated), so the emulator's request log shows which
watch polled when."""

from __future__ import annotations

import os
from typing import Any

from airflow.sdk import DAG, BaseOperator
from airflow.triggers.base import StartTriggerArgs

IDS = [int(i) for i in os.environ.get("AMT_BENCH_REQUEST_IDS", "1").split(",")]
POLL = float(os.environ.get("AMT_BENCH_POLL_INTERVAL", "30"))


class WatchItsJobFromTheTriggerer(BaseOperator):
    start_from_trigger = True
    start_trigger_args = StartTriggerArgs(
        trigger_cls="airflow_provider_amt.triggers.amt.AmtJobTrigger",
        trigger_kwargs={},
        next_method="execute_complete",
    )

    def __init__(self, trigger_kwargs: dict[str, Any], **kwargs: Any):
        super().__init__(**kwargs)
        self.trigger_kwargs = trigger_kwargs

    def execute(self, context: Any) -> None:  # never called: the task starts in the triggerer
        raise RuntimeError("start_from_trigger")

    def execute_complete(self, context: Any, event: Any = None) -> Any:
        return event


with DAG("amt_outage_bench", schedule=None, catchup=False, max_active_tasks=100_000):
    WatchItsJobFromTheTriggerer.partial(task_id="watch").expand(
        trigger_kwargs=[
            {"batch_request_id": i, "amt_conn_id": "amt_default", "poll_interval": POLL, "outage_grace_period": 600}
            for i in IDS
        ]
    )
