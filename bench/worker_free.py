"""Airflow's CPU per AMT job, end to end: tasks started in the triggerer (``start_from_trigger``, no
worker) against the classic deferrable path, in the same run.

One Airflow (PostgreSQL; scheduler with LocalExecutor, dag-processor, api-server, one triggerer) and
the AMT emulator. The DAGs (``bench/dags/amt_worker_free_bench.py``) hold ``--tasks`` independent
tasks, each starting a job on the emulator (``--job``, CHATTYREPORT: 12 s, a message every few
seconds) and watching it with ``poll_interval=5``. After one warm-up run of each DAG, the idle load
is measured for ``--idle`` seconds; then ``--rounds`` rounds each run the classic DAG and the
``start_from_trigger`` DAG, one after the other.

Per run: the CPU time (user + system) of every Airflow process tree (the scheduler's with its
LocalExecutor workers and their task processes counted apart as "workers", the dag-processor's, the
api-server's, the triggerer's; children that ended are counted through their parents) from the run's
trigger to its end, less the idle rate over that time, over the number of tasks. Printed per
component and as the ratio ``from_trigger / classic``. The triggerer runs under the ladder's probe
(``_triggerer_probe.py``), which also gives, per job, its supervisor's loops and the XCom reads and
writes the triggers sent through it: what explains the triggerer's figure.

Run: ``make bench-worker-free`` or ``.venv-distributed/bin/python bench/worker_free.py --tasks 40``.
Not a test: it prints figures; ``docs/performance.md`` holds them with the machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _real_triggerer import (  # noqa: E402
    SUPERVISOR_STEPS,
    BenchCluster,
    ProbedTriggerer,
    cluster_on,
    in_scratch,
    probed_triggerer,
)

from amt_emulator.process import EmulatorProcess  # noqa: E402
from tests.airflow_harness import wait_until  # noqa: E402

COMPONENTS = ("scheduler", "workers", "dag-processor", "api-server", "triggerer")
MODES = ("classic", "from_trigger")


def _times(process: psutil.Process) -> float:
    """CPU seconds of a process and of its children that ended (and were reaped)."""
    try:
        t = process.cpu_times()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return 0.0
    return t.user + t.system + t.children_user + t.children_system


def _is_worker(process: psutil.Process) -> bool:
    try:
        return " ".join(process.cmdline()).startswith("airflow worker")
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False


def cpu_by_component(cluster: BenchCluster, triggerer: ProbedTriggerer) -> dict[str, float]:
    """CPU seconds so far of each component's process tree (LocalExecutor workers apart)."""
    totals = dict.fromkeys(COMPONENTS, 0.0)
    for name, popen in {**cluster.processes, "triggerer": triggerer.process}.items():
        try:
            root = psutil.Process(popen.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        workers = {p.pid for p in tree if _is_worker(p)}
        for p in list(tree):
            if p.pid in workers or (set(q.pid for q in _parents(p)) & workers):
                totals["workers"] += _times(p)
            else:
                totals[name] += _times(p)
    return totals


def _parents(process: psutil.Process) -> list[psutil.Process]:
    try:
        return process.parents()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return []


def _minus(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: a[k] - b[k] for k in a}


def supervisor_counts(triggerer: ProbedTriggerer) -> dict[str, float]:
    """The probe's cumulative counts: the supervisor's loops and the triggers' XCom requests through it."""
    time.sleep(1.5)  # the probe writes its counters about once a second
    probe = triggerer.reading()
    counts = {name: float(probe["counts"].get(key, 0)) for name, key in SUPERVISOR_COUNTS.items()}
    return {**counts, **{name: float(probe["cpu"].get(key, 0.0)) for name, key in SUPERVISOR_CPU.items()}}


#: What the supervisor did per job (from the probe): every request and every burst of log lines
#: wakes its loop, which reloads its triggers from the database (docs/performance.md).
SUPERVISOR_COUNTS = {
    "supervisor loops (per job)": "loops",
    "XCom reads (per job)": "GetXCom",
    "XCom writes (per job)": "SetXCom",
}
#: The supervisor thread's CPU seconds per job by step of its loop (the rest of the triggerer's is the
#: runner's, where the triggers run, and the supervisor's other threads).
SUPERVISOR_CPU = {f"supervisor: {label} (s)": step for step, label in SUPERVISOR_STEPS.items()}


def measured_run(
    cluster: BenchCluster, triggerer: ProbedTriggerer, dag_id: str, tasks: int, idle_rate: dict[str, float]
) -> dict[str, float]:
    """Trigger one run, wait for its end; net CPU seconds per job by component (and the run's wall time),
    and the triggerer supervisor's loops and XCom requests per job."""
    counted = supervisor_counts(triggerer)
    before, started = cpu_by_component(cluster, triggerer), time.monotonic()
    run_id = cluster.trigger(dag_id)
    state = wait_until(
        lambda: (s := cluster.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]) in ("success", "failed") and s,
        600,
        f"{dag_id} to end",
    )
    time.sleep(2)  # the last task processes are reaped
    spent, wall = _minus(cpu_by_component(cluster, triggerer), before), time.monotonic() - started
    if state != "success":
        raise SystemExit(f"{dag_id} run {run_id} ended {state}: not a measurement")
    net = {k: (spent[k] - idle_rate[k] * wall) / tasks for k in COMPONENTS}
    per_job = {k: v / tasks for k, v in _minus(supervisor_counts(triggerer), counted).items()}
    return {**net, "total": sum(net.values()), "gross total": sum(spent.values()) / tasks, "wall (s)": wall, **per_job}


def run(args: argparse.Namespace, scratch: Path) -> None:
    env = {
        "AMT_BENCH_TASKS": str(args.tasks),
        "AMT_BENCH_JOB": args.job,
        "AIRFLOW__CORE__PARALLELISM": "64",
        "AIRFLOW__AMT__TRIGGER_MESSAGES": args.trigger_messages,
    }
    with (
        EmulatorProcess(scratch / "emulator.sqlite") as emulator,
        cluster_on(scratch, emulator, env) as (_pg, cluster),
        probed_triggerer(cluster, "worker-free", {}) as triggerer,
    ):
        wait_until(triggerer.probe.exists, 120, "the triggerer's probe")
        for mode in MODES:
            cluster.wait_for_dag(f"amt_worker_free_{mode}")
        zero = dict.fromkeys(COMPONENTS, 0.0)
        for mode in MODES:  # warm-up: imports, connections, the first DAG runs' scheduling
            measured_run(cluster, triggerer, f"amt_worker_free_{mode}", args.tasks, zero)
        before = cpu_by_component(cluster, triggerer)
        time.sleep(args.idle)
        idle_rate = {k: v / args.idle for k, v in _minus(cpu_by_component(cluster, triggerer), before).items()}
        print("idle CPU (% of a core): " + json.dumps({k: round(100 * v, 2) for k, v in idle_rate.items()}))
        results: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
        for round_number in range(1, args.rounds + 1):
            for mode in MODES:
                figures = measured_run(cluster, triggerer, f"amt_worker_free_{mode}", args.tasks, idle_rate)
                results[mode].append(figures)
                print(f"round {round_number}, {mode}: " + json.dumps({k: round(v, 3) for k, v in figures.items()}))
        print(
            f"\nAirflow CPU per AMT job (s), net of idle, {args.rounds} rounds of {args.tasks} tasks ({args.job}, "
            f"trigger_messages={args.trigger_messages})"
        )
        print("| component | classic deferrable | start_from_trigger | ratio |")
        print("|---|---|---|---|")
        for key in (*COMPONENTS, "total", "gross total", *SUPERVISOR_CPU, *SUPERVISOR_COUNTS):
            classic = sum(r[key] for r in results["classic"]) / args.rounds
            worker_free = sum(r[key] for r in results["from_trigger"]) / args.rounds
            ratio = f"{worker_free / classic:.2f}x" if classic > 0.005 else "-"
            print(f"| {key} | {classic:.3f} | {worker_free:.3f} | {ratio} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=40, help="tasks per DAG run (40)")
    parser.add_argument("--job", default="CHATTYREPORT", help="the emulator's batch job each task starts")
    parser.add_argument("--rounds", type=int, default=2, help="measured runs of each DAG (2)")
    parser.add_argument(
        "--trigger-messages",
        choices=("live", "at_read"),
        default="live",
        help="[amt] trigger_messages for both paths (live: the triggerer logs every message)",
    )
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle load measured (60)")
    parser.add_argument("--keep", action="store_true", help="keep the Airflow home and outputs")
    in_scratch(parser.parse_args(), run, "amt-worker-free-")


if __name__ == "__main__":
    main()
