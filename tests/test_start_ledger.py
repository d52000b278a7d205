"""Exactly one AMT job per task instance: every decision a retry makes about an earlier try's Start.

Against the real emulator (which answers "which batch request has this task id"), with a
dictionary standing in for Airflow's ``task_state_store`` (the real one is used by the cluster
test ``test_a_retry_after_a_dropped_start_reconnects_to_the_one_job``).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import pytest

from airflow_provider_amt.hooks.amt import AmtHook
from airflow_provider_amt.keys import STATE_BATCH_REQUEST_ID, STATE_START
from airflow_provider_amt.start_ledger import StartLedger, job_of_earlier_try
from amt_client import (
    AmtCompletionCode,
    AmtServerUnavailableError,
    AmtUnconfirmedStartError,
    AmtValidationError,
    Rules,
)
from tests.conftest import FAST_RETRIES

LOG = logging.getLogger("test.ledger")


class Store(dict):
    """The three methods of Airflow's task_state_store accessor the ledger uses."""

    def set(self, key: str, value: Any) -> None:
        assert value is not None
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)


@pytest.fixture
def guid() -> str:
    return str(uuid.uuid4())


def decide(hook, ledger, try_number=2, allow_fresh_start=False):
    """The batch request the try watches instead of starting one (None: it starts one)."""
    return job_of_earlier_try(
        hook, ledger, Rules(), try_number=try_number, allow_fresh_start=allow_fresh_start, log=LOG
    ).watch


def wait(amt, request_id, codes):
    deadline = time.monotonic() + 15
    while amt.get_job_status(request_id).code not in codes:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_first_try_starts_and_records_its_start_before_and_after_sending(amt, guid):
    ledger = StartLedger(Store(), guid)
    assert decide(amt, ledger, try_number=1) is None
    ledger.sending()
    assert ledger.store[STATE_START] == {"task_id": guid, "batch_request_id": None}
    ledger.started(41)
    assert ledger.recorded() == (True, 41)


def test_a_retry_reconnects_to_a_running_job_and_takes_a_finished_success(amt, guid):
    running = amt.start_batch_job("DEMO2", "LONGRUNNINGREPORT", task_id=guid)
    ledger = StartLedger(Store({STATE_START: {"task_id": guid, "batch_request_id": running}}), guid)
    assert decide(amt, ledger) == running
    amt.kill_job(running)
    assert decide(amt, ledger) is None  # it failed (KILLED): a retry is there to run it again
    done = amt.start_batch_job("DEMO2", "REPORTTEST01", task_id=guid)
    wait(amt, done, {AmtCompletionCode.DONE})
    ledger.started(done)
    assert decide(amt, ledger) == done  # it succeeded: never run it a second time


def test_an_unanswered_start_is_looked_up_by_task_id_before_anything_is_sent(amt, guid, emulator):
    ledger = StartLedger(Store({STATE_START: {"task_id": guid, "batch_request_id": None}}), guid)
    assert decide(amt, ledger) is None  # AMT has no job with this task id: the Start never arrived
    arrived = amt.start_batch_job("DEMO2", "LONGRUNNINGREPORT", task_id=guid)
    since = len(emulator.requests("OpConJobAction", action="Start"))
    assert decide(amt, ledger) == arrived
    assert ledger.recorded() == (True, arrived)
    assert len(emulator.requests("OpConJobAction", action="Start")) == since  # nothing was started
    amt.kill_job(arrived)


def test_when_amt_cannot_be_asked_the_try_fails_naming_the_task_id_unless_a_fresh_start_is_allowed(
    emulator, monkeypatch, guid
):
    monkeypatch.setenv(
        "AIRFLOW_CONN_AMT_NOLOOKUP", emulator.connection_uri(api_paths={"find_request": None}, timeout=5)
    )
    hook = AmtHook("amt_nolookup", retry_policy=FAST_RETRIES)
    ledger = StartLedger(Store({STATE_START: {"task_id": guid, "batch_request_id": None}}), guid)
    with pytest.raises(AmtUnconfirmedStartError, match=f"task id {guid}.*Nothing was sent.*allow_fresh_start"):
        decide(hook, ledger)
    assert decide(hook, ledger, allow_fresh_start=True) is None


def test_a_server_without_the_lookup_route_counts_as_cannot_say(guid):
    from amt_emulator import EmulatorProcess

    with EmulatorProcess(contract={"paths": {"find_request": None}}) as emu:
        import os

        os.environ["AIRFLOW_CONN_AMT_OLDSERVER"] = emu.connection_uri(timeout=5)
        try:
            hook = AmtHook("amt_oldserver", retry_policy=FAST_RETRIES)
            assert hook.find_batch_requests(guid) is None
            ledger = StartLedger(Store({STATE_START: {"task_id": guid, "batch_request_id": None}}), guid)
            with pytest.raises(AmtUnconfirmedStartError):
                decide(hook, ledger)
        finally:
            del os.environ["AIRFLOW_CONN_AMT_OLDSERVER"]


def test_without_a_task_state_store_a_retry_still_finds_the_job_by_task_id(amt, guid):
    running = amt.start_batch_job("DEMO2", "LONGRUNNINGREPORT", task_id=guid)
    ledger = StartLedger(None, guid)
    assert decide(amt, ledger, try_number=1) is None  # a first try never asks
    assert decide(amt, ledger, try_number=2) == running
    amt.kill_job(running)


def test_provider_0_1_0s_record_is_still_read(amt, guid):
    running = amt.start_batch_job("DEMO2", "LONGRUNNINGREPORT")
    ledger = StartLedger(Store({STATE_BATCH_REQUEST_ID: running}), guid)
    assert decide(amt, ledger) == running
    amt.kill_job(running)


def test_a_start_that_provably_never_arrived_is_forgotten_one_that_may_have_is_kept(guid):
    ledger = StartLedger(Store(), guid)
    ledger.sending()
    refused = AmtValidationError("refused")
    ledger.failed(refused)
    assert STATE_START not in ledger.store
    ledger.sending()
    dropped = AmtServerUnavailableError("no answer")
    dropped.request_may_have_arrived = True
    ledger.failed(dropped)
    assert ledger.store[STATE_START] == {"task_id": guid, "batch_request_id": None}
