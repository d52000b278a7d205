"""Hooks for the AMT Batch Server: ``AmtHook`` (sync, workers) and ``AmtAsyncHook`` (triggers).

Each hook *is* the client library's client (``amt_client.AmtClient`` / ``AsyncAmtClient``) plus
what Airflow adds: the settings come from an Airflow connection of type ``amt`` (read on first
use, not at construction, so building a hook costs nothing at DAG parse time), and the password
and every logon token are registered with Airflow's secrets masker. Every AMT method, retry and
paging rule comes from the library, written once for both hooks.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from typing import Any

from airflow_provider_amt import metrics
from airflow_provider_amt.class_logger import ClassLogger
from airflow_provider_amt.compat import (
    AirflowProviderDeprecationWarning,
    BaseHook,
    aget_connection,
    amask_secret,
    mask_secret,
)
from airflow_provider_amt.hooks.connection import config_from_connection, connection_lookup
from amt_client import AmtClient, AsyncAmtClient, RetryPolicy, ServerConfig

__all__ = ["AmtAsyncHook", "AmtHook", "RetryPolicy"]


def __getattr__(name: str) -> Any:
    """``AmtServerConfig``: 0.1's name of ``amt_client.ServerConfig``, deprecated (removed in 0.4)."""
    if name == "AmtServerConfig":
        warnings.warn(
            "airflow_provider_amt.hooks.amt.AmtServerConfig is deprecated and will be removed in 0.4: "
            "import amt_client.ServerConfig instead.",
            AirflowProviderDeprecationWarning,
            stacklevel=2,
        )
        return ServerConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


DEFAULT_CONN_NAME = "amt_default"
#: How long a triggerer reuses a connection it has read (seconds): a restart starts thousands of
#: triggers on the same few connections, and each lookup is a round trip through the supervisor.
CONNECTION_TTL = 60.0
#: conn_id -> (read at, the settings being read or read) for the async hooks of this process: the
#: thousands of triggers a restart starts together wait for one read instead of making one each.
_connections: dict[str, tuple[float, asyncio.Future[ServerConfig]]] = {}


class _AmtConnectionType(ClassLogger):
    """What both hooks declare to Airflow's connection machinery (connection form, ``conn_id`` argument)."""

    conn_name_attr = "amt_conn_id"
    default_conn_name = DEFAULT_CONN_NAME
    conn_type = "amt"
    hook_name = "Asysco AMT"


class AmtHook(AmtClient, _AmtConnectionType, BaseHook):
    """Synchronous AMT client for workers: every method of ``amt_client.AmtClient``.

    :param amt_conn_id: Airflow connection of type ``amt`` (Batch Server URL, API user, password).
    :param retry_policy: override the connection's retry settings (tests, special cases).
    """

    def __init__(self, amt_conn_id: str = DEFAULT_CONN_NAME, *, retry_policy: RetryPolicy | None = None):
        BaseHook.__init__(self)
        AmtClient.__init__(self, retry_policy=retry_policy, log=self.log, on_call=metrics.call)
        self.amt_conn_id = amt_conn_id

    def _resolve_config(self) -> ServerConfig:
        with connection_lookup(self.amt_conn_id):
            config = config_from_connection(self.get_connection(self.amt_conn_id))
        mask_secret(config.password)
        return config

    def _on_token(self, token: str) -> None:
        mask_secret(token)

    def get_conn(self) -> Any:
        """The pooled ``requests.Session`` (Airflow's hook convention)."""
        return self.session


class AmtAsyncHook(AsyncAmtClient, _AmtConnectionType, BaseHook):
    """Asynchronous AMT client for triggers: every method of ``amt_client.AsyncAmtClient``, awaitable.

    Call :meth:`close` (or use ``async with``) when done: the shared session is closed when the
    last hook using it on that event loop lets go.
    """

    def __init__(self, amt_conn_id: str = DEFAULT_CONN_NAME, *, retry_policy: RetryPolicy | None = None):
        BaseHook.__init__(self)
        AsyncAmtClient.__init__(self, retry_policy=retry_policy, log=self.log, on_call=metrics.call)
        self.amt_conn_id = amt_conn_id

    async def _resolve_config(self) -> ServerConfig:
        """The connection, read at most every ``CONNECTION_TTL`` seconds per process (a changed one
        is seen by triggers started after that; the password was masked when it was first read)."""
        cached = _connections.get(self.amt_conn_id)
        loop = asyncio.get_running_loop()
        if cached is not None and time.monotonic() - cached[0] < CONNECTION_TTL and cached[1].get_loop() is loop:
            return await asyncio.shield(cached[1])
        reading = loop.create_future()
        _connections[self.amt_conn_id] = (time.monotonic(), reading)
        try:
            with connection_lookup(self.amt_conn_id):
                config = config_from_connection(await aget_connection(self.amt_conn_id))
            await amask_secret(config.password)
        except BaseException as err:
            _connections.pop(self.amt_conn_id, None)  # a failed read is not kept: the next caller tries again
            reading.set_exception(err)
            reading.exception()  # retrieved: no "exception never retrieved" when no one else waited
            raise
        reading.set_result(config)
        return config

    async def _on_token(self, token: str) -> None:
        await amask_secret(token)

    def get_conn(self) -> Any:  # pragma: no cover - Airflow's abstract hook method; the session is per loop
        raise NotImplementedError("AmtAsyncHook shares one aiohttp session per event loop; call its methods.")
