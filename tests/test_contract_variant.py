"""The integration tests that matter, against the default contract and a server that differs from it.

``contracts/variant.json`` changes everything a contract document can: paths, the id in the query,
a cookie token with a lifetime the logon does not give, a plain-text heartbeat, a ``Result``
envelope, PascalCase and nested field names. The emulator serves it; the hooks, the trigger and the
log handler reach it through a connection whose extra ``contract`` is the document's path (issue 25).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_amt.hooks.amt import AmtAsyncHook, AmtHook
from airflow_provider_amt.triggers.amt import AmtJobTrigger
from amt_client import (
    AmtClient,
    AmtCompletionCode,
    AmtNotFoundError,
    BatchRequestId,
    MessageCursor,
    Outcome,
    WatchSettings,
)
from amt_client.contract_document import load_contract
from amt_emulator import EmulatorProcess
from tests.conftest import FAST_RETRIES, TIME_SCALE
from tests.test_completion import logged_indexes, wait_for
from tests.test_log_handler import _log, _read

VARIANT = Path(__file__).parent.parent / "contracts" / "variant.json"
Code = AmtCompletionCode


@pytest.fixture(scope="module", params=["default", "variant"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """An emulator serving the contract, and the connection extras that describe it."""
    contract = VARIANT if request.param == "variant" else None
    state = tmp_path_factory.mktemp(f"contract-{request.param}") / "state.sqlite"
    with EmulatorProcess(state, time_scale=TIME_SCALE, contract=contract) as emu:
        extra = {"contract": str(VARIANT)} if contract else {}
        yield request.param, emu.connection_uri(timeout=5, connect_timeout=2, **extra)


@pytest.fixture
def conn(served: tuple[str, Any], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AIRFLOW_CONN_AMT_DEFAULT", served[1])
    AmtClient.forget_tokens()
    return "amt_default"


@pytest.fixture
def hook(conn: str) -> Iterator[AmtHook]:
    sync = AmtHook(conn, retry_policy=FAST_RETRIES)
    yield sync
    sync.close()


def test_the_variant_really_differs_where_a_default_client_would_fail(served, conn):
    """The variant is no disguised default: the default contract's logon path is not there."""
    name, uri = served
    url = json.loads(uri)["host"]
    answer = requests.post(url + "/api/Logon", json={"userName": "amtopcon", "password": "amtopcon"}, timeout=5)
    assert answer.status_code == (200 if name == "default" else 404)
    if name == "variant":
        heartbeat = requests.get(url + "/AmtOpConService/IsAlive", timeout=5)
        assert heartbeat.headers["Content-Type"].startswith("text/plain") and heartbeat.text == "OK"


def test_the_test_button_checks_logon_and_heartbeat(hook):
    ok, message = hook.test_connection()
    assert ok, message
    assert "up" in message


def test_start_and_watch_with_messages_on_the_worker(hook):
    request_id = hook.start_batch_job("DEMO2", "REPORTTEST01", task_values=["A", "B"])
    lines: list[Any] = []
    ended = hook.watch_job(request_id, MessageCursor(), WatchSettings(poll_interval=0.2), lines.extend)
    assert (ended.outcome, ended.code) == (Outcome.SUCCESS, Code.DONE)
    texts = [m.text for m in lines]
    assert [m.index for m in lines] == list(range(len(lines))) and "TaskValue 2: B" in texts, texts
    assert hook.get_job_status(request_id).code is Code.DONE


def test_every_message_is_read_once_across_pages_from_a_cursor_between_pages(served, hook):
    """The variant pages by number (200 a page): a cursor at 150 reads the rest of page 1 first, then
    whole pages; the default reads from the offset. Either way every message once, in order."""
    request_id = hook.start_batch_job("DEMO2", "BIGLOGREPORT")
    wait_for(hook, request_id, {Code.DONE}, timeout=120)
    indexes: list[int] = []
    read = hook.read_messages(request_id, MessageCursor(150), lambda page: indexes.extend(m.index for m in page))
    total = hook.get_job_status(request_id).message_count or read + 150
    assert indexes == list(range(150, total)) and total > 1000, (len(indexes), total)


def test_the_trigger_watches_and_logs_every_message_once(hook, conn, capsys):
    request_id = hook.start_batch_job("DEMO2", "REPORTTEST01", task_values=["T"])

    async def run() -> list[dict[str, Any]]:
        trigger = AmtJobTrigger(request_id, conn, poll_interval=0.2, initial_interval=0.05, outage_grace_period=2)
        return [event.payload async for event in trigger.run()]

    (event,) = asyncio.run(run())
    total = len(hook.get_messages(request_id))
    assert (event["status"], event["completion_code"], event["message_offset"]) == ("success", 4, total)
    assert logged_indexes(capsys.readouterr().out) == list(range(total))


def test_stop_and_kill(hook):
    running = hook.start_batch_job("DEMO2", "LONGRUNNINGREPORT", queue_name="SERIAL")
    wait_for(hook, running, {Code.RUNNING})
    queued = hook.start_batch_job("DEMO2", "LONGRUNNINGREPORT", queue_name="SERIAL")  # behind it (concurrency 1)
    stopped = hook.end_job("stop", queued)
    assert (stopped.sent, stopped.code) == (True, Code.DEL_QUEUE)
    assert hook.end_job("kill", running).code is Code.KILLED


def test_a_token_refused_with_the_contracts_status_logs_on_again_and_not_found_is_named(served, hook):
    """``statuses``: the variant's server refuses an expired token with 440 and an unknown batch
    request with 410; the client logs on again after the one and names the other as not found."""
    name, uri = served
    url = json.loads(uri)["host"]
    request_id = hook.start_batch_job("DEMO2", "REPORTTEST01")
    since = requests.get(url + "/admin/requests/last", timeout=5).json()["seq"]
    requests.post(url + "/admin/tokens/expire", json={}, timeout=5).raise_for_status()
    assert hook.get_job_status(request_id).batch_request_id == request_id  # logged on again, once
    log = requests.get(url + "/admin/requests", params={"since": since}, timeout=5).json()
    assert [(entry["route"], entry["status"]) for entry in log] == [
        ("MonitorJob", 440 if name == "variant" else 401),
        ("Logon", 200),
        ("MonitorJob", 200),
    ]
    with pytest.raises(AmtNotFoundError, match="HTTP 410" if name == "variant" else "HTTP 404"):
        hook.get_job_status(BatchRequestId(987_654, {"application": "DEMO2", "name": "REPORTTEST01"}))


def test_find_request_by_task_id(hook):
    task_id = "5b0c7f44-0000-4c1e-9d0e-4f1f0c6a8a11"
    from amt_client import StartRequest

    request_id = hook.start(StartRequest.batch_job("DEMO2", "REPORTTEST01", ["F"], task_id=task_id))
    assert hook.find_batch_requests(task_id) == [request_id]


def test_the_async_hook_reads_status_and_messages(conn, hook):
    request_id = hook.start_batch_job("DEMO2", "REPORTTEST01")
    wait_for(hook, request_id, {Code.DONE})

    async def read() -> tuple[Any, Any]:
        async_hook = AmtAsyncHook(conn, retry_policy=FAST_RETRIES)
        try:
            return await async_hook.get_job_status(request_id), await async_hook.get_messages(request_id)
        finally:
            await async_hook.close()

    status, messages = asyncio.run(read())
    assert status.code is Code.DONE and [m.index for m in messages] == list(range(len(messages)))


def test_the_log_handler_fills_gaps_from_the_server(hook):
    request_id = hook.start_batch_job("DEMO2", "REPORTTEST01", task_values=["A", "B", "C"])
    wait_for(hook, request_id, {Code.DONE})
    messages = hook.get_messages(request_id)
    indexes, events = _read(_log(request_id, messages, [0, 3]))
    assert indexes == list(range(len(messages))), events


def test_the_variant_document_reads_as_the_contract_the_emulator_serves():
    contract = load_contract(VARIANT)
    assert (contract.token_transport, contract.heartbeat_answer, contract.answer_envelope) == (
        "cookie",
        "text",
        "Result",
    )
    job = BatchRequestId(7, {"application": "DEMO2", "name": "REPORTTEST01", "task_type": "BatchJob"})
    # no placeholder: the id in the query, with the job's ids the variant sends (ids.monitor)
    assert contract.status_request(job).params == {
        "BatchRequestId": "7",
        "ApplicationName": "DEMO2",
        "JobName": "REPORTTEST01",
    }


def test_the_test_button_names_the_first_mismatch_and_the_keys_to_look_at(served, monkeypatch):
    """A connection whose contract does not fit its server: the Test button says which step did not
    answer as the contract expects, and which keys of the document to look at."""
    name, uri = served
    wrong = json.loads(uri)
    wrong["extra"] = {} if name == "variant" else {"contract": str(VARIANT)}  # the other contract
    monkeypatch.setenv("AIRFLOW_CONN_AMT_WRONG", json.dumps(wrong))
    ok, message = AmtHook("amt_wrong", retry_policy=FAST_RETRIES).test_connection()
    assert not ok and "HTTP 404" in message and "paths.heartbeat, heartbeat.answer" in message, message
    assert "extra 'contract'" in message, message  # the provider says where the document lives
    # the heartbeat fits, the logon answer does not: the logon's keys are named
    fitting_heartbeat: dict[str, Any] = {"version": 1, "fields": {"token": "SessionKey"}}
    if name == "variant":
        variant = json.loads(VARIANT.read_text())
        fitting_heartbeat = {**variant, "fields": {**variant["fields"], "token": "SessionKey"}}
    wrong["extra"] = {"contract": fitting_heartbeat}
    monkeypatch.setenv("AIRFLOW_CONN_AMT_WRONG", json.dumps(wrong))
    AmtClient.forget_tokens()
    ok, message = AmtHook("amt_wrong", retry_policy=FAST_RETRIES).test_connection()
    assert not ok and "has no field 'SessionKey'" in message and "fields.token" in message, message


#: A server that wants the task id and the application with every call about a job (SMA's connector
#: sends the task id and the task's configuration with status and kill).
WITH_IDS = {
    "version": 1,
    "ids": {"monitor": ["task_id", "application"], "messages": ["task_id"], "job_action": ["task_id", "application"]},
}


@pytest.fixture(scope="module")
def ids_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    state = tmp_path_factory.mktemp("contract-ids") / "state.sqlite"
    with EmulatorProcess(state, time_scale=TIME_SCALE, contract=json.dumps(WITH_IDS)) as emu:
        yield emu


def test_a_server_that_wants_the_jobs_ids_is_watched_by_worker_and_trigger_and_killed(ids_server, monkeypatch, capsys):
    """The ids come from the Start: the worker's watch, the trigger (its kwargs carry them across the
    deferral), the Kill; a call about a job without them is refused before it is sent."""
    from amt_client import AmtConfigurationError, StartRequest

    uri = ids_server.connection_uri(timeout=5, connect_timeout=2, contract=json.dumps(WITH_IDS))
    monkeypatch.setenv("AIRFLOW_CONN_AMT_IDS", uri)
    hook = AmtHook("amt_ids", retry_policy=FAST_RETRIES)
    start = StartRequest.batch_job("DEMO2", "REPORTTEST01", ["A"], task_id="5b0c7f44-0000-4c1e-9d0e-4f1f0c6a8a12")
    job = hook.start(start)
    assert dict(job.ids)["task_id"] == start.task_id  # type: ignore[attr-defined]
    lines: list[Any] = []
    ended = hook.watch_job(job, MessageCursor(), WatchSettings(poll_interval=0.2), lines.extend)
    assert (ended.outcome, ended.code) == (Outcome.SUCCESS, Code.DONE) and lines

    running = hook.start(
        StartRequest.batch_job("DEMO2", "LONGRUNNINGREPORT", task_id="5b0c7f44-0000-4c1e-9d0e-4f1f0c6a8a13")
    )
    trigger = AmtJobTrigger.for_job(
        running, "amt_ids", WatchSettings(poll_interval=0.2), message_offset=0, on_kill_action="kill"
    )
    _, kwargs = trigger.serialize()
    assert kwargs["batch_request_id"] == int(running) and kwargs["job_ids"]["application"] == "DEMO2"
    revived = AmtJobTrigger(**kwargs)  # as the triggerer makes it from the stored kwargs

    async def first_poll_then_kill() -> None:
        watch = revived.run().__aiter__()
        waiting = asyncio.ensure_future(watch.__anext__())
        await asyncio.sleep(1.0)
        assert not waiting.done()  # polled with the ids, still running
        waiting.cancel()
        await revived.on_kill()

    asyncio.run(first_poll_then_kill())
    assert wait_for(hook, running, {Code.KILLED}) is Code.KILLED
    with pytest.raises(AmtConfigurationError, match="comes without them"):
        hook.get_job_status(int(running))  # the bare number: nothing sent
    plain = requests.get(f"{ids_server.url}/api/MonitorJob/{int(running)}", timeout=5)
    assert plain.status_code in (400, 401)  # the server itself wants them (or a token first)
    hook.close()


def test_the_operator_resumed_after_its_trigger_reads_the_rest_with_the_jobs_ids(ids_server, monkeypatch):
    """On the worker, the operator knows its job's Start again (its task id is the task instance's
    GUID): the status and messages it reads after the trigger carry the ids the server wants."""
    from airflow_provider_amt.operators.amt import AmtBatchJobOperator
    from airflow_provider_amt.start_ledger import task_guid
    from amt_client import StartRequest
    from tests.test_completion import TaskInstance

    monkeypatch.setenv("AIRFLOW_CONN_AMT_IDS", ids_server.connection_uri(contract=json.dumps(WITH_IDS)))
    op = AmtBatchJobOperator(task_id="job", application_name="DEMO2", job_name="REPORTTEST01", amt_conn_id="amt_ids")
    context = {"ti": TaskInstance()}
    hook = AmtHook("amt_ids", retry_policy=FAST_RETRIES)
    guid = task_guid("unit", "run", "job", -1)  # the TaskInstance stand-in's keys
    job = hook.start(StartRequest.batch_job("DEMO2", "REPORTTEST01", task_id=guid))
    wait_for(hook, job, {Code.DONE})
    context["ti"].xcom_push("batch_request_id", int(job))
    event = {"status": "success", "batch_request_id": int(job), "completion_code": 4, "message_offset": 0}
    returned = op.execute_complete(context, {**event, "message": "from the trigger"})
    assert returned["outcome"] == "success" and returned["batch_request_id"] == int(job)
    assert type(returned["batch_request_id"]) is int  # XCom holds the number, not the ids
    hook.close()


def test_the_sensor_and_the_action_operator_take_the_jobs_ids_a_dag_gives(ids_server, monkeypatch):
    """They know only the batch request id: a DAG gives the job's ids (``job_ids``, templated) for
    a server that wants them; without them nothing is sent and the error names what is missing."""
    from airflow_provider_amt.operators.job_action import AmtJobActionOperator
    from airflow_provider_amt.sensors.amt import AmtJobSensor
    from amt_client import AmtConfigurationError, AmtValidationError, StartRequest

    monkeypatch.setenv("AIRFLOW_CONN_AMT_IDS", ids_server.connection_uri(contract=json.dumps(WITH_IDS)))
    hook = AmtHook("amt_ids", retry_policy=FAST_RETRIES)
    guid = "5b0c7f44-0000-4c1e-9d0e-4f1f0c6a8a15"
    done = hook.start(StartRequest.batch_job("DEMO2", "REPORTTEST01", task_id=guid))
    wait_for(hook, done, {Code.DONE})
    ids = {"task_id": guid, "application": "DEMO2"}
    sensor = AmtJobSensor(task_id="s", batch_request_id=str(int(done)), amt_conn_id="amt_ids", job_ids=ids)
    assert sensor.poke({}) is True
    bare = AmtJobSensor(task_id="b", batch_request_id=int(done), amt_conn_id="amt_ids")
    with pytest.raises(AmtConfigurationError, match="task_id, application"):
        bare.poke({})

    long = StartRequest.batch_job("DEMO2", "LONGRUNNINGREPORT", task_id="5b0c7f44-0000-4c1e-9d0e-4f1f0c6a8a16")
    running = hook.start(long)
    wait_for(hook, running, {Code.RUNNING})
    kill = AmtJobActionOperator(
        task_id="k", action="kill", batch_request_id=int(running), amt_conn_id="amt_ids", job_ids=dict(running.ids)
    )
    assert kill.execute({})["outcome"] == "cancelled"
    with pytest.raises(AmtValidationError, match="unknown id"):  # checked when the DAG is parsed
        AmtJobSensor(task_id="x", batch_request_id=1, job_ids={"colour": "blue"})
    hook.close()
