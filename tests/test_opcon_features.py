"""Issue 26's pieces without a running Airflow: the fail-fast errors and event, the job URL, the
recovery argument, and the operators' new arguments checked when the DAG is parsed."""

from __future__ import annotations

import pickle

import pytest

from airflow_provider_amt.compat import AirflowFailException
from airflow_provider_amt.fail_fast import (
    AmtJobFailedFastError,
    AmtValidationFailedFastError,
    failed_fast_event,
    raise_failed_fast,
    retries_only_where_they_help,
    without_retry,
)
from airflow_provider_amt.recovery import recovery_argument, recovery_start
from amt_client import (
    AmtAuthenticationError,
    AmtConfigurationError,
    AmtJobFailedError,
    AmtResponseError,
    AmtServerUnavailableError,
    AmtUnconfirmedStartError,
    AmtValidationError,
    ServerConfig,
    StartRequest,
)
from amt_client.start import TaskType


@pytest.mark.parametrize("error", [AmtConfigurationError, AmtValidationError, AmtAuthenticationError])
def test_errors_a_retry_cannot_mend_are_raised_as_airflow_fail_exceptions_of_their_own_kind(error):
    with pytest.raises(error) as raised, retries_only_where_they_help():
        raise error("no")
    assert isinstance(raised.value, AirflowFailException) and str(raised.value) == "no"
    assert isinstance(raised.value.__cause__, error)


@pytest.mark.parametrize("error", [AmtServerUnavailableError, AmtResponseError, AmtUnconfirmedStartError])
def test_transient_trouble_keeps_its_retries(error):
    with pytest.raises(error) as raised, retries_only_where_they_help():
        raise error("later")
    assert not isinstance(raised.value, AirflowFailException)
    assert without_retry(AmtJobFailedError("11 ERROR", 11)) is None  # a failed code is retried unless listed


def test_a_failed_job_carries_its_code_and_survives_pickling():
    error = AmtJobFailedFastError("ended 99", 99, "INVALID AMT USER", 17)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.completion_code, copy.completion_name, copy.batch_request_id) == (99, "INVALID AMT USER", 17)
    assert isinstance(copy, AmtJobFailedError) and isinstance(copy, AirflowFailException)
    assert AmtJobFailedError("0.2's way").completion_code is None


def test_the_start_triggers_fail_fast_event_round_trips():
    event = failed_fast_event(AmtJobFailedFastError("ended 99", 99, "INVALID AMT USER", 17))
    assert event is not None
    with pytest.raises(AmtJobFailedFastError) as raised:
        raise_failed_fast(event)
    assert (raised.value.completion_code, raised.value.batch_request_id) == (99, 17)
    assert failed_fast_event(AmtServerUnavailableError("away")) is None
    with pytest.raises(AmtValidationFailedFastError, match="refused"):
        raise_failed_fast(failed_fast_event(AmtValidationError("refused")))
    raise_failed_fast({"status": "success"})  # any other event passes


@pytest.mark.parametrize(
    "event",
    [
        {"status": "failed_fast"},
        {"status": "failed_fast", "error": ["x"], "message": 5},
        {"status": "failed_fast", "error": "job", "completion_code": "99; drop", "batch_request_id": 1e300},
        {"status": "failed_fast", "error": "validation", "message": "x" * 100_000},
    ],
)
def test_a_hostile_fail_fast_event_still_fails_the_task_without_retries_and_briefly(event):
    with pytest.raises(AirflowFailException) as raised:
        raise_failed_fast(event)
    assert len(str(raised.value)) < 2100
    assert getattr(raised.value, "completion_code", None) in (None,)


def config(**extra):
    return ServerConfig("http://amt.example:4004", "u", "p", **extra)


def test_the_job_url_fills_the_batch_request_id_into_the_template():
    assert config().job_url(5) is None
    assert config(job_url_template="https://portal/r/{batch_request_id}?x=1").job_url(5) == "https://portal/r/5?x=1"


@pytest.mark.parametrize(
    ("template", "match"),
    [
        ("portal/{batch_request_id}", "http"),
        ("javascript:alert(1)//{batch_request_id}", "http"),
        ("https://u:p@portal/{batch_request_id}", "without a user or password"),
        ("https://portal/requests", "once"),
        ("https://portal/{batch_request_id}/{task_id}", "no other braces"),
        ("https://portal/{batch_request_id}\n/x", "U\\+000A"),
    ],
)
def test_a_wrong_job_url_template_is_a_configuration_error(template, match):
    with pytest.raises(AmtConfigurationError, match=match):
        config(job_url_template=template)


def test_the_recovery_argument_is_checked_and_added_after_the_parameters():
    assert recovery_argument(False, TaskType.SCRIPT) is None
    assert recovery_argument(True, TaskType.SCRIPT) == "/recover"
    assert recovery_argument("/r:{batch_request_id}", TaskType.SCRIPT) == "/r:{batch_request_id}"
    with pytest.raises(AmtValidationError, match="for scripts"):
        recovery_argument(True, TaskType.BATCH_JOB)
    with pytest.raises(AmtValidationError, match="only \\{batch_request_id\\}"):
        recovery_argument("/r:{id}", TaskType.SCRIPT)
    with pytest.raises(AmtValidationError, match="True, False or the recovery argument"):
        recovery_argument(1, TaskType.SCRIPT)
    start = StartRequest.script("DEMO2", "X.ps1", ["A=1"], task_id="t")
    assert recovery_start(start, "/r:{batch_request_id}", 41).values == ("A=1", "/r:41")
    full = StartRequest.script("DEMO2", "X.ps1", [f"P{i}" for i in range(20)])
    with pytest.raises(AmtValidationError, match="21 entries"):
        recovery_start(full, "/recover", 41)  # refused before anything is sent


def test_the_operators_check_the_new_arguments_when_the_dag_is_parsed():
    from airflow_provider_amt.operators.amt import AmtBatchJobOperator, AmtScriptOperator

    with pytest.raises(AmtValidationError, match="not an ending"):
        AmtBatchJobOperator(task_id="a", job_name="J", skip_codes=["RUNNING"])
    with pytest.raises(AmtValidationError, match="no completion code is named"):
        AmtBatchJobOperator(task_id="b", job_name="J", fail_fast_codes=["INVALID USER"])
    with pytest.raises(AmtValidationError, match="for scripts"):
        AmtBatchJobOperator(task_id="c", job_name="J", recover_on_retry=True)
    script = AmtScriptOperator(
        task_id="d", script_name="S.ps1", script_parameters=["/p"], skip_codes=["6", "10-12"], recover_on_retry=True
    )
    assert script.watch_options.rules.skip_codes == (6, 10, 11, 12)
    assert script.recover_on_retry == "/recover"
    assert [link.name for link in script.operator_extra_links] == ["AMT job"]


# --- alternate servers ---------------------------------------------------------------------------


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def alternates(emulator, monkeypatch):
    """amt_down: nothing listens; amt_primary and amt_default: the emulator."""
    import json

    down = json.loads(emulator.connection_uri(max_retries=0, connect_timeout=1))
    down["host"] = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("AIRFLOW_CONN_AMT_DOWN", json.dumps(down))
    monkeypatch.setenv("AIRFLOW_CONN_AMT_PRIMARY", emulator.connection_uri(max_retries=0))
    monkeypatch.setenv("AIRFLOW_CONN_AMT_DEFAULT", emulator.connection_uri())
    return emulator


class _Store(dict):
    def set(self, key, value):
        self[key] = value

    def delete(self, key):
        self.pop(key, None)


def _operator(conn_ids):
    from airflow_provider_amt.operators.amt import AmtBatchJobOperator

    return AmtBatchJobOperator(task_id="t", job_name="REPORTTEST01", application_name="DEMO2", amt_conn_id=conn_ids)


def test_a_start_that_never_reached_the_primary_goes_to_the_alternate_and_is_recorded_there(alternates):
    import uuid

    from airflow_provider_amt.start_ledger import StartLedger

    op, store = _operator(["amt_down", "amt_default"]), _Store()
    start = StartRequest.batch_job("DEMO2", "REPORTTEST01", task_id=str(uuid.uuid4()))
    ledger = StartLedger(store, start.task_id)
    conn_id, request_id = op._send(ledger, start, op.amt_conn_ids)
    assert conn_id == "amt_default" and request_id > 0
    assert ledger.connection() == "amt_default" and ledger.recorded() == (True, request_id)
    assert store["amt_start"]["amt_conn_id"] == "amt_default"


def test_a_start_that_may_have_reached_the_primary_never_goes_to_an_alternate(alternates):
    """The primary received it and the connection dropped before the answer: a second Start elsewhere
    could run the job twice. The try fails; the record stays "in flight" on the primary."""
    import uuid

    from airflow_provider_amt.start_ledger import StartLedger

    op, store = _operator(["amt_primary", "amt_default"]), _Store()
    start = StartRequest.batch_job("DEMO2", "REPORTTEST01", task_id=str(uuid.uuid4()))
    alternates.set_faults([{"route": "Start", "action": "drop_after", "count": 1}])
    since = alternates.last_request_seq()
    with pytest.raises(AmtServerUnavailableError) as raised:
        op._send(StartLedger(store, start.task_id), start, op.amt_conn_ids)
    assert raised.value.request_may_have_arrived
    starts = [e for e in alternates.requests("OpConJobAction", action="Start", since=since)]
    assert len(starts) == 1  # nothing went to the alternate
    assert store["amt_start"] == {"task_id": start.task_id, "batch_request_id": None, "amt_conn_id": "amt_primary"}


def test_a_refused_start_never_goes_to_an_alternate(alternates):
    import uuid

    from airflow_provider_amt.start_ledger import StartLedger

    op = _operator(["amt_primary", "amt_default"])
    start = StartRequest.batch_job("DEMO2", "NO_SUCH_JOB", task_id=str(uuid.uuid4()))
    since = alternates.last_request_seq()
    with pytest.raises(AmtValidationError, match="did not accept"):
        op._send(StartLedger(_Store(), start.task_id), start, op.amt_conn_ids)
    assert len(alternates.requests("OpConJobAction", action="Start", since=since)) == 1


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ([], "a connection id or a list"),
        (["a", "b", "c", "d", "e"], "at most 4"),
        (["a", "a"], "twice"),
        (["a", ""], r"amt_conn_id\[1\]"),
    ],
)
def test_connection_lists_are_checked_when_the_dag_is_parsed(value, match):
    with pytest.raises(AmtValidationError, match=match):
        _operator(value)


def test_alternates_need_a_start_on_a_worker():
    from airflow_provider_amt.compat import start_from_trigger_supported
    from airflow_provider_amt.operators.amt import AmtBatchJobOperator

    if not start_from_trigger_supported():
        pytest.skip("start_from_trigger needs Airflow 3.3+")
    with pytest.raises(AmtValidationError, match="one connection"):
        AmtBatchJobOperator(task_id="t", job_name="J", amt_conn_id=["a", "b"], start_from_trigger=True)
