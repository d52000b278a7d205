"""A fast, in-memory fake AMT Batch Server for the triggerer-scale benchmark (not the emulator).

The emulator keeps real state in SQLite and costs about a millisecond a request; at tens of
thousands of watched jobs it would be the bottleneck, not the client under test. This server
speaks the same wire contract (``amt_client.DEFAULT_CONTRACT``: Logon, MonitorJob, GetMessages with
the emulator's answer layout) over a minimal HTTP/1.1 keep-alive protocol on asyncio, and makes
every job up from its batch request id: job ``n`` started when the server did, writes a message
every ``--message-every`` seconds (texts of mainframe-log length; none from job ``--quiet-from`` on)
and never ends. ``--delay`` holds
every answer back that long without blocking (a slow server), ``--no-count`` leaves the message
count out of MonitorJob (a server that does not give one).

It records, per job, when each MonitorJob arrived and which message indexes GetMessages returned,
and counts bytes; ``GET /stats`` answers them as JSON and ``POST /reset`` clears them.
``POST /jobs/restart`` starts every job anew (message 0 now). ``POST /outage/on`` makes it cut
every API connection as a request arrives (counted as ``cut``),
like a Batch Server that went away; ``POST /outage/off`` ends that.
Run: ``python bench/_fake_amt.py --port 0 [--delay 0.05] [--message-every 1] [--no-count]``;
it prints ``PORT <n>`` when it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import sys
import time
from email.utils import formatdate
from urllib.parse import parse_qsl

from amt_client import DEFAULT_CONTRACT

F = DEFAULT_CONTRACT.fields
P = DEFAULT_CONTRACT.paths
MONITOR = P.monitor.split("{")[0]
MESSAGES = P.messages.split("{")[0]
TOKEN = "bench-token-0123456789abcdef"
#: Message texts like a mainframe batch log's (step and program lines, 40-110 characters).
TEXTS = (
    "IEF142I NIGHTLY01 STEP{n:04d} - STEP WAS EXECUTED - COND CODE 0000",
    "CBLRPT01 processed {n} records of ACCOUNTS.MASTER.FILE, 0 rejected, totals balanced",
    "SORT0001 STEP{n:04d} input 1048576 records, output 1048576 records, elapsed 00:00:02",
    "PGM=ACCTUPD1 checkpoint {n} taken at record 0000412345 of file ACCT.DAILY.TRANS.G0042V00",
)


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.monitor_times: dict[int, list[float]] = {}
        self.delivered: dict[int, list[int]] = {}
        self.requests = {"Logon": 0, "MonitorJob": 0, "GetMessages": 0, "JobAction": 0, "cut": 0, "other": 0}
        self.get_messages_bytes = 0
        self.message_bytes = 0
        self.connections = 0
        self.max_open = 0
        self.open = 0

    def to_json(self) -> dict:
        return {
            "monitor_times": self.monitor_times,
            "delivered": self.delivered,
            "requests": self.requests,
            "get_messages_bytes": self.get_messages_bytes,
            "message_bytes": self.message_bytes,
            "connections": self.connections,
            "max_open": self.max_open,
        }


class FakeAmt:
    def __init__(self, message_every: float, delay: float, with_count: bool, quiet_from: int = 0) -> None:
        self.started = time.time()
        self.message_every = message_every
        self.quiet_from = quiet_from  # jobs from this id on write no messages (0: every job writes)
        self.delay = delay
        self.with_count = with_count
        self.stats = Stats()
        #: True while the server is "away": API requests are counted and their connection cut.
        self.away = False

    def count(self, job: int) -> int:
        """Messages job ``job`` has written by now (all jobs started with the server)."""
        if self.message_every <= 0 or 0 < self.quiet_from <= job:
            return 0
        return int((time.time() - self.started) / self.message_every) + 1

    def message(self, index: int) -> dict:
        stamp = datetime.datetime.fromtimestamp(self.started + index * max(self.message_every, 0), datetime.UTC)
        return {
            F.index: index,
            F.text: TEXTS[index % len(TEXTS)].format(n=index),
            F.timestamp: stamp.isoformat(timespec="milliseconds"),
            F.severity: "WARNING" if index % 50 == 49 else "INFO",
        }

    def answer(self, method: str, target: str, body: bytes) -> tuple[int, object]:
        path, _, query = target.partition("?")
        stats = self.stats
        if path.startswith(MONITOR):
            stats.requests["MonitorJob"] += 1
            job = int(path[len(MONITOR) :])
            stats.monitor_times.setdefault(job, []).append(time.time())
            answer = {F.batch_request_id: job, F.completion_code: 2, "completionCodeName": "RUNNING"}
            if self.with_count:
                answer[F.message_count] = self.count(job)
            return 200, answer
        if path.startswith(MESSAGES):
            stats.requests["GetMessages"] += 1
            job = int(path[len(MESSAGES) :])
            params = dict(parse_qsl(query))
            offset, limit = int(params.get(F.offset, 0)), int(params.get(F.limit, 1000))
            total = self.count(job)
            messages = [self.message(i) for i in range(offset, min(total, offset + limit))]
            stats.delivered.setdefault(job, []).extend(m[F.index] for m in messages)
            stats.message_bytes += sum(len(json.dumps(m)) for m in messages)
            return 200, {
                F.batch_request_id: job,
                F.offset: offset,
                "totalMessages": total,
                "jobCompleted": False,
                F.messages: messages,
            }
        if path == P.logon and method == "POST":
            stats.requests["Logon"] += 1
            return 200, {F.token: TOKEN, F.expires_in: 86_400}
        if path == P.job_action:
            stats.requests["JobAction"] += 1  # a Stop or Kill: the benchmarks count them
            return 404, {F.message: "this fake server takes no job actions"}
        if path == "/jobs/restart" and method == "POST":  # every job starts anew: no backlog of messages
            self.started = time.time()
            return 200, {"started": self.started}
        if path in ("/outage/on", "/outage/off") and method == "POST":
            self.away = path.endswith("on")
            return 200, {"away": self.away}
        stats.requests["other"] += 1
        if path == "/stats":
            return 200, stats.to_json()
        if path == "/reset" and method == "POST":
            stats.reset()
            return 200, {"reset": True}
        return 404, {F.message: f"no route {path}"}


class HttpProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and Content-Length bodies: all an aiohttp client sends here."""

    def __init__(self, server: FakeAmt) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        stats = self.server.stats
        stats.connections += 1
        stats.open += 1
        stats.max_open = max(stats.max_open, stats.open)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.stats.open -= 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1").split("\r\n")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < head_end + 4 + length:
                return
            body = self.buffer[head_end + 4 : head_end + 4 + length]
            self.buffer = self.buffer[head_end + 4 + length :]
            method, target, _ = head[0].split(" ", 2)
            if self.server.away and target.startswith("/api/"):
                self.server.stats.requests["cut"] += 1
                assert self.transport is not None
                self.transport.abort()  # the request arrived; no answer, the connection is reset
                return
            status, answer = self.server.answer(method, target, body)
            payload = json.dumps(answer).encode()
            if target.startswith(MESSAGES):
                self.server.stats.get_messages_bytes += len(payload)
            response = (
                f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\n"
                "Content-Type: application/json; charset=utf-8\r\n"
                f"Content-Length: {len(payload)}\r\n"
                f"Date: {formatdate(usegmt=True)}\r\n"
                "Server: fake-amt\r\n\r\n"
            ).encode() + payload
            if self.server.delay > 0:
                asyncio.get_running_loop().call_later(self.server.delay, self._write, response)
            else:
                self._write(response)

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


async def serve(args: argparse.Namespace) -> None:
    fake = FakeAmt(args.message_every, args.delay, not args.no_count, args.quiet_from)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: HttpProtocol(fake), "127.0.0.1", args.port, backlog=4096)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds every answer is held back")
    parser.add_argument("--message-every", type=float, default=1.0, help="seconds between a job's messages (0: none)")
    parser.add_argument("--no-count", action="store_true", help="MonitorJob without the message count")
    parser.add_argument("--quiet-from", type=int, default=0, help="jobs from this id on write no messages (0: none)")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
