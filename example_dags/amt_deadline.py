"""End a long AMT job at a deadline: OpCon's Stop as a task of its own (``AmtJobActionOperator``).

The job is started without waiting; a sensor waits for it until the deadline (``timeout``) and,
with ``soft_fail``, is skipped when the deadline passes; the Stop runs either way
(``trigger_rule="all_done"``): it stops a job that still runs (a queued one is removed from its
queue, 10 DEL_QUEUE) and leaves one that has ended alone. Its XCom says which it was.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_amt.operators.amt import AmtBatchJobOperator, AmtJobActionOperator
from airflow_provider_amt.sensors.amt import AmtJobSensor

BATCH_REQUEST_ID = "{{ ti.xcom_pull(task_ids='start_load', key='batch_request_id') }}"

with DAG(
    dag_id="amt_deadline",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    schedule=None,
    catchup=False,
    tags=["amt", "example"],
    params={"job": Param("LONGRUNNINGREPORT", type="string")},
) as dag:
    start = AmtBatchJobOperator(
        task_id="start_load", application_name="DEMO2", job_name="{{ params.job }}", wait_for_completion=False
    )
    wait = AmtJobSensor(
        task_id="wait_until_deadline",
        batch_request_id=BATCH_REQUEST_ID,
        deferrable=True,
        poke_interval=2,
        timeout=15,  # the deadline, in seconds
        soft_fail=True,
    )
    stop = AmtJobActionOperator(
        task_id="stop_at_deadline", action="stop", batch_request_id=BATCH_REQUEST_ID, trigger_rule="all_done"
    )
    start >> wait >> stop
