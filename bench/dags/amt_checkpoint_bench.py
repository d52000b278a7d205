"""``checkpoint_cost.py``'s DAG: JOBS mapped tasks that start straight in the triggerer.

``start_from_trigger`` puts every task instance into the triggerer without a worker, so hundreds of
deferred AMT watches cost no worker start-up. They all watch the one batch request the benchmark
started (AMT_BENCH_REQUEST_ID), a job writing a message a second: to the triggerer, N watches of one
such job are N jobs writing a message a second (each logs every message and keeps its own checkpoint
in its own task instance's XCom).
"""

from __future__ import annotations

import os
from typing import Any

from airflow.sdk import DAG, BaseOperator
from airflow.triggers.base import StartTriggerArgs

JOBS = int(os.environ.get("AMT_BENCH_JOBS", "500"))


class WatchFromTheTriggerer(BaseOperator):
    start_from_trigger = True
    start_trigger_args = StartTriggerArgs(
        trigger_cls="airflow_provider_amt.triggers.amt.AmtJobTrigger",
        trigger_kwargs={
            "batch_request_id": int(os.environ.get("AMT_BENCH_REQUEST_ID", "1")),
            "amt_conn_id": "amt_default",
            "poll_interval": float(os.environ.get("AMT_BENCH_POLL_INTERVAL", "10")),
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


with DAG("amt_checkpoint_bench", schedule=None, catchup=False, max_active_tasks=100_000):
    WatchFromTheTriggerer.partial(task_id="watch").expand(n=list(range(JOBS)))
