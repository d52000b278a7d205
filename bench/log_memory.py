"""Worker memory while a job's messages are written to the task log.

Side by side, for jobs writing N messages:
* provider: ``AmtHook.read_messages`` (pages of 1000, logged and dropped as it goes);
* baseline: read every page first, then log them (what "fetch the log at completion" does).
Peak Python memory is measured with tracemalloc around each run; figures go to stdout.
"""

from __future__ import annotations

import logging
import os
import sys
import tracemalloc

os.environ.setdefault("AIRFLOW_HOME", "/tmp/amt-bench-airflow")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
sys.path.insert(0, os.path.dirname(__file__))

from _common import emulator, wait_done

from airflow_provider_amt.joblog import log_messages
from amt_client import MessageCursor

SIZES = (1_000, 10_000, 50_000)


def _null_logger() -> logging.Logger:
    logger = logging.getLogger("amt.bench")
    logger.handlers = [logging.NullHandler()]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def provider(hook, request_id: int, log) -> int:
    return hook.read_messages(request_id, MessageCursor(), lambda page: log_messages(log, page, hook.redactor()))


def baseline(hook, request_id: int, log) -> int:
    everything, offset = [], 0
    while True:
        page = hook.get_messages(request_id, offset, 1000)
        everything.extend(page)
        offset += len(page)
        if len(page) < 1000:
            break
    log_messages(log, everything)
    return len(everything)


def peak(fn, *args) -> tuple[int, float]:
    tracemalloc.start()
    count = fn(*args)
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return count, top / 1024 / 1024


def main() -> None:
    jobs = {
        f"LOG{n}": {
            "queue_delay": 0,
            "run_time": 1,
            "final_code": 4,
            "messages": [{"at": 0, "count": n, "over": 1, "text": "Detail line {n}: account 00{n} balance checked"}],
        }
        for n in SIZES
    }
    emu = emulator(jobs, time_scale=1)
    try:
        from airflow_provider_amt.hooks.amt import AmtHook

        hook, log = AmtHook("amt_default"), _null_logger()
        print(f"{'messages':>9} | {'provider peak MiB':>17} | {'baseline peak MiB':>17} | {'ratio':>6}")
        for n in SIZES:
            request_id = hook.start_batch_job("BENCH", f"LOG{n}")
            wait_done(hook, request_id)
            got, mine = peak(provider, hook, request_id, log)
            got2, base = peak(baseline, hook, request_id, log)
            assert got == got2 == n, (got, got2, n)
            print(f"{n:>9} | {mine:>17.2f} | {base:>17.2f} | {base / mine:>5.1f}x")
    finally:
        emu.stop()


if __name__ == "__main__":
    main()
