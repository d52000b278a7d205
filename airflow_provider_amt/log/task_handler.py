"""``AmtTaskLogHandler``: the AMT job log as its own source when a task log is read.

The provider already writes every AMT message into the task log once (the trigger streams them
with a checkpointed cursor, the worker finishes from the cursor the trigger reports). This
handler is for deployments that also want the log checked against AMT itself when it is read:

* while the task runs it changes nothing, so live tailing in the UI keeps its positions;
* once the task has ended, it passes the log through, drops any AMT message line whose index it
  has already shown (for example when two triggerers ran the same trigger at once), and appends,
  in a group of its own, the messages AMT has that no log file holds (for example when a
  triggerer's log file was lost with its machine);
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
from airflow_provider_amt.joblog import BATCH_REQUEST_ID_LABEL, CONNECTION_LABEL, job_reference, message_text
from amt_client import AmtError, AmtMessage, MessageCursor, RetryPolicy
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


def _amt_index(message: Any) -> int | None:
    index = getattr(message, "amt_index", None)
    if index is None:
        extra = getattr(message, "model_extra", None) or {}
        index = extra.get("amt_index")
    return index if is_int(index) else None


def _as_log_line(message: AmtMessage, redact: Any) -> StructuredLogMessage:
    level = (message.severity or "info").lower()
    return StructuredLogMessage.model_validate(
        {
            "event": redact(message_text(message)),
            "timestamp": message.timestamp,
            "level": "warning" if level == "warn" else level,
            "amt_index": message.index,
            "amt_timestamp": message.timestamp,
            "amt_severity": message.severity,
            "logger": "airflow_provider_amt.log",
        }
    )


class AmtTaskLogHandler(FileTaskHandler):
    """``FileTaskHandler`` plus the AMT job log as a source (see the module docstring)."""

    #: Requests made while a user waits for the log view: no retries.
    retry_policy = RetryPolicy(max_retries=0)

    def _read(self, ti: Any, try_number: int, metadata: Any = None) -> tuple[Any, Any]:
        stream, out_metadata = super()._read(ti, try_number, metadata)
        if metadata and metadata.get("log_pos"):
            return stream, out_metadata  # tailing a live log: leave positions alone
        if ti.state not in _FINISHED:
            return stream, out_metadata  # still running: the trigger is still writing
        return self._with_amt(stream), out_metadata

    def _with_amt(self, stream: Iterable[Any]) -> Iterator[Any]:
        seen: set[int] = set()
        job: dict[str, str] = {}
        for message in stream:
            index = _amt_index(message)
            if index is not None:
                if index in seen:
                    continue
                seen.add(index)
            else:
                reference = job_reference(str(getattr(message, "event", "")))
                if reference is not None:
                    job.setdefault(*reference)
            yield message
        batch_request_id = job.get(BATCH_REQUEST_ID_LABEL, "")
        if batch_request_id.isdigit():
            yield from self._missing_from_amt(int(batch_request_id), job.get(CONNECTION_LABEL, "amt_default"), seen)

    def _missing_from_amt(self, request_id: int, conn_id: str, seen: set[int]) -> Iterator[Any]:
        missing: list[AmtMessage] = []
        total = 0

        def collect(page: Sequence[AmtMessage]) -> bool:
            nonlocal total
            total += len(page)
            missing.extend(m for m in page if m.index not in seen)
            return len(missing) < MAX_ADDED_MESSAGES

        hook = AmtHook(conn_id, retry_policy=self.retry_policy)
        try:
            hook.read_messages(request_id, MessageCursor(0), collect)
        except AmtError as err:
            yield StructuredLogMessage(
                event=f"AMT job log of batch request {request_id} could not be checked against AMT: {err}"
            )
            return
        finally:
            hook.close()
        if not missing:
            return
        yield StructuredLogMessage(
            event=f"::group::{len(missing)} of {total} AMT messages of batch request {request_id} were not in "
            "the task log files; added from AMT"
        )
        redact = hook.redactor()
        for message in missing:
            yield _as_log_line(message, redact)
        yield StructuredLogMessage(event="::endgroup::")
