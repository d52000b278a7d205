"""Server settings: where the Batch Server is, how to log on, how long to wait, which contract.

A :class:`ServerConfig` is validated when it is made (an ``AmtConfigurationError`` names the bad
setting), so the clients never meet a NaN timeout or a URL without a host half-way through a call.
The Airflow provider builds one from a connection; a script builds one directly.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Hashable
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlsplit

from amt_client import validation
from amt_client.contract import DEFAULT_CONTRACT, WireContract
from amt_client.errors import AmtConfigurationError, AmtValidationError

DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 4
#: The same bounds the Airflow connection form shows.
MAX_RETRIES_LIMIT = 20
#: No one call (all its retries and waits together) takes longer than this, by default.
DEFAULT_CALL_TIMEOUT = 600.0
#: The most requests the async client keeps open to one server login at once (``max_connections``
#: 0, the default, sizes it from how many watchers share the login: ``connections_for``).
MAX_CONNECTIONS_LIMIT = 10_000
#: Automatic sizing: a connection per this many watchers, between the floor and the cap below.
WATCHERS_PER_CONNECTION = 50
AUTO_CONNECTIONS_FLOOR = 100
#: Below the 1,024 open files many containers allow a process, with room for everything else.
AUTO_CONNECTIONS_CAP = 500
#: The largest answer read from the server (a page of 1000 messages of 8,000 characters fits).
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
_HOST = re.compile(r"[A-Za-z0-9._~%!$&'()*+,;=:\[\]-]+")  # fullmatch


@dataclass(frozen=True)
class ServerConfig:
    """Settings of one AMT Batch Server login.

    :param base_url: ``http(s)://host:port`` (and an optional path prefix) of the Batch Server.
    :param user: the API user.
    :param password: its password (never shown in ``repr`` or in errors).
    :param verify: TLS: True (system CAs), False (tests only), or the path of a CA bundle.
    :param timeout: seconds to wait for an answer to one request.
    :param connect_timeout: seconds to wait for a connection.
    :param max_retries: retries of a failed idempotent request (0 to 20).
    :param default_application: the AMT application used when a caller names none.
    :param contract: the wire contract (paths, token header), see ``contract.py``.
    :param call_timeout: the longest one call may take, all retries and waits included.
    :param max_response_bytes: the largest answer accepted; a larger one is an ``AmtResponseError``.
    :param job_url_template: where a person sees a job (a site's AMT portal), ``{batch_request_id}``
        marking the number: ``https://amt-portal/requests/{batch_request_id}``. None: no link.
    :param max_connections: the most requests in flight to this login at once from one event loop
        (the async client's connection pool); 0: sized from the number of watchers, see
        :meth:`connections_for`.
    """

    base_url: str
    user: str
    password: str = field(repr=False)
    verify: bool | str = True
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    default_application: str | None = None
    contract: WireContract = field(default=DEFAULT_CONTRACT, repr=False)
    call_timeout: float = DEFAULT_CALL_TIMEOUT
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    max_connections: int = 0
    job_url_template: str | None = None

    def __post_init__(self) -> None:
        if not self.user or not self.password:
            raise AmtConfigurationError("the AMT API user (login) and password are required.")
        try:
            checked = {
                "base_url": _base_url(self.base_url),
                "user": validation.require_text(self.user, "user"),
                "password": validation.secret(self.password, "password"),
                "timeout": validation.seconds(self.timeout, "timeout"),
                "connect_timeout": validation.seconds(self.connect_timeout, "connect_timeout"),
                "max_retries": validation.integer(
                    self.max_retries, "max_retries", minimum=0, maximum=MAX_RETRIES_LIMIT
                ),
                "default_application": validation.optional_text(self.default_application, "default_application"),
                "call_timeout": validation.seconds(self.call_timeout, "call_timeout"),
                "max_response_bytes": validation.integer(
                    self.max_response_bytes, "max_response_bytes", minimum=1024, maximum=1024**3
                ),
                "verify": _verify(self.verify),
                "max_connections": validation.integer(
                    self.max_connections, "max_connections", minimum=0, maximum=MAX_CONNECTIONS_LIMIT
                ),
                "job_url_template": _job_url_template(self.job_url_template),
            }
        except AmtValidationError as err:
            raise AmtConfigurationError(str(err)) from None
        if not isinstance(self.contract, WireContract):
            raise AmtConfigurationError(f"contract must be a WireContract, got {type(self.contract).__name__}.")
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @cached_property
    def cache_key(self) -> tuple[Hashable, ...]:
        """Identity of a server login: a changed password gives a new key (hashed, never stored).

        Cached: drivers look it up on every call, and the redactor on every job-log line.
        """
        digest = hashlib.sha256(self.password.encode()).hexdigest()
        return (self.base_url, self.user, digest, str(self.verify), self.contract)

    def url(self, path: str) -> str:
        return self.base_url + path

    def job_url(self, batch_request_id: int) -> str | None:
        """Where a person sees batch request ``batch_request_id``, or None without a template."""
        if self.job_url_template is None:
            return None
        return self.job_url_template.replace(JOB_URL_PLACEHOLDER, str(int(batch_request_id)))

    def connections_for(self, watchers: int) -> int:
        """How many requests may be in flight at once when ``watchers`` clients share this login.

        A server that takes 50 ms an answer serves one connection 20 requests a second; 20,000 jobs
        polled every 30 s need ~670 a second, so a fixed pool (aiohttp's default is 100) would make
        polls queue and come late. Automatic: one connection per ``WATCHERS_PER_CONNECTION``
        watchers, at least ``AUTO_CONNECTIONS_FLOOR``, at most ``AUTO_CONNECTIONS_CAP``; only as
        many are opened as requests are in flight. ``max_connections`` overrides it.
        """
        if self.max_connections:
            return self.max_connections
        return min(AUTO_CONNECTIONS_CAP, max(AUTO_CONNECTIONS_FLOOR, watchers // WATCHERS_PER_CONNECTION))


#: The one placeholder of ``job_url_template``.
JOB_URL_PLACEHOLDER = "{batch_request_id}"


def _job_url_template(value: object) -> str | None:
    """An http(s) URL holding ``{batch_request_id}`` once, and no other braces (nothing else is filled)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    template = validation.require_text(value, "job_url_template").strip()
    if urlsplit(template).scheme not in ("http", "https") or "@" in urlsplit(template).netloc:
        raise AmtValidationError(
            f"job_url_template must be an http(s) URL without a user or password, got {validation.brief(template, 80)}."
        )
    rest = template.replace(JOB_URL_PLACEHOLDER, "", 1)
    if JOB_URL_PLACEHOLDER not in template or "{" in rest or "}" in rest:
        raise AmtValidationError(
            f"job_url_template must hold {JOB_URL_PLACEHOLDER} once and no other braces, "
            f"got {validation.brief(template, 80)}."
        )
    return template


def _base_url(value: object) -> str:
    """``scheme://host:port/prefix``; credentials in the URL are refused (and never echoed)."""
    if not isinstance(value, str) or not value.strip():
        raise AmtValidationError(
            "the Batch Server URL is missing: give the URL including the port, e.g. https://batchserver:4004."
        )
    parts = urlsplit(value.strip())
    if parts.username is not None or parts.password is not None:
        raise AmtValidationError(
            "the Batch Server URL contains a user name or password (user:password@host); put them in the "
            "connection's login and password fields instead."
        )
    shown = validation.brief(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AmtValidationError(f"{shown} is not an http(s) URL of an AMT Batch Server.")
    if not _HOST.fullmatch(parts.netloc) or parts.query or parts.fragment:
        raise AmtValidationError(f"{shown} is not a valid Batch Server URL (spaces, query or fragment).")
    try:
        port = parts.port  # raises for a port out of range
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise AmtValidationError(f"{shown} has a port outside 1-65535.")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _verify(value: object) -> bool | str:
    """TLS verification: True, False, or a CA bundle file that exists and can be read."""
    if isinstance(value, bool):
        return value
    if not isinstance(value, str) or not value.strip():
        raise AmtValidationError(f"verify must be true, false or a CA bundle path, got {validation.brief(value)}.")
    try:
        with open(value, "rb") as bundle:
            bundle.read(1)
    except OSError as err:
        raise AmtValidationError(f"the CA bundle {value!r} cannot be read: {err.strerror or err}.") from None
    return value
