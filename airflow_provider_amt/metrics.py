"""The provider's Airflow ``Stats`` metrics (``amt.*``): what an operations dashboard needs.

They go wherever the deployment sends Airflow's metrics (StatsD, Datadog, OpenTelemetry:
``[metrics]`` in airflow.cfg), from the worker and the triggerer alike. Names (tags in brackets,
for the backends that keep tags):

* ``amt.call.<Operation>`` [result]: one per HTTP attempt to AMT; ``Operation`` is the AMT function
  (``MonitorJob`` counts polls), ``result`` is ``ok``, ``http_<status>`` or the transport failure.
* ``amt.call_failed.<kind>`` [operation]: the attempts that did not get a usable answer.
* ``amt.outcome.<CODE>``: tasks concluded, by AMT completion code (``DONE``, ``ERROR``, ...).
* ``amt.messages_logged``: AMT job messages written to task logs.
* ``amt.checkpoint.read`` / ``amt.checkpoint.write``: the trigger's message-cursor round trips
  through the triggerer's supervisor (``[amt] checkpoint_rate`` bounds them).
* ``amt.kill.sent`` [action] / ``amt.kill.skipped`` [reason]: Kills and Stops sent to AMT
  (``action`` ``kill`` or ``stop``), and the ones not sent because the task was still deferred (the
  trigger only moved), the job had already ended, or ``on_kill_action`` is None.

A metric never fails a task: without a metrics backend, or on any error, nothing is recorded.
"""

from __future__ import annotations

import contextlib
from functools import cache
from typing import Any

from airflow_provider_amt.compat import _first
from amt_client.codes import Code

PREFIX = "amt"


@cache
def _stats() -> Any:
    try:
        return _first("airflow.sdk.observability.stats:Stats", "airflow.stats:Stats")  # 3.2+ | 3.0-3.1
    except ImportError:
        return None


def incr(name: str, count: int = 1, tags: dict[str, str] | None = None) -> None:
    stats = _stats()
    if stats is None or count <= 0:
        return
    with contextlib.suppress(Exception):
        stats.incr(f"{PREFIX}.{name}", count, tags=tags or {})


def call(operation: str, result: str) -> None:
    """One HTTP attempt to AMT (the client core reports each one here)."""
    incr(f"call.{operation}", tags={"result": result})
    if result != "ok":
        incr(f"call_failed.{result}", tags={"operation": operation})


def outcome(code: Code) -> None:
    incr(f"outcome.{code.amt_name}")


def messages_logged(count: int) -> None:
    incr("messages_logged", count)


def checkpoint(kind: str) -> None:
    incr(f"checkpoint.{kind}")


def kill_sent(action: str = "kill") -> None:
    incr("kill.sent", tags={"action": action})


def kill_skipped(reason: str) -> None:
    incr("kill.skipped", tags={"reason": reason})
