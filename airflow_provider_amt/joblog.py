"""The AMT job log in the Airflow task log, laid out like OpCon's JORS view.

Three parts, in order: a job information block, the AMT messages (one log record each, at the log
level their severity maps to, with the AMT timestamp, severity and index as structured fields),
and a closing block with ``Completion Code : <NAME> (<code>)`` and the outcome. The worker
(operators, sensor) and the trigger both write through these functions, so every path looks the
same in the log.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_amt.codes import AmtCompletionCode, AmtMessage

#: A single message longer than this is cut (with a marker saying how much), never dropped.
MAX_MESSAGE_CHARS = 8000
#: How many of the last messages a failure message quotes.
LAST_MESSAGES = 5
_LEVELS = {"ERROR": logging.ERROR, "WARNING": logging.WARNING, "WARN": logging.WARNING}


@dataclass(frozen=True)
class JobDescription:
    """What was started, as the job information block shows it."""

    task_type: str  # "Batch Job" or "Script"
    application_name: str
    name: str
    values: list[str] = field(default_factory=list)
    submit_user: str = "BATCH"
    station: str = "OPCON"
    run_as_user: str | None = None
    queue_name: str | None = None

    @property
    def what(self) -> str:
        return f"{self.task_type.lower()} {self.application_name}/{self.name}"


def _emit(log: Any, level: int, text: str, **fields: Any) -> None:
    """Log through structlog (worker) or stdlib logging (triggerer) with structured fields."""
    if hasattr(log, "bind") or not isinstance(log, logging.Logger):
        log.log(level, text, **fields) if fields else log.log(level, text)
    else:
        log.log(level, text, extra=fields)


def _same(text: str) -> str:
    return text


def log_job_information(
    log: Any, server: str, job: JobDescription, batch_request_id: int, redact: Callable[[str], str] = _same
) -> None:
    label = "Parameters" if job.task_type == "Script" else "TaskValues"
    lines = [
        "---------- AMT job information ----------",
        f"Server            : {server}",
        f"Application       : {job.application_name}",
        f"Submit User       : {job.submit_user}",
        f"Station           : {job.station}",
        f"Run-as User       : {job.run_as_user or '(application user)'}",
        f"Queue Name        : {job.queue_name or '(default queue)'}",
        f"{job.task_type:<18}: {job.name}",
        f"{label:<18}: {' '.join(job.values) if job.values else '(none)'}",
        f"Batch Request Id  : {batch_request_id}",
        "---------- AMT job log ----------",
    ]
    for line in lines:
        _emit(log, logging.INFO, redact(line))


def message_text(message: AmtMessage) -> str:
    text = message.text
    if len(text) > MAX_MESSAGE_CHARS:
        cut = len(text) - MAX_MESSAGE_CHARS
        text = f"{text[:MAX_MESSAGE_CHARS]} [... message cut: {cut} more characters]"
    return f"AMT [{message.index}] {text}"


def log_messages(log: Any, messages: Iterable[AmtMessage], redact: Callable[[str], str] = _same) -> None:
    for message in messages:
        level = _LEVELS.get((message.severity or "").upper(), logging.INFO)
        _emit(
            log,
            level,
            redact(message_text(message)),
            amt_index=message.index,
            amt_timestamp=message.timestamp,
            amt_severity=message.severity,
        )


def log_completion(log: Any, code: AmtCompletionCode, outcome: str) -> None:
    level = logging.INFO if outcome == "success" else logging.WARNING
    _emit(log, level, "---------- AMT completion ----------")
    _emit(log, level, f"Completion Code : {code.amt_name} ({int(code)})", amt_completion_code=int(code))
    _emit(log, level, f"Outcome         : {outcome} ({code.description})")


class MessageCursor:
    """Where a reader of one job's messages stands, and the last few it saw (for failure texts)."""

    def __init__(self, offset: int = 0):
        self.offset = offset
        self.last: collections.deque[AmtMessage] = collections.deque(maxlen=LAST_MESSAGES)

    def advance(self, page: list[AmtMessage]) -> None:
        if page:
            self.offset = page[-1].index + 1
            self.last.extend(page)


def drain_messages(hook: Any, batch_request_id: int, cursor: MessageCursor, log: Any, page_size: int) -> int:
    """Log every message from the cursor on, a page at a time (sync hook); returns how many."""
    count = 0
    while True:
        page = hook.get_messages(batch_request_id, cursor.offset, page_size)
        log_messages(log, page, hook.redactor())
        cursor.advance(page)
        count += len(page)
        if len(page) < page_size:
            return count


async def adrain_messages(
    hook: Any, batch_request_id: int, cursor: MessageCursor, log: Any, page_size: int, after_page: Any = None
) -> int:
    """The same for the async hook (trigger); ``after_page(cursor)`` runs after each logged page."""
    count = 0
    while True:
        page = await hook.get_messages(batch_request_id, cursor.offset, page_size)
        log_messages(log, page, hook.redactor())
        cursor.advance(page)
        count += len(page)
        if page and after_page is not None:
            await after_page(cursor)
        if len(page) < page_size:
            return count
