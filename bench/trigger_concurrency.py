"""Many AMT jobs watched at once in one event loop (one triggerer).

Side by side, N jobs that each run ~10 s and write a message per second:
* provider: N real ``AmtJobTrigger.run()`` on one loop (shared aiohttp session, one logon,
  adaptive jittered polling, incremental message reads);
* baseline: N watchers that poll every second with a new aiohttp session per poll (the pattern of
  several official providers), reusing one token and reading only the status.
Figures: wall time, client CPU seconds, HTTP requests and logons the server saw.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

os.environ.setdefault("AIRFLOW_HOME", "/tmp/amt-bench-airflow")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
sys.path.insert(0, os.path.dirname(__file__))

import aiohttp
from _common import emulator

from amt_client import DEFAULT_CONTRACT

HEADER = DEFAULT_CONTRACT.token_header

N = int(os.environ.get("AMT_BENCH_TRIGGERS", "200"))
JOB = {
    "queue_delay": 0,
    "run_time": 10,
    "final_code": 4,
    "messages": [{"every": 1, "text": "step {n}"}, {"at": 10, "text": "Done"}],
}


async def provider(request_ids: list[int]) -> None:
    from airflow_provider_amt.triggers.amt import AmtJobTrigger

    async def one(request_id: int) -> None:
        trigger = AmtJobTrigger(batch_request_id=request_id, poll_interval=2.0)
        async for event in trigger.run():
            assert event.payload["status"] == "success", event.payload

    await asyncio.gather(*(one(r) for r in request_ids))


async def baseline(url: str, token: str, request_ids: list[int]) -> None:
    async def one(request_id: int) -> None:
        while True:
            # a session (and a connection) per poll
            async with (
                aiohttp.ClientSession() as session,
                session.get(
                    f"{url}/api/MonitorJob/{request_id}", headers={DEFAULT_CONTRACT.token_header: token}
                ) as response,
            ):
                code = (await response.json())["completionCode"]
            if code == 4:
                return
            await asyncio.sleep(1.0)

    await asyncio.gather(*(one(r) for r in request_ids))


def measure(label: str, emu, run) -> tuple[float, float, int, int]:
    emu.clear_requests()
    wall, cpu = time.monotonic(), time.process_time()
    asyncio.run(run())
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    log = emu.requests()
    logons = sum(1 for e in log if e["route"] == "Logon")
    print(f"{label:<9} | {N:>5} | {wall:>7.1f} | {cpu:>7.2f} | {len(log):>8} | {logons:>6}", flush=True)
    return wall, cpu, len(log), logons


def main() -> None:
    emu = emulator({"TENSECONDS": JOB})
    try:
        from airflow_provider_amt.hooks.amt import AmtHook

        hook = AmtHook("amt_default")
        logon = {"userName": emu.user, "password": emu.password}  # the baseline logs on once, by hand
        token = hook.session.post(emu.url + DEFAULT_CONTRACT.paths.logon, json=logon).json()["amtLogonToken"]
        print(f"{'variant':<9} | {'jobs':>5} | {'wall s':>7} | {'cpu s':>7} | {'requests':>8} | {'logons':>6}")
        ids = [hook.start_batch_job("BENCH", "TENSECONDS") for _ in range(N)]
        _, cpu_p, _, _ = measure("provider", emu, lambda: provider(ids))
        ids = [hook.start_batch_job("BENCH", "TENSECONDS") for _ in range(N)]
        _, cpu_b, _, _ = measure("baseline", emu, lambda: baseline(emu.url, token, ids))
        print(
            f"client CPU per job: provider {cpu_p / N * 1000:.1f} ms (status + every message), "
            f"baseline {cpu_b / N * 1000:.1f} ms (status only); ratio {cpu_b / cpu_p:.2f}x"
        )
    finally:
        emu.stop()


if __name__ == "__main__":
    main()
