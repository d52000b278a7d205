"""Run an AMT batch job with TaskValues, then a script with parameters, both from DAG params.

The main example (``make demo`` runs it): both tasks wait in the triggerer, and every message the
AMT job writes appears in the task log.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_amt.operators.amt import AmtBatchJobOperator, AmtScriptOperator

with DAG(
    dag_id="amt_report",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    schedule=None,
    catchup=False,
    tags=["amt", "example"],
    params={
        "application": Param("DEMO2", type="string"),
        "report_lines": Param(25, type="integer"),
        "region": Param('Zürich <HQ> & "Annex"', type="string"),
    },
) as dag:
    report = AmtBatchJobOperator(
        task_id="run_report",
        application_name="{{ params.application }}",
        job_name="REPORTTEST01",
        task_values=["{{ params.report_lines }}", "REGION={{ params.region }}", "RUN={{ ds }}"],
        deferrable=True,
        poll_interval=2,
    )
    publish = AmtScriptOperator(
        task_id="publish_report",
        application_name="{{ params.application }}",
        script_name="RUN_PARAMETERSTEST.ps1",
        script_parameters={
            "REPORT_REQUEST": "{{ ti.xcom_pull(task_ids='run_report')['batch_request_id'] }}",
            "REGION": "{{ params.region }}",
        },
        amt_user="DEMOUSER",
        deferrable=True,
        poll_interval=2,
    )
    report >> publish
