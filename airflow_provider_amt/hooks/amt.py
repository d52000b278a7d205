"""Hooks for the AMT Batch Server: ``AmtHook`` (sync, workers) and ``AmtAsyncHook`` (triggers).

Both expose the same methods (defined once in :class:`AmtApiMethods`); they differ only in how a
request travels:

* ``AmtHook`` uses one pooled ``requests.Session`` per hook and a process-wide token cache, so
  several hooks on one worker for the same login share one logon.
* ``AmtAsyncHook`` uses one ``aiohttp`` session per (event loop, server login), shared by every
  trigger in a triggerer, and one logon that concurrent callers wait on instead of each logging on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
import time
import weakref
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import aiohttp
import requests
from airflow.sdk import BaseHook
from requests.adapters import HTTPAdapter

from airflow_provider_amt import api_contract as contract
from airflow_provider_amt.compat import aget_connection, amask_secret, mask_secret
from airflow_provider_amt.exceptions import AmtError
from airflow_provider_amt.hooks._client_core import (
    AmtApiMethods,
    AmtServerConfig,
    CallState,
    RetryPolicy,
    TokenSlot,
    tls_error,
)

__all__ = ["AmtAsyncHook", "AmtHook", "AmtServerConfig", "RetryPolicy"]


class _AmtHookBase(AmtApiMethods, BaseHook):
    conn_name_attr = "amt_conn_id"
    default_conn_name = "amt_default"
    conn_type = "amt"
    hook_name = "Asysco AMT"

    def __init__(self, amt_conn_id: str = default_conn_name, *, retry_policy: RetryPolicy | None = None):
        super().__init__()
        self.amt_conn_id = amt_conn_id
        self._retry_policy = retry_policy

    def _policy(self, config: AmtServerConfig) -> RetryPolicy:
        return self._retry_policy or RetryPolicy(max_retries=config.max_retries)


# --- sync -----------------------------------------------------------------------------------


def _never_sent(err: requests.RequestException) -> bool:
    """True when requests failed before the request could reach the server (safe to resend)."""
    if isinstance(err, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(err.args[0], "reason", None) if err.args else None
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


class AmtHook(_AmtHookBase):
    """Synchronous AMT client for workers.

    :param amt_conn_id: Airflow connection of type ``amt`` (Batch Server URL, API user, password).
    :param retry_policy: override the connection's retry settings (tests, special cases).
    """

    _slots_lock = threading.Lock()
    _token_slots: dict[tuple[str, ...], tuple[TokenSlot, threading.Lock]] = {}  # process-wide by design

    @cached_property
    def config(self) -> AmtServerConfig:
        config = AmtServerConfig.from_connection(self.get_connection(self.amt_conn_id))
        mask_secret(config.password)
        return config

    @cached_property
    def session(self) -> requests.Session:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.verify = self.config.verify
        session.headers["Accept"] = "application/json"
        return session

    def get_conn(self) -> requests.Session:
        return self.session

    def close(self) -> None:
        if "session" in self.__dict__:
            self.session.close()
            del self.__dict__["session"]

    def _secrets(self) -> list[str | None]:
        return [self.config.password, self._token_slot().token]

    def _token_entry(self) -> tuple[TokenSlot, threading.Lock]:
        with self._slots_lock:
            return self._token_slots.setdefault(self.config.cache_key, (TokenSlot(), threading.Lock()))

    def _token_slot(self) -> TokenSlot:
        return self._token_entry()[0]

    def _token(self) -> str:
        slot, lock = self._token_entry()
        with lock:  # threads of one worker share one logon
            token = slot.valid()
            if token is None:
                request = contract.logon_request(self.config.user, self.config.password)
                token, lifetime = self._send(request, contract.parse_logon)
                mask_secret(token)
                slot.store(token, lifetime)
            return token

    def _call(self, request: contract.ApiRequest, parser: contract.Parser) -> Any:
        return self._send(request, parser)

    def _send(self, request: contract.ApiRequest, parser: contract.Parser) -> Any:
        config = self.config
        state = CallState(request, parser, self._policy(config), config.base_url, self.log)
        while True:
            token = self._token() if request.needs_token else None
            headers = {contract.TOKEN_HEADER: token} if token else {}
            try:
                response = self.session.request(
                    request.method,
                    config.base_url + request.path,
                    json=request.json_body,
                    params=request.params or None,
                    headers=headers,
                    timeout=(config.connect_timeout, config.timeout),
                )
            except requests.exceptions.SSLError as err:
                raise tls_error(request, config.base_url, err) from err
            except (requests.ConnectionError, requests.Timeout) as err:
                time.sleep(state.after_transport_error(err, sent=not _never_sent(err)))
                continue
            action, value = state.after_response(
                response.status_code, response.text, response.headers.get("Retry-After")
            )
            if action == CallState.RELOGON:
                self._token_slot().invalidate(token)
            elif action == CallState.RETRY:
                time.sleep(value)
            else:
                return value

    def test_connection(self) -> tuple[bool, str]:
        """Backs the UI's Test button: heartbeat (server up) and logon (credentials accepted)."""
        try:
            status = self.heartbeat()
            self._token_slot().invalidate(None)
            self._token()
        except AmtError as err:
            return False, str(err)
        return True, f"{status}; logon as {self.config.user} succeeded."


# --- async ----------------------------------------------------------------------------------


@dataclass
class _SharedAsyncClient:
    """One aiohttp session, token and logon lock per (event loop, server login)."""

    session: aiohttp.ClientSession
    tokens: TokenSlot = field(default_factory=TokenSlot)
    logon_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


_shared_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, ...], _SharedAsyncClient]]
_shared_clients = weakref.WeakKeyDictionary()


def _ssl_setting(verify: bool | str) -> ssl.SSLContext | bool:
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return bool(verify)


def _async_never_sent(err: BaseException) -> bool:
    return isinstance(err, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError))


class AmtAsyncHook(_AmtHookBase):
    """Asynchronous AMT client for triggers; every API method returns an awaitable.

    Call :meth:`close` (or use ``async with``) when done: the shared session is closed when the
    last hook using it on that event loop lets go.
    """

    def __init__(self, amt_conn_id: str = _AmtHookBase.default_conn_name, **kwargs: Any):
        super().__init__(amt_conn_id, **kwargs)
        self._config: AmtServerConfig | None = None
        self._client: _SharedAsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _secrets(self) -> list[str | None]:
        password = self._config.password if self._config else None
        return [password, self._client.tokens.token if self._client else None]

    async def get_config(self) -> AmtServerConfig:
        if self._config is None:
            conn = await aget_connection(self.amt_conn_id)
            config = AmtServerConfig.from_connection(conn)
            await amask_secret(config.password)
            self._config = config
        return self._config

    async def _shared(self) -> _SharedAsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is not None and self._loop is loop and not self._client.session.closed:
            return self._client
        config = await self.get_config()
        clients = _shared_clients.setdefault(loop, {})
        client = clients.get(config.cache_key)
        if client is None or client.session.closed:
            connector = aiohttp.TCPConnector(limit=100, limit_per_host=50, ssl=_ssl_setting(config.verify))
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=config.connect_timeout, sock_read=config.timeout)
            session = aiohttp.ClientSession(
                connector=connector, timeout=timeout, headers={"Accept": "application/json"}
            )
            client = clients[config.cache_key] = _SharedAsyncClient(session=session)
        client.users += 1
        self._client, self._loop = client, loop
        return client

    async def close(self) -> None:
        """Let go of the shared session; the last user on this loop closes it."""
        client, self._client = self._client, None
        if client is None:
            return
        client.users -= 1
        if client.users <= 0 and not client.session.closed:
            await client.session.close()
            clients = _shared_clients.get(self._loop) if self._loop else None
            if clients and self._config and clients.get(self._config.cache_key) is client:
                del clients[self._config.cache_key]

    async def __aenter__(self) -> AmtAsyncHook:
        await self._shared()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _token(self, client: _SharedAsyncClient) -> str:
        token = client.tokens.valid()
        if token:
            return token
        async with client.logon_lock:  # one logon for every concurrent caller
            token = client.tokens.valid()
            if token is None:
                config = await self.get_config()
                request = contract.logon_request(config.user, config.password)
                token, lifetime = await self._send(request, contract.parse_logon, client)
                await amask_secret(token)
                client.tokens.store(token, lifetime)
            return token

    async def _call(self, request: contract.ApiRequest, parser: contract.Parser) -> Any:
        return await self._send(request, parser, await self._shared())

    async def _send(self, request: contract.ApiRequest, parser: contract.Parser, client: _SharedAsyncClient) -> Any:
        config = await self.get_config()
        state = CallState(request, parser, self._policy(config), config.base_url, self.log)
        while True:
            token = await self._token(client) if request.needs_token else None
            headers = {contract.TOKEN_HEADER: token} if token else {}
            try:
                async with client.session.request(
                    request.method,
                    config.base_url + request.path,
                    json=request.json_body,
                    params=request.params or None,
                    headers=headers,
                ) as response:
                    status, text = response.status, await response.text()
                    retry_after = response.headers.get("Retry-After")
            except (aiohttp.ClientSSLError, aiohttp.ClientConnectorCertificateError) as err:
                raise tls_error(request, config.base_url, err) from err
            except (aiohttp.ClientError, asyncio.TimeoutError) as err:
                await asyncio.sleep(state.after_transport_error(err, sent=not _async_never_sent(err)))
                continue
            action, value = state.after_response(status, text, retry_after)
            if action == CallState.RELOGON:
                client.tokens.invalidate(token)
            elif action == CallState.RETRY:
                await asyncio.sleep(value)
            else:
                return value

    async def test_connection(self) -> tuple[bool, str]:  # type: ignore[override]
        """Heartbeat and a fresh logon, as the sync hook does."""
        try:
            status = await self.heartbeat()
            client = await self._shared()
            client.tokens.invalidate(None)
            await self._token(client)
        except AmtError as err:
            return False, str(err)
        finally:
            with contextlib.suppress(Exception):
                await self.close()
        return True, f"{status}; logon as {(await self.get_config()).user} succeeded."
