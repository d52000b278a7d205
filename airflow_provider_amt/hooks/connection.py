"""An Airflow connection of type ``amt`` -> the client library's :class:`~amt_client.ServerConfig`.

This is the only place that knows the connection's fields and extras; every value is checked by
the client library's validation, and any problem becomes one ``AmtConfigurationError`` that names
the connection and the field.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_amt.compat import AirflowNotFoundException
from amt_client import validation
from amt_client.config import DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, ServerConfig
from amt_client.contract import DEFAULT_CONTRACT, WireContract
from amt_client.contract_document import load_contract
from amt_client.errors import AmtConfigurationError, AmtError

#: The extras a connection may carry (the form in ``get_provider_info`` declares the same names).
EXTRA_FIELDS = (
    "verify_ssl",
    "ca_bundle",
    "timeout",
    "connect_timeout",
    "max_retries",
    "default_application",
    "contract",
    "api_paths",
    "token_header",
    "max_connections",
    "job_url_template",
)


def _base_url(conn: Any) -> str:
    host = (conn.host or "").strip()
    if host and "://" not in host:
        host = f"{(conn.schema or 'http').strip() or 'http'}://{host}"
    if "@" in urlsplit(host).netloc:  # checked first: no later message may echo user:password@
        raise AmtConfigurationError(
            "the Batch Server URL contains a user name or password (user:password@host); put them in the "
            "connection's login and password fields instead."
        )
    if host and conn.port and host.count(":") < 2:  # the URL has no port of its own
        host = f"{host.rstrip('/')}:{conn.port}"
    elif host and conn.port:
        with contextlib.suppress(ValueError):
            in_url = urlsplit(host).port
            if in_url is not None and in_url != int(conn.port):
                raise AmtConfigurationError(
                    f"port {conn.port} differs from the port in the Batch Server URL "
                    f"{validation.brief(host)}: leave it empty or make them the same."
                )
    return host


def _api_paths(value: Any) -> Any:
    """The form stores an object; a hand-written extra may hold it as JSON text."""
    if isinstance(value, str) and value.strip():
        try:
            return json.loads(value)
        except ValueError:
            raise AmtConfigurationError(f"api_paths must be a JSON object of name -> path, got {value!r}.") from None
    return value or None


def _contract(value: Any) -> WireContract:
    """The extra ``contract``: a document's path, the document as JSON text, or (the form stores one)
    the document as an object; ``api_paths`` and ``token_header`` then apply on top."""
    if value in (None, ""):
        return DEFAULT_CONTRACT
    return load_contract(value)


def config_from_connection(conn: Any) -> ServerConfig:
    """Read the Batch Server URL, API user, password and extras of ``conn`` (validated)."""
    conn_id = conn.conn_id or "<unnamed>"
    if conn.conn_type != "amt":  # its password is for another server: never sent to this one
        raise AmtConfigurationError(
            f"Connection {conn_id!r} is of type {validation.brief(conn.conn_type, 40)}, not 'amt': an AMT hook "
            "uses only connections of type 'amt', so that no other service's credentials reach a Batch Server."
        )
    extra = conn.extra_dejson or {}
    try:
        ca_bundle = extra.get("ca_bundle") or None
        verify_ssl = extra.get("verify_ssl")
        verify: bool | str = ca_bundle or (True if verify_ssl in (None, "") else _extra_flag(verify_ssl, "verify_ssl"))
        return ServerConfig(
            base_url=_base_url(conn),
            user=conn.login,
            password=conn.password,
            verify=verify,
            timeout=_or_default(extra.get("timeout"), DEFAULT_TIMEOUT),
            connect_timeout=_or_default(extra.get("connect_timeout"), DEFAULT_CONNECT_TIMEOUT),
            max_retries=_or_default(extra.get("max_retries"), DEFAULT_MAX_RETRIES),
            max_connections=_or_default(extra.get("max_connections"), 0),
            default_application=extra.get("default_application") or None,
            job_url_template=extra.get("job_url_template") or None,
            contract=_contract(extra.get("contract")).with_overrides(
                _api_paths(extra.get("api_paths")), extra.get("token_header")
            ),
        )
    except AmtError as err:
        raise AmtConfigurationError(f"Connection {conn_id!r}: {err}") from None


@contextlib.contextmanager
def connection_lookup(conn_id: str) -> Iterator[None]:
    """A missing connection is a configuration error like any other (typed, and it names the id)."""
    try:
        yield
    except AirflowNotFoundException:
        raise AmtConfigurationError(
            f"Connection {conn_id!r} is not defined. Create it (type 'amt') in the UI, the CLI, a secrets "
            f"backend or an AIRFLOW_CONN_{conn_id.upper()} environment variable."
        ) from None


class ConnectionReads:
    """The connections the async hooks sharing this object have read, each kept ``ttl`` seconds.

    A triggerer's runtime holds one: a restart starts thousands of triggers on the same few
    connections, each lookup is a round trip through the supervisor, and the triggers that start
    together wait for one read instead of making one each. A changed connection is seen by the
    triggers started ``ttl`` seconds later; a failed read is not kept (the next caller tries again).
    """

    def __init__(self, ttl: float = 60.0) -> None:
        self.ttl = ttl
        self._reads: dict[str, tuple[float, asyncio.Future[ServerConfig]]] = {}

    async def get(self, conn_id: str, read: Callable[[], Awaitable[ServerConfig]]) -> ServerConfig:
        """The connection ``conn_id``: kept, being read, or read now with ``read``."""
        kept = self._reads.get(conn_id)
        loop = asyncio.get_running_loop()
        if kept is not None and time.monotonic() - kept[0] < self.ttl and kept[1].get_loop() is loop:
            return await asyncio.shield(kept[1])
        reading = loop.create_future()
        self._reads[conn_id] = (time.monotonic(), reading)
        try:
            config = await read()
        except BaseException as err:
            self._reads.pop(conn_id, None)
            reading.set_exception(err)
            reading.exception()  # retrieved: no "exception never retrieved" when no one else waited
            raise
        reading.set_result(config)
        return config


def _extra_flag(value: Any, name: str) -> bool:
    """A yes/no extra: JSON's true/false, or the words ``true`` / ``false`` a connection URI's query
    string can only carry as text."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        value = value.strip().lower() == "true"
    return validation.flag(value, name)


def _or_default(value: Any, default: Any) -> Any:
    return default if value in (None, "") else value
