"""``AmtClient``: the engine driven over ``requests``, for scripts and Airflow workers.

One pooled ``requests.Session`` per client (a context manager, like ``requests.Session`` itself)
and one logon token per server login for the whole process, so several clients in one worker
share one logon. All decisions are the engine's; this module only sends, sleeps and locks.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from functools import cached_property
from typing import Any, ClassVar, TypeVar

import requests
from requests.adapters import HTTPAdapter
from typing_extensions import Self, Unpack
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from amt_client import engine as sansio
from amt_client._base import ClientBase
from amt_client.body import ACCEPT_ENCODING, Body, BodyDefect, BodyReader
from amt_client.codes import AmtMessage, JobStatus
from amt_client.config import ServerConfig
from amt_client.engine import Engine, Steps, TokenSlot
from amt_client.errors import AmtConfigurationError, AmtError
from amt_client.health import ServerHealth
from amt_client.policy import MessageCursor, StateChange, WatchResult, WatchSettings
from amt_client.start import Action, JobEnding, StartOptions, StartRequest

T = TypeVar("T")
PageCallback = Callable[[Sequence[AmtMessage]], object]
#: Told of a watched job's new state (``engine.StateChange``); ``False`` asks again at the next poll.
StateCallback = Callable[[StateChange], object]


def _never_sent(err: BaseException) -> bool:
    """True when requests failed before the request could reach the server (safe to resend)."""
    if isinstance(err, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(err.args[0], "reason", None) if isinstance(err, requests.RequestException) and err.args else None
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


# --- one bound per request, headers included ----------------------------------------------------------
#
# requests' read timeout bounds each socket read, not the answer: a server that sends a header byte
# every half second holds a call forever. The connections below arm a timer while the status line
# and headers are read, and shut their socket down when the request's time is up; the body is read
# by ``_read_body`` against the same deadline.

_deadline = threading.local()


class _BoundedConnectionMixin:
    sock: Any

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        at: float | None = getattr(_deadline, "at", None)
        if at is None:
            return super().getresponse(*args, **kwargs)  # type: ignore[misc]
        timer = threading.Timer(max(0.0, at - time.monotonic()), self._cut)
        timer.daemon = True
        timer.start()
        try:
            return super().getresponse(*args, **kwargs)  # type: ignore[misc]
        finally:
            timer.cancel()

    def _cut(self) -> None:
        with contextlib.suppress(OSError, AttributeError):
            self.sock.shutdown(socket.SHUT_RDWR)


class _BoundedHTTPConnection(_BoundedConnectionMixin, HTTPConnection):
    pass


class _BoundedHTTPSConnection(_BoundedConnectionMixin, HTTPSConnection):
    pass


class _BoundedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _BoundedHTTPConnection


class _BoundedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _BoundedHTTPSConnection


class _BoundedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _BoundedHTTPPool, "https": _BoundedHTTPSPool}


def _read_body(response: requests.Response, limit: int, deadline: float) -> Body:
    """The body as it arrives (still compressed: ``BodyReader`` inflates it within the limit)."""
    headers = response.headers
    reader = BodyReader(headers.get("Content-Encoding"), headers.get("Content-Type"), limit)
    while chunk := response.raw.read1(64 * 1024, decode_content=False):
        if not reader.feed(chunk):
            break
        if time.monotonic() > deadline:
            raise requests.Timeout("the answer took longer than the request's time")
    return reader.finish()


class AmtClient(ClientBase):
    """Synchronous AMT client.

    ``with AmtClient(ServerConfig("http://batch:42000", "amtopcon", "...")) as amt:
    amt.start_batch_job("DEMO2", "REPORTTEST01")``
    """

    _slots_lock: ClassVar[threading.Lock] = threading.Lock()
    #: Process-wide by design: every client of one server login shares one token and one logon,
    #: and one view of the server's health (guarded by ``_slots_lock``).
    _token_slots: ClassVar[dict[tuple[Hashable, ...], tuple[TokenSlot, threading.Lock]]] = {}
    _healths: ClassVar[dict[tuple[Hashable, ...], ServerHealth]] = {}

    @property
    def config(self) -> ServerConfig:
        return self._config if self._config is not None else self._adopt(self._resolve_config())

    def _resolve_config(self) -> ServerConfig:
        """Settings when none were given (the Airflow hook reads its connection here)."""
        raise AmtConfigurationError("AmtClient was made without a ServerConfig.")

    @cached_property
    def engine(self) -> Engine:
        return Engine(self.config, self._retry_policy, self._amt_log, on_call=self._on_call)

    @cached_property
    def session(self) -> requests.Session:
        session = requests.Session()
        # The connection's TLS settings, and only they, apply: requests would otherwise let
        # REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE win, and read proxies and .netrc credentials from the
        # environment (aiohttp, and so the triggerer, does neither).
        session.trust_env = False
        session.headers["Accept-Encoding"] = ACCEPT_ENCODING  # body.py inflates within the size limit
        adapter = _BoundedAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.verify = self.config.verify
        return session

    def close(self) -> None:
        if "session" in self.__dict__:
            self.__dict__.pop("session").close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def forget_tokens(cls) -> None:
        """Drop every cached logon token of this process (the next call logs on again)."""
        with cls._slots_lock:
            cls._token_slots.clear()
            cls._healths.clear()

    # --- the driver ------------------------------------------------------------------------------

    def _call(
        self,
        operation: Callable[[Engine], Steps[T]],
        on_page: PageCallback | None = None,
        on_state: StateCallback | None = None,
    ) -> T:
        steps = operation(self.engine)
        reply: Any = None
        error: Exception | None = None
        while True:
            try:
                step = steps.throw(error) if error else steps.send(reply)
            except StopIteration as done:
                return done.value
            reply, error = None, None
            try:
                reply = self._perform(step, on_page, on_state)
            except Exception as err:  # thrown in at its step: the engine decides what it means
                error = err

    def _perform(self, step: sansio.Step, on_page: PageCallback | None, on_state: StateCallback | None) -> Any:
        if isinstance(step, sansio.Send):
            return self._send(step)
        if isinstance(step, sansio.Sleep):
            return time.sleep(step.seconds)
        if isinstance(step, sansio.NeedToken):
            return self._token(step)
        if isinstance(step, sansio.MayRead):
            return True  # this client reads whenever there is something new
        if isinstance(step, sansio.AwaitServer):  # one job per worker: its own polls are the probes
            time.sleep(step.seconds)
            return False
        if isinstance(step, StateChange):
            return on_state(step) if on_state else None
        return on_page(step.messages) if on_page else None

    def _send(self, send: sansio.Send) -> sansio.Reply:
        """Send unless the server is away and another request is its probe (``health.py``)."""
        with self._slots_lock:
            health = self._healths.setdefault(self.config.cache_key, ServerHealth())
            if not health.admit(send.timeout):
                return health.held()
        reply = self._exchange(send)
        with self._slots_lock:
            health.record(reply)
        return reply

    def _exchange(self, send: sansio.Send) -> sansio.Reply:
        """Carry out one request; whatever the network or the server does becomes a reply."""
        config = self.config
        began = time.monotonic()
        deadline = began + send.timeout
        _deadline.at = deadline
        try:
            with self.session.request(
                send.method,
                send.url,
                json=send.json,
                params=send.params or None,
                headers=send.headers,
                timeout=(min(config.connect_timeout, send.timeout), send.timeout),
                allow_redirects=False,  # the password and the token stay with this server
                stream=True,
            ) as response:
                headers = response.headers
                try:
                    body = _read_body(response, config.max_response_bytes, deadline)
                except BodyDefect as defect:
                    return sansio.Response(response.status_code, "", defect=str(defect))
                return sansio.Response(
                    response.status_code, body.text, headers.get("Retry-After"), headers.get("Location"), body.too_large
                )
        except requests.exceptions.SSLError as err:
            return sansio.TransportFailure(sansio.FailureKind.TLS, f"{type(err).__name__}: {err}")
        except Exception as err:  # the transport boundary: any failure of the exchange is a reply
            kind = sansio.FailureKind.NOT_SENT if _never_sent(err) else sansio.FailureKind.MAYBE_SENT
            if time.monotonic() >= deadline:
                return sansio.TransportFailure(kind, f"Timeout: no complete answer within {send.timeout:g} s")
            return sansio.TransportFailure(kind, f"{type(err).__name__}: {err}")
        finally:
            _deadline.at = None

    def _slot(self) -> tuple[TokenSlot, threading.Lock]:
        with self._slots_lock:
            return self._token_slots.setdefault(self.config.cache_key, (TokenSlot(), threading.Lock()))

    def _token(self, need: sansio.NeedToken) -> str:
        slot, lock = self._slot()
        with lock:  # threads of one process share one logon
            token = slot.current(need)
            if token is None:
                token = slot.store(*self._call(Engine.logon))
                self._on_token(token)
            return token

    def _on_token(self, token: str) -> None:
        """Called with every new logon token (the Airflow hook registers it with the masker)."""

    def _current_token(self) -> str | None:
        return self._slot()[0].token

    # --- the API ---------------------------------------------------------------------------------

    def heartbeat(self) -> str:
        """Ask the server whether it is up (no logon needed). Returns a short status text."""
        return self._call(Engine.heartbeat)

    def test_connection(self) -> tuple[bool, str]:
        """Heartbeat (server up) and a fresh logon (credentials accepted): ``(ok, message)``."""
        try:
            return self._call(Engine.check)
        except AmtError as err:  # the settings themselves could not be resolved
            return False, str(err)

    def start(self, start: StartRequest) -> int:
        """Send a Start; returns the BatchRequestId (> 0). Never re-sent once it may have arrived."""
        return self._call(lambda engine: engine.start(start))

    def start_batch_job(
        self, application_name: str, job_name: str, *, task_values: Any = None, **options: Unpack[StartOptions]
    ) -> int:
        """Start a predefined AMT batch job with up to 20 TaskValues; returns its BatchRequestId."""
        return self.start(StartRequest.batch_job(application_name, job_name, task_values, **options))

    def start_script(
        self, application_name: str, script_name: str, *, script_parameters: Any = None, **options: Unpack[StartOptions]
    ) -> int:
        """Start an AMT script with up to 20 parameters (free text, or a mapping sent as ``NAME=value``);
        returns its BatchRequestId."""
        return self.start(StartRequest.script(application_name, script_name, script_parameters, **options))

    def get_job_status(self, batch_request_id: int) -> JobStatus:
        """MonitorJob: the current completion code of a batch request."""
        return self._call(lambda engine: engine.status(batch_request_id))

    def get_messages(self, batch_request_id: int, offset: int = 0, limit: int | None = None) -> list[AmtMessage]:
        """GetMessages from ``offset`` on (at most ``limit``, default one full page)."""
        return self._call(lambda engine: engine.messages(batch_request_id, offset, limit))

    def read_messages(self, batch_request_id: int, cursor: MessageCursor, on_page: PageCallback) -> int:
        """Hand every message from ``cursor`` on to ``on_page``, a page at a time; ``False`` stops."""
        return self._call(lambda engine: engine.drain(batch_request_id, cursor), on_page)

    def watch_job(
        self,
        batch_request_id: int,
        cursor: MessageCursor,
        settings: WatchSettings,
        on_page: PageCallback,
        on_state: StateCallback | None = None,
    ) -> WatchResult:
        """Poll until the job is final (or the deadline passes), handing new messages to ``on_page``
        and each new state of the job to ``on_state``."""
        return self._call(lambda engine: engine.watch(batch_request_id, cursor, settings), on_page, on_state)

    def find_batch_requests(self, task_id: str) -> list[int] | None:
        """The batch requests a Start with this GUID task id created, or None when the server cannot say."""
        return self._call(lambda engine: engine.find_start(task_id))

    def stop_job(self, batch_request_id: int) -> int:
        """Ask AMT to stop the job (a queued job is removed from its queue)."""
        return self._call(lambda engine: engine.action(Action.STOP, batch_request_id))

    def end_job(self, action: Action | str, batch_request_id: int) -> JobEnding:
        """Stop or Kill the job unless it has already ended; what happened, with its completion code."""
        return self._call(lambda engine: engine.end(Action.of(action), batch_request_id))

    def kill_job(self, batch_request_id: int) -> int:
        """Kill the job at once; it ends with 3 KILLED. Killing an ended job changes nothing."""
        return self._call(lambda engine: engine.action(Action.KILL, batch_request_id))
