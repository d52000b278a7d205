"""The provider's ``[amt]`` Airflow configuration options, declared once.

``get_provider_info`` publishes them (so ``airflow config list`` shows them with their defaults) and
the code reads them through the functions below; the defaults live only here.

Few knobs: an option exists only where a measured figure shows a site needs to turn it
(docs/deployment.md names the figure for each): ``checkpoint_rate`` (the supervisor's time),
``message_read_rate`` (the triggerer's CPU for live logs), ``trigger_messages`` (whether the
triggerer's log carries the messages at all: its supervisor's limit, about 2,000 jobs with messages
on two cores) and ``triggerer_gc_threshold`` (the process's collector). What a site never needed
to turn is a constant where it is used (the first polls and checkpoint reads of a restart:
``triggers.runtime``; messages per log record: ``joblog``).
``checkpoint_interval`` (0.2) is deprecated and still read until 0.4.
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
MESSAGE_READ_RATE = "message_read_rate"
MESSAGE_READ_RATE_DEFAULT = 500.0
TRIGGER_MESSAGES = "trigger_messages"
#: ``live``: the triggerer logs every message as it comes; ``at_read``: it logs none, and
#: ``AmtTaskLogHandler`` adds them from AMT whenever the task log is read.
TRIGGER_MESSAGES_VALUES = ("live", "at_read")
TRIGGER_MESSAGES_DEFAULT = "live"
TRIGGERER_GC_THRESHOLD = "triggerer_gc_threshold"
TRIGGERER_GC_THRESHOLD_DEFAULT = 10_000

OPTIONS: dict[str, dict[str, Any]] = {
    CHECKPOINT_INTERVAL: {
        "description": (
            "Deprecated (removed in 0.4; checkpoint_rate alone bounds the saves): least seconds between two "
            "saves of a deferred task's AMT message cursor. 0 (default): after every page of messages, as far "
            "as checkpoint_rate allows. A value above 0 still works and warns once per triggerer."
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
    TRIGGER_MESSAGES: {
        "description": (
            "Where the AMT messages of a job watched from the triggerer go. live (default): the triggerer logs "
            "each one into the task log as it comes. at_read: the triggerer logs none (its watches poll the "
            "status only, like a job that writes none), and AmtTaskLogHandler, which the task log handler must "
            "then be on the API server, adds them from AMT whenever the log is read, while the job runs too. "
            "Every line a triggerer logs wakes its supervisor, which then reloads all its triggers: on two cores "
            "one triggerer carries about 2,000 jobs writing messages live, and 10,000 and more at_read. The "
            "worker still logs the messages of a job it watches. See docs/logs.md and docs/deployment.md."
        ),
        "version_added": "0.3.0",
        "type": "string",
        "example": "at_read",
        "default": TRIGGER_MESSAGES_DEFAULT,
    },
    TRIGGERER_GC_THRESHOLD: {
        "description": (
            "The young-generation threshold (gc.set_threshold's first value) the first AMT trigger sets in "
            "its triggerer process, if the process's own is lower and untouched (Python's is 700; 2000 from 3.13). "
            "Thousands of jobs in flight keep hundreds of objects alive at any moment; at 700 every collection "
            "promotes them, and the full collections that follow hold the event loop for hundreds of milliseconds "
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
    """Deprecated in 0.3 (``checkpoint_rate`` alone bounds the saves); still honoured until 0.4, and a
    triggerer's runtime logs :data:`CHECKPOINT_INTERVAL_DEPRECATED` once when it is set."""
    return _non_negative(CHECKPOINT_INTERVAL, CHECKPOINT_INTERVAL_DEFAULT)


CHECKPOINT_INTERVAL_DEPRECATED = (
    "[amt] checkpoint_interval is deprecated and will be removed in 0.4: [amt] checkpoint_rate alone bounds "
    "the checkpoint saves of a triggerer (docs/deployment.md, 'Provider options')"
)


def checkpoint_rate() -> float:
    return _non_negative(CHECKPOINT_RATE, CHECKPOINT_RATE_DEFAULT)


@dataclass(frozen=True)
class TriggerOptions:
    """The options every AMT trigger reads, read once per event loop by its ``TriggererRuntime`` (not
    once per trigger start: Airflow's config parser costs ~50 µs a read, a tenth of a restart storm's work)."""

    checkpoint_interval: float  # deprecated: warns when above 0
    checkpoint_rate: float
    message_read_rate: float
    triggerer_gc_threshold: int
    #: ``[amt] trigger_messages``: the triggerer logs the messages (``live``) or leaves them to the log handler.
    messages_live: bool = True


def trigger_options() -> TriggerOptions:
    """The ``[amt]`` options as configured now."""
    return TriggerOptions(
        checkpoint_interval=checkpoint_interval(),
        checkpoint_rate=checkpoint_rate(),
        message_read_rate=_non_negative(MESSAGE_READ_RATE, MESSAGE_READ_RATE_DEFAULT),
        triggerer_gc_threshold=_non_negative(TRIGGERER_GC_THRESHOLD, TRIGGERER_GC_THRESHOLD_DEFAULT),
        messages_live=trigger_messages() != "at_read",
    )


def _trigger_messages_configured() -> tuple[str, str]:
    """``[amt] trigger_messages`` as written, and as compared (stripped, lower case)."""
    from airflow_provider_amt.compat import conf

    raw = str(conf.get(SECTION, TRIGGER_MESSAGES, fallback=TRIGGER_MESSAGES_DEFAULT))
    return raw, raw.strip().lower()


def trigger_messages() -> str:
    """``[amt] trigger_messages``; any value but ``at_read`` reads as ``live`` (nothing is lost that way),
    and the triggerer's runtime says so once (:func:`trigger_messages_problem`)."""
    value = _trigger_messages_configured()[1]
    return value if value in TRIGGER_MESSAGES_VALUES else TRIGGER_MESSAGES_DEFAULT


def trigger_messages_problem() -> str | None:
    """What is wrong with ``[amt] trigger_messages`` as configured, for the triggerer's log; None if nothing."""
    raw, value = _trigger_messages_configured()
    if value not in TRIGGER_MESSAGES_VALUES:
        return f"[amt] trigger_messages = {raw[:40]!r} is not one of {', '.join(TRIGGER_MESSAGES_VALUES)}: read as live"
    if value == "at_read" and not _task_log_reads_amt():
        return (
            "[amt] trigger_messages = at_read, but this process's task log handler is not AmtTaskLogHandler: "
            "the AMT messages of jobs watched here are in their task logs only where the API server's is "
            "(docs/logs.md)"
        )
    return None


def _task_log_reads_amt() -> bool:
    """Whether the task log handler configured here (the one Airflow reads task logs with) adds AMT's
    messages: a handler in place on ``airflow.task``, or else the ``[logging] logging_config_class``'s
    reader handler (a triggerer's runner reconfigures its logging and keeps no such handler)."""
    import logging
    from importlib import import_module

    from airflow_provider_amt.compat import conf
    from airflow_provider_amt.log.task_handler import AmtTaskLogHandler

    if any(isinstance(handler, AmtTaskLogHandler) for handler in logging.getLogger("airflow.task").handlers):
        return True
    try:
        module, _, name = str(conf.get("logging", "logging_config_class", fallback="")).rpartition(".")
        handlers = getattr(import_module(module), name)["handlers"]
        kind = handlers[conf.get("logging", "task_log_reader", fallback="task")]["class"]
        if isinstance(kind, str):
            kind_module, _, kind_name = kind.rpartition(".")
            kind = getattr(import_module(kind_module), kind_name)
        return isinstance(kind, type) and issubclass(kind, AmtTaskLogHandler)
    except Exception:  # no such config, or not one that names its handler: it is not ours
        return False
