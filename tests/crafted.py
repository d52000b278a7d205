"""A small crafted HTTP(S) server on loopback: it answers what the emulator never would.

Redirects, oversized or drip-fed answers, tokens with CR/LF, answers about another job, echoed
passwords. Used by ``test_security.py`` and by the bad-input catalogue (``scripts/reliability.py``).
"""

from __future__ import annotations

import http.server
import json
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any


class Crafted(http.server.ThreadingHTTPServer):
    """Answers from a table ``(method, path) -> (status, headers, body)`` and records every request."""

    daemon_threads = True
    request_queue_size = 1024  # hundreds of watches connect at once in the outage test

    def __init__(self, tls: ssl.SSLContext | None = None):
        super().__init__(("127.0.0.1", 0), _Handler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.routes: dict[tuple[str, str], tuple[int, dict[str, str], bytes | list[bytes]]] = {}
        #: ``(method, path) -> writer(handler)``: the writer sends raw bytes (or nothing) itself.
        self.raw: dict[tuple[str, str], Callable[[http.server.BaseHTTPRequestHandler], None]] = {}
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        self.scheme = "https" if tls else "http"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_address[1]}"

    def answer(self, method: str, path: str, status: int = 200, body: Any = None, **headers: str) -> None:
        data = body if isinstance(body, (bytes, list)) else json.dumps(body).encode()
        self.routes[(method, path)] = (status, {k.replace("_", "-"): v for k, v in headers.items()}, data)

    def answer_raw(self, method: str, path: str, writer: Callable[[http.server.BaseHTTPRequestHandler], None]) -> None:
        """Answer with whatever ``writer`` writes to ``handler.wfile`` (stalls, resets, bad framing)."""
        self.raw[(method, path)] = writer

    def logon_ok(self, token: str = "crafted-logon-token") -> None:
        """Accept the logon. The default token is no prefix of another test's: Airflow's masker is process-wide."""
        self.answer("POST", "/api/Logon", body={"amtLogonToken": token, "expiresIn": 600})


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Crafted

    def log_message(self, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?")[0]
        self.server.seen.append((self.command, path, dict(self.headers), body))
        writer = self.server.raw.get((self.command, path))
        if writer is not None:
            writer(self)
            self.close_connection = True
            return
        status, headers, data = self.server.routes.get((self.command, path), (404, {}, b'{"message": "no route"}'))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if isinstance(data, list):  # drip-fed: one chunk every 0.3 s
            self.send_header("Content-Length", str(sum(len(c) for c in data)))
            self.end_headers()
            for chunk in data:
                self.wfile.write(chunk)
                self.wfile.flush()
                time.sleep(0.3)
            return
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _serve
