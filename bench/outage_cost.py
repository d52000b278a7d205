"""What a Batch Server outage costs, measured in a real ``airflow triggerer``, before and after the
shared view of the server's health (``amt_client/health.py``).

One process run, two phases on the same Airflow (PostgreSQL, scheduler, dag-processor, api-server),
the same fast fake Batch Server (``bench/_fake_amt.py``: a message per job every ``--message-every``
seconds, 10 by default; 0: quiet jobs) and the same
JOBS deferred task instances (``bench/dags/amt_outage_bench.py``, ``start_from_trigger``:
no worker; ``bench/_outage_trigger.py``), each watching its own AMT job every ``--poll-interval``
seconds:

* **baseline**: a triggerer running the provider *and* the client library as of ``--baseline-rev``
  (default: the last commit before issue 22);
* **current**: a triggerer running this checkout.

Each phase, after a warm-up: ``--window`` seconds of normal operation, then ``--outage`` seconds in
which the server cuts every connection (the request arrives, the connection is reset without an
answer), then the server is back. Printed per phase: requests per job per poll interval, normal
and during the outage (the server counts every request, cut or not); how long after the server's
return each job was polled again (max and p95, against the poll interval); the triggerer's
heartbeat gaps (nominal 5 s; at 30 s Airflow
hands its triggers to another triggerer); its "blocked" warnings, in all and per window (triggers
starting and warm-up, normal, outage, after the return); Stop or Kill requests sent; task
instances no longer deferred. The triggerer runs at Airflow's default heartbeat settings, with
``[triggerer] capacity`` and ``[core] max_map_length`` raised to hold JOBS.

Run: ``make bench-outage`` (PostgreSQL from Debian's packages, the distributed venv; about 15 min),
or ``.venv-distributed/bin/python bench/outage_cost.py --jobs 2000 --outage 90``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _real_triggerer import (  # noqa: E402
    FakeServer,
    baseline_tree,
    cluster_on,
    holding,
    in_scratch,
    phase_arguments,
    probed_triggerer,
    running_on_triggerer,
    sql,
)

from tests.airflow_harness import AirflowCluster, wait_until  # noqa: E402
from tests.distributed.services import Postgres  # noqa: E402

#: The last commit before issue 22 (no shared view of the server's health).
BASELINE_REV = "daa7634"


#: The timestamp a triggerer's log line starts with (structlog's ISO format, UTC).
_STAMP = re.compile(r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?)(Z|[+-]\d\d:?\d\d)?")


def _blocked_by_window(output: str, windows: list[tuple[str, float]]) -> dict[str, int]:
    """Airflow's "async thread was blocked" warnings per window (``windows``: names and start times,
    in order; a line before the first start counts in the first window)."""
    counts = {name: 0 for name, _ in windows} | {"no timestamp": 0}
    for line in output.splitlines():
        if "blocked" not in line:
            continue
        stamp = _STAMP.search(line)
        if stamp is None:
            counts["no timestamp"] += 1
            continue
        when = datetime.fromisoformat(stamp.group(1).replace(" ", "T") + (stamp.group(2) or "+00:00")).timestamp()
        counts[next((name for name, start in reversed(windows) if when >= start), windows[0][0])] += 1
    return counts


def _api_requests(counts: dict[str, int]) -> int:
    return sum(counts[k] for k in ("Logon", "MonitorJob", "GetMessages", "JobAction", "cut"))


def measure(
    pg: Postgres, cluster: AirflowCluster, server: FakeServer, name: str, extra_env: dict[str, str], args: Any
) -> dict[str, float]:
    with probed_triggerer(cluster, name, extra_env) as triggerer:
        probe = triggerer.probe
        wait_until(lambda: probe.exists() and running_on_triggerer(pg) >= args.jobs, 900, f"{name}: every trigger")
        time.sleep(args.warmup)  # first polls backed off to poll_interval, first reads done
        server.call("POST", "/reset")
        began = time.time()
        time.sleep(args.window)
        normal, cut = server.requests(), time.time()
        server.call("POST", "/outage/on")
        time.sleep(args.outage)
        server.call("POST", "/outage/off")
        during, back = server.requests(), time.time()
        time.sleep(args.poll_interval * 2)
        ended = time.time()
        stats = server.call("GET", "/stats")
        beats = triggerer.reading()["heartbeats"]
    polls = args.jobs / args.poll_interval  # polls a second at the poll interval
    first_after = [min((t for t in times if t >= back), default=None) for times in stats["monitor_times"].values()]
    delays = sorted(t - back for t in first_after if t is not None)
    gaps = sorted(b - a for a, b in itertools.pairwise(t for t in beats if began - 10 <= t <= ended))
    blocked = _blocked_by_window(
        triggerer.output.read_text(errors="replace"),
        [("triggers starting, warm-up", 0.0), ("normal", began), ("outage", cut), ("after the return", back)],
    )
    deferred = sql(pg, "SELECT count(*) FROM task_instance WHERE dag_id = 'amt_outage_bench' AND state = 'deferred'")
    return {
        "requests / job / poll interval, normal": _api_requests(normal) / (polls * (cut - began)),
        "requests / job / poll interval, outage": (_api_requests(during) - _api_requests(normal))
        / (polls * (back - cut)),
        "jobs polled again after the return": len(delays),
        "slowest first poll after the return (s)": delays[-1] if delays else float("nan"),
        "p95 first poll after the return (s)": delays[int(len(delays) * 0.95)] if delays else float("nan"),
        "heartbeat gap max (s)": gaps[-1] if gaps else float("nan"),
        "'blocked' warnings": sum(blocked.values()),
        **{f"'blocked' warnings, {window}": count for window, count in blocked.items()},
        "Stop/Kill sent": stats["requests"]["JobAction"],
        "tasks no longer deferred": args.jobs - int(deferred[0][0]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    phase_arguments(parser, jobs=2000, poll_interval=30, window=60, warmup=45, baseline=BASELINE_REV)
    parser.add_argument("--outage", type=float, default=90, help="seconds every connection is cut (90)")
    parser.add_argument("--only", choices=("baseline", "current"), help="measure one phase only")
    parser.add_argument(
        "--message-every", type=float, default=10, help="seconds between a job's messages (10; 0: quiet jobs)"
    )
    parser.add_argument(
        "--triggerer-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for the triggerer, e.g. AIRFLOW__AMT__TRIGGER_MESSAGES=at_read (repeatable)",
    )
    args = parser.parse_args()

    in_scratch(args, run, "amt-bench-outage-")


def run(args: argparse.Namespace, scratch: Path) -> None:
    server = FakeServer(message_every=args.message_every)
    try:
        env = {
            **holding(args.jobs),
            "AMT_BENCH_JOBS": str(args.jobs),
            "AMT_BENCH_FIRST_ID": "1",  # the fake server makes every job up from its id
            "AMT_BENCH_POLL_INTERVAL": str(args.poll_interval),
        }
        with cluster_on(scratch, server, env) as (pg, cluster):
            cluster.wait_for_dag("amt_outage_bench")
            cluster.trigger("amt_outage_bench")
            results = {}
            for name in ("baseline", "current"):
                if args.only not in (None, name):
                    continue
                trees = [str(baseline_tree(args.baseline_rev, scratch))] if name == "baseline" else []
                triggerer_env = {
                    "PYTHONPATH": os.pathsep.join([*trees, str(ROOT / "bench")]),  # + _outage_trigger
                    **dict(option.split("=", 1) for option in args.triggerer_env),
                }
                results[name] = measure(pg, cluster, server, name, triggerer_env, args)
                wait_until(lambda: running_on_triggerer(pg) == 0, 180, f"the {name} triggerer to let go")
    finally:
        server.close()

    print(
        f"\n{args.jobs} deferred AMT watches on one real triggerer (poll_interval {args.poll_interval:g} s), "
        f"{args.window:g} s normal, then every connection cut for {args.outage:g} s"
    )
    print(f"baseline: provider and client at {args.baseline_rev}; current: this checkout")
    print(f"triggerer environment: {args.triggerer_env or 'default'}\n")
    names = list(results)
    print("| figure | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for key in next(iter(results.values())):
        print(f"| {key} | " + " | ".join(f"{results[n][key]:.2f}" for n in names) + " |")


if __name__ == "__main__":
    main()
