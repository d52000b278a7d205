"""The polling policy shared by the trigger (async) and the worker's sync loop.

It decides, after each status check or failed check, whether the job is finished, has run out
of time, has stayed 19 UNDEFINED too long, or whether to wait, and for how long: fast at first
(so short jobs finish quickly), growing to ``poll_interval`` for long jobs, with jitter so many
watchers started together do not poll in lock-step. It does no I/O, so both loops share it.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from airflow_provider_amt.codes import AmtCompletionCode
from airflow_provider_amt.outcome import Rules

GROWTH = 1.5


@dataclass(frozen=True)
class Verdict:
    kind: str  # "final" | "timeout" | "error" | "wait"
    event_status: str | None = None  # for "final": success / failed / cancelled
    message: str = ""
    pause: float = 0.0


class JobWatch:
    def __init__(
        self,
        rules: Rules,
        *,
        poll_interval: float,
        initial_interval: float = 1.0,
        deadline: float | None = None,
        outage_grace_period: float = 300.0,
        undefined_grace_period: float = 60.0,
        clock=time.monotonic,
        wall_clock=time.time,
    ):
        self.rules = rules
        self.poll_interval = poll_interval
        self.interval = min(initial_interval, poll_interval)
        self.deadline = deadline
        self.outage_grace_period = outage_grace_period
        self.undefined_grace_period = undefined_grace_period
        self.clock = clock
        self.wall_clock = wall_clock
        self.failing_since: float | None = None
        self.undefined_since: float | None = None

    def _pause(self) -> float:
        pause = self.interval * random.uniform(0.85, 1.15)
        self.interval = min(self.poll_interval, self.interval * GROWTH)
        if self.deadline is not None:
            pause = max(0.0, min(pause, self.deadline - self.wall_clock()))
        return pause

    def _timed_out(self) -> bool:
        return self.deadline is not None and self.wall_clock() >= self.deadline

    def on_status(self, code: AmtCompletionCode, label: str) -> Verdict:
        self.failing_since = None
        if self.rules.is_final(code):
            return Verdict("final", self.rules.event_status(code), f"{label}: {code.description}")
        if code is AmtCompletionCode.UNDEFINED:
            self.undefined_since = self.undefined_since or self.clock()
            if self.clock() - self.undefined_since >= self.undefined_grace_period:
                message = f"state stayed 19 UNDEFINED for {self.undefined_grace_period:.0f} s"
                return Verdict("final", "failed", message)
        else:
            self.undefined_since = None
        if self._timed_out():
            return Verdict("timeout", message=f"execution_timeout reached while the job was {label}")
        return Verdict("wait", pause=self._pause())

    def on_transient_error(self, error: Exception) -> Verdict:
        """A status check failed in a way that may pass (server down, 5xx, malformed answer)."""
        now = self.clock()
        self.failing_since = self.failing_since or now
        if now - self.failing_since >= self.outage_grace_period:
            return Verdict("error", message=f"AMT unreachable for {now - self.failing_since:.0f} s: {error}")
        if self._timed_out():
            return Verdict("timeout", message=f"execution_timeout reached while AMT was unreachable: {error}")
        return Verdict("wait", pause=self._pause())
