"""``worker_free.py``'s DAGs: the same AMT jobs on the classic deferrable path and started in the triggerer.

``amt_worker_free_classic``: ``AMT_BENCH_TASKS`` tasks with ``deferrable=True`` (a worker starts the
job, defers, and resumes to finish); ``amt_worker_free_from_trigger``: the same with
``start_from_trigger=True`` (no worker). Each task starts ``AMT_BENCH_JOB`` on the emulator's WIDE queue.
"""

from __future__ import annotations

import os
from typing import Any

from airflow.sdk import DAG

from airflow_provider_amt.operators.amt import AmtBatchJobOperator

TASKS = int(os.environ.get("AMT_BENCH_TASKS", "40"))
JOB = os.environ.get("AMT_BENCH_JOB", "CHATTYREPORT")
MODES: dict[str, dict[str, Any]] = {"classic": {"deferrable": True}, "from_trigger": {"start_from_trigger": True}}

for _mode, _how in MODES.items():
    with DAG(f"amt_worker_free_{_mode}", schedule=None, catchup=False, max_active_tasks=10_000):
        for _i in range(TASKS):
            AmtBatchJobOperator(
                task_id=f"job_{_i}", application_name="DEMO2", job_name=JOB, queue_name="WIDE", poll_interval=5, **_how
            )
