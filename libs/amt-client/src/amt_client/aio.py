"""``AsyncAmtClient``: the engine driven over ``aiohttp``, for event loops (Airflow's triggerer).

One ``aiohttp`` session, one token and one logon lock per (event loop, server login), shared by
every client on that loop: thousands of watchers make one logon and reuse one connection pool.
Sessions are bound to their loop, hence the key. The last client to :meth:`close` on a loop closes
the session. All decisions are the engine's; this module only sends, sleeps and locks.

The pool grows with the number of clients sharing it (``ServerConfig.connections_for``): a
:class:`_Gate` bounds the requests in flight, so aiohttp's own fixed limits are off. Each request
has one timer (``timeout`` plus ``connect_timeout`` in all), not aiohttp's per-read timer that is
re-armed on every chunk: at thousands of polls a second, timers were a fifth of the loop's work.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import inspect
import ssl
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import certifi
from typing_extensions import Self, Unpack

from amt_client import engine as sansio
from amt_client._base import ClientBase
from amt_client.body import ACCEPT_ENCODING, BodyDefect, BodyReader
from amt_client.codes import AmtMessage, JobStatus
from amt_client.config import ServerConfig
from amt_client.engine import Engine, HttpRetryPolicy, Steps, TokenSlot
from amt_client.errors import AmtConfigurationError, AmtError
from amt_client.health import ServerHealth
from amt_client.policy import MessageCursor, StateChange, WatchResult, WatchSettings
from amt_client.start import Action, JobEnding, StartOptions, StartRequest

T = TypeVar("T")
#: May return an awaitable (it is awaited); its result ``False`` stops reading.
AsyncPageCallback = Callable[[Sequence[AmtMessage]], object]
#: Answers the engine's ``MayRead`` step: ``final`` -> may messages be read now (see ``engine.MayRead``).
MayReadCallback = Callable[[bool], Awaitable[bool]]
#: Told of a watched job's new state (``engine.StateChange``); ``False`` asks again at the next poll.
AsyncStateCallback = Callable[[StateChange], object]


class _Gate:
    """At most ``capacity`` requests in flight; the others wait in order. The capacity may change
    between calls (it follows the number of clients); a shrunk gate lets the surplus finish."""

    def __init__(self) -> None:
        self.busy = 0
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()

    async def enter(self, capacity: int) -> None:
        if self.busy < capacity and not self._waiting:
            self.busy += 1
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            await turn  # ``leave`` counted us in before waking us
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.leave(capacity)  # woken and cancelled at once: pass the place on
            elif turn in self._waiting:
                self._waiting.remove(turn)
            raise

    def leave(self, capacity: int) -> None:
        self.busy -= 1
        while self._waiting and self.busy < capacity:
            turn = self._waiting.popleft()
            if not turn.done():
                self.busy += 1
                turn.set_result(None)


@dataclass
class _SharedSession:
    """One aiohttp session, token, logon lock, gate and view of the server's health per (event loop, server login)."""

    session: aiohttp.ClientSession
    tokens: TokenSlot = field(default_factory=TokenSlot)
    logon_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    gate: _Gate = field(default_factory=_Gate)
    health: ServerHealth = field(default_factory=ServerHealth)
    #: Watches waiting for the server to answer again (woken when the breaker closes).
    waiters: set[asyncio.Future[bool]] = field(default_factory=set)
    #: Engines hold no state of their own: the clients of this login with the same settings (by value:
    #: a login's clients may differ in timeouts or retries), policy, log and metrics hook share one (a
    #: triggerer's thousands of hooks hold one engine, not one each).
    engines: dict[tuple[Hashable, ...], Engine] = field(default_factory=dict)
    users: int = 0

    def engine_for(self, config: ServerConfig, policy: HttpRetryPolicy | None, log: Any, on_call: Any) -> Engine:
        key = (config, policy, log, on_call)
        engine = self.engines.get(key)
        if engine is None:
            engine = self.engines[key] = Engine(config, policy, log, on_call=on_call)
        return engine

    def server_back(self) -> None:
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(True)
        self.waiters.clear()


_shared_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Hashable, ...], _SharedSession]]
_shared_sessions = weakref.WeakKeyDictionary()


#: The context the wake-up timers run in: they only set a future, so they need none of the caller's
#: (a timer made without one copies the current context: one more object per pause).
_TIMER_CONTEXT = contextvars.Context()


def _settle(future: asyncio.Future[T], value: T) -> None:
    """A timer's callback: the future's result, unless it was settled (or cancelled) meanwhile."""
    if not future.done():
        future.set_result(value)


def _pause(seconds: float) -> asyncio.Future[None]:
    """``asyncio.sleep`` with fewer objects per pause: no coroutine and no context copy.

    Why it matters: a watch's pause objects outlive two young collections (a pause lasts seconds),
    so thousands of watches pausing every few seconds fill the oldest generation, and a full
    collection, which walks every object of the triggerer and holds its loop for hundreds of
    milliseconds, comes as often as that generation grows by a quarter. Fewer objects per pause:
    rarer full collections. Awaiting the returned future is the pause; cancelling the awaiting
    task cancels the future, and the timer then finds it done.
    """
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    loop.call_later(seconds, _settle, future, None, context=_TIMER_CONTEXT)
    return future


def _ssl_setting(verify: bool | str) -> ssl.SSLContext | bool:
    """The same trust as the requests client: certifi's CAs by default, or the configured bundle."""
    if verify is False:
        return False
    try:
        return ssl.create_default_context(cafile=certifi.where() if verify is True else verify)
    except (OSError, ssl.SSLError) as err:
        raise AmtConfigurationError(f"the CA bundle {verify!r} cannot be used: {err}") from None


def _failure_kind(err: BaseException) -> sansio.FailureKind:
    if isinstance(err, (aiohttp.ClientSSLError, aiohttp.ClientConnectorCertificateError)):
        return sansio.FailureKind.TLS
    if isinstance(err, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)):
        return sansio.FailureKind.NOT_SENT
    return sansio.FailureKind.MAYBE_SENT


class AsyncAmtClient(ClientBase):
    """Asynchronous AMT client: the methods of :class:`~amt_client.sync.AmtClient`, awaitable.

    ``async with AsyncAmtClient(config) as amt: status = await amt.get_job_status(7)``
    """

    def __init__(self, config: ServerConfig | None = None, **options: Any):
        super().__init__(config, **options)
        self._engine: Engine | None = None
        self._shared_session: _SharedSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def get_config(self) -> ServerConfig:
        return self._config if self._config is not None else self._adopt(await self._resolve_config())

    async def _resolve_config(self) -> ServerConfig:
        """Settings when none were given (the Airflow hook reads its connection here)."""
        raise AmtConfigurationError("AsyncAmtClient was made without a ServerConfig.")

    @property
    def _request_bound(self) -> float:
        config = self._config
        return config.connect_timeout + config.timeout if config is not None else 0.0

    def _session_in_use(self) -> _SharedSession | None:
        """This client's shared session when it is still good for the running loop (the common case,
        at every request: no coroutine made for it), else None (``_shared`` finds or makes one)."""
        shared = self._shared_session
        if shared is not None and self._loop is asyncio.get_running_loop() and not shared.session.closed:
            return shared
        return None

    async def _shared(self) -> _SharedSession:
        shared = self._session_in_use()
        if shared is not None:
            return shared
        loop = asyncio.get_running_loop()
        config = await self.get_config()
        sessions = _shared_sessions.setdefault(loop, {})
        shared = sessions.get(config.cache_key)
        if shared is None or shared.session.closed:
            # no aiohttp limits: the gate bounds the requests in flight, sized from the users
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ssl=_ssl_setting(config.verify))
            timeout = aiohttp.ClientTimeout(
                total=config.connect_timeout + config.timeout, sock_connect=config.connect_timeout
            )
            session = aiohttp.ClientSession(
                connector=connector,
                timeout=timeout,
                cookie_jar=aiohttp.DummyCookieJar(),  # AMT sets no cookies
                auto_decompress=False,  # body.py inflates within the size limit
                headers={"Accept-Encoding": ACCEPT_ENCODING},
            )
            shared = sessions[config.cache_key] = _SharedSession(session)
        shared.users += 1
        self._shared_session, self._loop = shared, loop
        return shared

    async def close(self) -> None:
        """Let go of the shared session; the last user on this loop closes it. Closing twice is harmless."""
        shared, self._shared_session = self._shared_session, None
        if shared is None:
            return
        shared.users -= 1
        if shared.users <= 0 and not shared.session.closed:
            await shared.session.close()
            sessions = _shared_sessions.get(self._loop) if self._loop else None
            if sessions and self._config and sessions.get(self._config.cache_key) is shared:
                del sessions[self._config.cache_key]

    async def __aenter__(self) -> Self:
        await self._shared()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- the driver ------------------------------------------------------------------------------

    async def _call(
        self,
        operation: Callable[[Engine], Steps[T]],
        on_page: AsyncPageCallback | None = None,
        may_read: MayReadCallback | None = None,
        on_state: AsyncStateCallback | None = None,
    ) -> T:
        if self._engine is None:
            shared = await self._shared()
            self._engine = shared.engine_for(await self.get_config(), self._retry_policy, self._amt_log, self._on_call)
        steps = operation(self._engine)
        del operation  # a watch's closure is not kept for the hours it runs (thousands of watches)
        reply: Any = None
        error: Exception | None = None
        while True:
            try:
                step = steps.throw(error) if error else steps.send(reply)
            except StopIteration as done:
                return done.value
            reply, error = None, None
            if isinstance(step, sansio.Sleep):  # most of a watch's life: see _pause
                seconds = step.seconds
                del step  # the step object is not kept through the pause
                await _pause(seconds)
                continue
            try:
                reply = await self._perform(step, on_page, may_read, on_state)
            except Exception as err:  # thrown in at its step: the engine decides what it means
                error = err

    async def _perform(
        self,
        step: sansio.Send | sansio.NeedToken | sansio.MayRead | sansio.Deliver | sansio.AwaitServer | StateChange,
        on_page: AsyncPageCallback | None,
        may_read: MayReadCallback | None,
        on_state: AsyncStateCallback | None = None,
    ) -> Any:
        """Carry out one step (``_call`` sleeps itself)."""
        if isinstance(step, sansio.Send):
            return await self._send(step)
        if isinstance(step, sansio.NeedToken):
            return await self._token(step)
        if isinstance(step, sansio.MayRead):
            return True if may_read is None else await may_read(step.final)
        if isinstance(step, sansio.AwaitServer):
            return await self._await_server(step.seconds)
        if isinstance(step, StateChange):
            result = on_state(step) if on_state else None
        else:
            result = on_page(step.messages) if on_page else None
        return await result if inspect.isawaitable(result) else result

    async def _send(self, send: sansio.Send) -> sansio.Reply:
        shared = self._session_in_use() or await self._shared()
        config = self._config or await self.get_config()
        capacity = config.connections_for(shared.users)
        await shared.gate.enter(capacity)
        try:
            if not shared.health.admit(send.timeout):  # the server is away: one probe at a time
                return shared.health.held()
            reply = await self._exchange(shared.session, send, config.max_response_bytes)
            if shared.health.record(reply):
                shared.server_back()
            return reply
        finally:
            shared.gate.leave(capacity)

    async def _exchange(self, session: aiohttp.ClientSession, send: sansio.Send, limit: int) -> sansio.Reply:
        """Carry out one request; whatever the network or the server does becomes a reply."""
        # The session's timer is the request bound; a per-request one only when call_timeout has less left.
        timeout = None if send.timeout >= self._request_bound else aiohttp.ClientTimeout(total=send.timeout)
        try:
            async with session.request(
                send.method,
                send.url,
                json=send.json,
                params=send.params or None,
                headers=send.headers,
                allow_redirects=False,  # the password and the token stay with this server
                timeout=timeout or aiohttp.helpers.sentinel,
            ) as response:
                headers = response.headers
                try:
                    reader = BodyReader(headers.get("Content-Encoding"), headers.get("Content-Type"), limit)
                    length = response.content_length
                    if reader.plain and length is not None and length <= limit:
                        body = reader.whole(await response.read())  # the common case: one read, no copy
                    else:
                        async for chunk in response.content.iter_any():  # still compressed: see body.py
                            if not reader.feed(chunk):
                                break
                        body = reader.finish()
                except BodyDefect as defect:
                    return sansio.Response(response.status, "", defect=str(defect))
                return sansio.Response(
                    response.status, body.text, headers.get("Retry-After"), headers.get("Location"), body.too_large
                )
        except asyncio.CancelledError:
            raise
        except Exception as err:  # the transport boundary: any failure of the exchange is a reply
            return sansio.TransportFailure(_failure_kind(err), f"{type(err).__name__}: {err}")

    async def _await_server(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the server to answer again (a timer and a future, as ``_pause``)."""
        shared = self._session_in_use() or await self._shared()
        if not shared.health.is_open:
            return True
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        shared.waiters.add(waiter)
        timer = loop.call_later(seconds, _settle, waiter, False, context=_TIMER_CONTEXT)
        try:
            return await waiter
        finally:
            timer.cancel()
            shared.waiters.discard(waiter)

    async def _token(self, need: sansio.NeedToken) -> str:
        shared = self._session_in_use() or await self._shared()
        token = shared.tokens.current(need)
        if token is not None and not need.fresh:  # the common case: a valid token, no lock to take
            return token
        async with shared.logon_lock:  # one logon for every concurrent caller on this loop
            token = shared.tokens.current(need)
            if token is None:
                token = shared.tokens.store(*await self._call(Engine.logon))
                await self._on_token(token)
            return token

    async def _on_token(self, token: str) -> None:
        """Awaited with every new logon token (the Airflow hook registers it with the masker)."""

    def _current_token(self) -> str | None:
        return self._shared_session.tokens.token if self._shared_session else None

    # --- the API: AmtClient's methods, awaitable -----------------------------------------------

    async def heartbeat(self) -> str:
        return await self._call(Engine.heartbeat)

    async def test_connection(self) -> tuple[bool, str]:
        try:
            return await self._call(Engine.check)
        except AmtError as err:  # the settings themselves could not be resolved
            return False, str(err)

    async def start(self, start: StartRequest) -> int:
        return await self._call(lambda engine: engine.start(start))

    async def start_batch_job(
        self, application_name: str, job_name: str, *, task_values: Any = None, **options: Unpack[StartOptions]
    ) -> int:
        return await self.start(StartRequest.batch_job(application_name, job_name, task_values, **options))

    async def start_script(
        self, application_name: str, script_name: str, *, script_parameters: Any = None, **options: Unpack[StartOptions]
    ) -> int:
        return await self.start(StartRequest.script(application_name, script_name, script_parameters, **options))

    async def get_job_status(self, batch_request_id: int) -> JobStatus:
        return await self._call(lambda engine: engine.status(batch_request_id))

    async def get_messages(self, batch_request_id: int, offset: int = 0, limit: int | None = None) -> list[AmtMessage]:
        return await self._call(lambda engine: engine.messages(batch_request_id, offset, limit))

    async def read_messages(self, batch_request_id: int, cursor: MessageCursor, on_page: AsyncPageCallback) -> int:
        return await self._call(lambda engine: engine.drain(batch_request_id, cursor), on_page)

    def watch_job(
        self,
        batch_request_id: int,
        cursor: MessageCursor,
        settings: WatchSettings,
        on_page: AsyncPageCallback,
        may_read: MayReadCallback | None = None,
        on_state: AsyncStateCallback | None = None,
    ) -> Coroutine[Any, Any, WatchResult]:
        """Poll until the job is final, delivering its messages to ``on_page`` and its new states to
        ``on_state``. ``may_read(final)``, if given, may hold a message read back
        (``engine.MayRead``). (Awaitable: the call's own coroutine, without one more frame for each
        of thousands of watches.)"""
        return self._call(lambda engine: engine.watch(batch_request_id, cursor, settings), on_page, may_read, on_state)

    async def find_batch_requests(self, task_id: str) -> list[int] | None:
        return await self._call(lambda engine: engine.find_start(task_id))

    async def stop_job(self, batch_request_id: int) -> int:
        return await self._call(lambda engine: engine.action(Action.STOP, batch_request_id))

    async def end_job(self, action: Action | str, batch_request_id: int) -> JobEnding:
        """Stop or Kill the job unless it has already ended (``engine.Engine.end``)."""
        return await self._call(lambda engine: engine.end(Action.of(action), batch_request_id))

    async def kill_job(self, batch_request_id: int) -> int:
        return await self._call(lambda engine: engine.action(Action.KILL, batch_request_id))
