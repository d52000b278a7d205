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

It reads the batch request id and connection id that the operators push to XCom, so it only
acts on tasks of ``AmtBatchJobOperator`` / ``AmtScriptOperator``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from airflow.utils.log.file_task_handler import FileTaskHandler, StructuredLogMessage
from airflow.utils.state import TaskInstanceState

from airflow_provider_amt.api_contract import MAX_MESSAGES_PAGE
from airflow_provider_amt.codes import AmtMessage
from airflow_provider_amt.exceptions import AmtError
from airflow_provider_amt.hooks._client_core import RetryPolicy
from airflow_provider_amt.joblog import message_text
from airflow_provider_amt.keys import XCOM_BATCH_REQUEST_ID, XCOM_CONN_ID

log = logging.getLogger(__name__)

_FINISHED = (
    TaskInstanceState.SUCCESS,
    TaskInstanceState.FAILED,
    TaskInstanceState.SKIPPED,
    TaskInstanceState.UPSTREAM_FAILED,
    TaskInstanceState.UP_FOR_RETRY,
)


def _xcom(ti: Any, key: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(
                run_id=ti.run_id, key=key, dag_ids=ti.dag_id, task_ids=ti.task_id, map_indexes=ti.map_index
            ).limit(1)
        ).first()
        return XComModel.deserialize_value(row) if row is not None else None


def _amt_index(message: Any) -> int | None:
    index = getattr(message, "amt_index", None)
    if index is None:
        extra = getattr(message, "model_extra", None) or {}
        index = extra.get("amt_index")
    return index if isinstance(index, int) and not isinstance(index, bool) else None


def _as_log_line(message: AmtMessage, redact: Any) -> StructuredLogMessage:
    level = (message.severity or "info").lower()
    return StructuredLogMessage(
        event=redact(message_text(message)),
        timestamp=message.timestamp,
        level="warning" if level == "warn" else level,
        amt_index=message.index,
        amt_timestamp=message.timestamp,
        amt_severity=message.severity,
        logger="airflow_provider_amt.log",
    )


class AmtTaskLogHandler(FileTaskHandler):
    """``FileTaskHandler`` plus the AMT job log as a source (see the module docstring)."""

    #: Requests made while a user waits for the log view: no retries, short timeouts.
    retry_policy = RetryPolicy(max_retries=0)

    def _read(self, ti: Any, try_number: int, metadata: Any = None) -> tuple[Any, Any]:
        stream, out_metadata = super()._read(ti, try_number, metadata)
        if metadata and metadata.get("log_pos"):
            return stream, out_metadata  # tailing a live log: leave positions alone
        if ti.state not in _FINISHED or try_number != ti.try_number:
            return stream, out_metadata  # still running, or an older try whose XCom is gone
        try:
            request_id = _xcom(ti, XCOM_BATCH_REQUEST_ID)
            conn_id = _xcom(ti, XCOM_CONN_ID) or "amt_default"
        except Exception as err:  # never break the log view
            log.warning("AMT log source: could not read the task's XCom: %s", err)
            return stream, out_metadata
        if not isinstance(request_id, int):
            return stream, out_metadata
        return self._with_amt(stream, request_id, conn_id), out_metadata

    def _with_amt(self, stream: Iterable[Any], request_id: int, conn_id: str) -> Iterator[Any]:
        seen: set[int] = set()
        for message in stream:
            index = _amt_index(message)
            if index is not None:
                if index in seen:
                    continue
                seen.add(index)
            yield message
        yield from self._missing_from_amt(request_id, conn_id, seen)

    def _missing_from_amt(self, request_id: int, conn_id: str, seen: set[int]) -> Iterator[Any]:
        from airflow_provider_amt.hooks.amt import AmtHook

        missing: list[AmtMessage] = []
        total = 0
        hook = AmtHook(conn_id, retry_policy=self.retry_policy)
        try:
            offset = 0
            while True:
                page = hook.get_messages(request_id, offset, MAX_MESSAGES_PAGE)
                missing.extend(m for m in page if m.index not in seen)
                total += len(page)
                offset += len(page)
                if len(page) < MAX_MESSAGES_PAGE:
                    break
                if len(missing) > 100_000:  # bounded: never hold an unbounded log in the api-server
                    break
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
