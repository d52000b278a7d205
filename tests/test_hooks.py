"""Both hooks against the real emulator: every route, every documented error, retries, re-logon.

The ``hook`` fixture runs each test twice, with ``AmtHook`` and with ``AmtAsyncHook``.
"""

from __future__ import annotations

import time

import pytest

from airflow_provider_amt import AmtCompletionCode
from airflow_provider_amt.exceptions import (
    AmtNotFoundError,
    AmtServerUnavailableError,
    AmtValidationError,
)

SPECIAL = ["<tag>", "a&b", 'say "hi"', "it's", "K=V=W", "Zürich ÄÖÜ €", "日本"]


def wait_terminal(hook, request_id, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = hook.get_job_status(request_id)
        if status.is_terminal:
            return status
        time.sleep(0.05)
    raise AssertionError(f"batch request {request_id} did not end: {status}")


def texts(hook, request_id):
    return [m.text for m in hook.get_messages(request_id)]


def test_heartbeat_and_test_connection(hook):
    assert "up" in hook.heartbeat()
    ok, message = hook.test_connection()
    assert ok, message
    assert "logon as amtopcon succeeded" in message


def test_batch_job_round_trip_with_special_characters(hook, emulator):
    request_id = hook.start_batch_job("DEMO2", "REPORTTEST01", task_values=[*SPECIAL, 42])
    assert isinstance(request_id, int) and request_id > 0
    first = hook.get_job_status(request_id)
    assert first.batch_request_id == request_id and first.code in (AmtCompletionCode.QUEUED, AmtCompletionCode.RUNNING)
    status = wait_terminal(hook, request_id)
    assert (status.code, status.name, status.is_successful) == (AmtCompletionCode.DONE, "DONE", True)
    lines = texts(hook, request_id)
    for i, value in enumerate([*SPECIAL, "42"], start=1):
        assert f"TaskValue {i}: {value}" in lines
    messages = hook.get_messages(request_id)
    assert [m.index for m in messages] == list(range(len(messages)))
    assert all(m.timestamp and m.severity == "INFO" for m in messages)


def test_script_round_trip_with_dict_parameters(hook):
    params = {"NAME": "<&>\"'", "CITY": "Zürich", "EXPR": "x=1"}
    request_id = hook.start_script("DEMO2", "RUN_PARAMETERSTEST.ps1", script_parameters=params, run_as_user="DEMOUSER")
    assert wait_terminal(hook, request_id).code == AmtCompletionCode.DONE
    lines = texts(hook, request_id)
    assert "Script RUN_PARAMETERSTEST.ps1 started by DEMOUSER on queue DEFAULT" in lines
    for name, value in params.items():
        assert f"Parameter {name} = {value}" in lines


def test_paging_messages_from_an_offset(hook):
    request_id = hook.start_batch_job("DEMO2", "REPORTTEST01", task_values=["A", "B", "C"])
    wait_terminal(hook, request_id)
    everything = hook.get_messages(request_id)
    page = hook.get_messages(request_id, offset=2, limit=3)
    assert [m.index for m in page] == [2, 3, 4] and page == everything[2:5]
    assert hook.get_messages(request_id, offset=len(everything)) == []


def test_failures_are_reported_with_their_codes(hook):
    failing = hook.start_batch_job("DEMO2", "FAILINGREPORT")
    assert wait_terminal(hook, failing).code == AmtCompletionCode.ERROR
    assert hook.get_messages(failing)[-1].severity == "ERROR"
    missing = hook.start_script("DEMO2", "DOES_NOT_EXIST.ps1")
    assert wait_terminal(hook, missing).code == AmtCompletionCode.ERROR
    assert texts(hook, missing) == ["File not found: C:\\AMT\\DEMO2\\Scripts\\DOES_NOT_EXIST.ps1"]
    invalid = hook.start_batch_job("DEMO2", "REPORTTEST01", run_as_user="NOBODY")
    assert wait_terminal(hook, invalid).code == AmtCompletionCode.INVALID_AMT_USER


def test_stop_and_kill(hook):
    # SERIAL runs one request at a time: while `running` holds the slot, `queued` stays QUEUED
    running = hook.start_batch_job("DEMO2", "LONGRUNNINGREPORT", queue_name="SERIAL")
    deadline = time.monotonic() + 10
    while hook.get_job_status(running).code != AmtCompletionCode.RUNNING and time.monotonic() < deadline:
        time.sleep(0.05)
    queued = hook.start_batch_job("DEMO2", "REPORTTEST01", queue_name="SERIAL")
    assert hook.get_job_status(queued).code == AmtCompletionCode.QUEUED
    hook.stop_job(queued)
    assert hook.get_job_status(queued).code == AmtCompletionCode.DEL_QUEUE
    hook.kill_job(running)
    assert hook.get_job_status(running).code == AmtCompletionCode.KILLED
    hook.kill_job(running)  # idempotent
    assert hook.get_job_status(running).code == AmtCompletionCode.KILLED


def test_unknown_ids_raise_not_found(hook):
    with pytest.raises(AmtNotFoundError, match=r"MonitorJob 999999.*HTTP 404.*does not exist"):
        hook.get_job_status(999999)
    with pytest.raises(AmtNotFoundError):
        hook.kill_job(999999)


def test_refused_start_names_the_reason(hook, emulator):
    emulator.clear_requests()
    with pytest.raises(AmtValidationError, match="batch job 'NOSUCHJOB' is not defined in application 'DEMO2'"):
        hook.start_batch_job("DEMO2", "NOSUCHJOB")
    with pytest.raises(AmtValidationError, match="submit user must be BATCH"):
        hook.start_batch_job("DEMO2", "REPORTTEST01", submit_user="SOMEONE")


def test_invalid_arguments_are_refused_before_anything_is_sent(hook, emulator):
    emulator.clear_requests()
    with pytest.raises(AmtValidationError, match="has 21 entries"):
        hook.start_batch_job("DEMO2", "REPORTTEST01", task_values=[str(i) for i in range(21)])
    with pytest.raises(AmtValidationError, match="U\\+000A"):
        hook.start_script("DEMO2", "RUN_PARAMETERSTEST.ps1", script_parameters=["two\nlines"])
    assert emulator.requests() == []


def test_expired_token_is_renewed_once(hook, emulator, existing_id):
    hook.heartbeat()
    hook.get_job_status(hook.start_batch_job("DEMO2", "REPORTTEST01"))
    emulator.clear_requests()
    assert emulator.expire_tokens() >= 1
    hook.get_job_status(existing_id)
    assert len(emulator.requests("Logon")) == 1
    statuses = [e["status"] for e in emulator.requests("MonitorJob")]
    assert statuses == [401, 200]


def test_short_token_lifetime_is_renewed_before_it_runs_out(hook, emulator, existing_id):
    emulator.set_faults([], token_ttl=1)
    emulator.expire_tokens()
    hook.get_job_status(existing_id)
    time.sleep(1.1)
    emulator.clear_requests()
    hook.get_job_status(existing_id)
    assert [e["route"] for e in emulator.requests()] == ["Logon", "MonitorJob"]  # renewed ahead, no 401


def test_idempotent_calls_retry_5xx_and_honour_retry_after(hook, emulator, existing_id):
    emulator.clear_requests()
    emulator.set_faults([{"route": "MonitorJob", "action": "error", "status": 503, "count": 2}])
    assert hook.get_job_status(existing_id).batch_request_id == existing_id
    assert [e["status"] for e in emulator.requests("MonitorJob")] == [503, 503, 200]
    emulator.clear_requests()
    emulator.set_faults([{"route": "MonitorJob", "action": "error", "status": 429, "count": 1, "retry_after": 1}])
    began = time.monotonic()
    hook.get_job_status(existing_id)
    assert time.monotonic() - began >= 1.0  # Retry-After, not the 10 ms test backoff


def test_retries_give_up_with_server_unavailable(hook, emulator, existing_id):
    emulator.set_faults([{"route": "MonitorJob", "action": "error", "status": 500}])
    with pytest.raises(AmtServerUnavailableError, match=r"MonitorJob \d+\).*HTTP 500.*code 23"):
        hook.get_job_status(existing_id)
    assert len([e for e in emulator.requests("MonitorJob") if e["status"] == 500]) >= 4


def test_dropped_connections_and_timeouts_are_retried_for_reads(hook, emulator, existing_id):
    emulator.clear_requests()
    emulator.set_faults([{"route": "GetMessages", "action": "drop", "count": 1}])
    assert hook.get_messages(existing_id) == hook.get_messages(existing_id)
    emulator.set_faults([{"route": "MonitorJob", "action": "delay", "seconds": 6, "count": 1}])  # > 5 s timeout
    assert hook.get_job_status(existing_id).batch_request_id == existing_id


def test_start_is_not_repeated_after_an_ambiguous_failure(hook, emulator):
    emulator.clear_requests()
    emulator.set_faults([{"route": "Start", "action": "error", "status": 503, "count": 1}])
    with pytest.raises(AmtServerUnavailableError, match="Start batch job DEMO2/REPORTTEST01"):
        hook.start_batch_job("DEMO2", "REPORTTEST01")
    emulator.set_faults([{"route": "Start", "action": "drop_after", "count": 1}])
    with pytest.raises(AmtServerUnavailableError):
        hook.start_batch_job("DEMO2", "REPORTTEST01")
    assert len(emulator.requests("OpConJobAction", action="Start")) == 2  # one each, never resent


def test_start_is_retried_when_the_server_refuses_with_429(hook, emulator):
    emulator.clear_requests()
    emulator.set_faults([{"route": "Start", "action": "error", "status": 429, "count": 1, "retry_after": 0}])
    assert hook.start_batch_job("DEMO2", "REPORTTEST01") > 0
    assert [e["status"] for e in emulator.requests("OpConJobAction", action="Start")] == [429, 200]


def test_the_0_1_name_amt_server_config_still_imports_with_a_deprecation_warning():
    """Issue 24: 0.x shims go after one release of warning; DAG code importing the old name keeps working."""
    from airflow_provider_amt.compat import AirflowProviderDeprecationWarning
    from amt_client import ServerConfig

    with pytest.warns(AirflowProviderDeprecationWarning, match="AmtServerConfig is deprecated.*amt_client"):
        from airflow_provider_amt.hooks.amt import AmtServerConfig
    assert AmtServerConfig is ServerConfig


def test_the_0_2_name_retry_policy_still_imports_with_a_deprecation_warning():
    """Issue 27: ``RetryPolicy`` clashed with Airflow 3.3's ``airflow.sdk.RetryPolicy`` (task retries);
    the HTTP one is ``HttpRetryPolicy`` now, and the old name works one more release."""
    import amt_client
    from airflow_provider_amt.compat import AirflowProviderDeprecationWarning
    from amt_client import HttpRetryPolicy

    with pytest.warns(AirflowProviderDeprecationWarning, match="RetryPolicy is deprecated.*HttpRetryPolicy"):
        from airflow_provider_amt.hooks.amt import RetryPolicy
    assert RetryPolicy is HttpRetryPolicy
    with pytest.warns(DeprecationWarning, match="amt_client.RetryPolicy is deprecated.*HttpRetryPolicy"):
        assert amt_client.RetryPolicy is HttpRetryPolicy
    assert "RetryPolicy" not in amt_client.__all__
