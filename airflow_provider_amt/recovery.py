"""Recovery runs: a retry that resumes a script AMT marked recoverable instead of starting it over.

AMT marks jobs it can resume: 22 ABORTED WITH RECOVER and 27 KilledWithRecover. AMT's scripts for
converted ECL take a recovery argument (``/recover``, or ``/r:<batch request id>`` naming the run to
resume: **assumed**, see docs/api-contract.md). With ``recover_on_retry`` a script operator's retry
whose earlier try's job ended on one of those codes sends that argument after its parameters, and
the log says which request it recovers. Off by default: a script that does not read the argument
would run from the beginning anyway, and a site must know its scripts do.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from amt_client import AmtCompletionCode, AmtValidationError, StartRequest, validation
from amt_client.start import TaskType

#: The codes after which AMT can resume a job.
RECOVERABLE_CODES = (int(AmtCompletionCode.ABORTED_WITH_RECOVER), int(AmtCompletionCode.KILLED_WITH_RECOVER))
#: The argument ``recover_on_retry=True`` sends.
RECOVER = "/recover"
#: Where a configured argument names the request to recover.
PLACEHOLDER = "{batch_request_id}"


def recovery_argument(value: Any, task_type: TaskType) -> str | None:
    """``recover_on_retry`` checked: None (off), ``/recover`` (True), or the argument a site's scripts
    read, ``{batch_request_id}`` standing for the request to recover (``"/r:{batch_request_id}"``)."""
    if value is None or value is False:
        return None
    if task_type is not TaskType.SCRIPT:
        raise AmtValidationError("recover_on_retry is for scripts (AmtScriptOperator): AMT resumes scripts.")
    if value is True:
        return RECOVER
    if not isinstance(value, str):
        raise AmtValidationError(
            f"recover_on_retry must be True, False or the recovery argument, got {validation.brief(value)}."
        )
    text = validation.require_text(value, "recover_on_retry")
    if text.replace(PLACEHOLDER, "", 1).count("{") or text.replace(PLACEHOLDER, "", 1).count("}"):
        raise AmtValidationError(
            f"recover_on_retry may hold only {PLACEHOLDER} in braces, got {validation.brief(text)}."
        )
    return text


def recovery_start(start: StartRequest, argument: str, batch_request_id: int) -> StartRequest:
    """``start`` with the recovery argument for ``batch_request_id`` after its parameters (checked
    like them: a 21st parameter is refused before anything is sent)."""
    return dataclasses.replace(start, values=(*start.values, argument.replace(PLACEHOLDER, str(int(batch_request_id)))))


def log_recovery(log: Any, recovered: int, code: Any, start: StartRequest) -> None:
    """The task log's word that this Start is a recovery run, of which request, with what argument."""
    log.warning(
        "Recovery run of AMT batch request %s (it ended %s %s): sending %r",
        recovered,
        int(code),
        code.amt_name,
        start.values[-1],
    )


def recovers(code: Any) -> bool:
    return code is not None and int(code) in RECOVERABLE_CODES
