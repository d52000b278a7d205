"""The AMT job log in the Airflow task log, laid out like OpCon's JORS view.

Three parts, in order: a job information block (what was started, from the one
:class:`~amt_client.StartRequest`), the AMT messages (a line each, starting with AMT's own time and
the message index: ``AMT 06:33:59.565 [12] text``, at the log level their severity maps to) with the
job's state changes among them (``AMT state: RUNNING (2) → WAIT FOR INPUT REQUEST (14) since
02:14:07 UTC``), and a closing block with ``Completion Code : <NAME> (<code>)`` and the outcome.

Why the messages of one read that follow each other at one level share a log record, a line each (at
most ``MESSAGES_PER_LOG_RECORD`` of them): a record costs about 25 µs in Airflow's log pipeline
(context, call site, JWT redaction, masking, JSON, one write) whatever its length, which was
nearly a third of a busy triggerer's work, one record per message; the UI shows a record's further
lines under its first, like JORS. A line of a message's own text that is not its first is indented,
so a message line always starts a line with ``AMT `` and the lines can be told apart again
(:func:`message_lines`).

Why the AMT time is in the text and not the record's timestamp, and why the records carry no
``amt_*`` fields: Airflow's log reader merges the worker's and the triggerer's files *sorted by
record timestamp*, so AMT's clock (another machine, perhaps another time zone) would move AMT
lines into the job information block or before the line that started the watch; and the Airflow 3
UI prints every extra field of a record as ``key=value`` after the text, on every line. The record
timestamp stays the time Airflow logged the line; the severity is the record's level, so the UI's
colours and level filter work on it. The worker (operators, sensor),
the trigger and the log handler all write through these functions, so every path looks the same;
the log handler also reads the block back (:func:`job_reference`) to know which job a log shows.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from airflow_provider_amt import metrics
from amt_client import AmtCompletionCode, AmtMessage, JobEnding, Outcome, ServerConfig, StartRequest, StateChange
from amt_client.codes import Code
from amt_client.start import TaskType

#: A single message longer than this is cut (with a marker saying how much), never dropped.
MAX_MESSAGE_CHARS = 8000
CONNECTION_LABEL = "Connection"
BATCH_REQUEST_ID_LABEL = "Batch Request Id"
#: Block lines that name the job's ids (a contract may send them with every call: ``ids``).
_ID_LABELS = {"Task Id": "task_id", "Application": "application", "Queue Name": "queue"}
_NAME_LABELS = {kind.label: kind for kind in TaskType}
_REFERENCE = re.compile(
    rf"^({'|'.join([CONNECTION_LABEL, BATCH_REQUEST_ID_LABEL, *_ID_LABELS, *_NAME_LABELS])})\s*: (\S+)$"
)


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
        log.log(logging.INFO, redact(line))


def job_reference(text: str) -> tuple[str, str] | None:
    """``("Connection", "amt_default")``, ``("Batch Request Id", "7")``, ``("Task Id", ...)``... for
    the block lines that name the job (a value with a space, as ``(default queue)``, names none)."""
    match = _REFERENCE.match(text)
    return (match.group(1), match.group(2)) if match else None


def job_ids_of(block: Mapping[str, str]) -> dict[str, str]:
    """The job's ids a job information block names (what :func:`log_job_information` wrote)."""
    ids = {name: block[label] for label, name in _ID_LABELS.items() if block.get(label, "(none)") != "(none)"}
    for label, kind in _NAME_LABELS.items():
        if label in block:
            ids.update(task_type=kind.value, name=block[label])
    return ids


#: AMT severities and the log level each becomes; any other severity is logged at INFO and named
#: in the text, so it is neither lost nor filtered out by a level filter set above INFO.
_SEVERITY_LEVELS = {
    "INFO": logging.INFO,
    "INFORMATION": logging.INFO,
    "WARNING": logging.WARNING,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
    "FATAL": logging.CRITICAL,
    "CRITICAL": logging.CRITICAL,
}
#: ``AMT 06:33:59.565 [12] text`` / ``AMT 2026-11-20 23:59:59.100 [12] text`` / ``AMT [12] text``.
#: The start of a message line, as a pattern with ``{index}`` to fill in (the tests search printed
#: output with it too).
MESSAGE_LINE_START = r"AMT (?:[^\[\]\n]* )?\[{index}\]"
#: A message line, at the start of a record (``match``) or of any of its lines (``finditer``).
_MESSAGE_LINE = re.compile("^" + MESSAGE_LINE_START.format(index=r"(\d+)") + "(?: |$)", re.MULTILINE)
#: What a line break in a message's own text becomes: the next line indented under it.
CONTINUATION = "\n    "
#: Every character ``str.splitlines`` breaks a line at.
_LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
#: The most characters of one record with several message lines (a longer message gets one of its own).
MAX_RECORD_CHARS = 16_000
#: Most messages in one log record (see the module docstring; 0.3's ``[amt] messages_per_log_record``
#: was never released: no site needed another value).
MESSAGES_PER_LOG_RECORD = 20


#: An ISO 8601 UTC (or zone-less) timestamp with milliseconds: its date, and its time as amt_time shows it.
_TODAY_UTC_TIME = re.compile(r"(\d{4}-\d\d-\d\d)[Tt ]((?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3})\d*(?:[Zz]|\+00:00)?")


def amt_time(timestamp: str | None, today: str | None = None) -> str:
    """AMT's timestamp, short: ``06:33:59.565`` (its own date when that is not ``today``, an offset
    when not UTC); as AMT gave it when it is not ISO 8601; ``""`` when there is none."""
    if not timestamp:
        return ""
    usual = _TODAY_UTC_TIME.fullmatch(timestamp.strip())
    if usual is not None and usual.group(1) == today:  # the usual case, without datetime's parsing
        return usual.group(2)
    try:
        moment = datetime.fromisoformat(timestamp.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return "".join(c for c in timestamp if c not in "[]\n\r")[:40]
    if today is None:
        today = datetime.now(moment.tzinfo or timezone.utc).date().isoformat()
    text = moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    if moment.date().isoformat() != today:
        text = f"{moment.date().isoformat()} {text}"
    offset = moment.utcoffset()
    if offset is not None and offset.total_seconds():
        text += moment.strftime("%z")[:3] + ":" + moment.strftime("%z")[3:]
    return text


def message_text(message: AmtMessage, today: str | None = None) -> str:
    """The text of an AMT message's log line: ``AMT <AMT time> [<index>] <text>``, the further lines
    of a multi-line text indented (so that none of them reads as a message line of its own)."""
    text = message.text
    if len(text) > MAX_MESSAGE_CHARS:
        cut = len(text) - MAX_MESSAGE_CHARS
        text = f"{text[:MAX_MESSAGE_CHARS]} [... message cut: {cut} more characters]"
    if _LINE_BREAK.search(text):  # any break str.splitlines knows: a viewer may start a line there
        text = CONTINUATION.join(text.splitlines())
    severity = (message.severity or "").strip()
    if severity and severity.upper() not in _SEVERITY_LEVELS:
        text = f"{severity}: {text}"
    when = amt_time(message.timestamp, today)
    return f"AMT {when} [{message.index}] {text}" if when else f"AMT [{message.index}] {text}"


def message_index(event: str) -> int | None:
    """The AMT message index of a log line :func:`message_text` wrote (of a record's first one), else None."""
    match = _MESSAGE_LINE.match(event)
    return int(match.group(1)) if match else None


def message_lines(event: str) -> list[tuple[int, str]]:
    """A record's AMT message lines as ``(index, text)``, in order; ``[]`` unless it starts with one.

    A record holds one message line, or several that :func:`log_messages` put together (each starting
    a line; a message's own further lines are indented and stay with it)."""
    matches = list(_MESSAGE_LINE.finditer(event))
    if not matches or matches[0].start():
        return []
    ends = [*(match.start() - 1 for match in matches[1:]), len(event)]  # before the next one's newline
    return [(int(match.group(1)), event[match.start() : end]) for match, end in zip(matches, ends, strict=True)]


def message_indexes(event: str) -> list[int]:
    """The AMT message indexes of a record's lines (see :func:`message_lines`), in order."""
    return [index for index, _ in message_lines(event)]


#: What a trigger logs when it leaves a job's messages to the log handler (``[amt] trigger_messages =
#: at_read``); the handler reads it back (:func:`messages_at_read`). No brackets: never a message line.
_AT_READ = (
    "AMT messages of batch request {batch_request_id} from message {offset} on are added from AMT when the log is read"
)
_AT_READ_LINE = re.compile(
    "^" + _AT_READ.format(batch_request_id=r"\d{1,19}", offset=r"\d{1,19}") + "(?: |$)", re.MULTILINE
)


def at_read_line(batch_request_id: int, offset: int) -> str:
    """The line that says the triggerer does not log this job's messages (why, in the same line): the
    trigger logs it with its first line, in one record (each record a trigger starts with costs a
    triggerer starting thousands of them its supervisor's time)."""
    text = _AT_READ.format(batch_request_id=int(batch_request_id), offset=int(offset))
    return f"{text} (AmtTaskLogHandler; [amt] trigger_messages = at_read: the triggerer logs none)"


def messages_at_read(text: str) -> bool:
    """Whether a log record holds the line :func:`at_read_line` makes (as any of its lines)."""
    return _AT_READ_LINE.search(text) is not None


def message_level(message: AmtMessage) -> int:
    return _SEVERITY_LEVELS.get((message.severity or "").strip().upper(), logging.INFO)


def log_messages(
    log: Any,
    messages: Iterable[AmtMessage],
    redact: Callable[[str], str] = _same,
    per_record: int = MESSAGES_PER_LOG_RECORD,
) -> None:
    """A line per message, at its severity's level; messages that follow each other at one level share
    a record, at most ``per_record`` of them and ``MAX_RECORD_CHARS``; no extra fields (see the module
    docstring). ``per_record`` 1: a record per message."""
    logged = 0
    today = datetime.now(timezone.utc).date().isoformat()
    lines: list[str] = []
    size = 0
    level = logging.INFO
    for message in messages:
        logged += 1
        text = message_text(message, today)
        message_lvl = message_level(message)
        if lines and (message_lvl != level or len(lines) >= per_record or size + len(text) > MAX_RECORD_CHARS):
            log.log(level, redact("\n".join(lines)))
            lines, size = [], 0
        lines.append(text)
        size += len(text) + 1
        level = message_lvl
    if lines:
        log.log(level, redact("\n".join(lines)))
    metrics.messages_logged(logged)


#: States a job is expected to pass through: logged at INFO; any other (waiting for a file, an
#: input request, a queue; suspended...) at WARNING, which the UI colours and its level filter finds.
_ORDINARY_STATES = frozenset({AmtCompletionCode.IDLE, AmtCompletionCode.QUEUED, AmtCompletionCode.RUNNING})


def _state_name(code: int) -> str:
    try:
        return f"{AmtCompletionCode(code).amt_name} ({code})"
    except ValueError:  # a code a site's contract document adds
        return f"code {code}"


def log_state(log: Any, change: StateChange) -> None:
    """``AMT state: QUEUED (1) → RUNNING (2) since 02:14:07 UTC``: a job's new state, once (the time is
    when a watch first saw it)."""
    since = datetime.fromtimestamp(change.since, timezone.utc).strftime("%H:%M:%S UTC")
    now = f"{change.code.amt_name} ({int(change.code)}) since {since}"
    text = f"AMT state: {now}" if change.previous is None else f"AMT state: {_state_name(change.previous)} → {now}"
    log.log(logging.INFO if change.code in _ORDINARY_STATES else logging.WARNING, text)


#: The completion block's first line (the log handler puts messages AMT adds before it).
COMPLETION_HEADER = "---------- AMT completion ----------"


def log_completion(log: Any, code: Code, outcome: Outcome) -> None:
    """The completion block an operator looks for at the end of the task log."""
    level = logging.INFO if outcome is Outcome.SUCCESS else logging.WARNING
    log.log(level, COMPLETION_HEADER)
    log.log(level, f"Completion Code : {code.amt_name} ({int(code)})")
    log.log(level, f"Outcome         : {outcome.value} ({code.description})")


def log_ending(log: Any, ending: JobEnding, reason: str | None = None) -> None:
    """What a Stop or Kill did, with the completion code (or "had already ended"), and its metric."""
    text = f"{ending} ({reason})" if reason else str(ending)
    if ending.sent:
        metrics.kill_sent(ending.action.value.lower())
        log.log(logging.WARNING, text)
    else:
        metrics.kill_skipped("already_ended")
        log.log(logging.INFO, text)
