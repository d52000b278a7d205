"""``outage_cost.py``'s DAG: JOBS mapped tasks that start straight in the triggerer, map index i
watching the AMT job ``AMT_BENCH_FIRST_ID + i`` (``bench/_outage_trigger.py``), so the emulator's
request log shows which watch polled when."""

from __future__ import annotations

import os

from _start_in_triggerer import started_in_the_triggerer
from airflow.sdk import DAG

JOBS = int(os.environ.get("AMT_BENCH_JOBS", "2000"))


WatchItsJobFromTheTriggerer = started_in_the_triggerer(
    "WatchItsJobFromTheTriggerer",
    "_outage_trigger.OutageBenchTrigger",
    {
        "batch_request_id": int(os.environ.get("AMT_BENCH_FIRST_ID", "1")),
        "amt_conn_id": "amt_default",
        "poll_interval": float(os.environ.get("AMT_BENCH_POLL_INTERVAL", "30")),
        "outage_grace_period": 600,
    },
)


with DAG("amt_outage_bench", schedule=None, catchup=False, max_active_tasks=100_000):
    WatchItsJobFromTheTriggerer.partial(task_id="watch").expand(n=list(range(JOBS)))
