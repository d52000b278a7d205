"""A job that fails (11 ERROR), a callback and a downstream task that read its completion code.

The failing task raises ``AmtJobFailedError`` with the code, its meaning and the job's last
messages. The code is a value too, as OpCon sites build on it (failure criteria, events):

* ``on_failure_callback`` reads it from the exception (``completion_code``, ``completion_name``,
  ``batch_request_id``);
* a downstream task with ``trigger_rule="all_done"`` reads it from the failed task's XCom
  ``return_value``, which every ending pushes (success, failure, skip, timeout) before the task ends,
  and branches on it.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_amt.exceptions import AmtJobFailedError
from airflow_provider_amt.operators.amt import AmtBatchJobOperator


def page_on_call(context: dict[str, Any]) -> None:
    """What a site's paging hook would get: the job's code from the exception, not from its text."""
    error = context.get("exception")
    if isinstance(error, AmtJobFailedError):
        print(
            f"PAGE: AMT batch request {error.batch_request_id} ended with "
            f"{error.completion_code} {error.completion_name}"
        )


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
        # a job left waiting for an operator's input (or in its queue) past the batch window is killed
        # and the task fails naming the state; each state change is a line of the task log
        max_time_in_state={"WAIT FOR INPUT REQUEST": 1800, "QUEUED": 600},
        on_failure_callback=page_on_call,
    )

    @task(trigger_rule="all_done")
    def notify_operations(**context) -> str:
        """Runs whatever the job did; reacts by its completion code."""
        ending = context["ti"].xcom_pull(task_ids="failing_report") or {}
        code, name = ending.get("completion_code"), ending.get("completion_name")
        if code == 4:
            message = "AMT report done; nothing to do"
        elif code == 11:
            message = f"AMT batch request {ending['batch_request_id']} ended {code} {name}; operations notified"
        else:
            message = f"AMT report ended {code} {name}; escalated"
        print(message)
        return message

    failing >> notify_operations()
