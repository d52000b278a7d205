"""Typed errors, so DAG authors and the operators can tell a bad request from a down server.

Every message names the server and the request (method and path) that failed and says what to do;
none ever contains the password or the logon token. They all derive from ``AirflowException`` so
that Airflow shows them as ordinary task failures.
"""

from __future__ import annotations

from airflow.exceptions import AirflowException


class AmtError(AirflowException):
    """Base class of every error this provider raises."""


class AmtConfigurationError(AmtError):
    """The Airflow connection is incomplete or malformed (no URL, bad extras)."""


class AmtValidationError(AmtError, ValueError):
    """A request was refused (or would be) because an argument is wrong: fix the DAG, do not retry."""


class AmtAuthenticationError(AmtError):
    """The server rejected the API user or password (AMT completion code 24)."""


class AmtNotFoundError(AmtError):
    """The server does not know the batch request id (or route) that was asked for."""


class AmtServerUnavailableError(AmtError):
    """The server could not be reached or kept failing after retries (AMT completion code 23)."""


class AmtResponseError(AmtError):
    """The server answered with something this provider cannot understand (malformed body, unknown code)."""


class AmtJobFailedError(AmtError):
    """An AMT job ended with a completion code that the task does not count as success."""
