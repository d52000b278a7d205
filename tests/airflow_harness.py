"""Real Airflow for tests: an isolated AIRFLOW_HOME, the CLI, and (optionally) a running cluster.

``AirflowHome`` runs ``airflow`` commands (``db migrate``, ``dags test``) in subprocesses with a
SQLite metadata DB and reads task states and XComs straight from that DB. ``AirflowCluster``
starts a real scheduler (LocalExecutor), triggerer, dag-processor and api-server, and talks to
the REST API the way the UI does.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from airflow_provider_amt.joblog import MESSAGE_LINE_START, message_indexes

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


#: A triggerer that runs only AMT triggers (docs/deployment.md): Airflow 3.1+ then makes no greenback
#: portal per trigger, which AmtJobTrigger never uses (7 KB and ten tracked objects per trigger).
DEDICATED_TRIGGERER_ENV = {"AIRFLOW_DISABLE_GREENBACK_PORTAL": "true"}
#: An AMT message line's start in printed log output (``AMT 06:33:59.565 [12] ``), for regexes.
AMT_LINE = MESSAGE_LINE_START + " "
#: The same, capturing the index.
AMT_INDEX = AMT_LINE.format(index=r"(\d+)")


def amt_line_count(output: str, index: int, text: str) -> int:
    """How often AMT message ``index`` with ``text`` is in a log output (``AMT <time> [<index>] <text>``)."""
    return len(re.findall(AMT_LINE.format(index=index) + rf"{re.escape(text)}(?:\n|$|\x1b|\s)", output))


def live_delays(seen: dict[int, tuple[float, str, bool]], messages: list[Any]) -> dict[int, float]:
    """Seconds from AMT writing each message (its timestamp) to a log reader first seeing it."""
    delays = {}
    for message in messages:
        if message.index in seen and message.timestamp:
            written = datetime.fromisoformat(message.timestamp.replace("Z", "+00:00")).timestamp()
            delays[message.index] = seen[message.index][0] - written
    return delays


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``predicate`` every half second until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def last_seq(emulator: Any) -> int:
    """The emulator's newest request-log sequence number: requests after it belong to the test."""
    entries = emulator.requests()
    return entries[-1]["seq"] if entries else 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: Per Airflow executable: a freshly migrated SQLite metadata database, the ``airflow.cfg`` written
#: with it and the home it was written for; copied into later homes.
_MIGRATED_SQLITE: dict[str, tuple[Path, str, str]] = {}


class AirflowHome:
    def __init__(self, home: Path, dags_folder: Path, connection: str, extra_env: dict[str, str] | None = None):
        self.home = home
        self.dags_folder = dags_folder
        home.mkdir(parents=True, exist_ok=True)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW_CONN_AMT_DEFAULT": connection,
            "PYTHONWARNINGS": "ignore",
            **(extra_env or {}),
        }

    def run(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout, cwd=self.home
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"airflow {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result

    def migrate(self) -> None:
        """``airflow db migrate``; a SQLite home gets a copy of the first one's fresh database and
        ``airflow.cfg`` instead (the same schema, without 7 s of migrations each: ``make test`` makes
        four). The file matters as much as the database: Airflow writes one with new random secrets
        (the JWT secret among them) when a command finds none, and the components of a cluster,
        started together, would each write their own and refuse each other's tokens."""
        database, config = self.home / "airflow.db", self.home / "airflow.cfg"
        if self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] != f"sqlite:///{database}":
            self.run("db", "migrate")
            return
        template = _MIGRATED_SQLITE.get(AIRFLOW)
        if template is None:
            self.run("db", "migrate")
            folder = Path(tempfile.mkdtemp(prefix="amt-airflow-db-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            shutil.copyfile(database, folder / "airflow.db")
            _MIGRATED_SQLITE[AIRFLOW] = (folder / "airflow.db", config.read_text(), str(self.home))
            return
        template_database, template_config, template_home = template
        shutil.copyfile(template_database, database)
        config.write_text(template_config.replace(template_home, str(self.home)))

    def dags_test(
        self, dag_id: str, conf: dict[str, Any] | None = None, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        args = ["dags", "test", dag_id]
        if conf:
            args += ["-c", json.dumps(conf)]
        return self.run(*args, check=check)

    # --- metadata DB reads --------------------------------------------------------------------

    def _query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.home / "airflow.db") as db:
            return db.execute(sql, params).fetchall()

    def latest_run_id(self, dag_id: str) -> str:
        rows = self._query("SELECT run_id FROM dag_run WHERE dag_id=? ORDER BY id DESC LIMIT 1", dag_id)
        assert rows, f"no run of {dag_id}"
        return rows[0][0]

    def task_states(self, dag_id: str, run_id: str | None = None) -> dict[str, str]:
        run_id = run_id or self.latest_run_id(dag_id)
        return dict(self._query("SELECT task_id, state FROM task_instance WHERE dag_id=? AND run_id=?", dag_id, run_id))

    def xcom(self, dag_id: str, task_id: str, key: str = "return_value", run_id: str | None = None) -> Any:
        run_id = run_id or self.latest_run_id(dag_id)
        rows = self._query(
            "SELECT value FROM xcom WHERE dag_id=? AND run_id=? AND task_id=? AND key=?", dag_id, run_id, task_id, key
        )
        if not rows:
            return None
        value = rows[0][0]
        return json.loads(value) if isinstance(value, (str, bytes)) else value

    def try_number(self, dag_id: str, task_id: str, run_id: str | None = None) -> int:
        run_id = run_id or self.latest_run_id(dag_id)
        return self._query(
            "SELECT try_number FROM task_instance WHERE dag_id=? AND run_id=? AND task_id=?", dag_id, run_id, task_id
        )[0][0]


class AirflowCluster:
    """scheduler + triggerer + dag-processor + api-server on one AirflowHome."""

    COMPONENTS: tuple[str, ...] = ("scheduler", "triggerer", "dag-processor", "api-server")

    def __init__(self, home: AirflowHome):
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.home.env.update(
            {
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "15",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "2",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
                "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "6",
                "AIRFLOW__CORE__PARALLELISM": "8",
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",  # the connection form's Test button
                "AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS": "airflow_provider_amt.log.config.LOGGING_CONFIG",
            }
        )
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.session = requests.Session()

    def start(self, component: str, *args: str, env: dict[str, str] | None = None) -> None:
        """Start ``airflow <component> <args>``; ``component`` may name an instance: ``triggerer-2``."""
        base = component.rsplit("-", 1)[0] if component[-1].isdigit() else component
        command = "celery worker" if base == "worker" else base
        log = open(self.home.home / f"{component}.out", "ab")  # noqa: SIM115
        self.processes[component] = subprocess.Popen(
            [AIRFLOW, *command.split(), *args],
            env={**self.home.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.home.home,
            start_new_session=True,
        )

    def send_signal(self, component: str, sig: int) -> None:
        """Send ``sig`` to a component's whole process group (SIGSTOP/SIGCONT: a stalled host)."""
        os.killpg(self.processes[component].pid, sig)

    def stop(self, component: str, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        proc = self.processes.pop(component, None)
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def __enter__(self) -> AirflowCluster:
        for component in self.COMPONENTS:
            self.start(component)
        self.wait_for_api()
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.processes.values():  # signal all first, then wait: shutdowns overlap
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for component in list(self.processes):
            # 10 s, then SIGKILL: at the end nothing needs a graceful stop (a LocalExecutor scheduler
            # has been seen to wait the whole 30 s for a task process); shutdown.txt says who was slow
            began = time.monotonic()
            self.stop(component, timeout=10)
            with open(self.home.home / "shutdown.txt", "a") as out:
                out.write(f"{component} {time.monotonic() - began:.1f}s\n")

    def wait_for_api(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/api/v2/monitor/health", timeout=2).ok:
                    token = requests.post(f"{self.url}/auth/token", json={}, timeout=5)
                    if token.ok:
                        self.session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise AssertionError(f"api-server did not come up:\n{(self.home.home / 'api-server.out').read_text()[-3000:]}")

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.url}/api/v2{path}", timeout=30, **kwargs)
        assert response.ok, f"{method} {path}: {response.status_code} {response.text[:2000]}"
        return response.json() if response.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.session.get(f"{self.url}/api/v2/dags/{dag_id}", timeout=10)
            if response.ok:
                self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
                return
            time.sleep(1)
        raise AssertionError(f"DAG {dag_id} never appeared")

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        body = {"logical_date": None, "conf": conf or {}}
        return self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")

    def wait_for_state(
        self, dag_id: str, run_id: str, task_id: str, states: set[str], timeout: float = 120
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        ti: dict[str, Any] = {}
        while time.monotonic() < deadline:
            ti = self.task_instance(dag_id, run_id, task_id)
            if ti.get("state") in states:
                return ti
            time.sleep(0.5)
        raise AssertionError(f"{dag_id}.{task_id} never reached {states}: {ti.get('state')}")

    def set_task_state(self, dag_id: str, run_id: str, task_id: str, state: str) -> None:
        self.api(
            "PATCH",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}",
            json={"new_state": state},
        )

    def log_files(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> list[Path]:
        folder = self.home.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return sorted(folder.glob(f"attempt={try_number}.log*"))

    def file_amt_indexes(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> list[int]:
        """The AMT message indexes in a try's log files as written (every file, repeats kept)."""
        indexes: list[int] = []
        for path in self.log_files(dag_id, run_id, task_id, try_number):
            for line in path.read_text(errors="replace").splitlines():
                record = json.loads(line) if line.startswith("{") else {}
                indexes.extend(message_indexes(str(record.get("event", ""))))
        return indexes

    def amt_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> tuple[list[str], list[int]]:
        """A try's log as the UI reads it (REST, every file merged): its events, and the AMT indexes."""
        events = [str(line.get("event", "")) for line in self.task_log(dag_id, run_id, task_id, try_number)]
        return events, [i for event in events for i in message_indexes(event)]

    def watch_live_log(
        self, dag_id: str, run_id: str, task_id: str, timeout: float = 120, every: float = 0.2
    ) -> dict[int, tuple[float, str, bool]]:
        """Read a try's log as the UI does (REST) every ``every`` seconds until the task ends: for each
        AMT message index, when (epoch seconds) a reader first saw it, the task's state read just after
        that log read (so the line was in the log while the task was in that state: ``running`` before
        it deferred, ``deferred`` while it waits; a state read before the log read would race the
        worker), and whether the trigger logged it (else the worker did)."""
        seen: dict[int, tuple[float, str, bool]] = {}
        deadline = time.monotonic() + timeout
        before = self.task_instance(dag_id, run_id, task_id).get("state")
        while time.monotonic() < deadline:
            try:
                lines = self.task_log(dag_id, run_id, task_id)
            except AssertionError:  # no log yet
                lines = []
            now = time.time()
            after = self.task_instance(dag_id, run_id, task_id).get("state")
            for line in lines:
                for index in message_indexes(str(line.get("event", ""))):
                    seen.setdefault(index, (now, str(after), "Trigger" in str(line.get("logger", ""))))
            # ended before this log read began: the read has every line
            if before in ("success", "failed", "upstream_failed", "skipped"):
                return seen
            before = after
            time.sleep(every)
        raise AssertionError(f"{dag_id}.{task_id} did not end within {timeout}s")

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int | None = None
    ) -> list[dict[str, Any]]:
        params = {"full_content": "true", **({"map_index": str(map_index)} if map_index is not None else {})}
        body = self.api(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params=params,
            headers={"Accept": "application/json"},
        )
        return body["content"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        """An XCom value through the REST API (any metadata database), or None."""
        response = self.session.get(
            f"{self.url}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
            params={"deserialize": "true"},
            timeout=30,
        )
        if response.status_code == 404:
            return None
        assert response.ok, f"xcom {key}: {response.status_code} {response.text[:500]}"
        return response.json()["value"]
