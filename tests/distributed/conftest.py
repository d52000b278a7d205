"""The production topology, started by the suite itself: PostgreSQL, Redis, CeleryExecutor with two
workers, two triggerers, scheduler, dag-processor and api-server, all on loopback.

Run with ``make test-distributed`` (its own venv with the Celery and Postgres providers).
Thresholds are shortened so failures show within seconds: a task without a heartbeat for 20 s is
failed (and retried), a triggerer without a heartbeat for 8 s loses its triggers to the other one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from amt_emulator import EmulatorProcess
from tests.airflow_harness import DEDICATED_TRIGGERER_ENV, ROOT, AirflowCluster, AirflowHome, free_port
from tests.distributed.services import Postgres, Redis

HEALTH_THRESHOLD = 8
WORKER_SLOTS = 12


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/distributed/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.distributed)


@pytest.fixture(scope="session")
def fleet_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """The emulator at real speed, with a DEFAULT queue wide enough for every job of the fleet."""
    import amt_emulator

    catalog = json.loads((Path(amt_emulator.__file__).parent / "catalog.json").read_text())
    demo = catalog["applications"]["DEMO2"]
    demo["queues"]["DEFAULT"]["concurrency"] = 100
    # long enough for a trigger to move to the other triggerer and back (a message a second)
    demo["batch_jobs"]["BOUNCEREPORT"] = {
        "queue_delay": 0,
        "run_time": 120,
        "final_code": 4,
        "messages": [{"at": 0, "text": "Started /R:{batch_request_id}"}, {"every": 1, "text": "Bounce line {n}"}],
    }
    root = tmp_path_factory.mktemp("fleet-emu")
    (root / "catalog.json").write_text(json.dumps(catalog))
    with EmulatorProcess(root / "state.sqlite", time_scale=1, catalog=root / "catalog.json") as emu:
        yield emu


class Topology(AirflowCluster):
    """CeleryExecutor on Redis and PostgreSQL; workers and triggerers started by name."""

    COMPONENTS = ("scheduler", "dag-processor", "api-server")

    def __init__(self, home: AirflowHome):
        super().__init__(home)
        self.trigger_log_ports = {1: free_port(), 2: free_port()}
        self.home.env.update(
            {
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.trigger_log_ports[1]),
                "AIRFLOW__CORE__PARALLELISM": "64",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
                "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(HEALTH_THRESHOLD),
            }
        )

    def start_worker(self, n: int) -> None:
        args = ["--concurrency", str(WORKER_SLOTS), "--celery-hostname", f"worker{n}@%h"]
        self.start(f"worker-{n}", *args, *([] if n == 1 else ["--skip-serve-logs"]))

    def start_triggerer(self, n: int) -> None:
        """Triggerer 1 as Airflow runs one by default; triggerer 2 as a dedicated AMT triggerer (no
        greenback portal, docs/deployment.md), so every hand-over crosses the two configurations."""
        env = {"AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.trigger_log_ports[n])}
        self.start(f"triggerer-{n}", env=env if n == 1 else {**env, **DEDICATED_TRIGGERER_ENV})


@pytest.fixture(scope="session")
def topology(tmp_path_factory: pytest.TempPathFactory, fleet_emulator: EmulatorProcess) -> Iterator[Topology]:
    with Postgres() as pg, Redis() as redis:
        home = AirflowHome(
            tmp_path_factory.mktemp("af-distributed"),
            ROOT / "tests" / "distributed" / "dags",
            fleet_emulator.connection_uri(),
            extra_env={
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg.url,
                "AIRFLOW__CELERY__BROKER_URL": redis.url,
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://airflow@127.0.0.1:{pg.port}/airflow",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            },
        )
        home.migrate()
        with Topology(home) as running:
            for n in (1, 2):
                running.start_worker(n)
            running.start_triggerer(1)
            for dag_id in ("amt_fleet", "amt_worker_wait", "amt_worker_start"):
                running.wait_for_dag(dag_id)
            yield running
