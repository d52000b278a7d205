"""Start an AMT job without waiting, do other work, then wait for it with ``AmtJobSensor``."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_amt.operators.amt import AmtBatchJobOperator
from airflow_provider_amt.sensors.amt import AmtJobSensor

with DAG(
    dag_id="amt_fire_and_forget",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    schedule=None,
    catchup=False,
    tags=["amt", "example"],
    params={"job": Param("REPORTTEST01", type="string"), "batch": Param("B-{{ ds_nodash }}", type="string")},
) as dag:
    start = AmtBatchJobOperator(
        task_id="start_report",
        application_name="DEMO2",
        job_name="{{ params.job }}",
        task_values=["BATCH={{ params.batch }}"],
        wait_for_completion=False,
    )

    @task
    def other_work() -> str:
        return "done something else meanwhile"

    wait = AmtJobSensor(
        task_id="wait_for_report",
        batch_request_id="{{ ti.xcom_pull(task_ids='start_report', key='batch_request_id') }}",
        deferrable=True,
        poke_interval=2,
        timeout=600,
    )
    start >> other_work() >> wait
