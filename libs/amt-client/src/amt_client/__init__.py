"""A client for the Asysco AMT Batch Server, usable with or without Airflow.

::

    from amt_client import AmtClient, ServerConfig

    with AmtClient(ServerConfig("https://batchserver:4004", "amtopcon", password)) as amt:
        request_id = amt.start_batch_job("DEMO2", "REPORTTEST01", task_values=["25"])
        print(amt.get_job_status(request_id))

Layers: ``contract`` (the wire contract as data), ``engine`` (every retry, re-logon, paging and
polling decision, as sans-IO step generators), ``sync`` / ``aio`` (thin drivers over ``requests``
and ``aiohttp``). See the README of the distribution.
"""

from __future__ import annotations

from amt_client.aio import AsyncAmtClient
from amt_client.codes import AmtCompletionCode, AmtMessage, CodeClass, ExtraCode, JobStatus
from amt_client.config import ServerConfig
from amt_client.contract import DEFAULT_CONTRACT, ApiPaths, FieldNames, WireContract
from amt_client.engine import Engine, HttpRetryPolicy
from amt_client.errors import (
    AmtAuthenticationError,
    AmtConfigurationError,
    AmtError,
    AmtJobFailedError,
    AmtNotFoundError,
    AmtResponseError,
    AmtServerAwayError,
    AmtServerUnavailableError,
    AmtUnconfirmedStartError,
    AmtUnknownCodeError,
    AmtValidationError,
)
from amt_client.policy import MessageCursor, Outcome, Rules, StateChange, WatchResult, WatchSettings
from amt_client.start import Action, BatchRequestId, JobEnding, StartRequest, TaskType
from amt_client.sync import AmtClient

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_CONTRACT",
    "Action",
    "AmtAuthenticationError",
    "AmtClient",
    "AmtCompletionCode",
    "AmtConfigurationError",
    "AmtError",
    "AmtJobFailedError",
    "AmtMessage",
    "AmtNotFoundError",
    "AmtResponseError",
    "AmtServerAwayError",
    "AmtServerUnavailableError",
    "AmtUnconfirmedStartError",
    "AmtUnknownCodeError",
    "AmtValidationError",
    "ApiPaths",
    "AsyncAmtClient",
    "BatchRequestId",
    "CodeClass",
    "Engine",
    "ExtraCode",
    "FieldNames",
    "HttpRetryPolicy",
    "JobEnding",
    "JobStatus",
    "MessageCursor",
    "Outcome",
    "Rules",
    "ServerConfig",
    "StartRequest",
    "StateChange",
    "TaskType",
    "WatchResult",
    "WatchSettings",
    "WireContract",
    "__version__",
]


def __getattr__(name: str) -> object:
    """Deprecated names, removed in 0.4: ``VerdictKind`` (``WatchResult.outcome`` says how a watch
    ended) and ``RetryPolicy`` (now ``HttpRetryPolicy``: Airflow 3.3's ``airflow.sdk.RetryPolicy``
    decides task retries, this one retries HTTP requests)."""
    if name == "VerdictKind":
        from amt_client import policy

        return policy.__getattr__(name)
    if name == "RetryPolicy":
        import warnings

        warnings.warn(
            "amt_client.RetryPolicy is deprecated and will be removed in 0.4: use amt_client.HttpRetryPolicy.",
            DeprecationWarning,
            stacklevel=2,
        )
        return HttpRetryPolicy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
