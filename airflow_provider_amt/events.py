"""The trigger's event: built in one place, read back strictly in one place.

A trigger event crosses processes (triggerer -> database -> worker) as plain JSON, so the worker
checks it field by field before trusting it (as the Databricks and dbt Cloud providers do): a
malformed event is an ``AmtResponseError``, never a guess. Events written by provider 0.1.0
(which also carried ``completion_name``) read the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amt_client import AmtCompletionCode, AmtResponseError, Rules, VerdictKind, WatchResult
from amt_client.validation import is_int

#: Event statuses for a job that reached a final code.
FINAL_STATUSES = ("success", "failed", "cancelled")
_STATUS_OF_KIND = {VerdictKind.TIMEOUT: "timeout", VerdictKind.ERROR: "error"}
_KIND_OF_STATUS = {
    **dict.fromkeys(FINAL_STATUSES, VerdictKind.FINAL),
    **{status: kind for kind, status in _STATUS_OF_KIND.items()},
}
_CANCELLED = (AmtCompletionCode.KILLED, AmtCompletionCode.DEL_QUEUE)


@dataclass(frozen=True)
class AmtTriggerEvent:
    """What the trigger reports: how the watch ended and how far it logged the job's messages."""

    batch_request_id: int
    result: WatchResult
    message_offset: int

    def payload(self, rules: Rules) -> dict[str, Any]:
        """The plain-JSON event (``status`` says the outcome in Airflow's usual words)."""
        code = self.result.code
        return {
            "status": _status(self.result, rules),
            "batch_request_id": self.batch_request_id,
            "completion_code": None if code is None else int(code),
            "message_offset": self.message_offset,
            "message": self.result.message,
        }


def _status(result: WatchResult, rules: Rules) -> str:
    if result.kind is not VerdictKind.FINAL:
        return _STATUS_OF_KIND[result.kind]
    assert result.code is not None  # a final verdict always carries its code
    if int(result.code) in rules.success_codes:
        return "success"
    return "cancelled" if result.code in _CANCELLED else "failed"


def read_event(event: Any, expected_id: int | None) -> AmtTriggerEvent:
    """Check an event field by field; ``expected_id`` is the batch request this task watches (if known)."""
    if not isinstance(event, dict):
        raise AmtResponseError(f"AMT trigger event must be a dict, got {type(event).__name__}: {event!r}")
    status = event.get("status")
    kind = _KIND_OF_STATUS.get(status) if isinstance(status, str) else None
    if kind is None:
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
    if raw_code is not None or kind is VerdictKind.FINAL:  # final events need one
        try:
            code = AmtCompletionCode.parse(raw_code)
        except ValueError as err:
            raise AmtResponseError(f"AMT trigger event: {err}: {event!r}") from None
    message = event.get("message", "")
    if not isinstance(message, str):
        raise AmtResponseError(f"AMT trigger event message must be a string: {event!r}")
    return AmtTriggerEvent(request_id, WatchResult(kind, code, message), offset)
