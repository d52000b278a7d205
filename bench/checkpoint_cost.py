"""What the trigger's message checkpoint costs a real triggerer, before and after throttling it.

One process run, two phases on the same Airflow (PostgreSQL, scheduler, dag-processor, api-server)
and the same JOBS deferred task instances (``bench/dags/amt_checkpoint_bench.py``), each watching a
job that writes a message a second:

* **baseline**: a triggerer running the provider as of ``--baseline-rev`` (default: the last commit
  before the throttled checkpoint, which saved the cursor after every page);
* **current**: a triggerer running this checkout (``[amt] checkpoint_interval``, default 30 s).

The triggerer runs under ``_triggerer_probe.py``, which counts the requests its supervisor answers
for the triggers (XCom reads and writes: round trips to the in-process API server and the database),
the supervisor's time in them, and when each heartbeat reached the database. After a warm-up, each
phase is measured for ``--window`` seconds. Printed: per watched job per minute, the checkpoint round
trips and supervisor milliseconds; the heartbeat gaps (nominal: ``[triggerer] job_heartbeat_sec``,
5 s); the triggerer's CPU; and current/baseline ratios.

Run: ``make bench-checkpoint`` (PostgreSQL from Debian's packages, the distributed venv), or
``.venv-distributed/bin/python bench/checkpoint_cost.py --jobs 500 --window 60``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import catalogue  # noqa: E402
from _real_triggerer import (  # noqa: E402
    BenchCluster,
    ProbedTriggerer,
    baseline_tree,
    bench_home,
    in_scratch,
    phase_arguments,
    probed_triggerer,
    running_on_triggerer,
)

from amt_emulator import EmulatorProcess  # noqa: E402
from tests.airflow_harness import AirflowCluster, wait_until  # noqa: E402
from tests.distributed.services import Postgres  # noqa: E402

#: The last commit whose trigger saved its checkpoint after every page (no throttle, no read first).
BASELINE_REV = "5933ea1"
XCOM_REQUESTS = ("GetXCom", "SetXCom")


def snapshot(triggerer: ProbedTriggerer, proc: psutil.Process) -> dict[str, Any]:
    data = triggerer.reading()
    tree = [proc, *proc.children(recursive=True)]
    data["cpu"] = sum(p.cpu_times().user + p.cpu_times().system for p in tree if p.is_running())
    data["wall"] = time.time()
    return data


def measure(pg: Postgres, cluster: AirflowCluster, name: str, extra_env: dict[str, str], args: Any) -> dict[str, float]:
    with probed_triggerer(cluster, name, extra_env) as triggerer:
        probe = triggerer.probe
        wait_until(lambda: probe.exists() and running_on_triggerer(pg) >= args.jobs, 300, f"{name}: every trigger")
        time.sleep(args.warmup)  # first checkpoint reads done, polls backed off to poll_interval
        before = snapshot(triggerer, psutil.Process(triggerer.process.pid))
        time.sleep(args.window)
        after = snapshot(triggerer, psutil.Process(triggerer.process.pid))
    minutes = (after["wall"] - before["wall"]) / 60
    per_job_minute = args.jobs * minutes

    def delta(kind: str, request: str) -> float:
        return after[kind].get(request, 0) - before[kind].get(request, 0)

    beats = [t for t in after["heartbeats"] if before["wall"] - 10 <= t <= after["wall"]]
    gaps = sorted(b - a for a, b in itertools.pairwise(beats))
    blocked = triggerer.output.read_text(errors="replace").count("blocked")
    return {
        "checkpoint writes / job / min": delta("counts", "SetXCom") / per_job_minute,
        "checkpoint reads / job / min": delta("counts", "GetXCom") / per_job_minute,
        "supervisor ms in XCom / job / min": sum(delta("seconds", r) for r in XCOM_REQUESTS) * 1000 / per_job_minute,
        "supervisor busy with XCom (%)": sum(delta("seconds", r) for r in XCOM_REQUESTS) / (minutes * 60) * 100,
        "heartbeat gap max (s)": gaps[-1] if gaps else float("nan"),
        "heartbeat gap median (s)": gaps[len(gaps) // 2] if gaps else float("nan"),
        "triggerer CPU (% of a core)": (after["cpu"] - before["cpu"]) / (minutes * 60) * 100,
        "'blocked' warnings (whole phase)": blocked,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    phase_arguments(parser, jobs=500, poll_interval=10, window=60, warmup=20, baseline=BASELINE_REV)
    args = parser.parse_args()

    in_scratch(args, run, "amt-bench-checkpoint-")


def run(args: argparse.Namespace, scratch: Path) -> None:
    stream = {"every": 1, "text": "Checkpoint bench line {n}: account batch processed"}
    catalog = catalogue({"S": {"queue_delay": 0, "run_time": 3600, "final_code": 4, "messages": [stream]}})
    with EmulatorProcess(":memory:", time_scale=1, catalog=catalog) as emulator, Postgres() as pg:
        from airflow_provider_amt.hooks.amt import AmtHook

        os.environ["AIRFLOW_CONN_AMT_BENCH"] = emulator.connection_uri()
        request_id = AmtHook("amt_bench").start_batch_job("BENCH", "S")
        home = bench_home(
            scratch,
            emulator.connection_uri(),
            pg,
            {
                "AMT_BENCH_JOBS": str(args.jobs),
                "AMT_BENCH_REQUEST_ID": str(request_id),
                "AMT_BENCH_POLL_INTERVAL": str(args.poll_interval),
            },
        )
        with BenchCluster(home) as cluster:
            cluster.wait_for_dag("amt_checkpoint_bench")
            cluster.trigger("amt_checkpoint_bench")
            baseline = measure(
                pg, cluster, "baseline", {"PYTHONPATH": str(baseline_tree(args.baseline_rev, scratch))}, args
            )
            wait_until(lambda: running_on_triggerer(pg) == 0, 120, "the baseline triggerer to let go")
            current = measure(pg, cluster, "current", {}, args)

    print(
        f"\n{args.jobs} deferred AMT watches on one triggerer, a message per second each, poll_interval "
        f"{args.poll_interval:g} s; {args.window:g} s measured per phase after {args.warmup:g} s of warm-up"
    )
    print(f"baseline: provider at {args.baseline_rev}; current: this checkout, [amt] defaults\n")
    print("| figure | baseline | current | current / baseline |\n|---|---|---|---|")
    for key in baseline:
        ratio = current[key] / baseline[key] if baseline[key] else float("nan")
        print(f"| {key} | {baseline[key]:.2f} | {current[key]:.2f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
