"""``AmtTaskLogHandler``: the AMT job log as its own source when a task log is read.

The provider already writes every AMT message into the task log once (the trigger streams them
with a checkpointed cursor, the worker finishes from the cursor the trigger reports). This
handler is for deployments that also want the log checked against AMT itself when it is read:

* at any time, while the task is still deferred or running as well as after it ended, it drops any
  AMT message line whose index it has already shown (for example a page a trigger logged again after
  a crash between logging it and saving its checkpoint, or two triggerers that ran the same trigger
  at once), and puts the messages AMT has that no log file holds where they belong, in AMT's order,
  after a line that says so (for example when a trigger came back to a triggerer it ran on before,
  which truncates that triggerer's log file for the try, or when a log file was lost with its
  machine). While the task runs it fills only gaps *between* logged messages (the trigger is still
  writing the tail); once it ended it also asks AMT for the tail after the last logged message. It
  asks AMT only when something is missing;
* where the triggerer logs no messages (``[amt] trigger_messages = at_read``: the trigger's line
  says so), a whole read shows them all from AMT while the job runs too, and after its end before
  its completion block;
* a reader that tails the log from a position (``log_pos``, the JSON API's continuation token) gets
  the lines after that position with the same rule: what was shown before it counts as shown;
* if AMT cannot be reached, the log is shown as it is and the source details say why the AMT
  part is missing.

It learns which job (batch request id) on which connection a log shows from the log itself: the
job information block every AMT operator writes first. So it needs no metadata-database access
and acts only on logs that hold such a block.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from airflow.utils.log.file_task_handler import FileTaskHandler, StructuredLogMessage
from airflow.utils.state import TaskInstanceState

from airflow_provider_amt.hooks.amt import AmtHook
from airflow_provider_amt.joblog import (
    BATCH_REQUEST_ID_LABEL,
    COMPLETION_HEADER,
    CONNECTION_LABEL,
    job_ids_of,
    job_reference,
    message_level,
    message_lines,
    message_text,
    messages_at_read,
)
from amt_client import AmtError, AmtMessage, AmtValidationError, HttpRetryPolicy, MessageCursor, validation
from amt_client.start import BatchRequestId, job_ids
from amt_client.validation import is_int

log = logging.getLogger(__name__)

_FINISHED = (
    TaskInstanceState.SUCCESS,
    TaskInstanceState.FAILED,
    TaskInstanceState.SKIPPED,
    TaskInstanceState.UPSTREAM_FAILED,
    TaskInstanceState.UP_FOR_RETRY,
)
#: The most messages the handler holds in memory for one log view (the api-server must stay small).
MAX_ADDED_MESSAGES = 100_000
#: What the logger name of every record the provider's operators and sensor write contains
#: (Airflow names them ``airflow.task.operators.<module>.<class>``).
PROVIDER_LOGGER = "airflow_provider_amt."


def _amt_lines(message: Any) -> list[tuple[int, str]]:
    """The AMT message lines of a log record as ``(index, text)``: from its text (one or more lines,
    see ``joblog.message_lines``), or the one whose index provider 0.2 and earlier wrote beside it
    (``amt_index``)."""
    event = str(getattr(message, "event", ""))
    extra = getattr(message, "model_extra", None) or {}
    index = extra.get("amt_index", getattr(message, "amt_index", None))
    if is_int(index):
        return [(index, event)]
    return message_lines(event)


def _with_lines(message: Any, lines: list[tuple[int, str]]) -> Any:
    """The record with only these of its message lines (the others were shown before)."""
    return message.model_copy(update={"event": "\n".join(text for _, text in lines)})


def _as_log_line(message: AmtMessage, redact: Any) -> StructuredLogMessage:
    """A message added from AMT: no record timestamp (nobody logged it; its text has AMT's time)."""
    return StructuredLogMessage.model_validate(
        {
            "event": redact(message_text(message)),
            "level": logging.getLevelName(message_level(message)).lower(),
            "logger": "airflow_provider_amt.log",
        }
    )


class AmtTaskLogHandler(FileTaskHandler):
    """``FileTaskHandler`` plus the AMT job log as a source (see the module docstring)."""

    #: Requests made while a user waits for the log view: no retries.
    retry_policy = HttpRetryPolicy(max_retries=0)

    def _read(self, ti: Any, try_number: int, metadata: Any = None) -> tuple[Any, Any]:
        position = int((metadata or {}).get("log_pos") or 0)
        if position:
            # Tailing from a position: what was shown before it decides what is a repeat, so the log
            # is read whole (Airflow reads it whole to skip to the position anyway) and cut here.
            whole: Any = {key: value for key, value in metadata.items() if key != "log_pos"}
            stream, out_metadata = super()._read(ti, try_number, whole)
            stream = _after_header(stream)
        else:
            stream, out_metadata = super()._read(ti, try_number, metadata)
        ended = ti.state in _FINISHED or try_number < (ti.try_number or 0)  # or an earlier try's log
        return self._with_amt(stream, shown=position, ended=ended), out_metadata

    def _with_amt(self, stream: Iterable[Any], *, shown: int = 0, ended: bool = True) -> Iterator[Any]:
        """The log with each AMT message once, in AMT's order, gaps filled from AMT where they are.

        The first ``shown`` lines were shown by an earlier read: they count as seen, and are not
        yielded again. Only an ``ended`` task's tail is asked of AMT (a live trigger still writes it).
        """
        seen: set[int] = set()
        job: dict[str, str] = {}
        filler: _GapFiller | None = None
        next_index = 0
        tail = ended  # whether what AMT has after the last logged message belongs in this view
        try:
            for position, message in enumerate(stream):
                visible = position >= shown
                lines = _amt_lines(message)
                if not lines:
                    text = str(getattr(message, "event", ""))
                    if _logged_by_provider(message):
                        for line in text.split("\n"):  # a block's lines, a record each or several in one
                            if (reference := job_reference(line)) is not None:
                                job.setdefault(*reference)  # the first block only
                        if not shown and messages_at_read(text):
                            tail = True  # the triggerer logs none: a whole read shows them while the job runs
                        elif tail and text == COMPLETION_HEADER and (filler := filler or self._filler(job)):
                            yield from filler.fill(next_index, None, seen)  # the messages before the completion
                    if visible:
                        yield message
                    continue
                # a line logged twice (a crash between a page and its checkpoint, two triggerers) goes
                new = [line for line in lines if line[0] not in seen]
                if not new:
                    continue
                first = new[0][0]
                if visible and first > next_index and (filler := filler or self._filler(job)):
                    yield from filler.fill(next_index, first, seen)  # e.g. a truncated trigger log file
                seen.update(index for index, _ in new)
                next_index = max(next_index, new[-1][0] + 1)  # a record's lines are in AMT's order
                if visible:
                    yield message if len(new) == len(lines) else _with_lines(message, new)
            if tail and (filler := filler or self._filler(job)):
                yield from filler.fill(next_index, None, seen)  # what AMT has after the last logged message
        finally:
            if filler is not None:
                filler.close()

    def _filler(self, job: dict[str, str]) -> _GapFiller | None:
        try:
            number = validation.batch_request_id(job.get(BATCH_REQUEST_ID_LABEL))
        except AmtValidationError:
            return None  # no job block, or not one of ours: the log is shown as it is
        try:
            ids = job_ids(job_ids_of(job))  # what a contract may send with each call (``ids``)
        except AmtValidationError:
            ids = {}  # a contract that wants them refuses the calls and says so; others need none
        batch_request_id = BatchRequestId(number, ids) if ids else number
        return _GapFiller(batch_request_id, job.get(CONNECTION_LABEL, "amt_default"), self.retry_policy)


def _logged_by_provider(message: Any) -> bool:
    """Whether a record was logged by this provider's operators or sensor (the job information block
    is theirs): a line any other code printed never names the connection the handler uses."""
    extra = getattr(message, "model_extra", None) or {}
    logger = extra.get("logger", getattr(message, "logger", None))
    return isinstance(logger, str) and PROVIDER_LOGGER in logger


def _after_header(stream: Iterable[Any]) -> Iterator[Any]:
    """The log lines after the "Log message source details" group Airflow puts first on a whole read
    (a read from a position has no such group, and its positions count log lines only)."""
    lines = iter(stream)
    for message in lines:
        if str(getattr(message, "event", "")) == "::endgroup::":
            break
    yield from lines


class _GapFiller:
    """Reads from AMT only what a log view is missing: nothing for a complete log, and otherwise
    one read (a page at a time) from the first missing message to the last one AMT has, which
    every later gap and the tail are served from. However many gaps a log holds (or claims to),
    a view costs at most ``MAX_ADDED_MESSAGES / page`` GetMessages calls. Says once why when AMT
    cannot be asked."""

    def __init__(self, request_id: int, conn_id: str, retry_policy: HttpRetryPolicy):
        self.request_id = request_id
        self.conn_id = conn_id
        self.retry_policy = retry_policy
        self.added = 0
        self.failed = False
        self._hook: AmtHook | None = None
        self._read_from: int | None = None  # where the one read started (None: not read yet)
        self._read: dict[int, AmtMessage] = {}

    @property
    def hook(self) -> AmtHook:
        """One hook (one connection lookup, one session) for this log view."""
        if self._hook is None:
            self._hook = AmtHook(self.conn_id, retry_policy=self.retry_policy)
        return self._hook

    def close(self) -> None:
        if self._hook is not None:
            self._hook.close()
            self._hook = None

    def _read_once(self, first: int) -> None:
        def collect(page: Sequence[AmtMessage]) -> bool:
            self._read.update((message.index, message) for message in page)
            return len(self._read) < MAX_ADDED_MESSAGES

        self._read_from = first
        self.hook.read_messages(self.request_id, MessageCursor(first), collect)

    def fill(self, first: int, end: int | None, seen: set[int]) -> Iterator[Any]:
        """The messages ``first <= index < end`` (``end`` None: to the last one) not in ``seen``."""
        if self.failed or self.added >= MAX_ADDED_MESSAGES:
            return
        try:
            if self._read_from is None:
                self._read_once(first)
            redact = self.hook.redactor()
        except Exception as err:  # anything about AMT: the file log is shown as it is, with one line why
            self.failed = True
            why = str(err) if isinstance(err, AmtError) else f"{type(err).__name__}: {err}"
            yield StructuredLogMessage(
                event=f"AMT job log of batch request {self.request_id} could not be checked against AMT: {why}"
            )
            return
        last = max(self._read, default=first - 1) + 1
        stop = last if end is None else min(end, last)
        found = [self._read[i] for i in range(max(first, self._read_from or 0), stop) if i not in seen]
        found = found[: MAX_ADDED_MESSAGES - self.added]
        if not found:
            return
        self.added += len(found)
        yield StructuredLogMessage(
            event=f"AMT messages {found[0].index}-{found[-1].index} of batch request {self.request_id} were not "
            "in the task log files; added from AMT"
        )
        for message in found:
            seen.add(message.index)
            yield _as_log_line(message, redact)
