"""Operators, trigger and sensor in real Airflow via ``airflow dags test`` against the emulator.

``dags test`` runs triggers inline in the same process, so these cover the deferrable path end
to end (operator -> trigger -> resume) as well as the sync path.
"""

from __future__ import annotations

import re

import pytest

from airflow_provider_amt.codes import AmtCompletionCode
from tests.airflow_harness import AMT_INDEX, AMT_LINE, ROOT, AirflowHome, amt_line_count

pytestmark = pytest.mark.airflow_e2e


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory, emulator):
    home = AirflowHome(tmp_path_factory.mktemp("af-scenarios"), ROOT / "tests" / "dags", emulator.connection_uri())
    home.migrate()
    return home


@pytest.fixture(scope="module")
def examples(tmp_path_factory, emulator):
    home = AirflowHome(tmp_path_factory.mktemp("af-examples"), ROOT / "example_dags", emulator.connection_uri())
    home.migrate()
    return home


def _job_messages(emulator, request_id):
    from airflow_provider_amt.hooks.amt import AmtHook

    return [m.text for m in AmtHook("amt_default").get_messages(request_id)]


def test_every_example_dag_imports_without_errors():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "example_dags"))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {
        "amt_report",
        "amt_failure_handling",
        "amt_fire_and_forget",
        "amt_deadline",
        "amt_assets_producer",
        "amt_assets_consumer",
    }


def test_example_report_runs_with_taskvalues_and_script_parameters(examples, emulator, amt_conn):
    result = examples.dags_test("amt_report")
    assert examples.task_states("amt_report") == {"run_report": "success", "publish_report": "success"}, result.stdout[
        -3000:
    ]
    report = examples.xcom("amt_report", "run_report")
    assert report["completion_code"] == 4 and report["status"] == "DONE"
    assert examples.xcom("amt_report", "run_report", key="batch_request_id") == report["batch_request_id"]
    texts = _job_messages(emulator, report["batch_request_id"])
    assert 'TaskValue 2: REGION=Zürich <HQ> & "Annex"' in texts
    script = examples.xcom("amt_report", "publish_report")
    assert f"Parameter REPORT_REQUEST = {report['batch_request_id']}" in _job_messages(
        emulator, script["batch_request_id"]
    )
    # every AMT message is in the task log output, once
    for index, text in enumerate(texts):
        assert amt_line_count(result.stdout, index, text) == 1, text
    assert "Completion Code : DONE (4)" in result.stdout


def test_example_failure_handling_fails_and_the_downstream_reacts(examples):
    result = examples.dags_test("amt_failure_handling")
    states = examples.task_states("amt_failure_handling")
    assert states == {"failing_report": "failed", "notify_operations": "success"}, result.stdout[-3000:]
    assert "ended with completion code 11 ERROR: ended in error" in result.stdout
    assert "division by zero" in result.stdout
    # the code of the failed job is a value: in its XCom (read downstream) and on the exception (callback)
    ending = examples.xcom("amt_failure_handling", "failing_report")
    assert (ending["completion_code"], ending["completion_name"], ending["outcome"]) == (11, "ERROR", "failed")
    notified = examples.xcom("amt_failure_handling", "notify_operations")
    assert notified == f"AMT batch request {ending['batch_request_id']} ended 11 ERROR; operations notified"
    assert f"PAGE: AMT batch request {ending['batch_request_id']} ended with 11 ERROR" in result.stdout


def test_example_fire_and_forget_then_sensor(examples):
    result = examples.dags_test("amt_fire_and_forget")
    states = examples.task_states("amt_fire_and_forget")
    assert set(states.values()) == {"success"}, result.stdout[-3000:]
    started = examples.xcom("amt_fire_and_forget", "start_report")
    assert started["completion_code"] in (1, 2)  # returned at once, not waited for
    assert "Completion Code : DONE (4)" in result.stdout


def test_example_deadline_stops_the_job_that_still_runs(examples):
    result = examples.dags_test("amt_deadline")
    states = examples.task_states("amt_deadline")
    assert states == {"start_load": "success", "wait_until_deadline": "skipped", "stop_at_deadline": "success"}, (
        result.stdout[-3000:]
    )
    started = examples.xcom("amt_deadline", "start_load")["batch_request_id"]
    stopped = examples.xcom("amt_deadline", "stop_at_deadline")
    assert stopped == {
        "batch_request_id": started,
        "completion_code": 3,
        "completion_name": "KILLED",
        "status": "KILLED",
        "outcome": "cancelled",
    }
    assert f"Stopped AMT batch request {started}: completion code KILLED (3)" in result.stdout


OUTCOMES = {
    "aborted": (AmtCompletionCode.ABORTED, "failed"),
    "error": (AmtCompletionCode.ERROR, "failed"),
    "invalid_user": (AmtCompletionCode.INVALID_AMT_USER, "failed"),
    "skipped": (AmtCompletionCode.SKIPPED_BY_OPS, "skipped"),
    "missing_script": (AmtCompletionCode.ERROR, "failed"),
}
VALUES = ["<x>", "a&b", 'q="1"', "it's", "ÄÖÜ €", "7"]


@pytest.fixture(scope="module", params=["deferrable", "sync"])
def outcomes(request, scenarios, emulator):
    """One ``dags test`` per mode; the tests below read what it left behind."""
    dag_id = f"amt_outcomes_{request.param}"
    result = scenarios.dags_test(dag_id)
    return dag_id, scenarios.task_states(dag_id), result.stdout


def test_success_with_values_intact(outcomes, scenarios, emulator, amt_conn):
    dag_id, states, stdout = outcomes
    assert states["done"] == "success" and states["script_done"] == "success", stdout[-3000:]
    job = scenarios.xcom(dag_id, "done")
    assert job["status"] == "DONE" and job["completion_code"] == 4
    texts = _job_messages(emulator, job["batch_request_id"])
    for i, value in enumerate(VALUES, start=1):
        assert f"TaskValue {i}: {value}" in texts
    for index, text in enumerate(texts):
        assert amt_line_count(stdout, index, text) == 1, text  # every message in the log, once
    script = scenarios.xcom(dag_id, "script_done")
    assert "Parameter TEXT = <&>\"'=" in _job_messages(emulator, script["batch_request_id"])


@pytest.mark.parametrize("task_id", sorted(OUTCOMES))
def test_failure_codes_fail_the_task_with_the_code_and_meaning(outcomes, task_id):
    _, states, stdout = outcomes
    code, state = OUTCOMES[task_id]
    assert states[task_id] == state, stdout[-3000:]
    assert f"ended with completion code {int(code)} {code.amt_name}: {code.description}" in stdout
    assert f"Completion Code : {code.amt_name} ({int(code)})" in stdout


def test_sensor_waits_for_a_job_started_elsewhere(outcomes, scenarios):
    dag_id, states, stdout = outcomes
    assert states["fire"] == "success" and states["sensor"] == "success", stdout[-3000:]
    fired = scenarios.xcom(dag_id, "fire")
    assert fired["completion_code"] in (1, 2)  # returned without waiting
    assert f"AMT batch request {fired['batch_request_id']} is" in stdout  # the sensor checked it


def test_severity_sets_the_log_level(outcomes):
    import re

    _, _, stdout = outcomes
    any_index = AMT_LINE.format(index=r"\d+")
    assert re.search(r"\[error\s*\] " + any_index + "Error: division by zero", stdout)
    assert re.search(r"\[warning\s*\] " + any_index + "Input file .*INPUT.DAT is empty", stdout)
    assert re.search(r"\[info\s*\] " + AMT_LINE.format(index=0) + "Started Rev", stdout)


def test_failure_messages_quote_the_jobs_last_messages(outcomes):
    _, _, stdout = outcomes
    assert "Last messages:" in stdout and "division by zero" in stdout
    assert "File not found: C:\\AMT\\DEMO2\\Scripts\\NOT_THERE.ps1" in stdout
    assert "Invalid AMT user 'NOBODY'" in stdout


def test_execution_timeout_kills_the_amt_job(outcomes, scenarios, amt_conn):
    from airflow_provider_amt.hooks.amt import AmtHook

    dag_id, states, stdout = outcomes
    assert states["timeout"] == "failed"
    request_id = scenarios.xcom(dag_id, "timeout", key="batch_request_id")
    assert AmtHook("amt_default").get_job_status(request_id).code == AmtCompletionCode.KILLED
    assert f"Killed AMT batch request {request_id}" in stdout


def test_templated_values_render_as_native_lists(scenarios, emulator, amt_conn):
    result = scenarios.dags_test("amt_templated", {"values": ["X=1", 2]})
    assert scenarios.task_states("amt_templated") == {"job": "success"}, result.stdout[-3000:]
    job = scenarios.xcom("amt_templated", "job")
    assert {"TaskValue 1: X=1", "TaskValue 2: 2"} <= set(_job_messages(emulator, job["batch_request_id"]))


def test_bad_arguments_fail_before_anything_is_sent(scenarios, emulator):
    emulator.clear_requests()
    result = scenarios.dags_test("amt_templated", {"values": [str(i) for i in range(21)]})
    assert scenarios.task_states("amt_templated")["job"] == "failed"
    assert "task_values has 21 entries; AMT accepts at most 20" in result.stdout
    assert emulator.requests("OpConJobAction", action="Start") == []


def test_fifty_thousand_messages_all_reach_the_task_log_once(scenarios, amt_conn):
    import re

    result = scenarios.dags_test("amt_biglog")
    assert scenarios.task_states("amt_biglog") == {"sync": "success", "deferrable": "success"}, result.stdout[-2000:]
    for task_id in ("sync", "deferrable"):
        request_id = scenarios.xcom("amt_biglog", task_id, key="batch_request_id")
        # each task's lines sit between its "Batch Request Id" line and its completion block
        start = result.stdout.index(f"Batch Request Id  : {request_id}")
        end = result.stdout.index("Completion Code : DONE (4)", start)
        indexes = [int(i) for i in re.findall(AMT_INDEX, result.stdout[start:end])]
        assert indexes == list(range(50_002)), (task_id, len(indexes))


def test_job_messages_never_show_the_connections_password(tmp_path_factory):
    from amt_emulator import EmulatorProcess

    secret = "Zq8-very-secret-pw"
    with EmulatorProcess(time_scale=10, password=secret) as emu:
        home = AirflowHome(tmp_path_factory.mktemp("af-secret"), ROOT / "tests" / "dags", emu.connection_uri())
        home.migrate()
        result = home.dags_test("amt_secret_echo")
        assert home.task_states("amt_secret_echo") == {"sync": "success", "deferrable": "success"}
        for task_id in ("sync", "deferrable"):
            request_id = home.xcom("amt_secret_echo", task_id, key="batch_request_id")
            assert f"/R:{request_id}" in result.stdout
        # the job really did echo it (AMT has it), but the task log shows the mask instead
        assert emu.requests("OpConJobAction", action="Start")
    assert secret not in result.stdout and secret not in result.stderr
    assert "TaskValue 1: ***" in result.stdout


#: Airflow's own connection lookup (``airflow.sdk.execution_time.context._get_connection``) sends
#: every connection's password to ``dags test``'s in-process supervisor, which logs the request at
#: DEBUG (3.0-3.3): Airflow's line, for every provider's connections; ours send nothing there.
AIRFLOW_OWN_LINE = re.compile(r"Sending request .*msg=MaskSecret\(value=")


def test_no_password_or_token_in_dags_test_output_or_task_logs_at_debug_level(tmp_path_factory):
    """Every Airflow version, every level (issue 27); the matrix runs this in every cell. Our own
    registrations of the password and of each logon token send nothing that 3.0 would log."""
    from amt_emulator import EmulatorProcess

    secret = "Zq8-debug-secret-pw"
    with EmulatorProcess(time_scale=10, password=secret) as emu:
        home = AirflowHome(
            tmp_path_factory.mktemp("af-debug"),
            ROOT / "tests" / "dags",
            emu.connection_uri(),
            extra_env={"AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG"},
        )
        home.migrate()
        result = home.dags_test("amt_debug_secrets")
        tokens = emu.issued_tokens()
    assert home.task_states("amt_debug_secrets") == {"sync": "success", "deferrable": "success"}
    assert tokens, "no logon happened: the test would prove nothing"
    assert re.search(r"\[debug|DEBUG", result.stdout + result.stderr), "DEBUG is not on: the test would prove nothing"
    logs = [(path, path.read_text(errors="replace")) for path in (home.home / "logs").rglob("*") if path.is_file()]
    for where, text in [("stdout", result.stdout), ("stderr", result.stderr), *logs]:
        for line in text.splitlines():
            for value in tokens:
                assert value not in line, f"a logon token appears in {where}: {line[:120]}"
            if secret in line:
                shown = line.replace(secret, "<PASSWORD>")[:200]
                assert AIRFLOW_OWN_LINE.search(line), f"the password appears in {where}: {shown}"


def test_openlineage_events_carry_the_amt_run_and_job_facets_on_success_failure_and_recovery(tmp_path_factory):
    """Airflow's OpenLineage provider, its real listener and a file transport (issue 27)."""
    import json

    pytest.importorskip("airflow.providers.openlineage", reason="the [openlineage] extra is not installed")
    from amt_emulator import EmulatorProcess

    secret = "Zq8-lineage-secret-pw"
    folder = tmp_path_factory.mktemp("af-lineage")
    events_file = folder / "openlineage.jsonl"
    transport = {"type": "file", "log_file_path": str(events_file), "append": True}
    with EmulatorProcess(time_scale=10, password=secret) as emu:
        home = AirflowHome(
            folder / "home",
            ROOT / "tests" / "dags",
            emu.connection_uri(),
            extra_env={"AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport)},
        )
        home.migrate()
        result = home.dags_test("amt_lineage")
        url = emu.url
    states = home.task_states("amt_lineage")
    assert states == {"succeeded": "success", "failed": "failed", "recovery": "failed"}, result.stdout[-3000:]
    assert "OpenLineage process" not in result.stdout  # no emission failed or timed out
    text = events_file.read_text()
    assert secret not in text
    events = [json.loads(line) for line in text.splitlines() if line.strip()]
    ends = {}  # (task, try) -> the event that ended it
    for event in events:
        if event["eventType"] in ("COMPLETE", "FAIL") and "amt" in event["run"]["facets"]:
            task = event["job"]["name"].split(".")[-1]
            ends.setdefault(task, []).append(event)
    assert set(ends) == {"succeeded", "failed", "recovery"}, sorted(e["job"]["name"] for e in events)

    def facets(event: dict) -> tuple[dict, dict]:
        return event["run"]["facets"]["amt"], event["job"]["facets"]["amt"]

    (ok,) = ends["succeeded"]
    run, job = facets(ok)
    assert ok["eventType"] == "COMPLETE"
    assert run["batchRequestId"] == home.xcom("amt_lineage", "succeeded", key="batch_request_id")
    assert (run["server"], run["application"], run["taskType"]) == (url, "DEMO2", "BatchJob")
    assert run["name"] == "REPORTTEST01"
    assert (run["completionCode"], run["completionName"], run["recoveryRun"]) == (4, "DONE", False)
    assert len(run["amtTaskId"]) == 36 and job == {**job, "application": "DEMO2", "name": "REPORTTEST01"}
    (failed,) = ends["failed"]
    run, job = facets(failed)
    assert failed["eventType"] == "FAIL" and job["name"] == "FAILINGREPORT"
    assert (run["completionCode"], run["completionName"]) == (int(AmtCompletionCode.ERROR), "ERROR")
    first, second = ends["recovery"]
    assert [first["eventType"], second["eventType"]] == ["FAIL", "FAIL"]  # the emulator's script always ends 27
    assert facets(first)[0]["completionCode"] == facets(second)[0]["completionCode"] == 27
    assert facets(first)[0]["recoveryRun"] is False and facets(second)[0]["recoveryRun"] is True
    assert facets(second)[0]["recoveryOf"] == facets(first)[0]["batchRequestId"]
    assert facets(first)[0]["amtTaskId"] == facets(second)[0]["amtTaskId"]  # one task id for every try


# --- issue 26: what OpCon sites build on ---------------------------------------------------------

PORTAL = "https://amt-portal.example/requests/{batch_request_id}"


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: connections to it are refused


@pytest.fixture(scope="module")
def opcon_home(tmp_path_factory, emulator):
    import json

    linked = emulator.connection_uri(job_url_template=PORTAL)
    down = json.loads(emulator.connection_uri(max_retries=0, connect_timeout=1))
    down["host"] = f"http://127.0.0.1:{_closed_port()}"
    home = AirflowHome(
        tmp_path_factory.mktemp("af-opcon"),
        ROOT / "tests" / "dags",
        emulator.connection_uri(),
        extra_env={"AIRFLOW_CONN_AMT_LINKED": linked, "AIRFLOW_CONN_AMT_DOWN": json.dumps(down)},
    )
    home.migrate()
    return home


@pytest.fixture(scope="module", params=["deferrable", "sync"])
def opcon(request, opcon_home, emulator):
    dag_id = f"amt_opcon_{request.param}"
    result = opcon_home.dags_test(dag_id)
    return dag_id, opcon_home.task_states(dag_id), result.stdout


def _jobs_of(home, dag_id, task_id):
    """The batch requests AMT holds for the task instance (found by the task id it was started with)."""
    from airflow_provider_amt.hooks.amt import AmtHook
    from airflow_provider_amt.start_ledger import task_guid

    return AmtHook("amt_default").find_batch_requests(task_guid(dag_id, home.latest_run_id(dag_id), task_id, -1))


def test_a_refused_start_and_a_fail_fast_code_use_no_retries(opcon, opcon_home, amt_conn):
    dag_id, states, stdout = opcon
    assert states["refused_start"] == "failed" and states["invalid_user"] == "failed", stdout[-3000:]
    assert opcon_home.try_number(dag_id, "refused_start") == 1  # retries=3, one try
    assert opcon_home.try_number(dag_id, "invalid_user") == 1
    assert len(_jobs_of(opcon_home, dag_id, "invalid_user")) == 1
    assert "AmtValidationFailedFastError" in stdout and "AmtJobFailedFastError" in stdout
    ending = opcon_home.xcom(dag_id, "invalid_user")
    assert (ending["completion_code"], ending["completion_name"]) == (99, "INVALID AMT USER")


def test_other_failures_still_use_their_retries(opcon, opcon_home, amt_conn):
    dag_id, states, stdout = opcon
    from airflow import __version__

    if __version__.startswith("3.0.") and dag_id.endswith("deferrable"):
        pytest.skip(
            "Airflow 3.0's dags test resumes the retry of a task that deferred at its resume method, with the "
            "first try's event (no second Start: the retry fails on the first job's code); 3.1+ retry anew"
        )
    assert states["error_retried"] == "failed", stdout[-3000:]
    assert opcon_home.try_number(dag_id, "error_retried") == 2
    assert len(_jobs_of(opcon_home, dag_id, "error_retried")) == 2  # the retry started anew (11 ERROR)


def test_a_skip_code_ends_the_task_skipped_with_its_code_in_xcom(opcon, opcon_home):
    dag_id, states, stdout = opcon
    assert states["skip_code"] == "skipped", stdout[-3000:]
    ending = opcon_home.xcom(dag_id, "skip_code")
    assert (ending["completion_code"], ending["outcome"]) == (12, "skipped")


def test_free_text_script_arguments_reach_amt_unchanged(opcon, opcon_home, emulator, amt_conn):
    dag_id, states, stdout = opcon
    assert states["free_text"] == "success", stdout[-3000:]
    texts = _job_messages(emulator, opcon_home.xcom(dag_id, "free_text")["batch_request_id"])
    assert [t for t in texts if t.startswith("Argument ")][1:] == [
        "Argument 2: SGS:RESTART STEP3",
        "Argument 3: -pa 'PARAM'",
    ]
    assert texts[0].startswith("Argument 1: /p:20")  # {{ ds }} rendered, the rest as written
    assert "Parameters" in stdout and "SGS:RESTART STEP3" in stdout  # the information block shows them


def test_a_recoverable_ending_makes_the_retry_a_recovery_run(opcon, opcon_home, emulator, amt_conn):
    dag_id, states, stdout = opcon
    assert states["recovery"] == "failed", stdout[-3000:]  # 27 again: the emulator's script always ends so
    assert opcon_home.try_number(dag_id, "recovery") == 2
    first, second = _jobs_of(opcon_home, dag_id, "recovery")
    assert [t for t in _job_messages(emulator, first) if t.startswith("Argument")] == ["Argument 1: MODE=FULL"]
    assert [t for t in _job_messages(emulator, second) if t.startswith("Argument")] == [
        "Argument 1: MODE=FULL",
        f"Argument 2: /r:{first}",
    ]
    assert f"Recovery run of AMT batch request {first}" in stdout


def _console_records(lines: list[str]) -> list[str]:
    """Lines as records: Airflow 3.0's ``dags test`` prints each record twice in a row (two console
    handlers, two time formats), 3.1+ once."""
    from airflow import __version__

    if not __version__.startswith("3.0."):
        return lines
    return [line for i, line in enumerate(lines) if i == 0 or line != lines[i - 1]]


def test_a_job_held_in_a_state_logs_it_and_fails_at_its_state_limit(opcon, opcon_home, amt_conn):
    """WAITFORINPUT runs 2 s, then sits in 14 WAIT FOR INPUT REQUEST; the task allows it 4 s there."""
    dag_id, states, stdout = opcon
    assert states["held_in_input"] == "failed", stdout[-3000:]
    log = stdout  # dags test logs every task (and its trigger, run inline) to the console
    held = _console_records(
        re.findall(r"AMT state: [A-Z]+ \([12]\) → WAIT FOR INPUT REQUEST \(14\) since \d\d:\d\d:\d\d UTC", log)
    )
    assert len(held) == 1, log[-4000:]  # once, worker-side or from the trigger
    assert re.search(r"was in WAIT FOR INPUT REQUEST \(14\) for [45] s: max_time_in_state allows it 4 s", log)
    ending = opcon_home.xcom(dag_id, "held_in_input")
    assert (ending["completion_code"], ending["outcome"]) == (3, "timeout")  # killed, as the kill policy names it
    from airflow_provider_amt.hooks.amt import AmtHook

    assert AmtHook("amt_default").get_job_status(ending["batch_request_id"]).code is AmtCompletionCode.KILLED


def test_the_job_url_is_in_xcom_and_in_the_link(opcon, opcon_home):
    dag_id, states, stdout = opcon
    assert states["linked"] == "success", stdout[-3000:]
    ending = opcon_home.xcom(dag_id, "linked")
    url = PORTAL.format(batch_request_id=ending["batch_request_id"])
    assert ending["job_url"] == url
    assert opcon_home.xcom(dag_id, "linked", key="job_url") == url
    assert opcon_home.xcom(dag_id, "linked", key="_link_AmtJobLink") == url  # what the UI's button opens


def test_a_primary_that_refuses_connections_sends_the_start_to_the_alternate_once(
    opcon, opcon_home, emulator, amt_conn
):
    dag_id, states, stdout = opcon
    assert states["alternate"] == "success", stdout[-3000:]
    assert len(_jobs_of(opcon_home, dag_id, "alternate")) == 1  # one job, on the alternate
    ending = opcon_home.xcom(dag_id, "alternate")
    assert opcon_home.xcom(dag_id, "alternate", key="amt_conn_id") == "amt_default"
    assert "sending it to the alternate 'amt_default'" in stdout
    assert "Connection        : amt_default" in stdout  # the information block names the server with the job
    texts = _job_messages(emulator, ending["batch_request_id"])
    for index, text in enumerate(texts):  # watched there: every message in the log, once
        assert amt_line_count(stdout, index, text) == 1, text
