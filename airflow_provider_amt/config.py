"""The provider's ``[amt]`` Airflow configuration options, declared once.

``get_provider_info`` publishes them (so ``airflow config list`` shows them with their defaults) and
the code reads them through the functions below; the defaults live only here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

Number = TypeVar("Number", int, float)

SECTION = "amt"
CHECKPOINT_INTERVAL = "checkpoint_interval"
CHECKPOINT_INTERVAL_DEFAULT = 0.0
CHECKPOINT_RATE = "checkpoint_rate"
CHECKPOINT_RATE_DEFAULT = 1.0
CHECKPOINT_READ_RATE = "checkpoint_read_rate"
CHECKPOINT_READ_RATE_DEFAULT = 50.0
MESSAGE_READ_RATE = "message_read_rate"
MESSAGE_READ_RATE_DEFAULT = 500.0
MESSAGES_PER_LOG_RECORD = "messages_per_log_record"
MESSAGES_PER_LOG_RECORD_DEFAULT = 20
START_RATE = "start_rate"
START_RATE_DEFAULT = 1000.0
TRIGGERER_GC_THRESHOLD = "triggerer_gc_threshold"
TRIGGERER_GC_THRESHOLD_DEFAULT = 10_000

OPTIONS: dict[str, dict[str, Any]] = {
    CHECKPOINT_INTERVAL: {
        "description": (
            "Least seconds between two saves of a deferred task's AMT message cursor (a round trip through "
            "the triggerer's supervisor each). 0 (default): after every page of messages, as far as "
            "checkpoint_rate allows. A triggerer that stops or crashes makes the next one log again what was "
            "logged since the last save; AmtTaskLogHandler shows each message once. See docs/performance.md."
        ),
        "version_added": "0.2.0",
        "type": "float",
        "example": "30",
        "default": str(CHECKPOINT_INTERVAL_DEFAULT),
    },
    CHECKPOINT_RATE: {
        "description": (
            "Most checkpoint saves per second of all AMT triggers of one triggerer together (each save is two "
            "requests to the triggerer's supervisor, and each wakes its loop, which reloads its triggers). With more "
            "triggers than checkpoint_interval allows at this rate, each saves less often (interval = "
            "triggers / rate; saves due together wait in one queue at this rate), so the supervisor's time "
            "for checkpoints stays bounded however many jobs a triggerer watches. No watch waits for a save. "
            "0: no bound. See docs/performance.md."
        ),
        "version_added": "0.2.0",
        "type": "float",
        "example": "1",
        "default": str(CHECKPOINT_RATE_DEFAULT),
    },
    CHECKPOINT_READ_RATE: {
        "description": (
            "Most checkpoint reads per second of all AMT triggers of one triggerer together. A trigger reads "
            "its checkpoint once, when it first has messages to log; a triggerer restart starts every trigger "
            "at once, and this spreads their reads (20,000 triggers: over 400 s at 50) so the supervisor keeps "
            "heartbeating. Status polls go on meanwhile; only logging waits. 0: no bound."
        ),
        "version_added": "0.3.0",
        "type": "float",
        "example": "50",
        "default": str(CHECKPOINT_READ_RATE_DEFAULT),
    },
    MESSAGE_READ_RATE: {
        "description": (
            "Most GetMessages reads per second of all AMT triggers of one triggerer together. Each trigger "
            "reads new messages at most every triggers / rate seconds (every poll while that is shorter than "
            "poll_interval: below 5,000 triggers at 10 s polls), its first messages and the ones left when the "
            "job ends at once. Bounds the triggerer's CPU for message streaming at tens of thousands of jobs, "
            "at the price of later log lines there. 0: no bound."
        ),
        "version_added": "0.3.0",
        "type": "float",
        "example": "500",
        "default": str(MESSAGE_READ_RATE_DEFAULT),
    },
    MESSAGES_PER_LOG_RECORD: {
        "description": (
            "Most AMT messages in one task log record. The messages of one read that follow each other at "
            "one severity share a record, a line each (the UI shows them under the record's first line, its "
            "time and level once), as the trigger and the worker log them: a record costs about 25 us in "
            "Airflow's log pipeline whatever its length, nearly a third of a busy triggerer's work with a "
            "record per message. 1: a record per message (for a log store that wants a document per "
            "message). See docs/logs.md."
        ),
        "version_added": "0.3.0",
        "type": "integer",
        "example": "20",
        "default": str(MESSAGES_PER_LOG_RECORD_DEFAULT),
    },
    START_RATE: {
        "description": (
            "Most AMT triggers per second that make their first poll, per triggerer (the first this many "
            "start at once). Spreads a triggerer restart: 20,000 triggers start polling within 20 s at "
            "1000, instead of lagging the event loop by seconds. 0: no bound."
        ),
        "version_added": "0.3.0",
        "type": "float",
        "example": "1000",
        "default": str(START_RATE_DEFAULT),
    },
    TRIGGERER_GC_THRESHOLD: {
        "description": (
            "The young-generation threshold (gc.set_threshold's first value) the first AMT trigger sets in "
            "its triggerer process, if the process's own is lower (Python's default is 700). Thousands of "
            "jobs in flight keep hundreds of objects alive at any moment; at 700 every collection promotes "
            "them, and the full collections that follow hold the event loop for hundreds of milliseconds "
            "every few seconds. It affects every trigger of that triggerer, and is logged once. 0: leave the "
            "interpreter's setting. See docs/performance.md."
        ),
        "version_added": "0.3.0",
        "type": "integer",
        "example": "10000",
        "default": str(TRIGGERER_GC_THRESHOLD_DEFAULT),
    },
}


def _non_negative(option: str, default: Number) -> Number:
    """A number option of the default's type; a malformed value falls back to the default, never below 0."""
    from airflow_provider_amt.compat import conf

    kind = type(default)
    try:
        value = kind(conf.get(SECTION, option, fallback=str(default)))
    except (TypeError, ValueError):
        return default
    return max(value, kind(0))


def checkpoint_interval() -> float:
    return _non_negative(CHECKPOINT_INTERVAL, CHECKPOINT_INTERVAL_DEFAULT)


def checkpoint_rate() -> float:
    return _non_negative(CHECKPOINT_RATE, CHECKPOINT_RATE_DEFAULT)


def messages_per_log_record() -> int:
    """At least 1 (0 or less means 1: every message has a record)."""
    return max(1, _non_negative(MESSAGES_PER_LOG_RECORD, MESSAGES_PER_LOG_RECORD_DEFAULT))


@dataclass(frozen=True)
class TriggerOptions:
    """The options every AMT trigger reads, read once per event loop by its ``TriggererRuntime`` (not
    once per trigger start: Airflow's config parser costs ~50 µs a read, a tenth of a restart storm's work)."""

    checkpoint_interval: float
    checkpoint_rate: float
    checkpoint_read_rate: float
    message_read_rate: float
    messages_per_log_record: int
    start_rate: float
    triggerer_gc_threshold: int


def trigger_options() -> TriggerOptions:
    """The ``[amt]`` options as configured now."""
    return TriggerOptions(
        checkpoint_interval=checkpoint_interval(),
        checkpoint_rate=checkpoint_rate(),
        checkpoint_read_rate=_non_negative(CHECKPOINT_READ_RATE, CHECKPOINT_READ_RATE_DEFAULT),
        message_read_rate=_non_negative(MESSAGE_READ_RATE, MESSAGE_READ_RATE_DEFAULT),
        messages_per_log_record=messages_per_log_record(),
        start_rate=_non_negative(START_RATE, START_RATE_DEFAULT),
        triggerer_gc_threshold=_non_negative(TRIGGERER_GC_THRESHOLD, TRIGGERER_GC_THRESHOLD_DEFAULT),
    )
