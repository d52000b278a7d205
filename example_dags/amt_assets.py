"""Chain pipelines across teams with an Asset: an AMT job's success schedules another DAG.

``amt_assets_producer`` runs the nightly AMT extract; the operator's ``outlets`` name the Asset it
updates, and Airflow records an asset event only when the task succeeds, so a failed (or killed,
or skipped) AMT job schedules nothing. ``amt_assets_consumer`` is scheduled on that Asset, not on a
time: it runs once for each successful extract and can read which run produced it. Trigger the
producer with ``{"job": "FAILINGREPORT"}`` to see a failure that schedules nothing.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, Param, task

from airflow_provider_amt.operators.amt import AmtBatchJobOperator, AmtScriptOperator

#: What the AMT extract writes. The URI names it for lineage tools; any scheme Airflow accepts works.
NIGHTLY_EXTRACT = Asset(name="amt_nightly_extract", uri="file:///data/amt/DEMO2/nightly_extract.dat")

with DAG(
    dag_id="amt_assets_producer",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    schedule=None,
    catchup=False,
    tags=["amt", "example"],
    params={"job": Param("REPORTTEST01", type="string")},
):
    AmtBatchJobOperator(
        task_id="nightly_extract",
        application_name="DEMO2",
        job_name="{{ params.job }}",
        outlets=[NIGHTLY_EXTRACT],
        deferrable=True,
        poll_interval=2,
    )

with DAG(
    dag_id="amt_assets_consumer",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    schedule=[NIGHTLY_EXTRACT],
    catchup=False,
    tags=["amt", "example"],
):

    @task
    def which_extract(triggering_asset_events=None) -> str:
        """The producer's run whose AMT job updated the Asset (passed on to the AMT script)."""
        return triggering_asset_events[NIGHTLY_EXTRACT][-1].source_run_id

    (
        AmtScriptOperator(
            task_id="load_extract",
            application_name="DEMO2",
            script_name="RUN_PARAMETERSTEST.ps1",
            script_parameters={"SOURCE_RUN": "{{ ti.xcom_pull(task_ids='which_extract') }}"},
            deferrable=True,
            poll_interval=2,
        )
        << which_extract()
    )
