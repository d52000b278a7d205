"""Typed errors, so callers can tell a bad request from a down server.

Every message names the server and the request (method and path) that failed and says what to do;
none ever contains the password or the logon token. The classes do not depend on Airflow: the
Airflow provider re-exports these very classes, so ``except AmtError`` works the same in a DAG, in
a hook user's code and in a plain script.
"""

from __future__ import annotations

__all__ = [
    "TRANSIENT_ERRORS",
    "AmtAuthenticationError",
    "AmtConfigurationError",
    "AmtError",
    "AmtJobFailedError",
    "AmtNotFoundError",
    "AmtResponseError",
    "AmtServerAwayError",
    "AmtServerUnavailableError",
    "AmtUnconfirmedStartError",
    "AmtUnknownCodeError",
    "AmtValidationError",
]


class AmtError(Exception):
    """Base class of every error the AMT client (and the provider built on it) raises."""

    #: For a failed Start: whether the server may have received it (and so may have started a job).
    #: False when it provably never arrived or was refused; True after a dropped connection, a
    #: timeout, a 5xx or an unreadable answer.
    request_may_have_arrived: bool = False


class AmtConfigurationError(AmtError):
    """The server settings are incomplete or malformed (no URL, bad extras, unusable TLS setup)."""


class AmtValidationError(AmtError, ValueError):
    """A request was refused (or would be) because an argument is wrong: fix the caller, do not retry."""


class AmtAuthenticationError(AmtError):
    """The server rejected the API user or password (AMT completion code 24)."""


class AmtNotFoundError(AmtError):
    """The server does not know the batch request id (or route) that was asked for."""


class AmtServerUnavailableError(AmtError):
    """The server could not be reached or kept failing after retries (AMT completion code 23)."""


class AmtServerAwayError(AmtServerUnavailableError):
    """The request was held back, never sent: the server has not answered lately, and one request
    at a time checks whether it is back (``health.py``)."""


class AmtResponseError(AmtError):
    """The server answered with something the client cannot understand (malformed body, unknown code)."""


class AmtUnknownCodeError(AmtError):
    """The server reported a completion code the code table does not know.

    Not transient (waiting does not teach the client the code) and not a job failure the client
    may act on: a watch ends at once with an error naming the code, and the job is left as it is.
    """

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        #: The code the server sent.
        self.code = code

    def __reduce__(self) -> tuple[object, ...]:
        return type(self), (str(self), self.code)


class AmtUnconfirmedStartError(AmtError):
    """An earlier Start may have created a job, and AMT cannot say whether it did: nothing is sent."""


class AmtJobFailedError(AmtError):
    """An AMT job ended with a completion code that the caller does not count as success.

    The code is a value, not only text: an ``on_failure_callback`` reads ``completion_code``,
    ``completion_name`` and ``batch_request_id`` from the exception (None where the raiser did not
    know them: 0.2 raised it with the message alone).
    """

    def __init__(
        self,
        message: str,
        completion_code: int | None = None,
        completion_name: str | None = None,
        batch_request_id: int | None = None,
    ):
        super().__init__(message)
        #: The job's completion code (an int), e.g. 11 for ERROR.
        self.completion_code = None if completion_code is None else int(completion_code)
        #: The code's name as AMT prints it, e.g. ``"ERROR"``.
        self.completion_name = completion_name
        #: The number AMT gave the job's Start.
        self.batch_request_id = None if batch_request_id is None else int(batch_request_id)

    def __reduce__(self) -> tuple[object, ...]:
        return type(self), (str(self), self.completion_code, self.completion_name, self.batch_request_id)


#: Errors after which watching a job may simply go on: the server may recover.
TRANSIENT_ERRORS: tuple[type[AmtError], ...] = (AmtServerUnavailableError, AmtResponseError)
