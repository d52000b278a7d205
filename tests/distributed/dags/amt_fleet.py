"""DAGs of the distributed suite (CeleryExecutor, PostgreSQL, two triggerers).

``amt_fleet``: many deferred AMT jobs at once, the job chosen per run (``conf["job"]``).
``amt_worker_wait``: one job watched on the worker (not deferred), with a retry.
``amt_worker_start``: one deferrable job with a retry, for a worker killed during its Start.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_provider_amt.operators.amt import AmtBatchJobOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")
FLEET = 20
JOB = "{{ dag_run.conf.get('job', 'STREAMREPORT') }}"

with DAG(dag_id="amt_fleet", start_date=START, schedule=None, catchup=False, max_active_tasks=64):
    for n in range(FLEET):
        AmtBatchJobOperator(
            task_id=f"job_{n:02d}", application_name="DEMO2", job_name=JOB, deferrable=True, poll_interval=1
        )

for dag_id, deferrable in (("amt_worker_wait", False), ("amt_worker_start", True)):
    with DAG(dag_id=dag_id, start_date=START, schedule=None, catchup=False):
        AmtBatchJobOperator(
            task_id="job",
            application_name="DEMO2",
            job_name=JOB,
            deferrable=deferrable,
            poll_interval=1,
            retries=1,
            retry_delay=timedelta(seconds=1),
        )
