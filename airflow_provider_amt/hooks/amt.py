"""Hooks for the AMT Batch Server: ``AmtHook`` (sync, workers) and ``AmtAsyncHook`` (triggers).

Each hook *is* the client library's client (``amt_client.AmtClient`` / ``AsyncAmtClient``) plus
what Airflow adds: the settings come from an Airflow connection of type ``amt`` (read on first
use, not at construction, so building a hook costs nothing at DAG parse time), and the password
and every logon token are registered with Airflow's secrets masker. Every AMT method, retry and
paging rule comes from the library, written once for both hooks.
"""

from __future__ import annotations

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
from airflow_provider_amt.hooks import connection_form
from airflow_provider_amt.hooks.connection import ConnectionReads, config_from_connection, connection_lookup
from amt_client import AmtClient, AsyncAmtClient, HttpRetryPolicy, ServerConfig

__all__ = ["AmtAsyncHook", "AmtHook", "HttpRetryPolicy"]


#: Deprecated names (removed in 0.4) -> (what replaces them, the object).
_DEPRECATED = {
    "AmtServerConfig": ("amt_client.ServerConfig", ServerConfig),
    # Airflow 3.3's airflow.sdk.RetryPolicy decides task retries; this one retries HTTP requests
    "RetryPolicy": ("airflow_provider_amt.hooks.amt.HttpRetryPolicy", HttpRetryPolicy),
}


def __getattr__(name: str) -> Any:
    """0.1's ``AmtServerConfig`` and 0.2's ``RetryPolicy``, deprecated one release (removed in 0.4)."""
    if name in _DEPRECATED:
        new_name, value = _DEPRECATED[name]
        warnings.warn(
            f"airflow_provider_amt.hooks.amt.{name} is deprecated and will be removed in 0.4: use {new_name}.",
            AirflowProviderDeprecationWarning,
            stacklevel=2,
        )
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


DEFAULT_CONN_NAME = "amt_default"


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

    def __init__(self, amt_conn_id: str = DEFAULT_CONN_NAME, *, retry_policy: HttpRetryPolicy | None = None):
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

    def test_connection(self) -> tuple[bool, str]:
        """The Test button: the client's check, saying where a site's contract document lives."""
        ok, message = super().test_connection()
        if not ok and "contract document's" in message:
            message += " The connection's extra 'contract' names the document."
        return ok, message

    def get_conn(self) -> Any:
        """The pooled ``requests.Session`` (Airflow's hook convention)."""
        return self.session

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The form's extra fields, for Airflow 3.0 and 3.1 (3.2+ reads the provider info's)."""
        return connection_form.widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The form's standard fields, for Airflow 3.0 and 3.1 (3.2+ reads the provider info's)."""
        return connection_form.field_behaviour()


class AmtAsyncHook(AsyncAmtClient, _AmtConnectionType, BaseHook):
    """Asynchronous AMT client for triggers: every method of ``amt_client.AsyncAmtClient``, awaitable.

    Call :meth:`close` (or use ``async with``) when done: the shared session is closed when the
    last hook using it on that event loop lets go.

    :param connections: connections shared with other hooks (an AMT trigger passes its triggerer
        runtime's); without it the hook reads its connection itself, once.
    """

    def __init__(
        self,
        amt_conn_id: str = DEFAULT_CONN_NAME,
        *,
        retry_policy: HttpRetryPolicy | None = None,
        connections: ConnectionReads | None = None,
    ):
        BaseHook.__init__(self)
        AsyncAmtClient.__init__(self, retry_policy=retry_policy, log=self.log, on_call=metrics.call)
        self.amt_conn_id = amt_conn_id
        self.connections = connections

    async def _resolve_config(self) -> ServerConfig:
        if self.connections is None:
            return await self._read_connection()
        return await self.connections.get(self.amt_conn_id, self._read_connection)

    async def _read_connection(self) -> ServerConfig:
        with connection_lookup(self.amt_conn_id):
            config = config_from_connection(await aget_connection(self.amt_conn_id))
        await amask_secret(config.password)
        return config

    async def _on_token(self, token: str) -> None:
        await amask_secret(token)

    def get_conn(self) -> Any:  # pragma: no cover - Airflow's abstract hook method; the session is per loop
        raise NotImplementedError("AmtAsyncHook shares one aiohttp session per event loop; call its methods.")
