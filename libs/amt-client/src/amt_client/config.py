"""Server settings: where the Batch Server is, how to log on, how long to wait, which contract.

A :class:`ServerConfig` is validated when it is made (an ``AmtConfigurationError`` names the bad
setting), so the clients never meet a NaN timeout or a URL without a host half-way through a call.
The Airflow provider builds one from a connection; a script builds one directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from amt_client import validation
from amt_client.contract import DEFAULT_CONTRACT, WireContract
from amt_client.errors import AmtConfigurationError, AmtValidationError

DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 4
#: The same bounds the Airflow connection form shows.
MAX_RETRIES_LIMIT = 20


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

    def __post_init__(self) -> None:
        if not self.user or not self.password:
            raise AmtConfigurationError("the AMT API user (login) and password are required.")
        try:
            checked = {
                "base_url": _base_url(self.base_url),
                "user": validation.require_text(self.user, "user"),
                "password": validation.require_text(self.password, "password"),
                "timeout": validation.seconds(self.timeout, "timeout"),
                "connect_timeout": validation.seconds(self.connect_timeout, "connect_timeout"),
                "max_retries": validation.integer(
                    self.max_retries, "max_retries", minimum=0, maximum=MAX_RETRIES_LIMIT
                ),
                "default_application": validation.optional_text(self.default_application, "default_application"),
            }
        except AmtValidationError as err:
            raise AmtConfigurationError(str(err)) from None
        if not isinstance(self.verify, (bool, str)) or self.verify == "":
            raise AmtConfigurationError(f"verify must be true, false or a CA bundle path, got {self.verify!r}.")
        if not isinstance(self.contract, WireContract):
            raise AmtConfigurationError(f"contract must be a WireContract, got {type(self.contract).__name__}.")
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @property
    def cache_key(self) -> tuple[Hashable, ...]:
        """Identity of a server login: a changed password gives a new key (hashed, never stored)."""
        digest = hashlib.sha256(self.password.encode()).hexdigest()
        contract = self.contract
        return (
            self.base_url,
            self.user,
            digest,
            str(self.verify),
            contract.paths,
            contract.token_header,
            contract.fields,
        )

    def url(self, path: str) -> str:
        return self.base_url + path


def _base_url(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise AmtValidationError(
            "the Batch Server URL is missing: give the URL including the port, e.g. https://batchserver:4004."
        )
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AmtValidationError(f"{value!r} is not an http(s) URL of an AMT Batch Server.")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
