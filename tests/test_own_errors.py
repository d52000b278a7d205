"""Our own trouble never ends an AMT job (issue 22): a crash in the trigger or the worker-side wait is
ridden out like an outage, the framework's ``__fail__`` after a trigger crash leaves the job running
and says how to reconnect, and a completion code nobody knows ends the watch at once, without a Kill.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_amt import config as amt_config
from airflow_provider_amt.events import read_event
from airflow_provider_amt.triggers import message_sink as message_sink_module
from airflow_provider_amt.triggers.amt import AmtJobTrigger
from amt_client import (
    AmtClient,
    AmtCompletionCode,
    AmtUnknownCodeError,
    ServerConfig,
    WatchSettings,
)
from amt_client.codes import CodeClass
from amt_client.contract_document import load_contract
from amt_client.policy import MessageCursor, Outcome, Rules
from tests.crafted import Crafted
from tests.test_completion import TaskInstance, operator, run_trigger, start, trigger_for, wait_for

Code = AmtCompletionCode


def watching(request_id: int, grace: float, **kwargs: Any) -> AmtJobTrigger:
    return AmtJobTrigger(request_id, poll_interval=0.2, initial_interval=0.05, outage_grace_period=grace, **kwargs)


@pytest.fixture
def crafted(monkeypatch: pytest.MonkeyPatch) -> Iterator[Crafted]:
    """A crafted server as connection ``amt_crafted``."""
    server = Crafted()
    server.logon_ok()
    monkeypatch.setenv("AIRFLOW_CONN_AMT_CRAFTED", f"amt://amtopcon:pw@127.0.0.1:{server.server_address[1]}")
    yield server
    server.shutdown()


def test_a_trigger_whose_log_writing_fails_watches_on_and_reports_the_jobs_end(amt, monkeypatch, capsys):
    request_id = start(amt, "REPORTTEST01")
    real = message_sink_module.log_messages
    failures = []

    def flaky(*args: Any, **kwargs: Any) -> None:
        if len(failures) < 2:
            failures.append(1)
            raise RuntimeError("the log store hiccuped")
        real(*args, **kwargs)

    monkeypatch.setattr(message_sink_module, "log_messages", flaky)
    (event,) = run_trigger(watching(request_id, 30))
    assert (event["status"], event["completion_code"]) == ("success", 4)
    assert len(failures) == 2
    out = capsys.readouterr().out
    assert f"Watching AMT batch request {request_id} failed on our side (RuntimeError: the log store hiccuped)" in out
    assert "the job is left as it is" not in out  # ridden out, not reported as the trigger's failure


def test_a_trigger_that_keeps_failing_ends_with_an_error_event_and_never_kills(amt, emulator, monkeypatch):
    request_id = start(amt, "LONGRUNNINGREPORT")
    wait_for(amt, request_id, {Code.RUNNING})

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("always")

    monkeypatch.setattr(message_sink_module, "log_messages", broken)
    since = max((e["seq"] for e in emulator.requests()), default=0)
    (event,) = run_trigger(watching(request_id, 1))
    assert event["status"] == "error" and "watching failed on our side for" in event["message"]
    assert "RuntimeError: always" in event["message"]
    assert not [e for e in emulator.requests("OpConJobAction") if e["seq"] > since]
    assert amt.get_job_status(request_id).code is Code.RUNNING
    amt.kill_job(request_id)


def test_a_trigger_that_fails_before_watching_sends_an_error_event_not_a_crash(amt, monkeypatch):
    request_id = start(amt, "LONGRUNNINGREPORT")

    def broken() -> Any:
        raise RuntimeError("the options could not be read")

    monkeypatch.setattr(amt_config, "trigger_options", broken)
    (event,) = run_trigger(trigger_for(request_id))
    assert event["status"] == "error" and "the options could not be read" in event["message"]
    assert event["batch_request_id"] == request_id
    assert amt.get_job_status(request_id).code in (Code.QUEUED, Code.RUNNING)
    amt.kill_job(request_id)


def test_the_frameworks_fail_path_after_a_trigger_crash_leaves_the_job_running(amt, capsys):
    request_id = start(amt, "LONGRUNNINGREPORT")
    wait_for(amt, request_id, {Code.RUNNING})
    context = {"ti": TaskInstance({"batch_request_id": request_id})}
    with pytest.raises(Exception, match="Trigger failure"):
        operator().resume_execution("__fail__", {"error": "Trigger failure"}, context)
    assert amt.get_job_status(request_id).code is Code.RUNNING
    out = capsys.readouterr().out
    assert f"AMT batch request {request_id} is left running" in out and "a retry of this task reconnects to it" in out
    amt.kill_job(request_id)


def test_code_27_is_a_failure_a_recovery_run_can_follow():
    assert Code(27).amt_name == "KilledWithRecover" and Code(27).code_class is CodeClass.FAILED
    assert Code(17).code_class is CodeClass.FAILED and "reserved" in Code(17).description


@pytest.mark.parametrize("code", [42, 100, 10**6])
def test_an_unknown_code_ends_the_trigger_at_once_naming_it_and_the_job_is_not_killed(crafted, code):
    crafted.answer("GET", "/api/MonitorJob/5", body={"batchRequestId": 5, "completionCode": code})
    (event,) = run_trigger(watching(5, 300, amt_conn_id="amt_crafted"))
    assert event["status"] == "error" and f"unknown AMT completion code {code}" in event["message"]
    assert not [seen for seen in crafted.seen if seen[1] == "/api/OpConJobAction"]


def test_an_unknown_code_is_its_own_typed_error_and_not_transient(crafted):
    crafted.answer("GET", "/api/MonitorJob/5", body={"batchRequestId": 5, "completionCode": 42})
    config = ServerConfig(f"http://127.0.0.1:{crafted.server_address[1]}", "amtopcon", "pw")
    with AmtClient(config) as client:
        with pytest.raises(AmtUnknownCodeError, match="unknown AMT completion code 42") as err:
            client.get_job_status(5)
        assert err.value.code == 42
        ended = client.watch_job(5, MessageCursor(), WatchSettings(outage_grace_period=300), lambda page: None)
    assert ended.outcome is Outcome.ERROR and "42" in ended.message


def test_the_worker_wait_rides_out_its_own_page_callbacks_failures(amt):
    request_id = start(amt, "REPORTTEST01")
    failures: list[int] = []

    def flaky(page: Any) -> None:
        if len(failures) < 2:
            failures.append(len(page))
            raise OSError("disk full for a moment")

    settings = WatchSettings(poll_interval=0.2, initial_interval=0.05, outage_grace_period=30)
    ended = amt.watch_job(request_id, MessageCursor(), settings, flaky)
    assert (ended.outcome.job_ended, ended.code) == (True, Code.DONE)
    assert len(failures) == 2


#: A contract document that adds the codes a site's newer AMT reports (issue 25: the code table).
EXTRA_CODES = {
    "version": 1,
    "codes": {
        "42": {"name": "WAIT FOR TAPE", "class": "waiting", "description": "waiting for a tape mount"},
        "43": {"name": "ABORTED BY SITE", "class": "failed"},
    },
}


@pytest.fixture
def crafted_with_codes(crafted: Crafted, monkeypatch: pytest.MonkeyPatch) -> Crafted:
    """The crafted server as connection ``amt_codes``, whose contract document adds codes 42 and 43."""
    port = crafted.server_address[1]
    uri = json.dumps(
        {
            "conn_type": "amt",
            "host": f"http://127.0.0.1:{port}",
            "login": "amtopcon",
            "password": "pw",
            "extra": {"contract": json.dumps(EXTRA_CODES)},
        }
    )
    monkeypatch.setenv("AIRFLOW_CONN_AMT_CODES", uri)
    return crafted


def test_a_code_the_contract_document_adds_is_read_by_its_class_in_the_trigger(crafted_with_codes):
    """42 (waiting) is waited through; 43 (failed) ends the watch as failed with its name, and the
    worker reads the event back with the code's name: never an unknown code, never a kill."""
    crafted = crafted_with_codes
    crafted.answer("GET", "/api/MonitorJob/5", body={"batchRequestId": 5, "completionCode": 42})
    crafted.answer("GET", "/api/GetMessages/5", body={"batchRequestId": 5, "messages": []})
    aborted = {"batchRequestId": 5, "completionCode": 43}
    later = threading.Timer(1.0, crafted.answer, ("GET", "/api/MonitorJob/5"), {"body": aborted})
    later.start()
    (event,) = run_trigger(watching(5, 300, amt_conn_id="amt_codes"))
    later.join()
    polls = [seen for seen in crafted.seen if seen[1] == "/api/MonitorJob/5"]
    assert len(polls) >= 4, polls  # 42 was waited through, poll after poll
    assert (event["status"], event["completion_code"]) == ("failed", 43), event
    checked = read_event(event, 5)
    assert (int(checked.result.code), checked.result.code.amt_name) == (43, "ABORTED BY SITE")
    assert checked.result.code.code_class is CodeClass.FAILED
    assert not [seen for seen in crafted.seen if seen[1] == "/api/OpConJobAction"]


def test_a_code_the_contract_document_adds_is_read_by_the_sync_client(crafted):
    crafted.answer("GET", "/api/MonitorJob/5", body={"batchRequestId": 5, "completionCode": 42})
    config = ServerConfig(
        f"http://127.0.0.1:{crafted.server_address[1]}", "amtopcon", "pw", contract=load_contract(EXTRA_CODES)
    )
    with AmtClient(config) as client:
        status = client.get_job_status(5)
        assert (int(status.code), status.name, status.is_terminal) == (42, "WAIT FOR TAPE", False)
        assert str(status) == "WAIT FOR TAPE (42)" and status.description == "waiting for a tape mount"
        assert Rules().outcome(status.code) is Outcome.WAIT
