"""What a completion code means for an Airflow task, and the strict shape of trigger events.

Operators, the sensor and the trigger all decide outcomes here, so "which codes are success" and
"what a failure message says" exist once.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_amt.codes import AmtCompletionCode, AmtMessage
from airflow_provider_amt.exceptions import AmtResponseError, AmtValidationError

#: Event statuses the trigger may emit.
EVENT_STATUSES = ("success", "failed", "cancelled", "timeout", "error")
_CANCELLED = (AmtCompletionCode.KILLED, AmtCompletionCode.DEL_QUEUE)


class Outcome(str, enum.Enum):
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    WAIT = "wait"  # not terminal yet


def parse_success_codes(codes: Iterable[Any], argument: str = "success_codes") -> tuple[int, ...]:
    """Validate OpCon-style success criteria: known completion codes, at least one."""
    if isinstance(codes, (str, bytes)) or not isinstance(codes, Iterable):
        raise AmtValidationError(f"{argument} must be a list of completion codes, got {codes!r}.")
    result = []
    for code in codes:
        try:
            result.append(int(AmtCompletionCode.parse(code)))
        except ValueError as err:
            raise AmtValidationError(f"{argument}: {err}.") from None
    if not result:
        raise AmtValidationError(f"{argument} must name at least one completion code (usually 4 DONE).")
    return tuple(result)


@dataclass(frozen=True)
class Rules:
    """How a task reads completion codes (``success_codes`` and the SKIPPED_BY_OPS mapping)."""

    success_codes: tuple[int, ...] = (int(AmtCompletionCode.DONE),)
    skip_on_skipped_by_ops: bool = False

    def is_final(self, code: AmtCompletionCode) -> bool:
        return code.is_terminal or int(code) in self.success_codes

    def outcome(self, code: AmtCompletionCode) -> Outcome:
        if int(code) in self.success_codes:
            return Outcome.SUCCESS
        if not code.is_terminal:
            return Outcome.WAIT
        if code is AmtCompletionCode.SKIPPED_BY_OPS and self.skip_on_skipped_by_ops:
            return Outcome.SKIPPED
        return Outcome.FAILED

    def event_status(self, code: AmtCompletionCode) -> str:
        """The trigger's event status for a final code."""
        if int(code) in self.success_codes:
            return "success"
        return "cancelled" if code in _CANCELLED else "failed"


def failure_message(what: str, batch_request_id: int, code: AmtCompletionCode, last: Sequence[AmtMessage]) -> str:
    """``AMT batch job DEMO2/X (batch request 7) ended with 11 ERROR: ended in error. Last messages: ...``."""
    text = (
        f"AMT {what} (batch request {batch_request_id}) ended with completion code {int(code)} "
        f"{code.amt_name}: {code.description}."
    )
    if last:
        text += " Last messages:\n" + "\n".join(f"  [{m.index}] {m.text}" for m in last)
    else:
        text += " The job wrote no messages."
    return text


def validate_event(event: Any, expected_id: int | None) -> dict[str, Any]:
    """Check a trigger event field by field; a malformed event is an error, never a guess."""
    if not isinstance(event, dict):
        raise AmtResponseError(f"AMT trigger event must be a dict, got {type(event).__name__}: {event!r}")
    status = event.get("status")
    if status not in EVENT_STATUSES:
        raise AmtResponseError(f"AMT trigger event has unknown status {status!r}: {event!r}")
    request_id = event.get("batch_request_id")
    if isinstance(request_id, bool) or not isinstance(request_id, int) or request_id <= 0:
        raise AmtResponseError(f"AMT trigger event has no valid batch_request_id: {event!r}")
    if expected_id is not None and request_id != expected_id:
        raise AmtResponseError(
            f"AMT trigger event is for batch request {request_id}, but this task watches {expected_id}."
        )
    offset = event.get("message_offset")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise AmtResponseError(f"AMT trigger event has no valid message_offset: {event!r}")
    code = event.get("completion_code")
    if code is not None or status in ("success", "failed", "cancelled"):  # final events need one
        try:
            AmtCompletionCode.parse(code)
        except ValueError as err:
            raise AmtResponseError(f"AMT trigger event: {err}: {event!r}") from None
    if not isinstance(event.get("message", ""), str):
        raise AmtResponseError(f"AMT trigger event message must be a string: {event!r}")
    return event
