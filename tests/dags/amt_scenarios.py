"""DAGs the test suite runs in real Airflow (dags test, and a real scheduler + triggerer).

``amt_outcomes_<mode>`` holds one independent task per scenario, so a single ``dags test`` per
mode covers success, every failure code, skip, a missing script and the execution timeout.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_amt.operators.amt import AmtBatchJobOperator, AmtJobActionOperator, AmtScriptOperator
from airflow_provider_amt.sensors.amt import AmtJobSensor

START = pendulum.datetime(2026, 1, 1, tz="UTC")
VALUES = ["<x>", "a&b", 'q="1"', "it's", "ÄÖÜ €", 7]

for mode, deferrable in (("deferrable", True), ("sync", False)):
    with DAG(dag_id=f"amt_outcomes_{mode}", start_date=START, schedule=None, catchup=False):
        common = {"application_name": "DEMO2", "deferrable": deferrable, "poll_interval": 1}
        AmtBatchJobOperator(task_id="done", job_name="REPORTTEST01", task_values=VALUES, **common)
        AmtScriptOperator(
            task_id="script_done",
            script_name="RUN_PARAMETERSTEST.ps1",
            script_parameters=["MODE=" + mode, "TEXT=<&>\"'="],
            **common,
        )
        AmtBatchJobOperator(task_id="aborted", job_name="ABORTINGREPORT", **common)
        AmtBatchJobOperator(task_id="error", job_name="FAILINGREPORT", **common)
        AmtBatchJobOperator(task_id="invalid_user", job_name="REPORTTEST01", amt_user="NOBODY", **common)
        AmtBatchJobOperator(task_id="skipped", job_name="SKIPPEDREPORT", skip_on_skipped_by_ops=True, **common)
        AmtScriptOperator(task_id="missing_script", script_name="NOT_THERE.ps1", **common)
        AmtBatchJobOperator(
            task_id="timeout", job_name="LONGRUNNINGREPORT", execution_timeout=timedelta(seconds=4), **common
        )
        fire = AmtBatchJobOperator(task_id="fire", job_name="REPORTTEST01", wait_for_completion=False, **common)
        fire >> AmtJobSensor(
            task_id="sensor",
            batch_request_id="{{ ti.xcom_pull(task_ids='fire', key='batch_request_id') }}",
            deferrable=deferrable,
            poke_interval=1,
            timeout=120,
        )

with DAG(
    dag_id="amt_templated",
    start_date=START,
    schedule=None,
    catchup=False,
    render_template_as_native_obj=True,
    params={"job": Param("REPORTTEST01", type="string"), "values": Param(["A"], type="array")},
):
    AmtBatchJobOperator(
        task_id="job", application_name="DEMO2", job_name="{{ params.job }}", task_values="{{ params['values'] }}"
    )

# for the cluster tests: a job that runs until killed, watched by the triggerer
with DAG(
    dag_id="amt_cluster_kill",
    start_date=START,
    schedule=None,
    catchup=False,
    params={"job": Param("LONGRUNNINGREPORT", type="string")},
):
    AmtBatchJobOperator(
        task_id="job", application_name="DEMO2", job_name="{{ params.job }}", deferrable=True, poll_interval=1
    )

# the same, waiting on the worker: killing the task must kill the AMT job through on_kill
with DAG(dag_id="amt_cluster_kill_sync", start_date=START, schedule=None, catchup=False):
    AmtBatchJobOperator(
        task_id="job", application_name="DEMO2", job_name="LONGRUNNINGREPORT", deferrable=False, poll_interval=1
    )

# a sync task with a retry: the worker is killed while it waits, the retry must reconnect
with DAG(
    dag_id="amt_cluster_retry",
    start_date=START,
    schedule=None,
    catchup=False,
    params={"job": Param("SLOWREPORT", type="string")},
):
    AmtBatchJobOperator(
        task_id="job",
        application_name="DEMO2",
        job_name="{{ params.job }}",
        deferrable=False,
        poll_interval=1,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )

# deferred and watched by the triggerer while it is stopped and started again
with DAG(
    dag_id="amt_cluster_restart",
    start_date=START,
    schedule=None,
    catchup=False,
    params={"job": Param("CHATTYREPORT", type="string")},
):
    AmtBatchJobOperator(
        task_id="job", application_name="DEMO2", job_name="{{ params.job }}", deferrable=True, poll_interval=1
    )

# retries=1 and a Start whose answer is lost: the retry must find the one job, or refuse to guess.
# The job runs 12 s, so that it outlives the retry's deferral by more than the seconds a worker may take
# to finish deferring: a trigger that fires before the scheduler has seen that finish makes Airflow
# 3.2-3.3 fail the task ("... finished with state success, but the task instance's state attribute is
# queued", apache/airflow#66374, #71580; seen here with a 6 s job).
for suffix, conn_id in (("", "amt_default"), ("_nolookup", "amt_nolookup")):
    with DAG(dag_id=f"amt_cluster_unclear_start{suffix}", start_date=START, schedule=None, catchup=False):
        AmtBatchJobOperator(
            task_id="job",
            application_name="DEMO2",
            job_name="CHATTYREPORT",
            amt_conn_id=conn_id,
            deferrable=True,
            poll_interval=1,
            retries=1,
            retry_delay=timedelta(seconds=1),
        )

# 50,000 messages, streamed page by page: from the worker and from the trigger
with DAG(dag_id="amt_biglog", start_date=START, schedule=None, catchup=False):
    for mode, deferrable in (("sync", False), ("deferrable", True)):
        AmtBatchJobOperator(
            task_id=mode, application_name="DEMO2", job_name="BIGLOGREPORT", deferrable=deferrable, poll_interval=1
        )

# a (badly written) DAG that sends the connection password as a TaskValue: the job echoes it
with DAG(dag_id="amt_secret_echo", start_date=START, schedule=None, catchup=False):
    for mode, deferrable in (("sync", False), ("deferrable", True)):
        AmtBatchJobOperator(
            task_id=mode,
            application_name="DEMO2",
            job_name="REPORTTEST01",
            task_values=["{{ conn.amt_default.password }}"],
            deferrable=deferrable,
            poll_interval=1,
        )

# OpConJobAction's Stop and Kill as tasks: a queued job is stopped (10), a running one killed (3),
# and an ended one is left as it is. SERIAL runs one job at a time, so `queued` waits behind `hold`.
with DAG(dag_id="amt_cluster_actions", start_date=START, schedule=None, catchup=False):
    serial = {"application_name": "DEMO2", "queue_name": "SERIAL", "wait_for_completion": False}
    hold = AmtBatchJobOperator(task_id="hold", job_name="LONGRUNNINGREPORT", **serial)
    queued = AmtBatchJobOperator(task_id="queued", job_name="REPORTTEST01", **serial)
    stop_queued = AmtJobActionOperator(
        task_id="stop_queued",
        action="stop",
        batch_request_id="{{ ti.xcom_pull(task_ids='queued', key='batch_request_id') }}",
    )
    kill_running = AmtJobActionOperator(
        task_id="kill_running",
        action="kill",
        batch_request_id="{{ ti.xcom_pull(task_ids='hold', key='batch_request_id') }}",
    )
    kill_ended = AmtJobActionOperator(
        task_id="kill_ended",
        action="KILL",
        batch_request_id="{{ ti.xcom_pull(task_ids='hold', key='batch_request_id') }}",
    )
    hold >> queued >> stop_queued >> kill_running >> kill_ended

# The kill policy: each task is marked failed while it waits; what reaches AMT follows on_kill_action.
with DAG(dag_id="amt_cluster_kill_policy", start_date=START, schedule=None, catchup=False):
    wide = {"application_name": "DEMO2", "job_name": "LONGRUNNINGREPORT", "queue_name": "WIDE", "poll_interval": 1}
    AmtBatchJobOperator(task_id="kill", deferrable=True, **wide)
    AmtBatchJobOperator(task_id="stop", deferrable=True, on_kill_action="stop", **wide)
    AmtBatchJobOperator(task_id="keep", deferrable=True, on_kill_action=None, **wide)
    AmtBatchJobOperator(task_id="stop_sync", deferrable=False, on_kill_action="stop", **wide)
    AmtBatchJobOperator(task_id="start", wait_for_completion=False, **wide) >> AmtJobSensor(
        task_id="sensor",
        batch_request_id="{{ ti.xcom_pull(task_ids='start', key='batch_request_id') }}",
        deferrable=True,
        poke_interval=1,
    )

# Live log latency: a job writing a message every 0.5 s, watched from the triggerer.
with DAG(dag_id="amt_cluster_live", start_date=START, schedule=None, catchup=False):
    AmtBatchJobOperator(
        task_id="job", application_name="DEMO2", job_name="LIVEREPORT", deferrable=True, poll_interval=2
    )

# start_from_trigger: the job starts in the triggerer and the task ends there (no worker; Airflow
# 3.3+, earlier versions defer from a worker). `fails` has a callback: Airflow runs it as for any task.
CALLBACK_MARKER = "start_from_trigger_failure_callback"


def _mark_failure(context):
    import os
    from pathlib import Path

    Path(os.environ["AIRFLOW_HOME"], CALLBACK_MARKER).write_text(str(context["ti"].task_id))


with DAG(
    dag_id="amt_cluster_from_trigger",
    start_date=START,
    schedule=None,
    catchup=False,
    params={"job": Param("REPORTTEST01", type="string")},
):
    in_triggerer = {"application_name": "DEMO2", "start_from_trigger": True, "poll_interval": 1}
    ok = AmtBatchJobOperator(task_id="ok", job_name="{{ params.job }}", task_values=["{{ run_id }}"], **in_triggerer)

    @task
    def downstream(result: dict) -> int:
        """What a downstream task sees of the XCom the trigger's event carried."""
        return int(result["completion_code"])

    downstream(ok.output)
    AmtBatchJobOperator(task_id="fails", job_name="FAILINGREPORT", on_failure_callback=_mark_failure, **in_triggerer)
    AmtBatchJobOperator(task_id="skips", job_name="SKIPPEDREPORT", skip_on_skipped_by_ops=True, **in_triggerer)
    AmtBatchJobOperator(
        task_id="retries", job_name="FAILINGREPORT", retries=1, retry_delay=timedelta(seconds=1), **in_triggerer
    )
    AmtBatchJobOperator.partial(task_id="mapped", **in_triggerer).expand(job_name=["REPORTTEST01"])
    # a retry cannot help: one try each, though Airflow's TaskFailedEvent would retry (issue 26)
    fast = {"retries": 3, "retry_delay": timedelta(seconds=1), **in_triggerer}
    AmtBatchJobOperator(task_id="refused_fast", job_name="NO_SUCH_JOB", **fast)
    AmtBatchJobOperator(task_id="invalid_user_fast", job_name="REPORTTEST01", amt_user="NOBODY", **fast)
    AmtBatchJobOperator(
        task_id="times_out",
        job_name="LONGRUNNINGREPORT",
        queue_name="WIDE",
        execution_timeout=timedelta(seconds=8),
        **in_triggerer,
    )
    # held in 14 WAIT FOR INPUT REQUEST past its state limit: killed from the triggerer, the task failed
    AmtBatchJobOperator(
        task_id="held", job_name="WAITFORINPUT", queue_name="WIDE", max_time_in_state={14: 4}, **in_triggerer
    )

# start_from_trigger, a job that runs until killed (marking the task failed), or a 12 s job (a
# triggerer killed while its Start is under way)
with DAG(
    dag_id="amt_cluster_from_trigger_one",
    start_date=START,
    schedule=None,
    catchup=False,
    params={"job": Param("LONGRUNNINGREPORT", type="string")},
):
    AmtBatchJobOperator(
        task_id="job",
        application_name="DEMO2",
        job_name="{{ params.job }}",
        queue_name="WIDE",
        start_from_trigger=True,
        poll_interval=1,
    )

# Issue 26, what OpCon sites build on: fail fast where a retry cannot help (one try each, retries=3),
# other failures still retried, skip codes, free-text script arguments, a recovery run, the job link,
# a job held in 14 WAIT FOR INPUT REQUEST past its state limit (its state logged, the job killed).
for mode, deferrable in (("deferrable", True), ("sync", False)):
    with DAG(dag_id=f"amt_opcon_{mode}", start_date=START, schedule=None, catchup=False):
        common = {"application_name": "DEMO2", "deferrable": deferrable, "poll_interval": 1}
        retried = {"retries": 3, "retry_delay": timedelta(seconds=0)}
        AmtBatchJobOperator(task_id="refused_start", job_name="NO_SUCH_JOB", **retried, **common)
        AmtBatchJobOperator(
            task_id="invalid_user", job_name="REPORTTEST01", amt_user="NOBODY", **retried, **common
        )  # 99, a fail_fast_codes default
        AmtBatchJobOperator(
            task_id="error_retried", job_name="FAILINGREPORT", retries=1, retry_delay=timedelta(seconds=0), **common
        )
        AmtBatchJobOperator(task_id="skip_code", job_name="ABORTINGREPORT", skip_codes=["ABORTED"], **common)
        AmtScriptOperator(
            task_id="free_text",
            script_name="ECHO_ARGUMENTS.ps1",
            script_parameters=["/p:{{ ds }}", "SGS:RESTART STEP3", "-pa 'PARAM'"],
            **common,
        )
        AmtScriptOperator(
            task_id="recovery",
            script_name="RECOVERABLE.ps1",
            script_parameters=["MODE=FULL"],
            recover_on_retry="/r:{batch_request_id}",
            retries=1,
            retry_delay=timedelta(seconds=0),
            **common,
        )
        AmtBatchJobOperator(task_id="linked", job_name="REPORTTEST01", amt_conn_id="amt_linked", **common)
        AmtBatchJobOperator(
            task_id="held_in_input", job_name="WAITFORINPUT", max_time_in_state={"WAIT FOR INPUT REQUEST": 4}, **common
        )
        # a primary that refuses connections: the Start goes to the alternate, once, and the job is watched there
        AmtBatchJobOperator(
            task_id="alternate", job_name="CHATTYREPORT", amt_conn_id=["amt_down", "amt_default"], **common
        )

# the "AMT job" link in the UI (make ui-check): a connection with a job_url_template
with DAG(dag_id="amt_cluster_linked", start_date=START, schedule=None, catchup=False):
    AmtBatchJobOperator(
        task_id="job",
        application_name="DEMO2",
        job_name="REPORTTEST01",
        amt_conn_id="amt_linked",
        deferrable=True,
        poll_interval=1,
    )

# A plain job on the worker and in the triggerer, for the test that reads the whole `dags test`
# output at DEBUG for the password and the logon tokens (no field here holds either).
with DAG(dag_id="amt_debug_secrets", start_date=START, schedule=None, catchup=False):
    for mode, deferrable in (("sync", False), ("deferrable", True)):
        AmtBatchJobOperator(
            task_id=mode, application_name="DEMO2", job_name="REPORTTEST01", deferrable=deferrable, poll_interval=1
        )

# OpenLineage (issue 27): with Airflow's OpenLineage provider and a file transport, each AMT run is
# an event with the provider's run and job facets: a success that deferred, a failure on the worker,
# and a recovery run (its first try ends 27 KilledWithRecover, the retry resumes it).
with DAG(dag_id="amt_lineage", start_date=START, schedule=None, catchup=False):
    AmtBatchJobOperator(
        task_id="succeeded", application_name="DEMO2", job_name="REPORTTEST01", deferrable=True, poll_interval=1
    )
    AmtBatchJobOperator(task_id="failed", application_name="DEMO2", job_name="FAILINGREPORT", deferrable=False)
    AmtScriptOperator(
        task_id="recovery",
        application_name="DEMO2",
        script_name="RECOVERABLE.ps1",
        recover_on_retry="/r:{batch_request_id}",
        retries=1,
        retry_delay=timedelta(seconds=0),
        deferrable=True,  # what the retry's Start resumed goes through the deferral
        poll_interval=1,
    )
