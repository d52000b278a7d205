"""What the benchmarks of a real ``airflow triggerer`` share (``checkpoint_cost.py``, ``outage_cost.py``,
``triggerer_ladder.py``): the fast fake Batch Server, the cluster without a triggerer, a triggerer
started per phase under the probe, a baseline tree of an older revision to run it with, and the
scratch folder a run works in.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.airflow_harness import AirflowCluster, AirflowHome  # noqa: E402
from tests.distributed.services import Postgres  # noqa: E402

#: Airflow's defaults for the triggerer's heartbeat (the test harness shortens them).
AIRFLOW_TRIGGERER_DEFAULTS = {
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "5",
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "30",
}
#: Where the provider and the client library live in the repository, and their import names.
TREES = {"airflow_provider_amt": "airflow_provider_amt", "libs/amt-client/src/amt_client": "amt_client"}


class BenchCluster(AirflowCluster):
    """Scheduler, dag-processor and api-server; the triggerer is started per phase, under the probe."""

    COMPONENTS = ("scheduler", "dag-processor", "api-server")


class FakeServer:
    """``bench/_fake_amt.py`` in a process of its own: the emulator costs tens of milliseconds a
    request at thousands of jobs (it advances every job's state on every request), this one
    microseconds, and it records when each job was polled."""

    def __init__(self, message_every: float, quiet_from: int = 0):
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "_fake_amt.py"),
                "--port",
                "0",
                "--message-every",
                str(message_every),
                "--quiet-from",
                str(quiet_from),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{self.process.stdout.readline().split()[1]}"

    def connection_uri(self) -> str:
        return json.dumps({"conn_type": "amt", "host": self.url, "login": "bench", "password": "bench-pw-1"})

    def call(self, method: str, path: str) -> Any:
        request = urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())

    def requests(self) -> dict[str, int]:
        counts: dict[str, int] = self.call("GET", "/stats")["requests"]
        return counts

    def close(self) -> None:
        self.process.kill()
        self.process.wait(10)


class AmtServer(Protocol):
    """The fake server or the emulator: what the cluster needs of a Batch Server."""

    def connection_uri(self) -> str: ...


@contextlib.contextmanager
def cluster_on(scratch: Path, server: AmtServer, extra_env: dict[str, str]) -> Iterator[tuple[Postgres, BenchCluster]]:
    """PostgreSQL and the cluster without a triggerer (``bench_home``), its AMT connection ``server``."""
    with Postgres() as pg, BenchCluster(bench_home(scratch, server.connection_uri(), pg, extra_env)) as cluster:
        yield pg, cluster


def baseline_tree(rev: str, scratch: Path) -> Path:
    """The provider and the client library as of ``rev``, in a folder to put first on PYTHONPATH."""
    folder = scratch / "baseline"
    for path, name in TREES.items():
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", rev, path], check=True, capture_output=True
        ).stdout
        unpacked = scratch / f"unpacked-{name}"
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(unpacked, filter="data")
        shutil.move(str(unpacked / path), str(folder / name))
    return folder


def holding(jobs: int) -> dict[str, str]:
    """Airflow options that let one triggerer and one mapped task hold ``jobs`` deferred tasks
    (``[triggerer] capacity`` is 1,000 and ``[core] max_map_length`` 1,024 by default)."""
    return {
        "AIRFLOW__TRIGGERER__CAPACITY": str(max(1000, jobs + 100)),
        "AIRFLOW__CORE__MAX_MAP_LENGTH": str(max(1024, jobs)),
    }


def sql(pg: Postgres, query: str) -> list[tuple[Any, ...]]:
    import psycopg2

    connection = psycopg2.connect(host="127.0.0.1", port=pg.port, user="airflow", dbname="airflow")
    try:
        with connection.cursor() as cursor:
            cursor.execute(query)
            return cursor.fetchall()
    finally:
        connection.close()


def running_on_triggerer(pg: Postgres) -> int:
    """How many triggers the newest running triggerer job holds."""
    rows = sql(
        pg,
        "SELECT count(*) FROM trigger WHERE triggerer_id = (SELECT max(id) FROM job "
        "WHERE job_type = 'TriggererJob' AND state = 'running')",
    )
    return int(rows[0][0])


#: The supervisor loop's steps whose CPU the probe counts (``_triggerer_probe.py``), and how the
#: benchmarks' tables name them.
SUPERVISOR_STEPS = {
    "load_triggers": "reloading triggers",
    "clean_unused": "cleaning unused",
    "_service_subprocess": "requests and log lines",
    "handle_events": "events",
    "emit_metrics": "metrics",
}


@dataclass(frozen=True)
class ProbedTriggerer:
    process: subprocess.Popen[bytes]
    probe: Path  # the probe's counters and heartbeats (``_triggerer_probe.py``)
    output: Path  # what the triggerer printed

    def reading(self) -> dict[str, Any]:
        """The probe's cumulative counters as last written (about once a second): ``counts`` of
        requests by kind and of loops, ``seconds`` per kind of request, ``heartbeats``, and ``cpu``
        by step of ``SUPERVISOR_STEPS``."""
        return dict(json.loads(self.probe.read_text()))


@contextlib.contextmanager
def probed_triggerer(cluster: AirflowCluster, name: str, extra_env: dict[str, str]) -> Iterator[ProbedTriggerer]:
    """``airflow triggerer`` under ``_triggerer_probe.py`` for one phase; stopped (TERM, then KILL) after."""
    home = cluster.home.home
    started = ProbedTriggerer(
        subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "_triggerer_probe.py"),
                str(home / f"probe-{name}.json"),
                "triggerer",
            ],
            env={**cluster.home.env, **AIRFLOW_TRIGGERER_DEFAULTS, **extra_env},
            stdout=open(home / f"triggerer-{name}.out", "ab"),  # noqa: SIM115 - the child keeps it
            stderr=subprocess.STDOUT,
            cwd=home,
            start_new_session=True,
        ),
        home / f"probe-{name}.json",
        home / f"triggerer-{name}.out",
    )
    try:
        yield started
    finally:
        os.killpg(started.process.pid, signal.SIGTERM)
        try:
            started.process.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(started.process.pid, signal.SIGKILL)
            started.process.wait(10)


def in_scratch(args: argparse.Namespace, run: Callable[[argparse.Namespace, Path], None], prefix: str) -> None:
    """Run a benchmark in a scratch folder, kept with ``--keep``; prints the total time."""
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        run(args, scratch)
    finally:
        if args.keep:
            print(f"Airflow home, triggerer outputs and probe files kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n(total {time.monotonic() - started:.0f} s)")


def phase_arguments(
    parser: argparse.ArgumentParser, *, jobs: int, poll_interval: float, window: float, warmup: float, baseline: str
) -> None:
    """The options every real-triggerer benchmark takes, with its own defaults."""
    parser.add_argument("--jobs", type=int, default=jobs, help=f"deferred task instances (default {jobs})")
    parser.add_argument(
        "--poll-interval", type=float, default=poll_interval, help=f"the triggers' poll_interval ({poll_interval:g})"
    )
    parser.add_argument("--window", type=float, default=window, help=f"seconds measured per phase ({window:g})")
    parser.add_argument("--warmup", type=float, default=warmup, help=f"seconds after every trigger runs ({warmup:g})")
    parser.add_argument("--baseline-rev", default=baseline, help=f"revision of the baseline ({baseline})")
    parser.add_argument("--keep", action="store_true", help="keep the Airflow home, outputs and probe files")


def bench_home(scratch: Path, connection_uri: str, pg: Postgres, extra_env: dict[str, str]) -> AirflowHome:
    """A migrated Airflow home on PostgreSQL whose DAGs are ``bench/dags``; ``bench/`` is on every
    component's PYTHONPATH (the DAGs' operator, the bench triggers), unless ``extra_env`` sets it."""
    home = AirflowHome(
        scratch / "airflow",
        ROOT / "bench" / "dags",
        connection_uri,
        extra_env={"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg.url, "PYTHONPATH": str(ROOT / "bench"), **extra_env},
    )
    home.migrate()
    return home
