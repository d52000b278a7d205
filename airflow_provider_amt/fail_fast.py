"""Failures a retry cannot mend end the task at once, without its retries (issue 26).

A wrong argument, an unusable connection, refused credentials, a Start AMT refused, or a job that
ended on one of the task's ``fail_fast_codes`` (99 INVALID AMT USER by default) fail the same way on
every try: retrying only pages on-call later. Airflow's way to say so is ``AirflowFailException``
(every supported version). The errors here are both: the AMT error a DAG catches (``except
AmtValidationError`` still works, ``AmtJobFailedError.completion_code`` is still there) and the
exception Airflow does not retry. Everything else (an unreachable server, an unreadable answer, a
Start whose fate is unknown, any other failed code) keeps the task's retries.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airflow_provider_amt.compat import AirflowFailException
from amt_client import (
    AmtAuthenticationError,
    AmtConfigurationError,
    AmtError,
    AmtJobFailedError,
    AmtValidationError,
    validation,
)


class AmtConfigurationFailedFastError(AmtConfigurationError, AirflowFailException):
    """The connection's settings are unusable: fixed by an administrator, not by a retry."""


class AmtValidationFailedFastError(AmtValidationError, AirflowFailException):
    """An argument is wrong, or AMT refused the Start (unknown application, job or queue)."""


class AmtAuthenticationFailedFastError(AmtAuthenticationError, AirflowFailException):
    """AMT refused the API user or password (or the user may not do this)."""


class AmtJobFailedFastError(AmtJobFailedError, AirflowFailException):
    """The job ended on one of the task's ``fail_fast_codes``."""


#: The error classes a retry cannot mend, and the class each is raised as.
WITHOUT_RETRY: dict[type[AmtError], type[AmtError]] = {
    AmtConfigurationError: AmtConfigurationFailedFastError,
    AmtValidationError: AmtValidationFailedFastError,
    AmtAuthenticationError: AmtAuthenticationFailedFastError,
}


def without_retry(err: AmtError) -> AmtError | None:
    """``err`` as the error that ends its task without retries, or None when a retry may help."""
    if isinstance(err, AirflowFailException):
        return None  # already one
    for kind, fail_fast in WITHOUT_RETRY.items():
        if isinstance(err, kind):
            return fail_fast(str(err))
    return None


@contextmanager
def retries_only_where_they_help() -> Iterator[None]:
    """Around a task's own work: an AMT error a retry cannot mend is raised as one Airflow does not retry."""
    try:
        yield
    except AmtError as err:
        fast = without_retry(err)
        if fast is None:
            raise
        raise fast from err


# --- from the triggerer ---------------------------------------------------------------------------
# A task started from the triggerer ends there with Airflow's TaskFailedEvent, which Airflow 3.3
# routes to a retry whenever one is left. Where a retry cannot help, the start trigger resumes the
# task on a worker instead, with this event, and the task raises the error that is not retried.

#: The event ``status`` of a task to fail without retries.
FAILED_FAST = "failed_fast"
#: The error kinds such an event names, and what is raised for each.
_KINDS: dict[str, type[AmtError]] = {
    "configuration": AmtConfigurationFailedFastError,
    "validation": AmtValidationFailedFastError,
    "authentication": AmtAuthenticationFailedFastError,
    "job": AmtJobFailedFastError,
}


def failed_fast_event(err: AmtError) -> dict[str, Any] | None:
    """The event that resumes a triggerer-started task only to fail it without retries, or None
    when ``err`` is one a retry may mend."""
    fast = err if isinstance(err, AmtJobFailedFastError) else without_retry(err)
    if fast is None:
        return None
    kind = next(name for name, cls in _KINDS.items() if isinstance(fast, cls))
    event: dict[str, Any] = {"status": FAILED_FAST, "error": kind, "message": str(err)}
    if isinstance(fast, AmtJobFailedFastError):
        event.update(
            completion_code=fast.completion_code,
            completion_name=fast.completion_name,
            batch_request_id=fast.batch_request_id,
        )
    return event


def raise_failed_fast(event: Any) -> None:
    """Raise the error a ``failed_fast`` event names (read as untrusted: kinds from the table, text
    bounded); any other event passes."""
    if not isinstance(event, dict) or event.get("status") != FAILED_FAST:
        return
    kind = _KINDS.get(str(event.get("error")), AmtValidationFailedFastError)
    message = validation.brief(event.get("message"), 2000, quote=False)
    if kind is AmtJobFailedFastError:
        code, name, request = (event.get(k) for k in ("completion_code", "completion_name", "batch_request_id"))
        raise AmtJobFailedFastError(
            message,
            code if validation.is_int(code) else None,
            name if isinstance(name, str) else None,
            request if validation.is_int(request) else None,
        )
    raise kind(message)
