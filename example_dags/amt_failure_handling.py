"""A job that fails (11 ERROR) and a downstream task that reacts to it.

The failing task raises ``AmtJobFailedError`` with the code, its meaning and the job's last
messages; ``notify_operations`` runs only because it failed (``one_failed``).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_amt.operators.amt import AmtBatchJobOperator

with DAG(
    dag_id="amt_failure_handling",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    schedule=None,
    catchup=False,
    tags=["amt", "example"],
    params={"job": Param("FAILINGREPORT", type="string")},
) as dag:
    failing = AmtBatchJobOperator(
        task_id="failing_report",
        application_name="DEMO2",
        job_name="{{ params.job }}",
        task_values=["PERIOD={{ ds }}"],
        deferrable=True,
        poll_interval=2,
        retries=0,
    )

    @task(trigger_rule="one_failed")
    def notify_operations(**context) -> str:
        """React to the failure: here it only reports which AMT request failed."""
        request_id = context["ti"].xcom_pull(task_ids="failing_report", key="batch_request_id")
        message = f"AMT batch request {request_id} failed; operations notified"
        print(message)
        return message

    failing >> notify_operations()
