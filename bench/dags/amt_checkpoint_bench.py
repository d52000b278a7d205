"""``checkpoint_cost.py``'s DAG: JOBS mapped tasks that start straight in the triggerer.

``start_from_trigger`` puts every task instance into the triggerer without a worker, so hundreds of
deferred AMT watches cost no worker start-up. They all watch the one batch request the benchmark
started (AMT_BENCH_REQUEST_ID), a job writing a message a second: to the triggerer, N watches of one
such job are N jobs writing a message a second (each logs every message and keeps its own checkpoint
in its own task instance's XCom).
"""

from __future__ import annotations

import os

from _start_in_triggerer import started_in_the_triggerer
from airflow.sdk import DAG

JOBS = int(os.environ.get("AMT_BENCH_JOBS", "500"))


WatchFromTheTriggerer = started_in_the_triggerer(
    "WatchFromTheTriggerer",
    "airflow_provider_amt.triggers.amt.AmtJobTrigger",
    {
        "batch_request_id": int(os.environ.get("AMT_BENCH_REQUEST_ID", "1")),
        "amt_conn_id": "amt_default",
        "poll_interval": float(os.environ.get("AMT_BENCH_POLL_INTERVAL", "10")),
    },
)


with DAG("amt_checkpoint_bench", schedule=None, catchup=False, max_active_tasks=100_000):
    WatchFromTheTriggerer.partial(task_id="watch").expand(n=list(range(JOBS)))
