"""The provider's ``amt.*`` Stats metrics, recorded from real calls to the emulator.

Airflow's ``Stats`` is replaced by a recorder (no metrics backend runs in the tests); everything
else is real: the client's HTTP attempts, a trigger's watch, the operator's completion, on_kill.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from airflow_provider_amt import metrics
from amt_client import AmtCompletionCode
from tests.test_completion import (
    TaskInstance,
    _Supervisor,
    complete,
    operator,
    run_trigger,
    start,
    trigger_for,
    wait_for,
)

Code = AmtCompletionCode


class Recorder:
    def __init__(self) -> None:
        self.counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()

    def incr(self, name: str, count: int = 1, rate: float = 1, *, tags: dict[str, str] | None = None) -> None:
        self.counts[(name, tuple(sorted((tags or {}).items())))] += count

    def total(self, name: str, **tags: str) -> int:
        wanted = set(tags.items())
        return sum(n for (metric, got), n in self.counts.items() if metric == name and wanted <= set(got))


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    monkeypatch.setattr(metrics, "_stats", lambda: recorder)
    return recorder


def test_a_watched_job_counts_polls_messages_and_its_outcome(amt, recorded):
    request_id = start(amt, "REPORTTEST01")
    (event,) = run_trigger(trigger_for(request_id))
    assert event["status"] == "success"
    polls = recorded.total("amt.call.MonitorJob", result="ok")
    logged = recorded.total("amt.messages_logged")
    assert polls >= 2 and logged == len(amt.get_messages(request_id)) == event["message_offset"]
    complete(operator(), request_id, "success", 4, offset=event["message_offset"])
    assert recorded.total("amt.outcome.DONE") == 1 and recorded.total("amt.messages_logged") == logged


def test_failed_calls_are_counted_by_kind(amt, emulator, recorded):
    emulator.set_faults([{"route": "MonitorJob", "action": "error", "status": 503, "count": 2}])
    request_id = start(amt, "REPORTTEST01")
    amt.get_job_status(request_id)
    assert recorded.total("amt.call_failed.http_503", operation="MonitorJob") == 2
    assert recorded.total("amt.call.MonitorJob", result="http_503") == 2
    assert recorded.total("amt.call.MonitorJob", result="ok") == 1


@pytest.mark.parametrize(
    ("state", "sent", "reason"),
    [("deferred", 0, "task_still_deferred"), ("failed", 1, None)],
)
def test_kills_are_counted_as_sent_or_skipped(amt, monkeypatch, recorded, state, sent, reason):
    from airflow.sdk.execution_time import task_runner

    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", _Supervisor(state), raising=False)
    request_id = start(amt, "LONGRUNNINGREPORT")
    wait_for(amt, request_id, {Code.RUNNING})
    trigger = trigger_for(request_id)
    trigger.task_instance = TaskInstance()  # type: ignore[assignment]
    asyncio.run(trigger.on_kill())
    assert recorded.total("amt.kill.sent") == sent
    if reason:
        assert recorded.total("amt.kill.skipped", reason=reason) == 1
    # a second copy of the trigger acting on the same user action sends no second Kill
    second: Any = trigger_for(request_id)
    second.task_instance = TaskInstance()
    asyncio.run(second.on_kill())
    assert recorded.total("amt.kill.sent") == sent
    amt.kill_job(request_id)
