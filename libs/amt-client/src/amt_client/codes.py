"""The AMT completion-code table: the single place that names and classifies every code.

Both clients, the Airflow provider and the emulator read codes from here (the wire contract in
``contract.py`` names this table as its code table), so a change in how a code is treated is one
edit. Names are spelled exactly as Asysco publishes them (a mix of spaces and underscores) because
that is what operators recognise from OpCon's JORS view; the enum member names are the Python-safe
spelling of the same thing.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any


class CodeClass(str, enum.Enum):
    """What a completion code means for someone waiting on the job."""

    WAITING = "waiting"  # not started yet; keep polling
    RUNNING = "running"  # started; keep polling
    SUCCESS = "success"  # terminal, the job did what it should
    FAILED = "failed"  # terminal, the job did not
    AMBIGUOUS = "ambiguous"  # 19 UNDEFINED: not terminal at first, failed after a grace period
    ERROR = "error"  # 23/24: the client could not talk to the server; not a job state


class _ReadByClass:
    """What a code means for a waiting caller, from its class (the table's codes and the ones a
    contract document adds alike)."""

    code_class: CodeClass

    @property
    def is_terminal(self) -> bool:
        """True when the job will not change state any more (19 UNDEFINED is not, at first)."""
        return self.code_class in (CodeClass.SUCCESS, CodeClass.FAILED)

    @property
    def is_successful(self) -> bool:
        """Only 4 DONE in the table, as in OpCon's default failure criteria; operators can widen this."""
        return self.code_class is CodeClass.SUCCESS


class AmtCompletionCode(_ReadByClass, enum.IntEnum):
    """Every published AMT completion code, with its published name, meaning and classification.

    Code 17 appears in no published list: it is held as reserved, and a job that reports it is
    taken as failed (its task fails naming the code; the job is never killed for it). Any code
    outside the table is an :class:`~amt_client.errors.AmtUnknownCodeError`, not a guess.
    """

    IDLE = 0
    QUEUED = 1
    RUNNING = 2
    KILLED = 3
    DONE = 4
    SUSPENDED = 5
    SKIPPED_BY_OPS = 6
    RUN_MANUAL = 7
    RUN_FORCED = 8
    RUN_DEBUG = 9
    DEL_QUEUE = 10
    ERROR = 11
    ABORTED = 12
    WAIT_FOR_FILE = 13
    WAIT_FOR_INPUT_REQUEST = 14
    WAIT_FOR_JOB = 15
    WAIT_FOR_REPORT = 16
    RESERVED_17 = 17
    RECOVER_CP = 18
    UNDEFINED = 19
    WAIT_FOR_QUEUE = 20
    WAIT_FOR_DEBUGGER = 21
    ABORTED_WITH_RECOVER = 22
    WEB_SERVER_ERROR = 23
    AUTHENTICATION_ERROR = 24
    KILLED_WITH_RECOVER = 27
    INVALID_AMT_USER = 99

    @property
    def amt_name(self) -> str:
        """The name exactly as AMT and OpCon print it (e.g. ``WAIT FOR FILE``)."""
        return _TABLE[self][0]

    @property
    def description(self) -> str:
        return _TABLE[self][1]

    @property
    def code_class(self) -> CodeClass:  # type: ignore[override]  # the table's, read-only
        return _TABLE[self][2]

    @classmethod
    def parse(cls, value: object) -> AmtCompletionCode:
        """Turn a server-supplied value into a code, or raise ``ValueError`` naming the bad value
        (:class:`UnknownCode` for an integer the table does not hold)."""
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and _INTEGER.fullmatch(value.strip()):  # ASCII digits, bounded
            number = int(value.strip())
        if number is None:
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
            raise ValueError(f"completion code must be an integer, got {shown}")
        try:
            return cls(number)
        except ValueError:
            raise UnknownCode(number) from None

    @classmethod
    def named(cls, name: str) -> AmtCompletionCode:
        """The code a DAG names: its member name or AMT's printed name, any case, spaces or
        underscores (``"WAIT FOR FILE"``, ``"wait_for_file"``, ``"KilledWithRecover"``)."""
        wanted = _spelling(name)
        for code in cls:
            if wanted in (_spelling(code.name), _spelling(code.amt_name)):
                return code
        shown = repr(name) if len(repr(name)) <= 40 else repr(name)[:40] + "..."
        raise ValueError(f"no completion code is named {shown}")


def _spelling(name: str) -> str:
    return re.sub(r"[\s_]+", "", name).lower()


class UnknownCode(ValueError):
    """An integer completion code that is not in the table."""

    def __init__(self, number: int):
        known = ", ".join(str(int(c)) for c in AmtCompletionCode)
        shown = str(number) if abs(number) < 10**12 else f"{str(number)[:12]}... ({len(str(number))} digits)"
        super().__init__(f"unknown AMT completion code {shown} (known codes: {known})")
        self.number = number


_INTEGER = re.compile(r"-?[0-9]{1,12}")

#: The classes a contract document may give an extra code (not AMBIGUOUS or ERROR: those are ours).
EXTRA_CODE_CLASSES = ("waiting", "running", "success", "failed")


class ExtraCode(_ReadByClass, int):
    """A completion code a site's contract document adds to the table (say, a newer AMT's state),
    with the name, meaning and class the document gives it. It reads like a table member (``amt_name``,
    ``description``, ``code_class``...) and compares as its integer; it is never one of the table's
    codes (a document may not redefine one), so ``code is AmtCompletionCode.X`` stays exact."""

    amt_name: str
    description: str
    code_class: CodeClass

    def __new__(cls, number: int, amt_name: str, code_class: str | CodeClass, description: str = "") -> ExtraCode:
        code = super().__new__(cls, number)
        code.amt_name, code.code_class = amt_name, CodeClass(code_class)
        code.description = description or f"a code the site's contract document adds ({code.code_class.value})"
        return code

    @property
    def name(self) -> str:
        return self.amt_name

    def __str__(self) -> str:  # the number, as in every message (int's own __str__ is the repr)
        return int.__repr__(self)

    def __repr__(self) -> str:
        return f"ExtraCode({int(self)}, {self.amt_name!r}, {self.code_class.value!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return ExtraCode, (int(self), self.amt_name, self.code_class, self.description)


#: A completion code as a status reports it: one of the table's, or one a contract document adds.
Code = AmtCompletionCode | ExtraCode


_W, _R, _S, _F, _A, _E = (
    CodeClass.WAITING,
    CodeClass.RUNNING,
    CodeClass.SUCCESS,
    CodeClass.FAILED,
    CodeClass.AMBIGUOUS,
    CodeClass.ERROR,
)

_TABLE: dict[AmtCompletionCode, tuple[str, str, CodeClass]] = {
    AmtCompletionCode.IDLE: ("IDLE", "job is idle", _W),
    AmtCompletionCode.QUEUED: ("QUEUED", "queued for a future start in the current timeframe", _W),
    AmtCompletionCode.RUNNING: ("RUNNING", "started manually or by the scheduler", _R),
    AmtCompletionCode.KILLED: ("KILLED", "terminated by a kill command", _F),
    AmtCompletionCode.DONE: ("DONE", "completed normally", _S),
    AmtCompletionCode.SUSPENDED: ("SUSPENDED", "queued job has not started on time", _W),
    AmtCompletionCode.SKIPPED_BY_OPS: ("SKIPPED_BY_OPS", "suspended job skipped by control center", _F),
    AmtCompletionCode.RUN_MANUAL: ("RUN_MANUAL", "started by control center", _R),
    AmtCompletionCode.RUN_FORCED: ("RUN_FORCED", "forced start even when the job server is halted", _R),
    AmtCompletionCode.RUN_DEBUG: ("RUN_DEBUG", "report started from Visual Studio", _R),
    AmtCompletionCode.DEL_QUEUE: ("DEL_QUEUE", "deleted from queue", _F),
    AmtCompletionCode.ERROR: ("ERROR", "ended in error (also: script file not found)", _F),
    AmtCompletionCode.ABORTED: ("ABORTED", "aborted on purpose in the business logic", _F),
    AmtCompletionCode.WAIT_FOR_FILE: ("WAIT FOR FILE", "waiting for a file", _W),
    AmtCompletionCode.WAIT_FOR_INPUT_REQUEST: ("WAIT FOR INPUT REQUEST", "waiting for a request", _W),
    AmtCompletionCode.WAIT_FOR_JOB: ("WAIT FOR JOB", "waiting for another job to finish", _W),
    AmtCompletionCode.WAIT_FOR_REPORT: ("WAIT FOR REPORT", "waiting for a report to finish", _W),
    AmtCompletionCode.RESERVED_17: ("RESERVED_17", "reserved: a code AMT does not publish; taken as failed", _F),
    AmtCompletionCode.RECOVER_CP: ("RECOVER_CP", "request to recover from a saved critical point", _R),
    AmtCompletionCode.UNDEFINED: ("UNDEFINED", "state is undefined", _A),
    AmtCompletionCode.WAIT_FOR_QUEUE: ("WAIT_FOR QUEUE", "waiting for the queue start time", _W),
    AmtCompletionCode.WAIT_FOR_DEBUGGER: ("WAIT_FOR_DEBUGGER", "waiting for a LION debugger", _W),
    AmtCompletionCode.ABORTED_WITH_RECOVER: ("ABORTED_WITH_RECOVER", "aborted with recover", _F),
    AmtCompletionCode.WEB_SERVER_ERROR: ("WEB_SERVER_ERROR", "the AMT Batch Server could not be reached", _E),
    AmtCompletionCode.AUTHENTICATION_ERROR: ("AUTHENTICATION_ERROR", "the AMT credentials were rejected", _E),
    AmtCompletionCode.KILLED_WITH_RECOVER: (
        "KilledWithRecover",
        "killed; a recovery run can resume it (as after 22 ABORTED_WITH_RECOVER)",
        _F,
    ),
    AmtCompletionCode.INVALID_AMT_USER: (
        "INVALID AMT USER",
        "the job was run with a named AMT user that is invalid",
        _F,
    ),
}


@dataclass(frozen=True)
class JobStatus:
    """The state of one AMT batch request, as MonitorJob reports it."""

    batch_request_id: int
    code: Code
    #: How many messages the job has written so far, where the server says (**assumed** field): a
    #: watcher then asks GetMessages only when there is something new. None: the server did not say.
    message_count: int | None = None

    @property
    def name(self) -> str:
        return self.code.amt_name

    @property
    def description(self) -> str:
        return self.code.description

    @property
    def is_terminal(self) -> bool:
        return self.code.is_terminal

    @property
    def is_successful(self) -> bool:
        return self.code.is_successful

    def __str__(self) -> str:
        return f"{self.name} ({int(self.code)})"


@dataclass(frozen=True)
class AmtMessage:
    """One message the AMT job wrote, with its position in the job's message list."""

    index: int
    text: str
    timestamp: str | None = None
    severity: str | None = None
