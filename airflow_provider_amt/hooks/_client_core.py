"""What the sync and the async AMT clients have in common, so each piece of logic exists once.

* :class:`AmtServerConfig` turns an Airflow connection into server settings.
* :class:`RetryPolicy` decides whether and when a failed call is sent again.
* :class:`TokenSlot` holds a cached logon token and knows when it is about to expire.
* :class:`AmtApiMethods` is the public method set (``start_batch_job``, ``get_job_status``, ...).
  Each method builds an :class:`~airflow_provider_amt.api_contract.ApiRequest`, hands it to the
  client's ``_call`` and names the parser for the answer. The sync hook's ``_call`` returns the
  value; the async hook's ``_call`` returns a coroutine, so the same method is awaited there.
"""

from __future__ import annotations

import email.utils
import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_amt import api_contract as contract
from airflow_provider_amt.api_contract import ApiRequest
from airflow_provider_amt.codes import AmtMessage, JobStatus
from airflow_provider_amt.exceptions import AmtConfigurationError

DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 4


def _number(extra: dict[str, Any], name: str, default: float, conn_id: str) -> float:
    value = extra.get(name)
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AmtConfigurationError(
            f"Connection {conn_id!r}: extra field {name!r} must be a number, got {value!r}."
        ) from None
    if number <= 0:
        raise AmtConfigurationError(f"Connection {conn_id!r}: extra field {name!r} must be > 0.")
    return number


def _boolean(value: Any, default: bool) -> bool:
    if value in (None, ""):
        return default
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "0", "no", "off")
    return bool(value)


@dataclass(frozen=True)
class AmtServerConfig:
    """Server settings read from an Airflow connection of type ``amt``."""

    conn_id: str
    base_url: str
    user: str
    password: str = field(repr=False)
    verify: bool | str = True
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    default_application: str | None = None

    @classmethod
    def from_connection(cls, conn: Any) -> AmtServerConfig:
        conn_id = conn.conn_id or "<unnamed>"
        host = (conn.host or "").strip()
        if not host:
            raise AmtConfigurationError(
                f"Connection {conn_id!r} has no Batch Server URL. Set the host to the URL including "
                "the port, e.g. https://batchserver:4004."
            )
        if "://" not in host:
            scheme = (conn.schema or "http").strip() or "http"
            host = f"{scheme}://{host}"
        parts = urlsplit(host)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AmtConfigurationError(
                f"Connection {conn_id!r}: {host!r} is not an http(s) URL of an AMT Batch Server."
            )
        netloc = parts.netloc
        if parts.port is None and conn.port:
            netloc = f"{netloc}:{conn.port}"
        base_url = f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"
        if not conn.login or not conn.password:
            raise AmtConfigurationError(f"Connection {conn_id!r} needs the AMT API user (login) and password.")
        extra = conn.extra_dejson or {}
        ca_bundle = extra.get("ca_bundle") or None
        verify: bool | str = ca_bundle if ca_bundle else _boolean(extra.get("verify_ssl"), True)
        retries = extra.get("max_retries")
        try:
            max_retries = DEFAULT_MAX_RETRIES if retries in (None, "") else int(retries)
        except (TypeError, ValueError):
            raise AmtConfigurationError(
                f"Connection {conn_id!r}: extra field 'max_retries' must be an integer, got {retries!r}."
            ) from None
        return cls(
            conn_id=conn_id,
            base_url=base_url,
            user=conn.login,
            password=conn.password,
            verify=verify,
            timeout=_number(extra, "timeout", DEFAULT_TIMEOUT, conn_id),
            connect_timeout=_number(extra, "connect_timeout", DEFAULT_CONNECT_TIMEOUT, conn_id),
            max_retries=max(0, max_retries),
            default_application=extra.get("default_application") or None,
        )

    @property
    def cache_key(self) -> tuple[str, str, str, str]:
        """Identity of a server login: a changed password gives a new key (hashed, never stored)."""
        digest = hashlib.sha256(self.password.encode()).hexdigest()
        return (self.base_url, self.user, digest, str(self.verify))


# --- retries ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with full jitter; ``Retry-After`` wins when the server sends it."""

    max_retries: int = DEFAULT_MAX_RETRIES
    base_delay: float = 0.5
    max_delay: float = 15.0
    max_retry_after: float = 120.0

    def should_retry(self, request: ApiRequest, attempt: int, *, status: int | None, sent: bool) -> bool:
        """``attempt`` counts from 0. ``sent`` is False when the request provably never left.

        A Start (not idempotent) is repeated only when it cannot have reached the server: a failed
        connect, or HTTP 429 (the server refused it before doing anything).
        """
        if attempt >= self.max_retries:
            return False
        if status is not None:
            return status in contract.RETRYABLE_STATUSES and (request.idempotent or status == 429)
        return request.idempotent or not sent

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        cap = min(self.max_delay, self.base_delay * (2**attempt))
        return random.uniform(cap / 2, cap)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (either form the RFC allows), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


# --- tokens ----------------------------------------------------------------------------------


@dataclass
class TokenSlot:
    """One cached logon token. Renewed a little before the lifetime the server announced."""

    token: str | None = None
    expires_at: float | None = None

    def valid(self) -> str | None:
        if self.token and (self.expires_at is None or time.monotonic() < self.expires_at):
            return self.token
        return None

    def store(self, token: str, lifetime: float | None) -> None:
        self.token = token
        # Renew 10% (at most 30 s) early so a poll does not race the expiry.
        self.expires_at = None if lifetime is None else time.monotonic() + lifetime - min(30.0, lifetime * 0.1)

    def invalidate(self, token: str | None) -> None:
        """Forget ``token`` unless another caller already replaced it with a fresh one."""
        if token is None or self.token == token:
            self.token = None
            self.expires_at = None


# --- the public API, shared by both hooks -----------------------------------------------------


class AmtApiMethods:
    """The AMT calls, written once. Subclasses implement ``_call(request, parser)``.

    On :class:`~airflow_provider_amt.hooks.amt.AmtAsyncHook` every method returns an awaitable.
    """

    def _call(self, request: ApiRequest, parser: contract.Parser) -> Any:  # pragma: no cover
        raise NotImplementedError

    def _secrets(self) -> list[str | None]:  # pragma: no cover
        raise NotImplementedError

    def redactor(self) -> Callable[[str], str]:
        """A function that masks this hook's password and current token in a text.

        The job log passes every line through it, so a job that echoes a credential never shows
        it in the task log, even where Airflow's own masker is not wired in (``airflow dags test``).
        """
        return lambda text: contract.redact(text, self._secrets())

    def heartbeat(self) -> str:
        """Ask the server whether it is up (no logon needed). Returns a short status text."""
        return self._call(contract.heartbeat_request(), contract.parse_heartbeat)

    def start_batch_job(
        self,
        application_name: str,
        job_name: str,
        *,
        task_values: list[str] | None = None,
        run_as_user: str | None = None,
        queue_name: str | None = None,
        submit_user: str = "BATCH",
        station: str = "OPCON",
        task_id: str | None = None,
    ) -> int:
        """Start a predefined AMT batch job; returns its BatchRequestId (> 0).

        Arguments are validated before anything is sent (at most 20 TaskValues, strings or
        numbers). ``task_id`` is the caller's correlation GUID.
        """
        start = contract.build_start(
            "BatchJob",
            application_name,
            job_name,
            task_values,
            run_as_user=run_as_user,
            queue_name=queue_name,
            submit_user=submit_user,
            station=station,
            task_id=task_id,
        )
        return self.start(start)

    def start_script(
        self,
        application_name: str,
        script_name: str,
        *,
        script_parameters: dict[str, Any] | list[str] | None = None,
        run_as_user: str | None = None,
        queue_name: str | None = None,
        submit_user: str = "BATCH",
        station: str = "OPCON",
        task_id: str | None = None,
    ) -> int:
        """Start an AMT script with up to 20 ``NAME=value`` parameters; returns its BatchRequestId."""
        start = contract.build_start(
            "Script",
            application_name,
            script_name,
            script_parameters,
            run_as_user=run_as_user,
            queue_name=queue_name,
            submit_user=submit_user,
            station=station,
            task_id=task_id,
        )
        return self.start(start)

    def start(self, start: contract.StartRequest) -> int:
        """Send an already validated Start (see ``api_contract.build_start``); returns the BatchRequestId."""
        return self._call(contract.start_request(start), contract.parse_start)

    def get_job_status(self, batch_request_id: int) -> JobStatus:
        """MonitorJob: the current completion code of a batch request."""
        return self._call(contract.status_request(batch_request_id), contract.parse_status)

    def get_messages(
        self, batch_request_id: int, offset: int = 0, limit: int = contract.MAX_MESSAGES_PAGE
    ) -> list[AmtMessage]:
        """GetMessages from ``offset`` on (at most ``limit``); the next offset is ``offset + len(result)``."""
        parser = partial(contract.parse_messages, offset=offset)
        return self._call(contract.messages_request(batch_request_id, offset, limit), parser)

    def stop_job(self, batch_request_id: int) -> int:
        """Ask AMT to stop the job (a queued job is removed from its queue)."""
        return self._call(contract.job_action_request("Stop", batch_request_id), contract.parse_action)

    def kill_job(self, batch_request_id: int) -> int:
        """Kill the job at once; it ends with 3 KILLED. Killing an ended job changes nothing."""
        return self._call(contract.job_action_request("Kill", batch_request_id), contract.parse_action)


# --- one call: retry / re-logon decisions, shared by both transports ---------------------------


class CallState:
    """Decides, for one logical call, what happens after each attempt.

    The transports (``requests`` and ``aiohttp``) only send and report back; this object decides
    whether to retry, to log on again, to fail, or to parse the answer. One re-logon per call is
    allowed (a token expired or the server restarted); retries follow :class:`RetryPolicy`.
    """

    RETRY, RELOGON, DONE = "retry", "relogon", "done"

    def __init__(self, request: ApiRequest, parser: contract.Parser, policy: RetryPolicy, server: str, log: Any):
        self.request = request
        self.parser = parser
        self.policy = policy
        self.server = server
        self.log = log
        self.attempt = 0
        self.relogged = False

    def after_transport_error(self, err: BaseException, *, sent: bool) -> float:
        """Seconds to wait before the next attempt; raises the final error when there is none."""
        if not self.policy.should_retry(self.request, self.attempt, status=None, sent=sent):
            raise contract.unreachable_error(self.request, self.server, err, self.attempt + 1) from err
        return self._next_delay(f"{type(err).__name__}", None)

    def after_response(self, status: int, text: str, retry_after: str | None) -> tuple[str, Any]:
        """``(RELOGON, None)``, ``(RETRY, delay)`` or ``(DONE, parsed value)``; raises typed errors."""
        if status == 401 and self.request.needs_token and not self.relogged:
            self.relogged = True
            self.log.info("AMT refused the logon token for %s; logging on again", self.request.what)
            return self.RELOGON, None
        if status >= 400:
            if self.policy.should_retry(self.request, self.attempt, status=status, sent=True):
                return self.RETRY, self._next_delay(f"HTTP {status}", parse_retry_after(retry_after))
            raise contract.error_for_status(status, text, self.request, self.server)
        body = contract.decode_json(text, self.request, self.server)
        return self.DONE, self.parser(body, self.request.describe(self.server))

    def _next_delay(self, reason: str, retry_after: float | None) -> float:
        delay = self.policy.delay(self.attempt, retry_after)
        self.attempt += 1
        self.log.warning(
            "%s failed (%s); retry %d of %d in %.1f s",
            self.request.describe(self.server),
            reason,
            self.attempt,
            self.policy.max_retries,
            delay,
        )
        return delay


def tls_error(request: ApiRequest, server: str, err: BaseException) -> AmtConfigurationError:
    """Certificate problems are configuration problems: retrying cannot fix them."""
    return AmtConfigurationError(
        f"{request.describe(server)}: TLS handshake failed ({type(err).__name__}: {err}). Set the "
        "connection extra 'ca_bundle' to the CA that signed the server certificate, or, for tests "
        "only, 'verify_ssl': false."
    )
