"""Every AMT guarantee in the production topology (CeleryExecutor, PostgreSQL, two triggerers).

Each scenario starts from the same state: both workers up, triggerer 1 up, triggerer 2 down, so
that the fleet's triggers all land on triggerer 1 first and can then be taken from it.
"""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import psutil
import pytest

from amt_emulator import EmulatorProcess
from tests.airflow_harness import last_seq as _last_seq
from tests.airflow_harness import wait_until as _wait
from tests.distributed.conftest import HEALTH_THRESHOLD, Topology
from tests.distributed.dags.amt_fleet import FLEET


def _actions(emulator: EmulatorProcess, action: str, since: int) -> list[dict[str, Any]]:
    return [e for e in emulator.requests("OpConJobAction", action=action) if e["seq"] > since]


def _tis(topology: Topology, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    return topology.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})[
        "task_instances"
    ]


def _all_in(topology: Topology, dag_id: str, run_id: str, states: set[str], timeout: float) -> list[dict[str, Any]]:
    def check() -> list[dict[str, Any]] | None:
        tis = _tis(topology, dag_id, run_id)
        return tis if tis and all(ti["state"] in states for ti in tis) else None

    try:
        return _wait(check, timeout, f"every task of {dag_id} in {states}")
    except AssertionError as err:
        summary = {ti["task_id"]: (ti["state"], ti["try_number"]) for ti in _tis(topology, dag_id, run_id)}
        raise AssertionError(f"{err}: {summary}") from None


def _amt_indexes(topology: Topology, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> list[int]:
    """The AMT message indexes of a task log as the UI reads it (REST, every file merged)."""
    return topology.amt_log(dag_id, run_id, task_id, try_number)[1]


def _assert_every_message_once(topology: Topology, emulator_hook: Any, dag_id: str, run_id: str) -> None:
    for ti in _tis(topology, dag_id, run_id):
        request_id = topology.xcom(dag_id, run_id, ti["task_id"], "batch_request_id")
        total = len(emulator_hook.get_messages(request_id))
        indexes = _amt_indexes(topology, dag_id, run_id, ti["task_id"], ti["try_number"])
        assert indexes == list(range(total)), f"{ti['task_id']}: not every message exactly once, in order"


@pytest.fixture
def amt(fleet_emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch):
    from airflow_provider_amt.hooks.amt import AmtHook
    from amt_client import AmtClient

    monkeypatch.setenv("AIRFLOW_CONN_AMT_FLEET", fleet_emulator.connection_uri())
    AmtClient.forget_tokens()
    return AmtHook("amt_fleet")


@pytest.fixture
def one_triggerer(topology: Topology) -> Topology:
    """Triggerer 1 alone at the start of a scenario (and both workers up)."""
    topology.stop("triggerer-2")
    for n in (1, 2):
        if topology.processes.get(f"worker-{n}") is None or topology.processes[f"worker-{n}"].poll() is not None:
            topology.start_worker(n)
    if topology.processes.get("triggerer-1") is None or topology.processes["triggerer-1"].poll() is not None:
        topology.start_triggerer(1)
    return topology


def _assert_live_logs_show_each_message_once(topology: Topology, run_id: str) -> tuple[int, int]:
    """While the tasks are still deferred, the REST log (as the UI reads it) holds AMT's messages 0..k
    once each, in order. Returns how many tasks had messages repeated in their files, and how many
    had messages missing from their files (both hidden from the reader by the log handler)."""
    repeated = filled = 0
    deferred = [ti for ti in _tis(topology, "amt_fleet", run_id) if ti["state"] == "deferred"]
    assert deferred, "every task ended before its live log could be read"
    for ti in deferred:
        events, indexes = topology.amt_log("amt_fleet", run_id, ti["task_id"])
        assert indexes == list(range(len(indexes))), f"{ti['task_id']} live: {indexes}"
        in_files = topology.file_amt_indexes("amt_fleet", run_id, ti["task_id"])
        repeated += len(in_files) > len(set(in_files))
        filled += any("were not in the task log files; added from AMT" in e for e in events)
    return repeated, filled


def _assert_no_checkpoint_noise(topology: Topology) -> None:
    """A trigger's first checkpoint read finds the one the worker wrote: no "XCom not found" errors."""
    for n in (1, 2):
        out = topology.home.home / f"triggerer-{n}.out"
        text = out.read_text(errors="replace") if out.exists() else ""
        assert "amt_message_cursor' map_index=-1 not found" not in text, f"triggerer {n} logged a missing checkpoint"


def _triggerer_of(ti: dict[str, Any]) -> int | None:
    job = ti.get("triggerer_job") or {}
    return job.get("id")


def _deferred_on_one_triggerer(topology: Topology, run_id: str) -> int:
    """Wait until every task is deferred and its trigger runs; the one triggerer job running them all."""
    _all_in(topology, "amt_fleet", run_id, {"deferred"}, timeout=240)

    def owners() -> set[int] | None:
        found = {_triggerer_of(ti) for ti in _tis(topology, "amt_fleet", run_id)}
        return None if None in found else found  # type: ignore[return-value]

    found = _wait(owners, 60, "every trigger to be picked up")
    assert len(found) == 1, found
    return found.pop()


def _moved_off(topology: Topology, run_id: str, job_id: int, timeout: float) -> None:
    def moved() -> bool:
        tis = _tis(topology, "amt_fleet", run_id)
        return all(ti["state"] != "deferred" or _triggerer_of(ti) not in (job_id, None) for ti in tis)

    _wait(moved, timeout, f"every trigger to leave triggerer job {job_id}")


def _stall(topology: Topology, triggerer: int, run_id: str, job_id: int) -> None:
    """SIGSTOP a triggerer until every trigger it ran has moved off it, then SIGCONT it."""
    topology.send_signal(f"triggerer-{triggerer}", signal.SIGSTOP)
    try:
        _moved_off(topology, run_id, job_id, timeout=HEALTH_THRESHOLD + 40)
    finally:
        topology.send_signal(f"triggerer-{triggerer}", signal.SIGCONT)


def _fleet_deferred_on_triggerer_1(topology: Topology, job: str, logged: int = 0) -> tuple[str, int]:
    """Run the fleet with ``job``; once every trigger runs on triggerer 1 (and has logged ``logged``
    AMT messages), start triggerer 2.

    Returns the run id and triggerer 1's job id.
    """
    run_id = topology.trigger("amt_fleet", {"job": job})
    first = _deferred_on_one_triggerer(topology, run_id)
    if logged:

        def every_task_logged() -> bool:
            tasks = [ti["task_id"] for ti in _tis(topology, "amt_fleet", run_id)]
            return all(len(_amt_indexes(topology, "amt_fleet", run_id, task)) >= logged for task in tasks)

        _wait(every_task_logged, 90, f"{logged} AMT messages in every task's log")
    topology.start_triggerer(2)
    time.sleep(5)  # triggerer 2 is up and heartbeating
    return run_id, first


def test_a_killed_triggerer_hands_its_jobs_over_untouched(one_triggerer: Topology, fleet_emulator, amt):
    topology = one_triggerer
    since = _last_seq(fleet_emulator)
    run_id, first = _fleet_deferred_on_triggerer_1(topology, "BOUNCEREPORT", logged=4)
    topology.stop("triggerer-1", sig=signal.SIGKILL)  # a crash: no shutdown, no cleanup
    _moved_off(topology, run_id, first, timeout=60)
    # Triggerer 2 logs again what triggerer 1 logged since its last checkpoint save (or, where the
    # killed triggerer's buffered lines never reached its file, the handler fills them from AMT).
    _wait(
        lambda: any(_assert_live_logs_show_each_message_once(topology, run_id)),
        90,
        "a repeat or a gap in some task's files (the live log must hide both)",
    )
    tis = _all_in(topology, "amt_fleet", run_id, {"success", "failed"}, timeout=240)
    assert {ti["state"] for ti in tis} == {"success"}, tis
    assert len(_actions(fleet_emulator, "Start", since)) == FLEET
    assert _actions(fleet_emulator, "Kill", since) == []
    _assert_every_message_once(topology, amt, "amt_fleet", run_id)
    _assert_no_checkpoint_noise(topology)


def test_a_stalled_triggerer_that_resumes_kills_nothing(one_triggerer: Topology, fleet_emulator, amt):
    topology = one_triggerer
    since = _last_seq(fleet_emulator)
    run_id, first = _fleet_deferred_on_triggerer_1(topology, "BOUNCEREPORT", logged=5)
    _stall(topology, 1, run_id, first)  # a GC pause, a VM migration, an overloaded host
    # triggerer 2 logs again what triggerer 1 logged since its last checkpoint save
    _wait(
        lambda: _assert_live_logs_show_each_message_once(topology, run_id)[0],
        90,
        "messages repeated in some task's files (the live log must show them once)",
    )
    tis = _all_in(topology, "amt_fleet", run_id, {"success", "failed"}, timeout=180)
    assert {ti["state"] for ti in tis} == {"success"}, tis
    assert _actions(fleet_emulator, "Kill", since) == []
    left = _left_running_notes(topology, run_id)
    assert left, "triggerer 1 never said it left the moved jobs alone"
    _assert_every_message_once(topology, amt, "amt_fleet", run_id)


def _left_running_notes(topology: Topology, run_id: str) -> int:
    """How often a cancelled trigger copy said it left its job running: in the task's trigger log
    files, or in a triggerer's own log when Airflow had already closed the task's file."""
    needle = "the trigger moved to another triggerer"
    run = topology.home.home / "logs" / "dag_id=amt_fleet" / f"run_id={run_id}"
    texts = [path.read_text(errors="replace") for path in run.glob("task_id=*/attempt=1.log*")]
    own = [topology.home.home / f"triggerer-{n}.out" for n in (1, 2)]
    texts += [path.read_text(errors="replace") for path in own if path.exists()]
    return sum(text.count(needle) for text in texts)


def test_a_trigger_that_bounces_back_to_a_triggerer_loses_no_message(one_triggerer: Topology, fleet_emulator, amt):
    """1 -> 2 -> 1 within one try: Airflow reopens triggerer 1's log file for the try with truncation."""
    topology = one_triggerer
    since = _last_seq(fleet_emulator)
    run_id, first = _fleet_deferred_on_triggerer_1(topology, "BOUNCEREPORT")
    _stall(topology, 1, run_id, first)
    second = _wait(
        lambda: {_triggerer_of(ti) for ti in _tis(topology, "amt_fleet", run_id)} - {first, None},
        30,
        "the triggers on triggerer 2",
    ).pop()
    time.sleep(HEALTH_THRESHOLD)  # triggerer 1 has dropped its copies and is healthy again: it can take them back
    _stall(topology, 2, run_id, second)
    back = {_triggerer_of(ti) for ti in _tis(topology, "amt_fleet", run_id) if ti["state"] == "deferred"}
    assert back <= {first}, back  # back on triggerer 1: the same triggerer job, the same log file name
    tis = _all_in(topology, "amt_fleet", run_id, {"success", "failed"}, timeout=240)
    assert {ti["state"] for ti in tis} == {"success"}, tis
    assert _actions(fleet_emulator, "Kill", since) == []
    _assert_every_message_once(topology, amt, "amt_fleet", run_id)


def _mark_failed_and_count_kills(topology: Topology, emulator: EmulatorProcess, run_id: str, tasks: range) -> set[int]:
    since = _last_seq(emulator)
    for n in tasks:
        topology.set_task_state("amt_fleet", run_id, f"job_{n:02d}", "failed")
    _wait(lambda: len(_actions(emulator, "Kill", since)) >= len(tasks), 90, "a Kill per job")
    time.sleep(5)  # a second Kill of any job would come now
    kills = _actions(emulator, "Kill", since)
    killed = {json.loads(k["detail"])["batchRequestId"] for k in kills}
    assert len(kills) == len(tasks) == len(killed), kills
    return killed


def test_marking_deferred_tasks_failed_kills_each_job_once_on_either_triggerer(
    one_triggerer: Topology, fleet_emulator, amt
):
    topology = one_triggerer
    run_id, first = _fleet_deferred_on_triggerer_1(topology, "LONGRUNNINGREPORT")
    half = FLEET // 2
    on_first = _mark_failed_and_count_kills(topology, fleet_emulator, run_id, range(half))  # on triggerer 1
    # the other half moves to triggerer 2 (triggerer 1 stalls), and triggerer 1 lets go of its copies
    _stall(topology, 1, run_id, first)
    time.sleep(HEALTH_THRESHOLD)  # triggerer 1 drops its stale copies (no Kill: the tasks are still deferred)
    on_second = _mark_failed_and_count_kills(topology, fleet_emulator, run_id, range(half, FLEET))
    ids = {topology.xcom("amt_fleet", run_id, f"job_{n:02d}", "batch_request_id") for n in range(FLEET)}
    assert on_first | on_second == ids and not on_first & on_second
    for request_id in ids:
        assert amt.get_job_status(request_id).code.amt_name == "KILLED"


def _worker_running(topology: Topology, ti_id: str) -> str | None:
    """Which Celery worker runs this task instance (its supervisor process names the TI id)."""
    for name in ("worker-1", "worker-2"):
        proc = topology.processes.get(name)
        if proc is None or proc.poll() is not None:
            continue
        for child in psutil.Process(proc.pid).children(recursive=True):
            try:
                title = " ".join(child.cmdline())
            except psutil.Error:
                continue
            if ti_id in title:
                return name
    return None


def _crash_worker_of(topology: Topology, dag_id: str, run_id: str) -> str:
    ti = topology.task_instance(dag_id, run_id, "job")
    worker = _wait(lambda: _worker_running(topology, ti["id"]), 30, "the worker running the task")
    topology.stop(worker, sig=signal.SIGKILL)  # the worker host dies: Celery, supervisor and task at once
    topology.start_worker(int(worker[-1]))
    return worker


def _starts(emulator: EmulatorProcess, since: int, job: str) -> list[dict[str, Any]]:
    return [e for e in _actions(emulator, "Start", since) if json.loads(e["detail"])["name"] == job]


def test_a_worker_killed_while_waiting_on_the_job_is_retried_onto_the_same_job(
    one_triggerer: Topology, fleet_emulator, amt
):
    topology = one_triggerer
    since = _last_seq(fleet_emulator)
    run_id = topology.trigger("amt_worker_wait", {"job": "SLOWREPORT"})
    _wait(lambda: _starts(fleet_emulator, since, "SLOWREPORT"), 120, "the Start")
    time.sleep(2)  # the operator is polling on the worker now
    _crash_worker_of(topology, "amt_worker_wait", run_id)
    ti = topology.wait_for_state("amt_worker_wait", run_id, "job", {"success", "failed"}, timeout=240)
    assert ti["state"] == "success" and ti["try_number"] == 2, ti
    assert len(_starts(fleet_emulator, since, "SLOWREPORT")) == 1
    assert _actions(fleet_emulator, "Kill", since) == []
    second = [str(line.get("event", "")) for line in topology.task_log("amt_worker_wait", run_id, "job", 2)]
    assert any("Reconnecting to AMT batch request" in e for e in second), second


def test_a_worker_killed_during_its_start_leaves_one_job_that_the_retry_finds(
    one_triggerer: Topology, fleet_emulator, amt
):
    topology = one_triggerer
    since = _last_seq(fleet_emulator)
    # the Start is held 10 s inside AMT: the worker dies while waiting for its answer
    fleet_emulator.set_faults([{"route": "Start", "action": "delay", "seconds": 10, "count": 1}])
    try:
        run_id = topology.trigger("amt_worker_start", {"job": "REPORTTEST01"})
        _wait(lambda: [e for e in fleet_emulator.requests("Logon") if e["seq"] > since], 120, "the task's logon")
        time.sleep(2)  # the Start has been sent and is held
        _crash_worker_of(topology, "amt_worker_start", run_id)
        ti = topology.wait_for_state("amt_worker_start", run_id, "job", {"success", "failed"}, timeout=240)
    finally:
        fleet_emulator.set_faults([])
    assert ti["state"] == "success" and ti["try_number"] == 2, ti
    (start,) = _starts(fleet_emulator, since, "REPORTTEST01")  # the held Start created the one job
    assert start["status"] == 200
    second = [str(line.get("event", "")) for line in topology.task_log("amt_worker_start", run_id, "job", 2)]
    assert any("started by an earlier try" in e for e in second), second
