"""Decisions without I/O about a job being watched: what a code means, when to poll, when to stop.

* :class:`Outcome` is how a watched job ended for its caller: the one vocabulary from a poll's
  :class:`Verdict` through the :class:`WatchResult`, the trigger's event, the XCom and the log's
  completion block to the task's decision.
* :class:`Rules` turns a completion code into an :class:`Outcome` (OpCon-style success criteria).
* :class:`WatchSettings` holds the validated polling settings a watcher is given.
* :class:`JobWatch` decides after each status check (or failed check) whether the job is final,
  has run out of time, has stayed 19 UNDEFINED too long, or whether to wait and for how long: fast
  at first (short jobs finish quickly), growing to ``poll_interval``, with jitter so many watchers
  started together do not poll in lock-step.
* :class:`MessageCursor` is where a reader of one job's messages stands, and the state it last
  reported (:class:`StateChange`: a job that sits in 14 WAIT FOR INPUT REQUEST is seen in the log).

The engine's ``watch`` drives these for both clients, so the Airflow trigger and the worker-side
wait follow one policy. Clocks are parameters, so tests run them with a fake clock.
"""

from __future__ import annotations

import enum
import random
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from amt_client import validation
from amt_client.codes import AmtCompletionCode, AmtMessage, Code, ExtraCode
from amt_client.errors import AmtValidationError

#: How much the pause between polls grows after each poll, until it reaches ``poll_interval``.
GROWTH = 1.5
#: Jitter applied to every pause (+-15 %).
JITTER = 0.15
#: How many of the last messages a cursor remembers (for failure messages).
LAST_MESSAGES = 5


class Outcome(str, enum.Enum):
    """How a watched job ended for the caller waiting on it (``WAIT``: it has not ended yet).

    The values are the trigger event's ``status`` words: events stored by 0.1 and 0.2 (success,
    failed, cancelled, timeout, error) read as the same members.
    """

    SUCCESS = "success"  # a success code
    FAILED = "failed"  # any other final code, or 19 UNDEFINED past its grace period
    SKIPPED = "skipped"  # a skip code (e.g. 6 SKIPPED_BY_OPS), where the caller takes it as a skip
    CANCELLED = "cancelled"  # 3 KILLED or 10 DEL_QUEUE: ended by a kill or taken off the queue (fails a task)
    TIMEOUT = "timeout"  # the deadline passed first
    ERROR = "error"  # AMT could not be asked (for longer than the grace period, or in a way that will not pass)
    WAIT = "wait"  # not ended yet: poll again

    @property
    def job_ended(self) -> bool:
        """True when the job reached a final code (the task's end then follows from the code)."""
        return self in _JOB_ENDINGS


_JOB_ENDINGS = frozenset({Outcome.SUCCESS, Outcome.FAILED, Outcome.SKIPPED, Outcome.CANCELLED})
#: The codes that fail a task without its retries unless it names others: 99 INVALID AMT USER.
DEFAULT_FAIL_FAST_CODES = (int(AmtCompletionCode.INVALID_AMT_USER),)
#: Final codes that say the job was ended from outside rather than by its own logic.
_CANCELLED = (AmtCompletionCode.KILLED, AmtCompletionCode.DEL_QUEUE)


@dataclass(frozen=True)
class Rules:
    """How a caller reads completion codes: OpCon-style failure criteria.

    ``success_codes`` count as success; ``skip_codes`` (job endings only) end a task as skipped
    (``skip_on_skipped_by_ops`` is 0.2's name for ``6`` among them); ``fail_fast_codes`` are failures
    a retry cannot mend (99 INVALID AMT USER by default): a task ends without using its retries.
    A fail-fast code only ever decides how a failure fails, so a success or skip code wins over it.
    """

    success_codes: tuple[int, ...] = (int(AmtCompletionCode.DONE),)
    skip_on_skipped_by_ops: bool = False
    skip_codes: tuple[int, ...] = ()
    fail_fast_codes: tuple[int, ...] = DEFAULT_FAIL_FAST_CODES

    def __post_init__(self) -> None:
        success = validation.success_codes(self.success_codes)
        skip = validation.completion_codes(self.skip_codes, "skip_codes")
        fail_fast = validation.completion_codes(self.fail_fast_codes, "fail_fast_codes")
        for code in skip:
            if not AmtCompletionCode(code).is_terminal:
                raise AmtValidationError(
                    f"skip_codes: {code} {AmtCompletionCode(code).amt_name} is not an ending of a job "
                    "(a job in it is still waited for)."
                )
        both = sorted(set(skip) & set(success))
        if both:
            raise AmtValidationError(f"skip_codes and success_codes both hold {both}: a code means one thing.")
        object.__setattr__(self, "success_codes", success)
        object.__setattr__(self, "skip_codes", skip)
        object.__setattr__(self, "fail_fast_codes", fail_fast)

    def skips(self, code: Code) -> bool:
        """Whether a job that ended on ``code`` ends its task as skipped."""
        return int(code) in self.skip_codes or (
            code is AmtCompletionCode.SKIPPED_BY_OPS and self.skip_on_skipped_by_ops
        )

    def fails_fast(self, code: Code) -> bool:
        """Whether a job that failed on ``code`` fails its task without its retries."""
        return int(code) in self.fail_fast_codes

    def is_final(self, code: Code) -> bool:
        return code.is_terminal or int(code) in self.success_codes

    def outcome(self, code: Code) -> Outcome:
        # a code a site's contract document adds as "success" is one, like the success codes
        if int(code) in self.success_codes or (isinstance(code, ExtraCode) and code.is_successful):
            return Outcome.SUCCESS
        if not code.is_terminal:
            return Outcome.WAIT
        if self.skips(code):
            return Outcome.SKIPPED
        return Outcome.CANCELLED if code in _CANCELLED else Outcome.FAILED

    def ending(self, code: Code) -> Outcome:
        """The outcome of a watch that ended on ``code``: never ``WAIT``. A watch ends on a code that is
        not terminal only when 19 UNDEFINED outlasted its grace period, and that counts as failed."""
        outcome = self.outcome(code)
        return Outcome.FAILED if outcome is Outcome.WAIT else outcome


@dataclass(frozen=True)
class WatchSettings:
    """How to watch a job. Validated on creation: finite, positive numbers only.

    :param rules: which codes count as success.
    :param poll_interval: longest pause between two status checks, in seconds.
    :param initial_interval: first pause (the pause grows from here to ``poll_interval``).
    :param deadline: epoch seconds after which the watch ends with ``TIMEOUT`` (None: no deadline).
    :param outage_grace_period: seconds of failing checks tolerated before the watch ends with ``ERROR``.
    :param undefined_grace_period: seconds 19 UNDEFINED may last before it counts as failed.
    :param max_time_in_state: seconds a job may stay in a state that is not an ending, by code
        (``{14: 1800}``): longer, and the watch ends with ``TIMEOUT`` naming the state and how long.
    """

    rules: Rules = Rules()
    poll_interval: float = 10.0
    initial_interval: float = 1.0
    deadline: float | None = None
    outage_grace_period: float = 300.0
    undefined_grace_period: float = 60.0
    max_time_in_state: Mapping[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        poll = validation.seconds(self.poll_interval, "poll_interval", minimum=0.1, exclusive=False)
        checked = {
            "poll_interval": poll,
            "initial_interval": min(
                poll, validation.seconds(self.initial_interval, "initial_interval", minimum=0.05, exclusive=False)
            ),
            "deadline": validation.optional_seconds(self.deadline, "deadline"),
            "outage_grace_period": validation.seconds(self.outage_grace_period, "outage_grace_period", exclusive=False),
            "undefined_grace_period": validation.seconds(
                self.undefined_grace_period, "undefined_grace_period", exclusive=False
            ),
            "max_time_in_state": validation.state_limits(self.max_time_in_state),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)


class _VerdictKind(enum.Enum):
    """0.2's four-way verdict, deprecated (removed in 0.4): read ``outcome`` (an :class:`Outcome`)."""

    FINAL = "final"
    TIMEOUT = "timeout"
    ERROR = "error"
    WAIT = "wait"


_DEPRECATED_KIND = "{}.kind and VerdictKind are deprecated and will be removed in 0.4: read .outcome (an Outcome)"


def _kind(outcome: Outcome, owner: str) -> _VerdictKind:
    warnings.warn(_DEPRECATED_KIND.format(owner), DeprecationWarning, stacklevel=3)
    return _VerdictKind.FINAL if outcome.job_ended else _VerdictKind(outcome.value)


def __getattr__(name: str) -> object:
    if name == "VerdictKind":
        warnings.warn(_DEPRECATED_KIND.format("Verdict"), DeprecationWarning, stacklevel=2)
        return _VerdictKind
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Verdict:
    """What one poll (or failed poll) decided: ``WAIT`` ``pause`` seconds, or the watch's outcome."""

    outcome: Outcome
    message: str = ""
    pause: float = 0.0

    @property
    def kind(self) -> _VerdictKind:
        """Deprecated: read ``outcome``."""
        return _kind(self.outcome, "Verdict")


class JobWatch:
    """The polling state of one watch (see the module docstring)."""

    def __init__(
        self,
        settings: WatchSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ):
        self.settings = settings
        self.interval = settings.initial_interval
        self.clock = clock
        self.wall_clock = wall_clock
        self.random = rng  # None: the ``random`` module's own (no 2.5 KB state per watch)
        self.failing_since: float | None = None
        self.undefined_since: float | None = None

    def _pause(self) -> float:
        pause = self.interval * (self.random or random).uniform(1 - JITTER, 1 + JITTER)
        self.interval = min(self.settings.poll_interval, self.interval * GROWTH)
        if self.settings.deadline is not None:
            pause = max(0.0, min(pause, self.settings.deadline - self.wall_clock()))
        return pause

    def _timed_out(self) -> bool:
        return self.settings.deadline is not None and self.wall_clock() >= self.settings.deadline

    def on_status(self, code: Code, label: object, since: float | None = None) -> Verdict:
        """``label`` names the state in messages (a ``JobStatus``; made text only when a message is);
        ``since``: epoch seconds since when the job is in it (for ``max_time_in_state``)."""
        self.failing_since = None
        rules = self.settings.rules
        if rules.is_final(code):
            return Verdict(rules.ending(code), f"{label}: {code.description}")
        if code is AmtCompletionCode.UNDEFINED:
            self.undefined_since = self.undefined_since or self.clock()
            if self.clock() - self.undefined_since >= self.settings.undefined_grace_period:
                grace = self.settings.undefined_grace_period
                return Verdict(Outcome.FAILED, f"state stayed 19 UNDEFINED for {grace:.0f} s")
        else:
            self.undefined_since = None
        if self._timed_out():
            return Verdict(Outcome.TIMEOUT, f"the deadline (execution_timeout) passed while the job was {label}")
        limit = self.settings.max_time_in_state.get(int(code))
        if limit is None or since is None:
            return Verdict(Outcome.WAIT, pause=self._pause())
        held = self.wall_clock() - since
        if held >= limit:
            return Verdict(
                Outcome.TIMEOUT, f"the job was in {label} for {held:.0f} s: max_time_in_state allows it {limit:g} s"
            )
        return Verdict(Outcome.WAIT, pause=min(self._pause(), limit - held))  # poll when the limit comes

    def on_transient_error(self, error: object, trouble: str = "AMT unreachable") -> Verdict:
        """A status check failed in a way that may pass (server down, 5xx, malformed answer, or
        ``trouble`` of the watcher's own)."""
        now = self.clock()
        self.failing_since = self.failing_since or now
        if now - self.failing_since >= self.settings.outage_grace_period:
            return Verdict(Outcome.ERROR, f"{trouble} for {now - self.failing_since:.0f} s: {error}")
        if self._timed_out():
            return Verdict(Outcome.TIMEOUT, f"the deadline (execution_timeout) passed ({trouble}): {error}")
        return Verdict(Outcome.WAIT, pause=self._pause())


@dataclass(frozen=True)
class WatchResult:
    """How a watch ended: the outcome (never ``WAIT``), the last code seen (None if AMT could not be
    asked), and why."""

    outcome: Outcome
    code: Code | None
    message: str = ""

    @property
    def kind(self) -> _VerdictKind:
        """Deprecated: read ``outcome``."""
        return _kind(self.outcome, "WatchResult")

    def rechecked(self, code: Code, rules: Rules) -> WatchResult:
        """This ``error`` ending once AMT, asked again, said ``code``: the job's own ending if it has
        ended meanwhile, else still ``error``, now with the code the job runs with."""
        if rules.is_final(code):
            return WatchResult(rules.ending(code), code, self.message)
        return WatchResult(self.outcome, code, self.message)


@dataclass(frozen=True)
class StateChange:
    """A watched job is in another state than its reader last reported (``previous``; None: none yet).

    ``code`` is never an ending (the completion block reports those); ``since`` is epoch seconds:
    when a watch first saw the job in it (the assumed MonitorJob answer carries no time of its own).
    """

    previous: int | None
    code: Code
    since: float


@dataclass(slots=True)
class MessageCursor:
    """Where a reader of one job's messages stands, the last few it saw (for failure texts), and the
    state it last reported with since when (``state``, ``state_since``: what a moved trigger or the
    worker after a deferral must not report again).

    ``last`` is a short tuple, not a deque, and the fields are slots: a triggerer keeps a cursor per
    watched job (an empty bounded deque alone takes 600 bytes, an instance dict a few hundred).
    """

    offset: int = 0
    last: tuple[AmtMessage, ...] = ()
    #: How many of the last messages to remember: 0 for a reader that never reports them (a trigger).
    keep: int = LAST_MESSAGES
    state: int | None = None
    state_since: float | None = None

    def __post_init__(self) -> None:
        self.offset = validation.offset(self.offset, "message offset")

    def advance(self, page: Sequence[AmtMessage]) -> None:
        if page:
            self.offset = page[-1].index + 1
            if self.keep:
                self.last = (*self.last, *page[-self.keep :])[-self.keep :]

    @property
    def reported(self) -> tuple[int, float] | None:
        """``(state, since)`` the reader reported, if it reported one (what it hands on to the next reader)."""
        if self.state is None or self.state_since is None:
            return None
        return self.state, self.state_since

    def took(self, change: StateChange) -> None:
        """The reader reported ``change`` (unless it knew the state from earlier and set it itself)."""
        if self.state != int(change.code):
            self.state, self.state_since = int(change.code), change.since


def failure_message(what: str, batch_request_id: int, code: Code, last: Sequence[AmtMessage]) -> str:
    """``AMT batch job DEMO2/X (batch request 7) ended with 11 ERROR: ended in error. Last messages: ...``."""
    text = (
        f"AMT {what} (batch request {batch_request_id}) ended with completion code {int(code)} "
        f"{code.amt_name}: {code.description}."
    )
    if last:
        text += " Last messages:\n" + "\n".join(f"  [{m.index}] {m.text}" for m in last)
    else:
        text += " The job wrote no messages."
    return text
