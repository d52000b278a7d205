"""The AMT job log in the Airflow task log, laid out like OpCon's JORS view.

Three parts, in order: a job information block (what was started, from the one
:class:`~amt_client.StartRequest`), the AMT messages (one log record each, at the log level their
severity maps to, with the AMT timestamp, severity and index as structured fields), and a closing
block with ``Completion Code : <NAME> (<code>)`` and the outcome. The worker (operators, sensor),
the trigger and the log handler all write through these functions, so every path looks the same;
the log handler also reads the block back (:func:`job_reference`) to know which job a log shows.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from airflow_provider_amt import metrics
from amt_client import AmtCompletionCode, AmtMessage, ServerConfig, StartRequest

#: A single message longer than this is cut (with a marker saying how much), never dropped.
MAX_MESSAGE_CHARS = 8000
_LEVELS = {"ERROR": logging.ERROR, "WARNING": logging.WARNING, "WARN": logging.WARNING}
CONNECTION_LABEL = "Connection"
BATCH_REQUEST_ID_LABEL = "Batch Request Id"
_REFERENCE = re.compile(rf"^({CONNECTION_LABEL}|{BATCH_REQUEST_ID_LABEL})\s*: (\S+)$")


def _emit(log: Any, level: int, text: str, **fields: Any) -> None:
    """Log through structlog (worker) or stdlib logging (triggerer) with structured fields."""
    if hasattr(log, "bind") or not isinstance(log, logging.Logger):
        log.log(level, text, **fields) if fields else log.log(level, text)
    else:
        log.log(level, text, extra=fields)


def _same(text: str) -> str:
    return text


def _line(label: str, value: object) -> str:
    return f"{label:<18}: {value}"


def log_job_information(
    log: Any,
    server: ServerConfig,
    start: StartRequest,
    batch_request_id: int,
    conn_id: str,
    redact: Callable[[str], str] = _same,
) -> None:
    """The JORS job information block; the API contract shows only where it differs from the default."""
    differences = server.contract.differences()
    lines = [
        "---------- AMT job information ----------",
        _line("Server", server.base_url),
        _line(CONNECTION_LABEL, conn_id),
        *([_line("API Contract", ", ".join(differences))] if differences else []),
        _line("Application", start.application_name),
        _line("Submit User", start.submit_user),
        _line("Station", start.station),
        _line("Run-as User", start.run_as_user or "(application user)"),
        _line("Queue Name", start.queue_name or "(default queue)"),
        _line(start.task_type.label, start.name),
        _line(start.task_type.values_label, " ".join(start.values) if start.values else "(none)"),
        _line("Task Id", start.task_id or "(none)"),
        _line(BATCH_REQUEST_ID_LABEL, batch_request_id),
        "---------- AMT job log ----------",
    ]
    for line in lines:
        _emit(log, logging.INFO, redact(line))


def job_reference(text: str) -> tuple[str, str] | None:
    """``("Connection", "amt_default")`` or ``("Batch Request Id", "7")`` for those block lines, else None."""
    match = _REFERENCE.match(text)
    return (match.group(1), match.group(2)) if match else None


def message_text(message: AmtMessage) -> str:
    text = message.text
    if len(text) > MAX_MESSAGE_CHARS:
        cut = len(text) - MAX_MESSAGE_CHARS
        text = f"{text[:MAX_MESSAGE_CHARS]} [... message cut: {cut} more characters]"
    return f"AMT [{message.index}] {text}"


def log_messages(log: Any, messages: Iterable[AmtMessage], redact: Callable[[str], str] = _same) -> None:
    logged = 0
    for message in messages:
        logged += 1
        level = _LEVELS.get((message.severity or "").upper(), logging.INFO)
        _emit(
            log,
            level,
            redact(message_text(message)),
            amt_index=message.index,
            amt_timestamp=message.timestamp,
            amt_severity=message.severity,
        )
    metrics.messages_logged(logged)


def log_completion(log: Any, code: AmtCompletionCode, outcome: str) -> None:
    level = logging.INFO if outcome == "success" else logging.WARNING
    _emit(log, level, "---------- AMT completion ----------")
    _emit(log, level, f"Completion Code : {code.amt_name} ({int(code)})", amt_completion_code=int(code))
    _emit(log, level, f"Outcome         : {outcome} ({code.description})")
