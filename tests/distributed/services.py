"""PostgreSQL and Redis for the distributed suite, started from Debian's packages on free loopback ports.

Each run gets a fresh ``initdb``'d PostgreSQL cluster and a fresh Redis with persistence off, in a
temporary directory that is removed afterwards: nothing touches the machine's own services or
``/var/lib``. PostgreSQL refuses to run as root, so as root it runs as the ``postgres`` user the
Debian package creates. ``make test-distributed`` installs the packages when they are missing.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.airflow_harness import free_port


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql (make test-distributed does)")
    return Path(found[-1]).parent


def _as_postgres_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class Postgres:
    """A throw-away PostgreSQL cluster: database ``airflow``, superuser ``airflow``, trust on loopback."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="amt-pg-"))
        self.data = self.root / "data"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://airflow@127.0.0.1:{self.port}/airflow"

    def __enter__(self) -> Postgres:
        bin_dir = _postgres_bin()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        os.chmod(self.root, 0o755)
        subprocess.run(
            _as_postgres_user([str(bin_dir / "initdb"), "-D", str(self.data), "-U", "airflow", "--auth=trust"]),
            check=True,
            capture_output=True,
        )
        log = open(self.root / "postgres.log", "ab")
        self.proc = subprocess.Popen(
            _as_postgres_user(
                [
                    str(bin_dir / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.root),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "max_connections=400",
                    "-c",
                    "fsync=off",  # a test database: durability is not what is tested
                    "-c",
                    "synchronous_commit=off",
                ]
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            ready = subprocess.run(
                [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True
            )
            if ready.returncode == 0:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start:\n{(self.root / 'postgres.log').read_text()[-2000:]}")
            time.sleep(0.2)
        subprocess.run(
            [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "airflow", "airflow"],
            check=True,
            capture_output=True,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # smart shutdown; fast enough with fsync off
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


class Redis:
    """A throw-away Redis on loopback, no persistence: the Celery broker."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> Redis:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError(
                "redis-server is not installed: apt-get install redis-server (make test-distributed does)"
            )
        self.proc = subprocess.Popen(
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        cli = shutil.which("redis-cli")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if (
                cli
                and subprocess.run([cli, "-p", str(self.port), "ping"], capture_output=True).stdout.strip() == b"PONG"
            ):
                return self
            time.sleep(0.2)
        raise RuntimeError("Redis did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
