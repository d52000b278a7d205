"""One view of a Batch Server's health, shared by every call to it: a circuit breaker.

Why: each call retries on its own (``HttpRetryPolicy``), which is right for one call and wrong for
thousands. When the server goes away, every watch of a triggerer retried its poll four times, so an
outage multiplied the traffic at a server trying to come back, and the failing connections held
the triggerer's loop. With one shared view, once the server has failed ``OPEN_AFTER`` times in a
row, requests are held back without being sent (the caller sees an ``AmtServerUnavailableError``
at once, and a watch pauses until its next poll with its outage clock running); one request at a
time goes through as a probe, after a pause that doubles from ``FIRST_BACKOFF`` to ``MAX_BACKOFF``;
the first answer of any kind closes the breaker, and the watches then poll again at their own
times, which their jitter has spread over a poll interval.

No I/O: the drivers keep one per server login (per event loop for the async client, per process
for the sync one), ask :meth:`ServerHealth.admit` before sending and tell :meth:`ServerHealth.record`
what came back.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from amt_client.engine import FailureKind, Reply, TransportFailure

#: Failed exchanges in a row (no answer at all, or a gateway's 502/503/504, or 429) that open the breaker.
OPEN_AFTER = 3
#: The first pause before a probe, and the longest: a returning server is seen within about two
#: seconds (the watches waiting for it then poll within ``engine.RESUME_SPREAD`` of their interval),
#: and an outage costs a triggerer one request every two seconds, whatever it watches.
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 2.0
#: HTTP statuses that mean "nobody is serving" (a proxy in front of a server that is down) or "slow down".
OUTAGE_STATUSES = frozenset({429, 502, 503, 504})


class ServerHealth:
    """The breaker of one server login (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None):
        self.clock = clock
        self.random = rng  # None: the ``random`` module's own
        self.failures = 0
        #: Monotonic time from which a probe may go (None: closed, everything goes).
        self.probe_at: float | None = None
        #: A probe is out until then (it may never report back: its task can be cancelled).
        self.probing_until: float | None = None
        self.backoff = FIRST_BACKOFF
        #: When the server stopped answering, and how its last exchange failed (for messages).
        self.down_since: float | None = None
        self.last_failure = ""

    @property
    def is_open(self) -> bool:
        return self.probe_at is not None

    def admit(self, probe_time: float) -> bool:
        """May a request be sent now? ``probe_time``: how long it may take (a probe holds its place so long)."""
        if self.probe_at is None:
            return True
        now = self.clock()
        if now < self.probe_at or (self.probing_until is not None and now < self.probing_until):
            return False
        self.probing_until = now + probe_time
        return True

    def record(self, reply: Reply) -> bool:
        """What came back from a request that was sent; True when it shows the server is back
        (the breaker was open and closes: the driver wakes the watches waiting for it)."""
        if not _is_outage(reply):
            if not self.failures and self.probe_at is None:  # the usual case: nothing to reset
                return False
            was_open = self.probe_at is not None
            self.failures, self.probe_at, self.probing_until, self.down_since = 0, None, None, None
            self.backoff = FIRST_BACKOFF
            return was_open
        now = self.clock()
        self.failures += 1
        self.down_since = self.down_since or now
        self.last_failure = reply.detail if isinstance(reply, TransportFailure) else f"HTTP {reply.status}"
        if self.probe_at is not None or self.failures >= OPEN_AFTER:
            self.probe_at = now + self.backoff * (self.random or random).uniform(0.8, 1.2)
            self.probing_until = None
            self.backoff = min(MAX_BACKOFF, self.backoff * 2)
        return False

    def held(self) -> TransportFailure:
        """The reply of a request held back (never sent)."""
        since = 0.0 if self.down_since is None else self.clock() - self.down_since
        return TransportFailure(
            FailureKind.HELD,
            f"held back: the Batch Server has not answered for {since:.0f} s (last: {self.last_failure[:200]}; "
            "one probe at a time until it does)",
        )


def _is_outage(reply: Reply) -> bool:
    if isinstance(reply, TransportFailure):
        return reply.kind in (FailureKind.NOT_SENT, FailureKind.MAYBE_SENT)
    return reply.status in OUTAGE_STATUSES
