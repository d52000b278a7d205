"""Helpers shared by the benchmarks: an emulator with a generated catalogue and a connection."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from amt_emulator import EmulatorProcess


def catalogue(jobs: dict[str, dict]) -> Path:
    path = Path(tempfile.mkdtemp(prefix="amt-bench-")) / "catalog.json"
    path.write_text(
        json.dumps(
            {
                "default_application": "BENCH",
                "applications": {
                    "BENCH": {"users": ["BATCH"], "queues": {"DEFAULT": {"concurrency": 10_000}}, "batch_jobs": jobs}
                },
            }
        )
    )
    return path


def emulator(jobs: dict[str, dict], time_scale: float = 1.0) -> EmulatorProcess:
    emu = EmulatorProcess(":memory:", time_scale=time_scale, catalog=catalogue(jobs)).start()
    os.environ["AIRFLOW_CONN_AMT_DEFAULT"] = emu.connection_uri(timeout=30)
    return emu


def wait_done(hook, request_id: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not hook.get_job_status(request_id).is_terminal:
        if time.monotonic() > deadline:
            raise TimeoutError(request_id)
        time.sleep(0.2)
