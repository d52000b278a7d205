"""A real scheduler (LocalExecutor) + triggerer + dag-processor + api-server, driven by REST.

These cover what only exists in a running deployment: a user marking a deferred task failed
(the trigger's ``on_kill`` kills the AMT job), a triggerer restart (the job is left alone), and
a worker crash (the retry reconnects to the running job instead of starting a second one).
"""

from __future__ import annotations

import json
import re
import signal
import time

import psutil
import pytest

from airflow_provider_amt.codes import AmtCompletionCode
from airflow_provider_amt.compat import start_from_trigger_supported
from airflow_provider_amt.hooks.amt import AmtHook
from airflow_provider_amt.joblog import message_indexes
from amt_client import AmtClient
from tests.airflow_harness import DEDICATED_TRIGGERER_ENV, AirflowCluster, live_delays
from tests.airflow_harness import last_seq as _last_seq
from tests.airflow_harness import wait_until as _wait
from tests.dags.amt_scenarios import CALLBACK_MARKER

#: A real scheduler + triggerer + api-server per test: `make test-cluster` (run by CI), not `make test`.
pytestmark = [pytest.mark.airflow_e2e, pytest.mark.cluster]


@pytest.fixture
def amt(cluster_emulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AMT_CLUSTER", cluster_emulator.connection_uri())
    AmtClient.forget_tokens()
    return AmtHook("amt_cluster")


def _started(emulator, since_seq: int, job: str) -> list[dict]:
    return [
        e
        for e in emulator.requests("OpConJobAction", action="Start")
        if e["seq"] > since_seq and json.loads(e["detail"])["name"] == job and e["status"] == 200
    ]


def test_marking_a_deferred_task_failed_kills_the_amt_job(cluster, cluster_emulator, amt):
    run_id = cluster.trigger("amt_cluster_kill")
    cluster.wait_for_state("amt_cluster_kill", run_id, "job", {"deferred"})
    request_id = cluster.home.xcom("amt_cluster_kill", "job", key="batch_request_id", run_id=run_id)
    _wait(lambda: amt.get_job_status(request_id).code == AmtCompletionCode.RUNNING, 20, "the job to run")
    cluster.set_task_state("amt_cluster_kill", run_id, "job", "failed")
    _wait(lambda: amt.get_job_status(request_id).code == AmtCompletionCode.KILLED, 40, "the AMT job to be killed")
    assert cluster.task_instance("amt_cluster_kill", run_id, "job")["state"] == "failed"


def test_marking_a_task_waiting_on_the_worker_failed_kills_the_amt_job(cluster, cluster_emulator, amt):
    run_id = cluster.trigger("amt_cluster_kill_sync")
    cluster.wait_for_state("amt_cluster_kill_sync", run_id, "job", {"running"})
    request_id = _wait(
        lambda: cluster.home.xcom("amt_cluster_kill_sync", "job", key="batch_request_id", run_id=run_id), 30, "the id"
    )
    _wait(lambda: amt.get_job_status(request_id).code == AmtCompletionCode.RUNNING, 20, "the job to run")
    cluster.set_task_state("amt_cluster_kill_sync", run_id, "job", "failed")
    _wait(lambda: amt.get_job_status(request_id).code == AmtCompletionCode.KILLED, 40, "the AMT job to be killed")


def _task_processes(cluster: AirflowCluster) -> list[psutil.Process]:
    scheduler = psutil.Process(cluster.processes["scheduler"].pid)
    busy = []
    for proc in scheduler.children(recursive=True):
        try:
            title = " ".join(proc.cmdline())
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            continue  # a worker of an earlier, killed task that is not reaped yet
        if title.startswith("airflow worker") and "<idle>" not in title:
            busy.append(proc)
    return busy


def test_a_retry_after_a_killed_worker_reconnects_instead_of_starting_again(cluster, cluster_emulator, amt):
    since = _last_seq(cluster_emulator)
    # a 30 s job: it outlives the heartbeat timeout (15 s) that makes the scheduler retry the task
    run_id = cluster.trigger("amt_cluster_retry", {"job": "STREAMREPORT"})
    cluster.wait_for_state("amt_cluster_retry", run_id, "job", {"running"})
    _wait(lambda: _started(cluster_emulator, since, "STREAMREPORT"), 60, "the Start")
    time.sleep(2)  # the operator is now polling on the worker
    victims = _wait(lambda: _task_processes(cluster), 20, "the worker processes")
    for proc in victims:  # the worker and its task process die at once, as in a crash
        proc.send_signal(signal.SIGKILL)
    ti = cluster.wait_for_state("amt_cluster_retry", run_id, "job", {"success", "failed"}, timeout=150)
    assert ti["state"] == "success" and ti["try_number"] == 2, ti
    starts = _started(cluster_emulator, since, "STREAMREPORT")
    assert len(starts) == 1, starts  # one job on AMT, not two
    request_id = cluster.home.xcom("amt_cluster_retry", "job", run_id=run_id)["batch_request_id"]
    assert amt.get_job_status(request_id).code == AmtCompletionCode.DONE
    log = cluster.task_log("amt_cluster_retry", run_id, "job", try_number=2)
    assert any("Reconnecting to AMT batch request" in str(line.get("event", line)) for line in log)


def _amt_log(cluster, dag_id, run_id, try_number=1):
    return cluster.amt_log(dag_id, run_id, "job", try_number)


def _file_indexes(cluster, dag_id, run_id, try_number=1):
    return cluster.file_amt_indexes(dag_id, run_id, "job", try_number)


def _assert_jors(events, indexes, total, code_line):
    assert indexes == list(range(total)), f"messages not exactly once / in order: {indexes}"
    info = events.index("---------- AMT job information ----------")
    first = next(i for i, e in enumerate(events) if 0 in message_indexes(e))
    completion = events.index(code_line)
    assert info < first < completion
    assert any(e.startswith("Batch Request Id  : ") for e in events[info:first])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["graceful", "killed"])
def test_a_triggerer_restart_neither_kills_the_job_nor_repeats_messages(cluster, cluster_emulator, amt, sig):
    """After a crash the triggerer comes back as a dedicated AMT triggerer (no greenback portal,
    docs/deployment.md): the resumed trigger reads its checkpoint, logs and ends without one. The
    later tests of this module run on that triggerer (the graceful case covers Airflow's default)."""
    since = _last_seq(cluster_emulator)
    run_id = cluster.trigger("amt_cluster_restart", {"job": "STREAMREPORT"})  # 30 s, a message every 0.4 s
    cluster.wait_for_state("amt_cluster_restart", run_id, "job", {"deferred"})
    request_id = cluster.home.xcom("amt_cluster_restart", "job", key="batch_request_id", run_id=run_id)
    _wait(lambda: len(amt.get_messages(request_id)) >= 8, 30, "some messages")
    # live: while the task is still deferred, a log reader (REST, as the UI) already sees them
    _wait(lambda: 7 in _amt_log(cluster, "amt_cluster_restart", run_id)[1], 10, "message 7 in the live log")
    assert cluster.task_instance("amt_cluster_restart", run_id, "job")["state"] == "deferred"
    try:
        cluster.stop("triggerer", sig=sig)  # SIGTERM: a rolling deploy; SIGKILL: a crash
        time.sleep(1.5)  # the job keeps writing while no triggerer runs
        assert amt.get_job_status(request_id).code == AmtCompletionCode.RUNNING
    finally:
        cluster.start("triggerer", env=DEDICATED_TRIGGERER_ENV if sig == signal.SIGKILL else None)
    ti = cluster.wait_for_state("amt_cluster_restart", run_id, "job", {"success", "failed"}, timeout=120)
    assert ti["state"] == "success"
    kills = [e for e in cluster_emulator.requests("OpConJobAction", action="Kill") if e["seq"] > since]
    assert kills == [] and amt.get_job_status(request_id).code == AmtCompletionCode.DONE
    total = len(amt.get_messages(request_id))
    in_files = _file_indexes(cluster, "amt_cluster_restart", run_id)
    if sig == signal.SIGTERM:
        # a graceful stop loses nothing from the files; they hold again what was logged since the last
        # checkpoint save (a trigger alone saves at most every second at [amt] checkpoint_rate 1, and
        # the stop may come before the save of the last page): the REST log below shows each once
        assert set(in_files) == set(range(total))
    else:
        # a crash: the new triggerer logs again what the killed one logged since its last checkpoint
        # save ([amt] checkpoint_interval), and what the killed process had not written yet is lost
        # from its file; the REST log (AmtTaskLogHandler) below still shows each message once, in order
        assert set(in_files) <= set(range(total))
    events, indexes = _amt_log(cluster, "amt_cluster_restart", run_id)
    _assert_jors(events, indexes, total, "Completion Code : DONE (4)")
    # each triggerer process raised its GC threshold once, in its own log, not in the task's
    raised = "Raised this triggerer's young-generation GC threshold from 700 to 10000"
    assert raised in (cluster.home.home / "triggerer.out").read_text(errors="replace")
    assert not any("GC threshold" in event for event in events)


def test_log_handler_reports_an_unreachable_amt_and_fills_lost_files(cluster, cluster_emulator, amt):
    run_id = cluster.trigger("amt_cluster_restart")
    ti = cluster.wait_for_state("amt_cluster_restart", run_id, "job", {"success", "failed"}, timeout=120)
    assert ti["state"] == "success"
    request_id = cluster.home.xcom("amt_cluster_restart", "job", key="batch_request_id", run_id=run_id)
    total = len(amt.get_messages(request_id))
    # AMT unreachable while the log is read: the files are shown as they are, and the reason
    cluster_emulator.set_faults([{"route": "GetMessages", "action": "error", "status": 503}])
    try:
        events, indexes = _amt_log(cluster, "amt_cluster_restart", run_id)
    finally:
        cluster_emulator.set_faults([])
    assert indexes == list(range(total)) and "Completion Code : DONE (4)" in events
    assert any("could not be checked against AMT" in e and "HTTP 503" in e for e in events)
    # the triggerer's machine and its log files are gone: the handler adds what AMT has
    trigger_files = [p for p in cluster.log_files("amt_cluster_restart", run_id, "job") if ".trigger." in p.name]
    assert trigger_files
    for path in trigger_files:
        path.unlink()
    events, indexes = _amt_log(cluster, "amt_cluster_restart", run_id)
    assert indexes == list(range(total))
    assert any("were not in the task log files; added from AMT" in e for e in events)


def _starts_of(emulator, since_seq: int) -> list[dict]:
    """Every Start that reached the emulator (answered or not) after ``since_seq``."""
    return [e for e in emulator.requests("OpConJobAction", action="Start") if e["seq"] > since_seq]


def _events(cluster, dag_id, run_id, try_number):
    """The whole task log of one try as text, error details (exception type and message) included."""
    return " | ".join(json.dumps(line) for line in cluster.task_log(dag_id, run_id, "job", try_number))


def _tries(cluster, dag_id, run_id, ti) -> str:
    """Why a task instance ended as it did: its state, and each try's log (for an assertion message)."""
    logs = [f"try {n}: {_events(cluster, dag_id, run_id, n)}" for n in range(1, int(ti["try_number"]) + 1)]
    return f"state {ti['state']}, try {ti['try_number']}\n" + "\n".join(logs)


def test_a_retry_after_a_dropped_start_reconnects_to_the_one_job(cluster, cluster_emulator, amt):
    since = _last_seq(cluster_emulator)
    cluster_emulator.set_faults([{"route": "Start", "action": "drop_after", "count": 1}])
    run_id = cluster.trigger("amt_cluster_unclear_start")
    ti = cluster.wait_for_state("amt_cluster_unclear_start", run_id, "job", {"success", "failed"}, timeout=150)
    assert ti["state"] == "success" and ti["try_number"] == 2, _tries(cluster, "amt_cluster_unclear_start", run_id, ti)
    (start,) = _starts_of(cluster_emulator, since)  # one Start reached AMT, and no second one was sent
    assert start["fault"] == "drop_after"
    first = _events(cluster, "amt_cluster_unclear_start", run_id, 1)
    assert "the request may have arrived" in first
    second = _events(cluster, "amt_cluster_unclear_start", run_id, 2)
    assert "started by an earlier try" in second and "Completion Code : DONE (4)" in second


def test_a_retry_that_cannot_confirm_a_start_fails_without_sending_another(cluster, cluster_emulator, amt):
    since = _last_seq(cluster_emulator)
    cluster_emulator.set_faults([{"route": "Start", "action": "drop_after", "count": 1}])
    run_id = cluster.trigger("amt_cluster_unclear_start_nolookup")
    ti = cluster.wait_for_state("amt_cluster_unclear_start_nolookup", run_id, "job", {"success", "failed"}, timeout=150)
    assert ti["state"] == "failed" and ti["try_number"] == 2, ti
    assert len(_starts_of(cluster_emulator, since)) == 1
    second = _events(cluster, "amt_cluster_unclear_start_nolookup", run_id, 2)
    assert "AmtUnconfirmedStartError" in second and "Nothing was sent" in second


def _actions_sent(emulator, since_seq: int) -> list[tuple[str, int]]:
    """Every Stop and Kill that reached the emulator after ``since_seq``: (action, batch request id)."""
    return [
        (e["action"], json.loads(e["detail"])["batchRequestId"])
        for e in emulator.requests("OpConJobAction")
        if e["seq"] > since_seq and e["action"] in ("Stop", "Kill")
    ]


def _log_text(cluster, dag_id: str, run_id: str, task_id: str) -> str:
    return "\n".join(str(line.get("event", "")) for line in cluster.task_log(dag_id, run_id, task_id))


def test_stop_and_kill_as_dag_tasks(cluster, cluster_emulator, amt):
    """Queued job stopped → 10 DEL_QUEUE; running job killed → 3 KILLED; ended job: nothing sent."""
    since = _last_seq(cluster_emulator)
    dag_id = "amt_cluster_actions"
    run_id = cluster.trigger(dag_id)
    ti = cluster.wait_for_state(dag_id, run_id, "kill_ended", {"success", "failed", "upstream_failed"}, timeout=150)
    assert ti["state"] == "success", {t: cluster.task_instance(dag_id, run_id, t)["state"] for t in ("stop_queued",)}
    hold = cluster.home.xcom(dag_id, "hold", key="batch_request_id", run_id=run_id)
    queued = cluster.home.xcom(dag_id, "queued", key="batch_request_id", run_id=run_id)
    results = {
        task: cluster.home.xcom(dag_id, task, run_id=run_id) for task in ("stop_queued", "kill_running", "kill_ended")
    }
    assert results == {
        "stop_queued": {
            "batch_request_id": queued,
            "completion_code": 10,
            "completion_name": "DEL_QUEUE",
            "status": "DEL_QUEUE",
            "outcome": "cancelled",
        },
        "kill_running": {
            "batch_request_id": hold,
            "completion_code": 3,
            "completion_name": "KILLED",
            "status": "KILLED",
            "outcome": "cancelled",
        },
        "kill_ended": {
            "batch_request_id": hold,
            "completion_code": 3,
            "completion_name": "KILLED",
            "status": "KILLED",
            "outcome": "cancelled",
        },
    }
    assert _actions_sent(cluster_emulator, since) == [("Stop", queued), ("Kill", hold)]  # none for the ended job
    assert f"Stopped AMT batch request {queued}: completion code DEL_QUEUE (10)" in _log_text(
        cluster, dag_id, run_id, "stop_queued"
    )
    assert f"Killed AMT batch request {hold}: completion code KILLED (3)" in _log_text(
        cluster, dag_id, run_id, "kill_running"
    )
    assert f"AMT batch request {hold} had already ended (KILLED (3)): no Kill sent" in _log_text(
        cluster, dag_id, run_id, "kill_ended"
    )


def test_the_kill_policy_decides_what_marking_a_task_failed_sends_to_amt(cluster, cluster_emulator, amt):
    """on_kill_action "kill" (default), "stop", None; deferred and on the worker; the sensor (None)."""
    dag_id = "amt_cluster_kill_policy"
    waiting = {"kill": "deferred", "stop": "deferred", "keep": "deferred", "stop_sync": "running", "sensor": "deferred"}
    since = _last_seq(cluster_emulator)
    run_id = cluster.trigger(dag_id)
    ids: dict[str, int] = {}
    try:
        for task, state in waiting.items():
            cluster.wait_for_state(dag_id, run_id, task, {state}, timeout=90)
            source = "start" if task == "sensor" else task
            ids[task] = _wait(
                lambda s=source: cluster.home.xcom(dag_id, s, key="batch_request_id", run_id=run_id), 30, f"{task}'s id"
            )
            _wait(lambda t=task: amt.get_job_status(ids[t]).code == AmtCompletionCode.RUNNING, 20, f"{task}'s job")
        time.sleep(2)  # stop_sync is polling on the worker now
        for task in waiting:
            cluster.set_task_state(dag_id, run_id, task, "failed")
        for task in ("kill", "stop", "stop_sync"):
            _wait(lambda t=task: amt.get_job_status(ids[t]).code.is_terminal, 40, f"{task}'s job to end")
        for task in ("keep", "sensor"):
            line = f"on_kill_action is None: AMT batch request {ids[task]} keeps running"
            _wait(lambda t=task, line=line: line in _log_text(cluster, dag_id, run_id, t), 40, f"{task}: {line}")
        sent = _actions_sent(cluster_emulator, since)
        assert sorted(sent) == sorted([("Kill", ids["kill"]), ("Stop", ids["stop"]), ("Stop", ids["stop_sync"])])
        assert amt.get_job_status(ids["keep"]).code == AmtCompletionCode.RUNNING
        assert amt.get_job_status(ids["sensor"]).code == AmtCompletionCode.RUNNING
        assert f"Killed AMT batch request {ids['kill']}" in _log_text(cluster, dag_id, run_id, "kill")
        assert f"Stopped AMT batch request {ids['stop']}" in _log_text(cluster, dag_id, run_id, "stop")
    finally:
        for request_id in ids.values():
            amt.kill_job(request_id)


def test_the_first_message_is_live_in_the_ui_log_within_seconds(cluster, cluster_emulator, amt):
    """The live-latency figure's behaviour (bench/live_latency.py measures it): a job writing a message
    every 0.5 s; the first one is in the REST log (as the UI reads it) while the task is still deferred,
    and soon: the bound is 2 s p95, checked here with a generous margin for a loaded CI machine."""
    dag_id = "amt_cluster_live"
    run_id = cluster.trigger(dag_id)
    seen = cluster.watch_live_log(dag_id, run_id, "job", timeout=90)
    assert cluster.task_instance(dag_id, run_id, "job")["state"] == "success"
    request_id = cluster.home.xcom(dag_id, "job", key="batch_request_id", run_id=run_id)
    messages = amt.get_messages(request_id)
    delays = live_delays(seen, messages)
    # live: seen before the task came back from the triggerer (the worker logs what is there when it
    # defers, the trigger the rest), and soon
    assert seen[0][1] in ("running", "deferred"), seen[0]
    assert delays[0] < 6.0, delays
    # the trigger logs the rest while the task is deferred; once it has read its checkpoint (the first
    # read on a fresh triggerer boots its in-process API: seconds), within a poll interval (2 s, 15 %
    # jitter) plus the log reads' own spacing
    by_trigger = sorted(i for i, (_, state, trigger) in seen.items() if trigger and state == "deferred")
    assert len(by_trigger) >= 8, seen
    first_read = seen[by_trigger[0]][0]
    later = [delays[i] for i in by_trigger if seen[i][0] > first_read]
    assert later and max(later) < 2.3 + 2.0, delays


# --- start_from_trigger: AMT tasks that never run on a worker -------------------------------------------

FROM_TRIGGER = "amt_cluster_from_trigger"


def _worker_log_files(cluster, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> list[str]:
    """The try's log files a worker wrote (``attempt=N.log``); a trigger writes ``attempt=N.log.trigger.*``."""
    return [
        p.name
        for p in cluster.log_files(dag_id, run_id, task_id, try_number)
        if p.name.endswith(".log") and ".trigger." not in p.name
    ]


@pytest.mark.skipif(not start_from_trigger_supported(), reason="start_from_trigger needs Airflow 3.3+")
def test_tasks_started_from_the_triggerer_end_there_as_the_classic_path_would(cluster, cluster_emulator, amt):
    """Success with its XComs, failure with the code (and the callback), skip, a retry that starts
    anew after a failure, the execution timeout: one Start per try, and no worker for any but the
    timeout (Airflow's own trigger timeout resumes the task on a worker, which kills the job)."""
    since = _last_seq(cluster_emulator)
    marker = cluster.home.home / CALLBACK_MARKER
    marker.unlink(missing_ok=True)
    run_id = cluster.trigger(FROM_TRIGGER)
    ends = {"success", "failed", "skipped", "upstream_failed"}
    states = {
        task: cluster.wait_for_state(FROM_TRIGGER, run_id, task, ends, timeout=150)
        for task in (
            *("ok", "fails", "skips", "retries", "times_out", "downstream", "refused_fast", "invalid_user_fast"),
            "held",
        )
    }
    assert {task: ti["state"] for task, ti in states.items()} == {
        "ok": "success",
        "fails": "failed",
        "skips": "skipped",
        "retries": "failed",
        "times_out": "failed",
        "downstream": "success",
        "refused_fast": "failed",
        "invalid_user_fast": "failed",
        "held": "failed",
    }, {task: (ti["state"], _events_of(cluster, run_id, task)[-3000:]) for task, ti in states.items()}
    assert states["retries"]["try_number"] == 2
    # fail fast: retries=3, one try (the trigger resumed the task on a worker only to fail it there)
    assert states["refused_fast"]["try_number"] == states["invalid_user_fast"]["try_number"] == 1
    assert cluster.xcom(FROM_TRIGGER, run_id, "invalid_user_fast", "return_value")["completion_code"] == 99
    # a mapped task is not started in the triggerer (Airflow gives every mapped instance the same
    # trigger kwargs): it starts on a worker and defers from there
    path = f"/dags/{FROM_TRIGGER}/dagRuns/{run_id}/taskInstances/mapped/0"
    mapped = _wait(lambda: (ti := cluster.api("GET", path))["state"] in ends and ti, 60, "the mapped task")
    assert mapped["state"] == "success", mapped
    starts = [json.loads(e["detail"])["name"] for e in _starts_of(cluster_emulator, since) if e["status"] == 200]
    assert sorted(starts) == sorted(
        ["REPORTTEST01"] * 3
        + ["FAILINGREPORT"] * 3
        + ["SKIPPEDREPORT", "LONGRUNNINGREPORT", "NO_SUCH_JOB", "WAITFORINPUT"]
    )
    # as Airflow reads them (the triggerer's event pushes them JSON-encoded once more than a worker does)
    result = cluster.xcom(FROM_TRIGGER, run_id, "ok", "return_value")
    assert result["completion_code"] == 4 and result["status"] == "DONE", result
    assert cluster.xcom(FROM_TRIGGER, run_id, "ok", "batch_request_id") == result["batch_request_id"]
    assert cluster.xcom(FROM_TRIGGER, run_id, "fails", "return_value")["completion_code"] == 11
    assert cluster.xcom(FROM_TRIGGER, run_id, "downstream", "return_value") == 4
    assert amt.get_job_status(result["batch_request_id"]).code == AmtCompletionCode.DONE
    ok_log = _events_of(cluster, run_id, "ok")
    assert f"Batch Request Id  : {result['batch_request_id']}" in ok_log and "Completion Code : DONE (4)" in ok_log
    assert f"TaskValues        : {run_id}" in ok_log  # rendered in the triggerer
    failed = _events_of(cluster, run_id, "fails")
    assert "FAILINGREPORT" in failed and "(11)" in failed and "division by zero" in failed
    _wait(lambda: marker.exists(), 60, "the failure callback")
    assert marker.read_text() == "fails"
    # a job held in 14 past max_time_in_state: its state in the log once, killed from the triggerer
    held = " | ".join(str(line.get("event", line)) for line in cluster.task_log(FROM_TRIGGER, run_id, "held"))
    assert len(re.findall(r"AMT state: [A-Z]+ \([12]\) → WAIT FOR INPUT REQUEST \(14\) since", held)) == 1, held
    assert "max_time_in_state allows it 4 s" in held and "completion code KILLED (3)" in held, held
    assert cluster.xcom(FROM_TRIGGER, run_id, "held", "return_value")["outcome"] == "timeout"
    assert _worker_log_files(cluster, FROM_TRIGGER, run_id, "held") == []
    timed_out = cluster.xcom(FROM_TRIGGER, run_id, "times_out", "batch_request_id")
    _wait(lambda: amt.get_job_status(timed_out).code == AmtCompletionCode.KILLED, 40, "the timed-out job's Kill")
    for task in ("ok", "fails", "skips"):
        assert _worker_log_files(cluster, FROM_TRIGGER, run_id, task) == [], task
        assert any(".trigger." in p.name for p in cluster.log_files(FROM_TRIGGER, run_id, task)), task
    for try_number in (1, 2):
        assert _worker_log_files(cluster, FROM_TRIGGER, run_id, "retries", try_number) == []
    # the only XCom read that finds nothing (Airflow's client logs it as an error) is each try's look
    # for an earlier copy's start record: the message checkpoint is seeded before it is read
    triggerer_log = (cluster.home.home / "triggerer.out").read_text(errors="replace").splitlines()
    missing = [line for line in triggerer_log if "XCom not found" in line and run_id in line]
    assert missing and all("amt_start" in line for line in missing), missing


def _events_of(cluster, run_id: str, task_id: str, try_number: int = 1) -> str:
    return " | ".join(json.dumps(line) for line in cluster.task_log(FROM_TRIGGER, run_id, task_id, try_number))


@pytest.mark.skipif(not start_from_trigger_supported(), reason="start_from_trigger needs Airflow 3.3+")
def test_marking_a_task_started_from_the_triggerer_failed_kills_its_job(cluster, cluster_emulator, amt):
    dag_id = "amt_cluster_from_trigger_one"
    run_id = cluster.trigger(dag_id)
    request_id = _wait(lambda: cluster.home.xcom(dag_id, "job", key="batch_request_id", run_id=run_id), 60, "the id")
    _wait(lambda: amt.get_job_status(request_id).code == AmtCompletionCode.RUNNING, 20, "the job to run")
    cluster.set_task_state(dag_id, run_id, "job", "failed")
    _wait(lambda: amt.get_job_status(request_id).code == AmtCompletionCode.KILLED, 40, "the AMT job to be killed")
    assert _worker_log_files(cluster, dag_id, run_id, "job") == []


@pytest.mark.skipif(not start_from_trigger_supported(), reason="start_from_trigger needs Airflow 3.3+")
def test_a_triggerer_killed_during_the_start_leaves_exactly_one_job(cluster, cluster_emulator, amt):
    """The Start's answer is held back 8 s; the triggerer is killed while it waits. The copy of the
    trigger that takes over finds the job by its task id (its try's record says a Start was in flight)."""
    dag_id = "amt_cluster_from_trigger_one"
    since = _last_seq(cluster_emulator)
    cluster_emulator.set_faults([{"route": "Start", "action": "delay", "seconds": 8, "count": 1}])
    run_id = cluster.trigger(dag_id, {"job": "CHATTYREPORT"})
    cluster.wait_for_state(dag_id, run_id, "job", {"deferred"})
    time.sleep(4)  # the trigger has sent its Start and waits for the answer
    try:
        cluster.stop("triggerer", sig=signal.SIGKILL)
    finally:
        cluster.start("triggerer", env=DEDICATED_TRIGGERER_ENV)
    ti = cluster.wait_for_state(dag_id, run_id, "job", {"success", "failed"}, timeout=150)
    assert ti["state"] == "success", _tries(cluster, dag_id, run_id, ti)
    starts = [e for e in _starts_of(cluster_emulator, since) if e["status"] == 200]
    assert len(starts) == 1, starts
    log = _events(cluster, dag_id, run_id, 1)
    assert "started by this try" in log, log


def test_an_amt_jobs_success_updates_the_asset_that_schedules_the_next_dag_and_a_failure_does_not(
    cluster, cluster_emulator, amt
):
    """example_dags/amt_assets.py under a real scheduler (issue 27): the Airflow 3 way to chain pipelines."""
    consumer = "/dags/amt_assets_consumer/dagRuns"
    before = {run["dag_run_id"] for run in cluster.api("GET", consumer)["dag_runs"]}
    failed = cluster.trigger("amt_assets_producer", {"job": "FAILINGREPORT"})
    cluster.wait_for_state("amt_assets_producer", failed, "nightly_extract", {"failed"}, timeout=120)
    succeeded = cluster.trigger("amt_assets_producer")
    cluster.wait_for_state("amt_assets_producer", succeeded, "nightly_extract", {"success"}, timeout=120)

    events = cluster.api("GET", "/assets/events", params={"limit": 100})["asset_events"]
    sources = [e["source_run_id"] for e in events if e["source_dag_id"] == "amt_assets_producer"]
    assert succeeded in sources and failed not in sources, sources

    new: list[str] = []

    def consumer_ran() -> bool:
        new[:] = [r["dag_run_id"] for r in cluster.api("GET", consumer)["dag_runs"] if r["dag_run_id"] not in before]
        return bool(new)

    _wait(consumer_ran, timeout=90, what="a run of amt_assets_consumer scheduled by the asset")
    (run_id,) = new  # one run: the failure scheduled none
    cluster.wait_for_state("amt_assets_consumer", run_id, "load_extract", {"success"}, timeout=120)
    path = f"{consumer}/{run_id}/taskInstances/which_extract/xcomEntries/return_value"
    assert cluster.api("GET", path)["value"] == succeeded
    time.sleep(3)  # and none queued behind it
    consumer_ran()
    assert new == [run_id]


@pytest.mark.skipif(not start_from_trigger_supported(), reason="start_from_trigger needs Airflow 3.3+")
def test_at_read_the_triggerer_logs_no_message_and_the_log_shows_each_from_amt_live_and_after(
    cluster, cluster_emulator, amt
):
    """``[amt] trigger_messages = at_read`` (docs/logs.md#messages-at-read): a ``start_from_trigger``
    task's messages are in no log file, and the api-server's ``AmtTaskLogHandler`` shows each once,
    in order, while the job runs and after its end (before the completion block). The triggerer comes
    back as it was (a dedicated one, as after the restart test) for the tests after this one."""
    dag_id = "amt_cluster_from_trigger_one"
    cluster.stop("triggerer")
    try:
        cluster.start("triggerer", env={**DEDICATED_TRIGGERER_ENV, "AIRFLOW__AMT__TRIGGER_MESSAGES": "at_read"})
        run_id = cluster.trigger(dag_id, {"job": "STREAMREPORT"})  # 30 s, a message every 0.4 s
        request_id = _wait(lambda: cluster.home.xcom(dag_id, "job", key="batch_request_id", run_id=run_id), 60, "id")
        _wait(lambda: len(amt.get_messages(request_id)) >= 8, 30, "some messages")
        live = _amt_log(cluster, dag_id, run_id)[1]
        assert cluster.task_instance(dag_id, run_id, "job")["state"] == "deferred"
        assert len(live) >= 8 and live == list(range(len(live))), live  # from AMT, while the job runs
        ti = cluster.wait_for_state(dag_id, run_id, "job", {"success", "failed"}, timeout=120)
        assert ti["state"] == "success"
    finally:
        cluster.stop("triggerer")
        cluster.start("triggerer", env=DEDICATED_TRIGGERER_ENV)
    assert _file_indexes(cluster, dag_id, run_id) == []  # the triggerer logged none of them
    events, indexes = _amt_log(cluster, dag_id, run_id)
    _assert_jors(events, indexes, len(amt.get_messages(request_id)), "Completion Code : DONE (4)")
    assert any("are added from AMT when the log is read" in event for event in events)
