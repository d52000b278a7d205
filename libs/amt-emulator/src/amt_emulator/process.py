"""Start and stop ``amt-emulator`` as a child process, and drive its admin routes.

Used by the provider's test suite, ``make demo`` and the benchmarks, so that all of them run the
same real server over loopback rather than an in-process fake.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from amt_emulator.app import ADMIN_TOKEN_HEADER


class EmulatorProcess:
    """``with EmulatorProcess(state=path) as emu: emu.url`` runs an emulator for the block."""

    def __init__(
        self,
        state: str | Path = ":memory:",
        *,
        host: str = "127.0.0.1",
        time_scale: float = 1.0,
        port: int = 0,
        catalog: str | Path | None = None,
        user: str = "amtopcon",
        password: str = "amtopcon",
        token_ttl: float | None = None,
        faults: dict[str, Any] | None = None,
        contract: dict[str, Any] | str | Path | None = None,
        admin_token: str | None = None,
        log_file: str | Path | None = None,
    ):
        self.state = str(state)
        self.time_scale = time_scale
        self.port = port
        self.catalog = catalog
        self.user = user
        self.password = password
        self.token_ttl = token_ttl
        self.faults = faults
        self.contract = contract
        self.host = host
        self.admin_token = admin_token
        self.log_file = log_file
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def argv(self) -> list[str]:
        args = [sys.executable, "-m", "amt_emulator", "--host", self.host, "--port", str(self.port)]
        args += ["--state", self.state, "--time-scale", str(self.time_scale)]
        args += ["--user", self.user, "--password", self.password]
        if self.catalog:
            args += ["--catalog", str(self.catalog)]
        if self.token_ttl is not None:
            args += ["--token-ttl", str(self.token_ttl)]
        if self.faults:
            args += ["--faults", json.dumps(self.faults)]
        if self.contract:
            document = self.contract if isinstance(self.contract, (str, Path)) else json.dumps(self.contract)
            args += ["--contract", str(document)]
        if self.admin_token:
            args += ["--admin-token", self.admin_token]
        return args

    def start(self) -> EmulatorProcess:
        stderr = open(self.log_file, "a") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self._proc = subprocess.Popen(
            self.argv(), stdout=subprocess.PIPE, stderr=stderr, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
        line = self._proc.stdout.readline() if self._proc.stdout else ""  # EOF if it exits early
        if not line.startswith("http"):
            self.stop()
            raise RuntimeError(f"amt-emulator did not start (first line {line!r})")
        self.url = line.strip()
        if self.port == 0:
            # Restarting must reuse the port, so clients configured with this URL keep working.
            self.port = int(self.url.rsplit(":", 1)[1])
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stdout:
            proc.stdout.close()

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(5)
        self.stop()

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- admin routes -----------------------------------------------------------------------

    def _admin(self, method: str, path: str, body: Any = None, timeout: float = 10) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.admin_token:
            headers[ADMIN_TOKEN_HEADER] = self.admin_token
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")

    def set_faults(self, rules: list[dict[str, Any]] | None = None, **settings: Any) -> Any:
        return self._admin("PUT", "/admin/faults", {"rules": rules or [], **settings})

    def expire_tokens(self) -> int:
        return self._admin("POST", "/admin/tokens/expire", {})["expired"]

    def requests(self, route: str | None = None, action: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        """The request log (every request, faulted ones too), after sequence number ``since``."""
        query = f"?since={since}" + (f"&route={route}" if route else "")
        entries = self._admin("GET", "/admin/requests" + query, timeout=120)  # a benchmark's log is long
        return [e for e in entries if action is None or e["action"] == action]

    def issued_tokens(self) -> list[str]:
        """Every logon token this emulator issued (a test looks for them where no token may be)."""
        return list(self._admin("GET", "/admin/tokens")["issued"])

    def last_request_seq(self) -> int:
        """The newest logged request's sequence number (read ``requests(since=...)`` after it)."""
        return int(self._admin("GET", "/admin/requests/last")["seq"])

    def clear_requests(self) -> None:
        self._admin("DELETE", "/admin/requests")

    def connection_uri(self, **extra: Any) -> str:
        """The connection as ``AIRFLOW_CONN_<ID>`` JSON, the form Airflow accepts in env vars."""
        return json.dumps(
            {"conn_type": "amt", "host": self.url, "login": self.user, "password": self.password, "extra": extra}
        )
