"""How many AMT jobs one real ``airflow triggerer`` watches: a ladder of deferred jobs, the provider
with and without messages against the peer design, in the same run.

One Airflow (PostgreSQL, scheduler, dag-processor, api-server, Airflow's default heartbeat settings),
one fast fake Batch Server in a process of its own (``bench/_fake_amt.py``: jobs 1.. write a message
every ``--message-every`` seconds, jobs from 1,000,001 none), and for every level of ``--levels`` and
every design (``bench/dags/amt_ladder_bench.py``) a phase of its own:

* **messages**: ``AmtJobTrigger`` watching jobs that write messages (logged, checkpointed);
* **at_read**: the same on the same jobs, the triggerer at ``[amt] trigger_messages = at_read`` (it
  logs no message; ``AmtTaskLogHandler`` adds them when the log is read);
* **quiet**: ``AmtJobTrigger`` watching jobs that write none;
* **peer**: the official providers' design (``bench/_ladder_triggers.py``): a new HTTP session per
  poll, the status only, a fixed pause.
* **floor**: a trigger that logs one line and waits, polling nothing: what Airflow itself costs per
  deferred task whose trigger writes its log. With it in the run, the report also gives every
  design's CPU per poll and memory per trigger net of this floor (what the design adds to Airflow's
  own cost), and the CPU ratios to the peer on those.

Each phase starts a fresh triggerer under ``_triggerer_probe.py``, measures its idle memory, runs a
DAG run of LEVEL mapped ``start_from_trigger`` tasks (no worker), waits until the triggerer runs them
all, lets ``--warmup`` seconds pass and measures ``--window`` seconds:

* polls on time: a poll is late when it comes more than ``poll_interval x 1.15 + 3 s`` after the
  job's previous one (the fake server records every MonitorJob);
* the triggerer's heartbeat gaps (nominal 5 s; at 30 s Airflow hands its triggers to another one);
* the triggerer's CPU per poll, supervisor and runner (and as a ratio to the peer's at that level);
* memory per trigger, supervisor and runner (RSS at the level less RSS idle, over LEVEL);
* the supervisor's loops a second and its CPU by activity (``_triggerer_probe.py``);
* for messages and at_read: sampled task logs (``--samples`` map indexes) holding every message
  exactly once (messages: the trigger's log files; at_read: the log as the api-server shows it).

Then the run is failed, the triggers go, and the triggerer stops. The levels run up as long as
``[triggerer] capacity`` and ``[core] max_map_length`` are raised to hold them (this script does) and
the process may open enough files (the supervisor keeps a log file open per trigger).

Run: ``make bench-triggerer`` (PostgreSQL from Debian's packages, the distributed venv), or
``.venv-distributed/bin/python bench/triggerer_ladder.py --levels 500,1000 --designs messages,peer``.
Not a test: it prints figures; ``docs/performance.md`` holds them with the machine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import resource
import sys
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _ladder_triggers import DESIGNS, FIRST_JOB, TRIGGERER_ENV  # noqa: E402
from _real_triggerer import (  # noqa: E402
    SUPERVISOR_STEPS,
    FakeServer,
    ProbedTriggerer,
    cluster_on,
    holding,
    in_scratch,
    probed_triggerer,
    running_on_triggerer,
)

from tests.airflow_harness import AMT_INDEX, AirflowCluster, wait_until  # noqa: E402
from tests.distributed.services import Postgres  # noqa: E402

#: The designs that poll a job (the floor polls nothing).
POLLING = tuple(design for design in DESIGNS if design != "floor")
#: Late: more than this after the job's previous poll (poll_interval x LATE_FACTOR + LATE_SLACK).
LATE_FACTOR, LATE_SLACK = 1.15, 3.0
RSS = "RSS, supervisor + runner (MB)"


def _tree(pid: int) -> tuple[psutil.Process, psutil.Process | None]:
    """The supervisor (the probe's process) and its trigger runner (its Python child), if started."""
    supervisor = psutil.Process(pid)
    runners = [p for p in supervisor.children() if "python" in p.name().lower()]
    return supervisor, (runners[0] if runners else None)


def _cpu(process: psutil.Process | None) -> float:
    if process is None:
        return 0.0
    times = process.cpu_times()
    return times.user + times.system


def _rss(process: psutil.Process | None) -> int:
    return process.memory_info().rss if process is not None else 0


def _logged_once(cluster: AirflowCluster, design: str, run_id: str, dag_id: str, samples: list[int]) -> tuple[int, int]:
    """Of the sampled map indexes' task logs: how many hold every message from 0 once, in order, and how
    many messages they hold in all. ``messages``: the trigger log files themselves (what the trigger
    wrote); ``at_read``: the log as a user reads it (the api-server, through ``AmtTaskLogHandler``)."""
    good = total = 0
    for index in samples:
        if design == "at_read":
            lines = cluster.task_log(dag_id, run_id, "watch", map_index=index)
            text = "\n".join(str(line.get("event", "")) if isinstance(line, dict) else str(line) for line in lines)
        else:
            folder = cluster.home.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / "task_id=watch"
            text = "\n".join(f.read_text() for f in sorted((folder / f"map_index={index}").glob("attempt=*")))
        indexes = [int(i) for i in re.findall(AMT_INDEX, text)]
        total += len(indexes)
        good += bool(indexes) and indexes == list(range(len(indexes)))
    return good, total


def _with_messages(design: str) -> bool:
    return design in ("messages", "at_read")


class TriggererStuck(Exception):
    """The triggerer's supervisor stopped heartbeating (its probe file went stale)."""


def _alive(triggerer: ProbedTriggerer, most: float = 120.0) -> None:
    age = time.time() - triggerer.reading()["time"]
    if age > most:
        raise TriggererStuck(f"no heartbeat loop for {age:.0f} s")


def measure(pg: Postgres, cluster: AirflowCluster, server: FakeServer, design: str, jobs: int, args: Any) -> dict:
    dag_id = f"amt_ladder_{design}"
    name = f"{design}-{jobs}"
    env = {
        "AMT_BENCH_URL": server.url,
        **TRIGGERER_ENV.get(design, {}),
        **dict(option.split("=", 1) for option in args.triggerer_env),
    }
    with probed_triggerer(cluster, name, env) as triggerer:
        wait_until(lambda: triggerer.probe.exists(), 120, f"{name}: the triggerer")
        time.sleep(10)
        supervisor, runner = _tree(triggerer.process.pid)
        idle = (_rss(supervisor), _rss(runner))
        server.call("POST", "/jobs/restart")  # every phase's jobs start now: first pages of equal length
        run_id = cluster.trigger(dag_id, {"jobs": jobs})
        ramp = time.monotonic()
        wait_until(lambda: _alive(triggerer) or running_on_triggerer(pg) >= jobs, args.ramp_timeout, f"{name}: ramp")
        ramp = time.monotonic() - ramp
        time.sleep(args.warmup)
        supervisor, runner = _tree(triggerer.process.pid)
        server.call("POST", "/reset")
        probe_before = triggerer.reading()
        cpu_before = (_cpu(supervisor), _cpu(runner))
        began = time.time()
        time.sleep(args.window)
        _alive(triggerer)
        ended = time.time()
        cpu_after = (_cpu(supervisor), _cpu(runner))
        rss = (_rss(supervisor), _rss(runner))
        stats = server.call("GET", "/stats")
        time.sleep(2)  # the probe writes about once a second
        probe_after = triggerer.reading()
        samples = sorted({round(i * (jobs - 1) / max(1, args.samples - 1)) for i in range(args.samples)})
        once, messages = _logged_once(cluster, design, run_id, dag_id, samples) if _with_messages(design) else (0, 0)
        cluster.api("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}", json={"state": "failed"})
        wait_until(lambda: running_on_triggerer(pg) == 0, 600, f"{name}: the triggers to go")
    late_after = args.poll_interval * LATE_FACTOR + LATE_SLACK
    gaps = [b - a for times in stats["monitor_times"].values() for a, b in itertools.pairwise(times)]
    polls = stats["requests"]["MonitorJob"]
    beats = [b - a for a, b in itertools.pairwise(t for t in probe_after["heartbeats"] if began - 30 <= t <= ended)]
    loops = probe_after["counts"].get("loops", 0) - probe_before["counts"].get("loops", 0)
    activity = {
        step: probe_after["cpu"].get(step, 0.0) - probe_before["cpu"].get(step, 0.0) for step in SUPERVISOR_STEPS
    }
    requests = sum(probe_after["seconds"].values()) - sum(probe_before["seconds"].values())
    window = ended - began
    per_poll = 1000 / polls if polls else float("nan")  # the floor polls nothing
    return {
        "ramp (s)": ramp,
        "polls on time (%)": 100.0 * sum(g <= late_after for g in gaps) / len(gaps) if gaps else float("nan"),
        "jobs polled in the window (%)": 100.0 * len(stats["monitor_times"]) / jobs,
        "heartbeat gap max (s)": max(beats, default=float("nan")),
        "CPU per poll, supervisor (ms)": (cpu_after[0] - cpu_before[0]) * per_poll,
        "CPU per poll, runner (ms)": (cpu_after[1] - cpu_before[1]) * per_poll,
        "CPU per poll, triggerer (ms)": (sum(cpu_after) - sum(cpu_before)) * per_poll,
        "memory per trigger, supervisor (KB)": (rss[0] - idle[0]) / jobs / 1024,
        "memory per trigger, runner (KB)": (rss[1] - idle[1]) / jobs / 1024,
        "RSS, supervisor + runner (MB)": sum(rss) / 2**20,
        "supervisor loops / s": loops / window,
        **{
            f"supervisor CPU, {SUPERVISOR_STEPS[step]} (% of a core)": 100 * activity[step] / window
            for step in ("load_triggers", "clean_unused", "_service_subprocess")
        },
        "supervisor wall time in trigger requests (% of the window)": 100 * requests / window,
        "supervisor CPU, all (% of a core)": 100 * (cpu_after[0] - cpu_before[0]) / window,
        "triggerer CPU, supervisor + runner (% of a core)": 100 * (sum(cpu_after) - sum(cpu_before)) / window,
        "polls / s": polls / window,
        "sampled task logs with every message once": once if _with_messages(design) else float("nan"),
        "messages in the sampled task logs": messages if _with_messages(design) else float("nan"),
    }


def _fail_runs(cluster: AirflowCluster) -> None:
    """After a stuck phase: fail every running ladder run (the next phase's triggerer cleans up their
    triggers; the stuck one's job is left to Airflow's health check)."""
    for design in DESIGNS:
        runs = cluster.api("GET", f"/dags/amt_ladder_{design}/dagRuns?state=running")["dag_runs"]
        for run in runs:
            cluster.api("PATCH", f"/dags/amt_ladder_{design}/dagRuns/{run['dag_run_id']}", json={"state": "failed"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="500,1000,2000", help="deferred jobs per phase (500,1000,2000)")
    parser.add_argument("--designs", default=",".join(DESIGNS), help=f"which designs ({','.join(DESIGNS)})")
    parser.add_argument("--poll-interval", type=float, default=30, help="the triggers' poll_interval (30)")
    parser.add_argument("--message-every", type=float, default=10, help="seconds between a job's messages (10)")
    parser.add_argument("--window", type=float, default=90, help="seconds measured per phase (90)")
    parser.add_argument("--warmup", type=float, default=60, help="seconds after every trigger runs (60)")
    parser.add_argument("--ramp-timeout", type=float, default=1800, help="longest wait for a level's triggers")
    parser.add_argument("--samples", type=int, default=5, help="task logs checked per messages phase (5)")
    parser.add_argument(
        "--triggerer-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for the triggerer, e.g. AIRFLOW__AMT__CHECKPOINT_RATE=1 (repeatable)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the Airflow home, outputs and probe files")
    args = parser.parse_args()
    in_scratch(args, run, "amt-bench-ladder-")


def run(args: argparse.Namespace, scratch: Path) -> None:
    levels = [int(level) for level in args.levels.split(",")]
    designs = [design for design in args.designs.split(",") if design]
    unknown = set(designs) - set(DESIGNS)
    if unknown:
        raise SystemExit(f"unknown designs {sorted(unknown)}; known: {DESIGNS}")
    files = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (files[1], files[1]))  # inherited by the triggerer
    server = FakeServer(message_every=args.message_every, quiet_from=FIRST_JOB["quiet"])
    results: dict[str, dict[str, dict]] = {}
    try:
        env = {
            **holding(max(levels)),
            "AMT_BENCH_POLL_INTERVAL": str(args.poll_interval),
            # the task log as a user reads it: AmtTaskLogHandler (it adds what the triggerer leaves to it)
            "AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS": "airflow_provider_amt.log.config.LOGGING_CONFIG",
            # this tree's provider and client first (the venv may hold another checkout's), the bench triggers
            "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("", "libs/amt-client/src", "bench")),
        }
        with cluster_on(scratch, server, env) as (pg, cluster):
            for design in designs:
                cluster.wait_for_dag(f"amt_ladder_{design}", timeout=300)
            for jobs in levels:
                for design in designs:
                    try:
                        figures = measure(pg, cluster, server, design, jobs, args)
                    except TriggererStuck as stuck:  # a deadlocked triggerer is a result, not a crash
                        print(f"{design} at {jobs}: the triggerer got stuck ({stuck})", flush=True)
                        figures = {"triggerer stuck (no heartbeat)": 1.0}
                        _fail_runs(cluster)
                    results.setdefault(str(jobs), {})[design] = figures
                    print(f"{design} at {jobs}: {json.dumps(results[str(jobs)][design])}", flush=True)
    finally:
        server.close()
    report(results, args, files[1])


def report(results: dict[str, dict[str, dict]], args: argparse.Namespace, nofile: int) -> None:
    print(
        f"\n# one real airflow triggerer ({time.strftime('%Y-%m-%d')}; {os.cpu_count()} CPUs, "
        f"{psutil.virtual_memory().total / 2**30:.1f} GiB, Python {sys.version.split()[0]}, RLIMIT_NOFILE {nofile})"
    )
    print(
        f"poll_interval {args.poll_interval:g} s; messages: a message every {args.message_every:g} s per job; "
        f"window {args.window:g} s after {args.warmup:g} s of warm-up; "
        f"late: > poll x {LATE_FACTOR} + {LATE_SLACK:g} s; triggerer environment: {args.triggerer_env or 'default'}\n"
    )
    previous: tuple[str, dict[str, dict]] | None = None
    for jobs, by_design in results.items():
        designs = list(by_design)
        print(f"## {jobs} deferred jobs\n")
        print("| figure | " + " | ".join(designs) + " |\n|---|" + "---|" * len(designs))
        keys = dict.fromkeys(key for figures in by_design.values() for key in figures)
        for key in keys:
            print(f"| {key} | " + " | ".join(f"{by_design[d].get(key, float('nan')):.2f}" for d in designs) + " |")
        if previous is not None:  # what one more trigger costs, without what the first one brings
            added = int(jobs) - int(previous[0])
            slopes = [
                f"{d} {(by_design[d][RSS] - previous[1][d][RSS]) * 1024 / added:.1f} KB"
                for d in designs
                if RSS in by_design[d] and RSS in previous[1].get(d, {})
            ]
            print(f"\nmemory per trigger added since {previous[0]} (supervisor + runner): {', '.join(slopes)}")
        previous = (jobs, by_design)
        cpu = "CPU per poll, triggerer (ms)"
        if cpu in by_design.get("peer", {}):
            peer = by_design["peer"][cpu]
            others = [d for d in designs if d in POLLING and d != "peer" and cpu in by_design[d]]
            ratios = [f"{d} {by_design[d][cpu] / peer:.2f}x" for d in others]
            print(f"\nCPU per poll against the peer's: {', '.join(ratios)}")
        if "floor" in by_design:
            _net_of_floor(by_design)
        print()


def _net_of_floor(by_design: dict[str, dict]) -> None:
    """Each polling design's CPU per poll and memory per trigger less the floor's (Airflow's own cost of
    a deferred task whose trigger logs: its CPU a second spread over the design's polls, its memory per
    trigger), and the CPU ratios to the peer on those."""
    floor = by_design["floor"]
    cpu, polls = "triggerer CPU, supervisor + runner (% of a core)", "polls / s"
    memory = ("memory per trigger, supervisor (KB)", "memory per trigger, runner (KB)")
    net_cpu = {
        d: 10 * (figures[cpu] - floor[cpu]) / figures[polls]  # % of a core -> ms a second
        for d, figures in by_design.items()
        if d in POLLING and cpu in figures and figures.get(polls)
    }
    net_memory = {
        d: sum(figures[key] for key in memory) - sum(floor[key] for key in memory)
        for d, figures in by_design.items()
        if d in POLLING and all(key in figures for key in memory)
    }
    print(
        f"\nthe floor (a trigger that logs a line and waits): {floor.get(cpu, float('nan')):.2f} % of a core, "
        f"{sum(floor.get(key, float('nan')) for key in memory):.1f} KB per trigger"
    )
    print("net of the floor, CPU per poll: " + ", ".join(f"{d} {ms:.3f} ms" for d, ms in net_cpu.items()))
    if net_cpu.get("peer", 0) > 0:
        ratios = [f"{d} {ms / net_cpu['peer']:.2f}x" for d, ms in net_cpu.items() if d != "peer"]
        print(f"net of the floor, CPU per poll against the peer's: {', '.join(ratios)}")
    print("net of the floor, memory per trigger: " + ", ".join(f"{d} {kb:.1f} KB" for d, kb in net_memory.items()))


if __name__ == "__main__":
    main()
