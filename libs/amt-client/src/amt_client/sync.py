"""``AmtClient``: the engine driven over ``requests``, for scripts and Airflow workers.

One pooled ``requests.Session`` per client (a context manager, like ``requests.Session`` itself)
and one logon token per server login for the whole process, so several clients in one worker
share one logon. All decisions are the engine's; this module only sends, sleeps and locks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence
from functools import cached_property
from typing import Any, ClassVar, TypeVar

import requests
from requests.adapters import HTTPAdapter
from typing_extensions import Self, Unpack

from amt_client import engine as sansio
from amt_client._base import ClientBase
from amt_client.codes import AmtMessage, JobStatus
from amt_client.config import ServerConfig
from amt_client.engine import Engine, Steps, TokenSlot
from amt_client.errors import AmtConfigurationError, AmtError
from amt_client.policy import MessageCursor, WatchResult, WatchSettings
from amt_client.start import Action, JobEnding, StartOptions, StartRequest

T = TypeVar("T")
PageCallback = Callable[[Sequence[AmtMessage]], object]


def _never_sent(err: requests.RequestException) -> bool:
    """True when requests failed before the request could reach the server (safe to resend)."""
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    if isinstance(err, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(err.args[0], "reason", None) if err.args else None
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


def _read_capped(response: requests.Response, config: ServerConfig) -> tuple[bytes, bool]:
    """The body, at most ``max_response_bytes`` of it, within the request's time (a drip-feeding
    server cannot hold a call longer than ``connect_timeout + timeout``)."""
    deadline = time.monotonic() + config.connect_timeout + config.timeout
    body = bytearray()
    while chunk := response.raw.read1(64 * 1024, decode_content=True):  # as it arrives: the clock is checked
        body += chunk
        if len(body) > config.max_response_bytes:
            return bytes(body[: config.max_response_bytes]), True
        if time.monotonic() > deadline:
            raise requests.Timeout(f"the answer took longer than {config.connect_timeout + config.timeout:g} s")
    return bytes(body), False


class AmtClient(ClientBase):
    """Synchronous AMT client.

    ``with AmtClient(ServerConfig("http://batch:42000", "amtopcon", "...")) as amt:
    amt.start_batch_job("DEMO2", "REPORTTEST01")``
    """

    _slots_lock: ClassVar[threading.Lock] = threading.Lock()
    #: Process-wide by design: every client of one server login shares one token and one logon.
    _token_slots: ClassVar[dict[tuple[Hashable, ...], tuple[TokenSlot, threading.Lock]]] = {}

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
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
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

    # --- the driver ------------------------------------------------------------------------------

    def _call(self, operation: Callable[[Engine], Steps[T]], on_page: PageCallback | None = None) -> T:
        steps = operation(self.engine)
        reply: Any = None
        error: AmtError | None = None
        while True:
            try:
                step = steps.throw(error) if error else steps.send(reply)
            except StopIteration as done:
                return done.value
            reply, error = None, None
            try:
                reply = self._perform(step, on_page)
            except AmtError as err:
                error = err

    def _perform(self, step: sansio.Step, on_page: PageCallback | None) -> Any:
        if isinstance(step, sansio.Send):
            return self._send(step)
        if isinstance(step, sansio.Sleep):
            return time.sleep(step.seconds)
        if isinstance(step, sansio.NeedToken):
            return self._token(step)
        if isinstance(step, sansio.MayRead):
            return True  # this client reads whenever there is something new
        return on_page(step.messages) if on_page else None

    def _send(self, send: sansio.Send) -> sansio.Reply:
        config = self.config
        try:
            with self.session.request(
                send.method,
                send.url,
                json=send.json,
                params=send.params or None,
                headers=dict(send.headers),
                timeout=(config.connect_timeout, config.timeout),
                allow_redirects=False,  # the password and the token stay with this server
                stream=True,
            ) as response:
                body, too_large = _read_capped(response, config)
                headers = response.headers
                return sansio.Response(
                    response.status_code,
                    body.decode(response.encoding or "utf-8", errors="replace"),
                    headers.get("Retry-After"),
                    headers.get("Location"),
                    too_large,
                )
        except requests.exceptions.SSLError as err:
            return sansio.TransportFailure(sansio.FailureKind.TLS, f"{type(err).__name__}: {err}")
        except requests.RequestException as err:
            kind = sansio.FailureKind.NOT_SENT if _never_sent(err) else sansio.FailureKind.MAYBE_SENT
            return sansio.TransportFailure(kind, f"{type(err).__name__}: {err}")

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
        """Start an AMT script with up to 20 ``NAME=value`` parameters; returns its BatchRequestId."""
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
        self, batch_request_id: int, cursor: MessageCursor, settings: WatchSettings, on_page: PageCallback
    ) -> WatchResult:
        """Poll until the job is final (or the deadline passes), handing new messages to ``on_page``."""
        return self._call(lambda engine: engine.watch(batch_request_id, cursor, settings), on_page)

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
