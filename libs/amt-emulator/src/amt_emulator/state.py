"""Persisted batch requests and the simulated clock that moves them through their states.

Nothing runs in the background: every request to the emulator first calls :meth:`JobStore.advance`,
which replays what happened since the last call (queue slots freeing up, jobs starting and ending,
messages being written) from wall-clock timestamps stored in SQLite. That is why a restarted
emulator picks up exactly where it left off and running jobs "go on by the clock" while it is down.

Each request stores its durations already divided by the time scale it was submitted with, so
changing ``--time-scale`` between restarts does not rewrite history.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from amt_client.codes import AmtCompletionCode as Code
from amt_client.start import StartRequest
from amt_emulator.catalog import Catalog, JobSpec, raw_stream, render

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT,
    task_type TEXT NOT NULL,
    application TEXT NOT NULL,
    name TEXT NOT NULL,
    vals TEXT NOT NULL,
    submit_user TEXT NOT NULL,
    station TEXT NOT NULL,
    run_as_user TEXT,
    queue TEXT NOT NULL,
    spec TEXT NOT NULL,
    time_scale REAL NOT NULL,
    submitted_at REAL NOT NULL,
    eligible_at REAL NOT NULL,
    started_at REAL,
    ended_at REAL,
    code INTEGER NOT NULL,
    emitted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS requests_active ON requests (ended_at);
CREATE INDEX IF NOT EXISTS requests_task_id ON requests (task_id);
CREATE TABLE IF NOT EXISTS messages (
    request_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    text TEXT NOT NULL,
    ts REAL NOT NULL,
    severity TEXT NOT NULL,
    PRIMARY KEY (request_id, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queue_free (queue TEXT PRIMARY KEY, since REAL NOT NULL);
CREATE TABLE IF NOT EXISTS request_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    method TEXT NOT NULL,
    route TEXT NOT NULL,
    path TEXT NOT NULL,
    action TEXT,
    status INTEGER,
    fault TEXT,
    detail TEXT
);
"""


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JobStore:
    """SQLite-backed batch requests; every public method first brings them up to ``now``."""

    def __init__(
        self, path: str | Path, catalog: Catalog, time_scale: float = 1.0, clock: Callable[[], float] = time.time
    ):
        self.path = str(path)
        self.catalog = catalog
        self.time_scale = time_scale
        self.clock = clock
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        if self.path != ":memory:":
            self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    # --- writes ---------------------------------------------------------------------------

    def submit(self, start: StartRequest, *, queue: str, spec: JobSpec, invalid_user: bool = False) -> int:
        """Queue a validated Start on ``queue``; the job then follows ``spec`` by the clock."""
        now = self.clock()
        scale = self.time_scale
        if invalid_user:
            # AMT accepts the request and the job ends at once with 99 INVALID AMT USER.
            spec = JobSpec(
                queue_delay=spec.queue_delay,
                run_time=0.0,
                final_code=int(Code.INVALID_AMT_USER),
                messages=({"at": 0, "severity": "ERROR", "text": f"Invalid AMT user '{start.run_as_user}'"},),
            )
        cur = self.db.execute(
            "INSERT INTO requests (task_id, task_type, application, name, vals, submit_user, station,"
            " run_as_user, queue, spec, time_scale, submitted_at, eligible_at, code)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                start.task_id,
                start.task_type.value,
                start.application_name,
                start.name,
                json.dumps(list(start.values)),
                start.submit_user,
                start.station,
                start.run_as_user,
                queue,
                json.dumps(spec.to_json()),
                scale,
                now,
                now + spec.queue_delay / scale,
                int(Code.QUEUED),
            ),
        )
        assert cur.lastrowid is not None  # an INSERT always has one
        request_id = cur.lastrowid
        self.advance()
        return request_id

    def stop(self, request_id: int, *, kill: bool) -> int | None:
        """Stop or kill a request; returns its code afterwards, or None when it does not exist."""
        row = self.get(request_id)
        if row is None:
            return None
        if row["ended_at"] is not None:
            return row["code"]
        now = self.clock()
        if row["started_at"] is None:
            code = Code.KILLED if kill else Code.DEL_QUEUE
        else:
            code = Code.KILLED
            if not kill:
                self._append(row, "Stop requested: job ended before completion", now, "WARNING")
        self.db.execute("UPDATE requests SET ended_at=?, code=? WHERE id=?", (now, int(code), request_id))
        self._free_slot(row["queue"], now)
        self.advance()
        return int(code)

    # --- reads ----------------------------------------------------------------------------

    def get(self, request_id: int) -> sqlite3.Row | None:
        self.advance()
        return self.db.execute("SELECT * FROM requests WHERE id=?", (request_id,)).fetchone()

    def find(self, task_id: str) -> list[int]:
        """The batch requests submitted with this task id, oldest first."""
        rows = self.db.execute("SELECT id FROM requests WHERE task_id=? ORDER BY id", (task_id,)).fetchall()
        return [row[0] for row in rows]

    def code(self, row: sqlite3.Row) -> int:
        """The code a request shows now: its stored one, or while it runs, its spec's state by now."""
        if row["started_at"] is None or row["ended_at"] is not None:
            return int(row["code"])
        spec = JobSpec.from_json(json.loads(row["spec"]))
        return spec.state_at((self.clock() - row["started_at"]) * row["time_scale"])

    def message_count(self, request_id: int) -> int:
        """How many messages the job has written by now (``get`` has advanced the clock)."""
        return self.db.execute("SELECT COUNT(*) FROM messages WHERE request_id=?", (request_id,)).fetchone()[0]

    def messages(self, request_id: int, offset: int, limit: int) -> tuple[list[sqlite3.Row], int]:
        self.advance()
        rows = self.db.execute(
            "SELECT idx, text, ts, severity FROM messages WHERE request_id=? AND idx>=? ORDER BY idx LIMIT ?",
            (request_id, offset, limit),
        ).fetchall()
        return rows, self.message_count(request_id)

    # --- the clock ------------------------------------------------------------------------

    def advance(self) -> None:
        """Replay every start, end and message due by now, in time order."""
        now = self.clock()
        self.db.execute("BEGIN")
        try:
            while self._next_event(now):
                pass
            for row in self.db.execute("SELECT * FROM requests WHERE started_at IS NOT NULL AND ended_at IS NULL"):
                self._emit(row, (now - row["started_at"]) * row["time_scale"])
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _next_event(self, now: float) -> bool:
        """Apply the earliest due start or end; False when nothing is due."""
        candidates: list[tuple[float, str, sqlite3.Row]] = []
        for row in self.db.execute("SELECT * FROM requests WHERE started_at IS NOT NULL AND ended_at IS NULL"):
            run = json.loads(row["spec"])["run_time"]
            if run is not None:
                end = row["started_at"] + run / row["time_scale"]
                if end <= now:
                    candidates.append((end, "end", row))
        for queue, limit in self._queue_limits().items():
            running = self.db.execute(
                "SELECT COUNT(*) FROM requests WHERE queue=? AND started_at IS NOT NULL AND ended_at IS NULL",
                (queue,),
            ).fetchone()[0]
            if running >= limit:
                continue
            waiting = self.db.execute(
                "SELECT * FROM requests WHERE queue=? AND started_at IS NULL AND ended_at IS NULL"
                " AND eligible_at<=? ORDER BY id LIMIT 1",
                (queue, now),
            ).fetchone()
            if waiting is not None:
                free = self.db.execute("SELECT since FROM queue_free WHERE queue=?", (queue,)).fetchone()
                start = max(waiting["eligible_at"], free[0] if free else 0.0)
                candidates.append((start, "start", waiting))
        if not candidates:
            return False
        at, kind, row = min(candidates, key=lambda c: (c[0], c[1] == "start", c[2]["id"]))
        if kind == "start":
            self.db.execute("UPDATE requests SET started_at=?, code=? WHERE id=?", (at, int(Code.RUNNING), row["id"]))
        else:
            spec = json.loads(row["spec"])
            self._emit(row, spec["run_time"])  # by simulated offset: epoch floats lose the last instant
            self.db.execute("UPDATE requests SET ended_at=?, code=? WHERE id=?", (at, spec["final_code"], row["id"]))
            self._free_slot(row["queue"], at)
        return True

    def _queue_limits(self) -> dict[str, int]:
        limits: dict[str, int] = {}
        for app in self.catalog.applications.values():
            limits.update(app.queues)
        for (queue,) in self.db.execute("SELECT DISTINCT queue FROM requests WHERE ended_at IS NULL"):
            limits.setdefault(queue, 1)
        return limits

    def _free_slot(self, queue: str, at: float) -> None:
        self.db.execute("INSERT OR REPLACE INTO queue_free (queue, since) VALUES (?, ?)", (queue, at))

    def _emit(self, row: sqlite3.Row, elapsed: float) -> None:
        """Store the messages the job wrote in its first ``elapsed`` simulated seconds, not stored yet."""
        scale = row["time_scale"]
        spec = JobSpec.from_json(json.loads(row["spec"]))
        values = json.loads(row["vals"])
        context = {
            "batch_request_id": row["id"],
            "application": row["application"],
            "name": row["name"],
            "values": " ".join(values),
            "value_list": values,
            "user": row["run_as_user"] or row["submit_user"],
            "queue": row["queue"],
        }
        emitted = row["emitted"]
        batch = []
        for offset, template, fields, severity in itertools.islice(raw_stream(spec, context), emitted, None):
            if offset > elapsed + 1e-9:
                break
            batch.append((render(template, context, fields), row["started_at"] + offset / scale, severity))
        if batch:
            self._store_messages(row["id"], batch)
            self.db.execute("UPDATE requests SET emitted=? WHERE id=?", (emitted + len(batch), row["id"]))

    def _append(self, row: sqlite3.Row, text: str, at: float, severity: str) -> None:
        """A message outside the job's script (a stop notice); it goes after those already stored."""
        self._emit(row, (at - row["started_at"]) * row["time_scale"])
        self._store_messages(row["id"], [(text, at, severity)])

    def _store_messages(self, request_id: int, batch: list[tuple[str, float, str]]) -> None:
        """Append (text, timestamp, severity) rows; indexes continue from what is stored, so appended
        notices and the job's own messages never collide."""
        base = self.db.execute("SELECT COUNT(*) FROM messages WHERE request_id=?", (request_id,)).fetchone()[0]
        self.db.executemany(
            "INSERT INTO messages (request_id, idx, text, ts, severity) VALUES (?,?,?,?,?)",
            [(request_id, base + i, text, ts, severity) for i, (text, ts, severity) in enumerate(batch)],
        )

    # --- request log ------------------------------------------------------------------------

    def log_request(self, **entry: Any) -> None:
        self.db.execute(
            "INSERT INTO request_log (at, method, route, path, action, status, fault, detail)"
            " VALUES (:at, :method, :route, :path, :action, :status, :fault, :detail)",
            {"action": None, "status": None, "fault": None, "detail": None, **entry},
        )

    def request_log(self, route: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        sql = "SELECT * FROM request_log WHERE seq>?"
        args: list[Any] = [since]
        if route:
            sql += " AND route=?"
            args.append(route)
        return [dict(r) for r in self.db.execute(sql + " ORDER BY seq", args)]

    def last_request_seq(self) -> int:
        """The sequence number of the newest logged request (0: none), without reading the log."""
        row = self.db.execute("SELECT max(seq) FROM request_log").fetchone()
        return int(row[0] or 0)

    def clear_request_log(self) -> None:
        self.db.execute("DELETE FROM request_log")
