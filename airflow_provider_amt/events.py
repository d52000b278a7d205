"""The trigger's event: built in one place, read back strictly in one place.

A trigger event crosses processes (triggerer -> database -> worker) as plain JSON, so the worker
checks it field by field before trusting it (as the Databricks and dbt Cloud providers do): a
malformed event is an ``AmtResponseError``, never a guess. Events written by provider 0.1.0
(which also carried ``completion_name``) and 0.2 read the same. A code the connection's contract
document adds travels with its name and class (``extra_code``). Where the job ended, the task's end
follows from the event's completion code and the task's rules, not from its status word: 0.2 wrote
``failed`` for a 6 SKIPPED_BY_OPS that its task takes as a skip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amt_client import AmtCompletionCode, AmtError, AmtResponseError, Outcome, WatchResult
from amt_client.codes import Code, ExtraCode, UnknownCode
from amt_client.contract import extra_code
from amt_client.validation import is_int

#: The statuses an event may carry: every outcome of a watch (``WAIT`` is never one).
STATUSES = {outcome.value: outcome for outcome in Outcome if outcome is not Outcome.WAIT}


@dataclass(frozen=True)
class AmtTriggerEvent:
    """What the trigger reports: how the watch ended and how far it logged the job's messages."""

    batch_request_id: int
    result: WatchResult
    message_offset: int

    def payload(self) -> dict[str, Any]:
        """The plain-JSON event (``status`` is the watch's :class:`~amt_client.Outcome`)."""
        code = self.result.code
        payload: dict[str, Any] = {
            "status": self.result.outcome.value,
            "batch_request_id": int(self.batch_request_id),
            "completion_code": None if code is None else int(code),
            "message_offset": self.message_offset,
            "message": self.result.message,
        }
        if isinstance(code, ExtraCode):  # a code the connection's contract document adds: say what it is
            payload["extra_code"] = {
                "name": code.amt_name,
                "class": code.code_class.value,
                "description": code.description,
            }
        return payload


def read_event(event: Any, expected_id: int | None) -> AmtTriggerEvent:
    """Check an event field by field; ``expected_id`` is the batch request this task watches (if known)."""
    if not isinstance(event, dict):
        raise AmtResponseError(f"AMT trigger event must be a dict, got {type(event).__name__}: {event!r}")
    status = event.get("status")
    outcome = STATUSES.get(status) if isinstance(status, str) else None
    if outcome is None:
        raise AmtResponseError(f"AMT trigger event has unknown status {event.get('status')!r}: {event!r}")
    request_id = event.get("batch_request_id")
    if not is_int(request_id) or request_id <= 0:
        raise AmtResponseError(f"AMT trigger event has no valid batch_request_id: {event!r}")
    if expected_id is not None and request_id != expected_id:
        raise AmtResponseError(
            f"AMT trigger event is for batch request {request_id}, but this task watches {expected_id}."
        )
    offset = event.get("message_offset")
    if not is_int(offset) or offset < 0:
        raise AmtResponseError(f"AMT trigger event has no valid message_offset: {event!r}")
    raw_code = event.get("completion_code")
    code = None
    if raw_code is not None or outcome.job_ended:  # a job's ending needs its code
        try:
            code = _code(raw_code, event.get("extra_code"))
        except (ValueError, AmtError) as err:
            raise AmtResponseError(f"AMT trigger event: {err}: {event!r}") from None
    message = event.get("message", "")
    if not isinstance(message, str):
        raise AmtResponseError(f"AMT trigger event message must be a string: {event!r}")
    return AmtTriggerEvent(request_id, WatchResult(outcome, code, message), offset)


def _code(raw: Any, extra: Any) -> Code:
    """The event's code: the table's, or the one the trigger's contract document added (the event
    carries its name and class, so the worker needs no contract to read it)."""
    try:
        return AmtCompletionCode.parse(raw)
    except UnknownCode:
        if extra is None:
            raise
        number, name, kind, description = extra_code(raw, extra)
        return ExtraCode(number, name, kind, description)
