"""What a Batch Server outage costs, measured in a real ``airflow triggerer``, before and after the
shared view of the server's health (``amt_client/health.py``).

One process run, two phases on the same Airflow (PostgreSQL, scheduler, dag-processor, api-server)
and the same JOBS deferred task instances (``bench/dags/amt_outage_bench.py``, ``start_from_trigger``:
no worker; ``bench/_outage_trigger.py``), each watching its own AMT job (an hour long, a message every 10 s) every
``--poll-interval`` seconds:

* **baseline**: a triggerer running the provider *and* the client library as of ``--baseline-rev``
  (default: the last commit before issue 22);
* **current**: a triggerer running this checkout.

Each phase, after a warm-up: ``--window`` seconds of normal operation, then ``--outage`` seconds in
which the emulator cuts every connection (a ``drop`` fault on every route: the request arrives, the
connection is closed without an answer), then the server is back. Printed per phase: requests per
job per poll interval, normal and during the outage (from the emulator's request log, which records
every request, dropped or not); how long after the server's return each job was polled again (max
and p95, against the poll interval); the triggerer's heartbeat gaps (nominal 5 s; at 30 s Airflow
hands its triggers to another triggerer); its "blocked" warnings; Stop or Kill requests sent; task
instances no longer deferred. The triggerer runs at Airflow's default heartbeat settings, with
``[triggerer] capacity`` and ``[core] max_map_length`` raised to hold JOBS.

Run: ``make bench-outage`` (PostgreSQL from Debian's packages, the distributed venv; about 20 min),
or ``.venv-distributed/bin/python bench/outage_cost.py --jobs 2000 --outage 90``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import catalogue  # noqa: E402
from _real_triggerer import (  # noqa: E402
    BenchCluster,
    baseline_tree,
    bench_home,
    in_scratch,
    phase_arguments,
    probed_triggerer,
    running_on_triggerer,
    sql,
)

from amt_emulator import EmulatorProcess  # noqa: E402
from tests.airflow_harness import AirflowCluster, wait_until  # noqa: E402
from tests.distributed.services import Postgres  # noqa: E402

#: The last commit before issue 22 (no shared view of the server's health).
BASELINE_REV = "daa7634"


def measure(
    pg: Postgres, cluster: AirflowCluster, emulator: EmulatorProcess, name: str, extra_env: dict[str, str], args: Any
) -> dict[str, float]:
    with probed_triggerer(cluster, name, extra_env) as triggerer:
        probe = triggerer.probe
        wait_until(lambda: probe.exists() and running_on_triggerer(pg) >= args.jobs, 900, f"{name}: every trigger")
        time.sleep(args.warmup)  # first polls backed off to poll_interval, first reads done
        begin_seq, began = emulator.last_request_seq(), time.time()
        time.sleep(args.window)
        cut_seq, cut = emulator.last_request_seq(), time.time()
        emulator.set_faults([{"route": "*", "action": "drop"}])
        time.sleep(args.outage)
        emulator.set_faults([])
        back_seq, back = emulator.last_request_seq(), time.time()
        time.sleep(args.poll_interval * 2)
        ended = time.time()
        log = emulator.requests(since=begin_seq)
        beats = json.loads(probe.read_text())["heartbeats"]
    polls = args.jobs / args.poll_interval  # polls a second at the poll interval

    normal = [e for e in log if e["seq"] <= cut_seq]
    during = [e for e in log if cut_seq < e["seq"] <= back_seq]
    first_after: dict[str, float] = {}
    for entry in log:
        if entry["seq"] > back_seq and entry["route"] == "MonitorJob" and entry.get("status") == 200:
            first_after.setdefault(entry["path"], entry["at"] - back)
    delays = sorted(first_after.values())
    gaps = sorted(b - a for a, b in itertools.pairwise(t for t in beats if began - 10 <= t <= ended))
    deferred = sql(pg, "SELECT count(*) FROM task_instance WHERE dag_id = 'amt_outage_bench' AND state = 'deferred'")
    return {
        "requests / job / poll interval, normal": len(normal) / (polls * (cut - began)),
        "requests / job / poll interval, outage": len(during) / (polls * (back - cut)),
        "jobs polled again after the return": len(delays),
        "slowest first poll after the return (s)": delays[-1] if delays else float("nan"),
        "p95 first poll after the return (s)": delays[int(len(delays) * 0.95)] if delays else float("nan"),
        "heartbeat gap max (s)": gaps[-1] if gaps else float("nan"),
        "'blocked' warnings": triggerer.output.read_text(errors="replace").count("blocked"),
        "Stop/Kill sent": sum(1 for e in log if e.get("action") in ("Stop", "Kill")),
        "tasks no longer deferred": args.jobs - int(deferred[0][0]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    phase_arguments(parser, jobs=2000, poll_interval=30, window=60, warmup=45, baseline=BASELINE_REV)
    parser.add_argument("--outage", type=float, default=90, help="seconds every connection is cut (90)")
    parser.add_argument("--only", choices=("baseline", "current"), help="measure one phase only")
    args = parser.parse_args()

    in_scratch(args, run, "amt-bench-outage-")


def run(args: argparse.Namespace, scratch: Path) -> None:
    stream = {"every": 10, "text": "Outage bench line {n}: account batch processed"}
    catalog = catalogue({"S": {"queue_delay": 0, "run_time": 7200, "final_code": 4, "messages": [stream]}})
    with EmulatorProcess(":memory:", time_scale=1, catalog=catalog) as emulator, Postgres() as pg:
        from airflow_provider_amt.hooks.amt import AmtHook

        os.environ["AIRFLOW_CONN_AMT_BENCH"] = emulator.connection_uri()
        with AmtHook("amt_bench") as hook:
            ids = [hook.start_batch_job("BENCH", "S") for _ in range(args.jobs)]
        assert ids == list(range(ids[0], ids[0] + args.jobs)), "the trigger finds its job by map index"
        home = bench_home(
            scratch,
            emulator.connection_uri(),
            pg,
            {
                "AIRFLOW__TRIGGERER__CAPACITY": str(max(1000, args.jobs + 100)),
                "AIRFLOW__CORE__MAX_MAP_LENGTH": str(max(1024, args.jobs)),
                "AMT_BENCH_JOBS": str(args.jobs),
                "AMT_BENCH_FIRST_ID": str(ids[0]),
                "AMT_BENCH_POLL_INTERVAL": str(args.poll_interval),
            },
        )
        with BenchCluster(home) as cluster:
            cluster.wait_for_dag("amt_outage_bench")
            cluster.trigger("amt_outage_bench")
            results = {}
            for name in ("baseline", "current"):
                if args.only not in (None, name):
                    continue
                trees = [str(baseline_tree(args.baseline_rev, scratch))] if name == "baseline" else []
                env = {"PYTHONPATH": os.pathsep.join([*trees, str(ROOT / "bench")])}  # + _outage_trigger
                results[name] = measure(pg, cluster, emulator, name, env, args)
                wait_until(lambda: running_on_triggerer(pg) == 0, 180, f"the {name} triggerer to let go")

    print(
        f"\n{args.jobs} deferred AMT watches on one real triggerer (poll_interval {args.poll_interval:g} s), "
        f"{args.window:g} s normal, then every connection cut for {args.outage:g} s"
    )
    print(f"baseline: provider and client at {args.baseline_rev}; current: this checkout\n")
    names = list(results)
    print("| figure | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for key in next(iter(results.values())):
        print(f"| {key} | " + " | ".join(f"{results[n][key]:.2f}" for n in names) + " |")


if __name__ == "__main__":
    main()
