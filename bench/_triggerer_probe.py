"""``airflow triggerer`` with a probe in its supervisor: which requests the triggers make through it,
how long the supervisor spends on each kind, and when its heartbeats reach the database.

The triggerer's supervisor answers the triggers' XCom reads and writes itself (an in-process API
server) in the same loop that heartbeats, so its time per request is what a checkpoint costs the
heartbeat. It also counts the supervisor's loops and its CPU time by activity (``cpu``: reloading
its triggers, cleaning unused ones, handing events on, heartbeating, and serving the runner's sockets:
the triggers' requests and log lines). Used by the real-triggerer benchmarks:
``python _triggerer_probe.py OUT.json [airflow args]``. Counters are cumulative and written to OUT.json
about once a second.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict

from airflow.jobs import triggerer_job_runner as runner

OUT = sys.argv.pop(1)
counts: dict[str, int] = defaultdict(int)
seconds: dict[str, float] = defaultdict(float)
heartbeats: list[float] = []
cpu: dict[str, float] = defaultdict(float)  # the supervisor thread's CPU seconds by activity
_written = [0.0]


def _dump(force: bool = False) -> None:
    now = time.monotonic()
    if not force and now - _written[0] < 1.0:
        return
    _written[0] = now
    tmp = f"{OUT}.tmp"
    with open(tmp, "w") as out:
        json.dump(
            {"time": time.time(), "counts": counts, "seconds": seconds, "heartbeats": heartbeats, "cpu": cpu}, out
        )
    os.replace(tmp, OUT)


_handle_request = runner.TriggerRunnerSupervisor._handle_request
_heartbeat = runner.TriggerRunnerSupervisor.heartbeat


def handle_request(self, msg, log, req_id):
    started = time.perf_counter()
    try:
        return _handle_request(self, msg, log, req_id)
    finally:
        name = type(msg).__name__
        counts[name] += 1
        seconds[name] += time.perf_counter() - started


def heartbeat(self):
    before = getattr(self.job, "latest_heartbeat", None)
    _heartbeat(self)
    if getattr(self.job, "latest_heartbeat", None) != before:
        heartbeats.append(time.time())
    _dump()


def _cpu_timed(name: str) -> None:
    """Count the supervisor's CPU time in one of its loop's steps (thread CPU: waiting is not counted)."""
    original = getattr(runner.TriggerRunnerSupervisor, name)

    def timed(self, *args, **kwargs):
        started = time.thread_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            cpu[name] += time.thread_time() - started
            if name == "load_triggers":
                counts["loops"] += 1

    setattr(runner.TriggerRunnerSupervisor, name, timed)


for _step in ("load_triggers", "_service_subprocess", "handle_events", "clean_unused", "emit_metrics"):
    _cpu_timed(_step)
runner.TriggerRunnerSupervisor._handle_request = handle_request  # type: ignore[method-assign]
runner.TriggerRunnerSupervisor.heartbeat = heartbeat  # type: ignore[method-assign]

if __name__ == "__main__":
    from airflow.__main__ import main

    sys.argv = ["airflow", *sys.argv[1:]]
    main()
