"""The sans-IO engine: every AMT rule about *what* to send and *what to do next*, with no I/O.

Each operation is a generator of steps. It yields

* :class:`Send`: send this HTTP request and give me back a :class:`Response` or a
  :class:`TransportFailure`;
* :class:`Sleep`: wait this long;
* :class:`NeedToken`: give me a valid logon token (log on if there is none, or if ``stale`` is
  the current one, or if ``fresh`` asks for a new logon);
* :class:`Deliver`: here is a page of messages for the caller (the reply may be ``False`` to stop
  reading);
* :class:`MayRead`: there are new messages; may they be read now? (``False``: not yet, poll on. A
  caller that settles its cursor first, or spaces its reads under load, like the Airflow trigger,
  answers it; others say yes);
* :class:`~amt_client.policy.StateChange`: the job is in another state than the cursor's; report it
  (``False``: not now, it is asked again at the next poll; the Airflow trigger first reads what an
  earlier copy of it reported);

and finally *returns* its result (``StopIteration.value``). An :class:`~amt_client.errors.AmtError`
the driver meets while carrying out a step is thrown into the generator at that step.

The two clients (``sync.AmtClient`` over ``requests``, ``aio.AsyncAmtClient`` over ``aiohttp``) are
thin drivers of these generators, so retries, re-logon, backoff, ``Retry-After``, paging and the
polling loop exist once, here, and are tested with a fake clock and no sockets.
"""

from __future__ import annotations

import copy
import email.utils
import enum
import functools
import json
import logging
import random
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

from amt_client import validation
from amt_client.codes import AmtMessage, Code, JobStatus
from amt_client.config import ServerConfig
from amt_client.contract import ApiRequest, decode_json
from amt_client.errors import (
    TRANSIENT_ERRORS,
    AmtConfigurationError,
    AmtError,
    AmtNotFoundError,
    AmtResponseError,
    AmtServerAwayError,
    AmtServerUnavailableError,
    AmtValidationError,
)
from amt_client.policy import JobWatch, MessageCursor, Outcome, StateChange, Verdict, WatchResult, WatchSettings
from amt_client.start import END_SETTLE_SECONDS, Action, JobEnding, StartRequest

T = TypeVar("T")
#: After an outage, the watches that waited for the server poll again within this share of their
#: poll interval, at random points (not all at once at a server that has just come back).
RESUME_SPREAD = 0.9

# --- steps and replies -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """Send this request; the reply is a :class:`Response` or a :class:`TransportFailure`."""

    method: str
    url: str
    headers: Mapping[str, str]
    json: Any = field(default=None, repr=False)
    params: Mapping[str, str] = field(default_factory=dict)
    #: Seconds the whole exchange may take, connecting to the last byte of the answer: the request
    #: bound (``connect_timeout + timeout``), less when the call's ``call_timeout`` has less left.
    timeout: float = 0.0


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class NeedToken:
    """Reply with a valid logon token. ``stale``: the server refused this one; ``fresh``: log on anew."""

    stale: str | None = None
    fresh: bool = False


@dataclass(frozen=True)
class Deliver:
    """A page of messages for the caller; reply ``False`` to stop reading, anything else to go on."""

    messages: Sequence[AmtMessage]


@dataclass(frozen=True)
class MayRead:
    """Ask whether messages may be read now; ``final``: the job has ended, wait until they may (reply True)."""

    final: bool


@dataclass(frozen=True)
class AwaitServer:
    """The server is away: wait up to ``seconds`` for it to answer again. Reply True when it did
    (the breaker closed, see ``health.py``), False when the time passed first."""

    seconds: float


Step = Send | Sleep | NeedToken | Deliver | MayRead | AwaitServer | StateChange
Steps = Generator[Step, Any, T]


@dataclass(frozen=True)
class Response:
    status: int
    text: str = field(repr=False)
    retry_after: str | None = None
    location: str | None = None
    #: The answer was larger than ``ServerConfig.max_response_bytes`` (``text`` holds its start).
    too_large: bool = False
    #: Why the answer that arrived cannot be read (a broken gzip stream...), or None.
    defect: str | None = None


class FailureKind(enum.Enum):
    NOT_SENT = "not sent"  # the connection failed: the server provably never saw the request
    MAYBE_SENT = "maybe sent"  # read timeout, dropped connection: the server may have acted on it
    TLS = "tls"  # the TLS handshake failed: configuration, retrying cannot help
    HELD = "held"  # never sent: the server is away and another request is its probe (health.py)


@dataclass(frozen=True)
class TransportFailure:
    kind: FailureKind
    detail: str


Reply = Response | TransportFailure


# --- retries ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpRetryPolicy:
    """Capped exponential backoff with full jitter; ``Retry-After`` wins when the server sends it."""

    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 15.0
    max_retry_after: float = 120.0

    def should_retry(
        self, request: ApiRequest[Any], attempt: int, *, status: int | None, sent: bool, retryable: frozenset[int]
    ) -> bool:
        """``attempt`` counts from 0. ``sent`` is False when the request provably never left.

        A Start (not idempotent) is repeated only when it cannot have reached the server: a failed
        connect, or HTTP 429 (the server refused it before doing anything).
        """
        if attempt >= self.max_retries:
            return False
        if status is not None:
            return status in retryable and (request.idempotent or status == 429)
        return request.idempotent or not sent

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        cap = min(self.max_delay, self.base_delay * (2**attempt))
        return (rng or random).uniform(cap / 2, cap)


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """``Retry-After`` as seconds (either form the RFC allows), or None when absent or malformed."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value) if len(value) <= 9 else None  # past 30 years: nonsense, not a wait
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when.timestamp() - now())


# --- tokens ----------------------------------------------------------------------------------------


@dataclass
class TokenSlot:
    """One cached logon token, renewed a little before the lifetime the server announced.

    Drivers keep one per server login, shared by every caller (threads or coroutines), and ask it
    under their lock: :meth:`current` answers a :class:`NeedToken` step, :meth:`store` keeps the
    result of a logon.
    """

    clock: Callable[[], float] = time.monotonic
    token: str | None = field(default=None, repr=False)
    expires_at: float | None = None

    def current(self, need: NeedToken) -> str | None:
        """The token to use for ``need``, or None when a logon is due."""
        if need.fresh or (need.stale is not None and need.stale == self.token):
            self.token = self.expires_at = None
        if self.token and (self.expires_at is None or self.clock() < self.expires_at):
            return self.token
        return None

    def store(self, token: str, lifetime: float | None) -> str:
        self.token = token
        # Renew 10% (at most 30 s) early so a poll does not race the expiry.
        self.expires_at = None if lifetime is None else self.clock() + lifetime - min(30.0, lifetime * 0.1)
        return token


#: What the Test button adds when the server answered, but not as the contract says.
CONTRACT_HINTS = {
    "heartbeat": (
        " The server answered, but not as the wire contract expects a heartbeat to: check the contract "
        "document's paths.heartbeat, heartbeat.answer ('text' when any answer means up), answer_envelope "
        "and fields.status (see docs/api-contract.md)."
    ),
    "logon": (
        " The heartbeat answered, but the logon not as the wire contract expects: check the contract "
        "document's paths.logon, fields.user_name, fields.password, fields.token, fields.expires_in and "
        "answer_envelope (see docs/api-contract.md)."
    ),
}


# --- the engine ------------------------------------------------------------------------------------


class Engine:
    """The operations of one server login, as step generators (see the module docstring).

    :param config: the server settings (validated).
    :param policy: retry policy; default: ``HttpRetryPolicy(max_retries=config.max_retries)``.
    :param log: where retries and re-logons are reported (a ``logging.Logger`` or alike).
    :param rng: random source for backoff jitter (tests pass a seeded one).
    :param clock: monotonic clock of the polling policy (tests pass a fake one).
    :param wall_clock: epoch clock the watch deadline is compared with.
    :param on_call: told of every HTTP attempt as ``(operation, result)``: the AMT function
        (``MonitorJob``, ``GetMessages``, ``Start``, ``Kill``...) and ``ok``, ``http_<status>`` or the
        transport failure (``maybe_sent``, ``not_sent``, ``tls``). The provider makes metrics of it.
    """

    def __init__(
        self,
        config: ServerConfig,
        policy: HttpRetryPolicy | None = None,
        log: Any = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        on_call: Callable[[str, str], None] | None = None,
    ):
        self.config = config
        self.on_call = on_call
        self.contract = config.contract
        self.policy = policy or HttpRetryPolicy(max_retries=config.max_retries)
        self.log = log or logging.getLogger("amt_client")
        #: The jitter source; None: the ``random`` module's own (a ``random.Random`` each would cost 2.5 KB
        #: per watched job).
        self.random = rng
        self.clock = clock
        self.wall_clock = wall_clock

    # --- one call: retries and re-logon ----------------------------------------------------------

    def call(self, request: ApiRequest[T]) -> Steps[T]:
        """Send ``request`` until it succeeds, fails for good, or retries or ``call_timeout`` run out.

        Returns the parsed answer. Every error raised is scrubbed of the password and the token it
        used, and for a Start says whether the request may have reached the server.
        """
        started = self.clock()
        attempt, relogged, stale, token, arrived = 0, False, None, None, False
        last_error: AmtError | None = None
        try:
            while True:
                headers = {"Accept": "application/json"}
                if request.needs_token:
                    token = yield NeedToken(stale=stale)
                    headers.update(self.contract.token_headers(token))
                budget = self._request_budget(started)
                if budget is None:  # e.g. the logon before it took what was left
                    raise self._gave_up(
                        last_error
                        or AmtServerUnavailableError(
                            f"{request.describe(self.config.base_url)}: nothing was sent (no time left)."
                        )
                    )
                reply = yield Send(
                    request.method, self.config.url(request.path), headers, request.json_body, request.params, budget
                )
                arrived = _may_have_arrived(reply)
                self._report(request, reply)
                if (
                    isinstance(reply, Response)
                    and reply.status in self.contract.statuses.token_refused
                    and request.needs_token
                    and not relogged
                ):
                    relogged, stale = True, token
                    self.log.info("AMT refused the logon token for %s; logging on again", request.what)
                    continue
                failure = self._failure(request, reply, attempt, token)
                if failure is None:
                    assert isinstance(reply, Response)
                    return self._parse(request, reply, token)
                error, delay = failure
                if isinstance(reply, TransportFailure) and reply.kind is FailureKind.HELD and last_error is not None:
                    error = AmtServerAwayError(f"{last_error} Then held back, not sent: {reply.detail}.")
                if delay is None:
                    raise error
                if self.clock() - started + delay >= self.config.call_timeout:  # no time left to send after it
                    raise self._gave_up(error)
                last_error = error
                attempt += 1
                self.log.warning(
                    "%s failed (%s); retry %d of %d in %.1f s",
                    request.describe(self.config.base_url),
                    _reason(reply),
                    attempt,
                    self.policy.max_retries,
                    delay,
                )
                yield Sleep(delay)
        except AmtError as err:
            raise self._scrubbed(err, request, token, arrived) from None

    def _gave_up(self, error: AmtError) -> AmtError:
        limit = self.config.call_timeout
        return reworded(error, f"{error} Gave up: the call would take longer than call_timeout ({limit:g} s).")

    def _request_budget(self, started: float) -> float | None:
        """Seconds the next request may take: the request bound, or what is left of ``call_timeout``
        when that is less (None: nothing is left, so nothing is sent)."""
        config = self.config
        left = config.call_timeout - (self.clock() - started)
        if left <= 0:
            return None
        return min(config.connect_timeout + config.timeout, left)

    def _report(self, request: ApiRequest[Any], reply: Reply) -> None:
        if self.on_call is None:
            return
        if isinstance(reply, TransportFailure):
            result = reply.kind.name.lower()
        else:
            usable = not reply.too_large and reply.defect is None
            result = "ok" if 200 <= reply.status < 300 and usable else f"http_{reply.status}"
        try:
            self.on_call(request.operation or request.method, result)
        except Exception:  # an observer never breaks a call
            self.log.debug("on_call observer failed", exc_info=True)

    def _parse(self, request: ApiRequest[T], reply: Response, token: str | None) -> T:
        """The answer read by the request's parser; an answer that cannot be read and holds a
        credential is not quoted at all (a quote is cut, and a cut secret can no longer be found)."""
        server = self.config.base_url
        try:
            body = reply.text if request.text_answer else decode_json(reply.text, request, server)
            return request.parse(body, request.describe(server))
        except AmtError as err:
            if holds_secret(reply.text, [self.config.password, token]):
                raise reworded(
                    err,
                    f"{request.describe(server)} returned an answer that cannot be read ({type(err).__name__}); "
                    "it is not quoted because it holds a credential.",
                ) from None
            raise

    def _failure(
        self, request: ApiRequest[Any], reply: Reply, attempt: int, token: str | None = None
    ) -> tuple[AmtError, float | None] | None:
        """None for a usable answer; otherwise the error and the pause before a retry (None: no retry)."""
        server = self.config.base_url
        if isinstance(reply, TransportFailure):
            if reply.kind is FailureKind.TLS:
                return tls_error(request, server, reply.detail), None
            if reply.kind is FailureKind.HELD:  # retrying at once is what the breaker holds back
                return unreachable_error(request, server, reply, attempt), None
            sent = reply.kind is FailureKind.MAYBE_SENT
            retry = self._may_retry(request, attempt, status=None, sent=sent)
            delay = self.policy.delay(attempt, rng=self.random) if retry else None
            return unreachable_error(request, server, reply, attempt + 1), delay
        if reply.too_large:
            limit = self.config.max_response_bytes
            return AmtResponseError(f"{request.describe(server)} answered with more than {limit} bytes."), None
        if reply.defect is not None:
            return AmtResponseError(
                f"{request.describe(server)} answered HTTP {reply.status}, but {reply.defect}."
            ), None
        if 300 <= reply.status < 400:
            return redirect_error(request, server, reply), None
        if reply.status >= 400:
            text = redact(reply.text, [self.config.password, token])  # before error_for_status cuts it
            error = self.contract.error_for_status(reply.status, text, request, server)
            if not self._may_retry(request, attempt, status=reply.status, sent=True):
                return error, None
            retry_after = parse_retry_after(reply.retry_after, self.wall_clock)
            return error, self.policy.delay(attempt, retry_after, rng=self.random)
        return None

    def _scrubbed(self, err: AmtError, request: ApiRequest[Any], token: str | None, arrived: bool) -> AmtError:
        """The error without the password or token in its text; a Start's error says if it may have arrived."""
        text = str(err)
        scrubbed = redact(text, [self.config.password, token])
        result = err if scrubbed == text else reworded(err, scrubbed)
        if not request.idempotent:
            # a validation error is a refusal (ours before sending, or the server's): no job exists
            result.request_may_have_arrived = arrived and not isinstance(err, AmtValidationError)
        return result

    def _may_retry(self, request: ApiRequest[Any], attempt: int, *, status: int | None, sent: bool) -> bool:
        retryable = self.contract.retryable_statuses
        return self.policy.should_retry(request, attempt, status=status, sent=sent, retryable=retryable)

    # --- the AMT operations ----------------------------------------------------------------------

    def logon(self) -> Steps[tuple[str, float | None]]:
        return self.call(self.contract.logon_request(self.config.user, self.config.password))

    def heartbeat(self) -> Steps[str]:
        return self.call(self.contract.heartbeat_request())

    def start(self, start: StartRequest) -> Steps[int]:
        """The new job's batch request id (with its ids where the contract sends any with its calls)."""
        batch_request_id = yield from self.call(self.contract.start_request(start))
        return self.contract.identified(batch_request_id, start)

    def status(self, batch_request_id: int) -> Steps[JobStatus]:
        return self.call(self.contract.status_request(batch_request_id))

    def messages(self, batch_request_id: int, offset: int = 0, limit: int | None = None) -> Steps[list[AmtMessage]]:
        return self.call(self.contract.messages_request(batch_request_id, offset, limit))

    def action(self, action: Action, batch_request_id: int) -> Steps[int]:
        return self.call(self.contract.action_request(action, batch_request_id))

    def end(self, action: Action, batch_request_id: int, settle: float = END_SETTLE_SECONDS) -> Steps[JobEnding]:
        """Stop or Kill a job that has not ended yet, then wait up to ``settle`` seconds for its end code.

        A job that has already ended gets nothing (OpCon's behaviour: "already ended" is not an
        error). The status is read again after the action because the action's answer names the
        job, not its new state.
        """
        action = Action.of(action)
        before = yield from self.status(batch_request_id)
        if before.is_terminal:
            return JobEnding(batch_request_id, action, before.code, sent=False)
        yield from self.action(action, batch_request_id)
        waited, pause = 0.0, 0.25
        while True:
            after = yield from self.status(batch_request_id)
            if after.is_terminal or waited >= settle:
                return JobEnding(batch_request_id, action, after.code, sent=True)
            yield Sleep(pause)
            waited += pause
            pause = min(pause * 2, 2.0)

    def find_start(self, task_id: str) -> Steps[list[int] | None]:
        """The batch requests a Start with this GUID task id created (oldest first), or None when the
        server cannot say (no lookup configured, or the server has no such route: HTTP 404)."""
        if self.contract.paths.find_request is None:
            return None
        try:
            return (yield from self.call(self.contract.find_request_request(task_id)))
        except AmtNotFoundError:
            return None

    def check(self) -> Steps[tuple[bool, str]]:
        """Heartbeat (server up) and a fresh logon (credentials accepted): ``(ok, text)``, never raises AmtError.

        A server that answers, but not as the contract says, is named as a contract mismatch with
        the keys of the contract document to look at (the Test button is where a site meets it first).
        """
        step = "heartbeat"
        try:
            status = yield from self.heartbeat()
            step = "logon"
            yield NeedToken(fresh=True)
        except AmtError as err:
            mismatch = isinstance(err, (AmtNotFoundError, AmtResponseError, AmtValidationError))
            hint = CONTRACT_HINTS[step] if mismatch else ""
            return False, f"{err}{hint}"
        return True, f"{status}; logon as {self.config.user} succeeded."

    # --- paging and polling ----------------------------------------------------------------------

    def drain(self, batch_request_id: int, cursor: MessageCursor) -> Steps[int]:
        """Deliver every message from the cursor on, a page at a time; returns how many were delivered.

        The cursor is advanced once a page is delivered (a delivery that raised leaves it where it
        was, so the next read delivers the page again). Reading stops early when the caller
        replies ``False`` to a :class:`Deliver`.
        """
        page_size = self.contract.max_messages_page
        count = 0
        while True:
            asked = cursor.offset
            page = yield from self.messages(batch_request_id, asked, page_size)
            go_on = (yield Deliver(page)) if page else True
            cursor.advance(page)  # only once delivered: a page whose delivery failed is read again
            count += len(page)
            if go_on is False:
                return count
            if len(page) < self.contract.full_page(asked, page_size):
                return count

    def watch(self, batch_request_id: int, cursor: MessageCursor, settings: WatchSettings) -> Steps[WatchResult]:
        """Poll a job until it is final, the deadline passes, or AMT cannot be asked; deliver its messages.

        Each round asks the status, then delivers the messages written since the cursor, so a
        caller that logs pages sees them within one poll, and when the job is final every message
        it wrote has been delivered. Where the status answer says how many messages the job has
        written, GetMessages is skipped while there is nothing new (half the requests of a quiet
        job); the final drain always runs, whatever the count says. The caller may hold a read back
        (:class:`MayRead`): status polls go on meanwhile, and the final drain waits for it.
        Transient failures, and any exception that is not an ``AmtError`` (the caller's own trouble,
        thrown in by the driver at the step it met it), are ridden out for the grace period; any
        other ``AmtError`` (authentication, not found, configuration, an unknown code) ends the watch
        with ``ERROR``. A watch never ends the job.

        A state that is not an ending and differs from the cursor's is reported (:class:`StateChange`)
        once; ``max_time_in_state`` counts from when it began (``cursor.state_since``, which a caller
        that knows an earlier watch of the job sets).
        """
        watch = JobWatch(settings, clock=self.clock, wall_clock=self.wall_clock, rng=self.random)
        status_request = self.contract.status_request(batch_request_id)  # the same every poll
        seen: StateChange | None = None  # a new state whose report the caller held back
        while True:
            code: Code | None = None
            away = False
            try:
                status = yield from self.call(status_request)
                code = status.code
                final = settings.rules.is_final(code)
                new = final or status.message_count is None or status.message_count > cursor.offset
                if new and (yield MayRead(final)) is not False:
                    yield from self.drain(batch_request_id, cursor)
                if not final and cursor.state != int(code):
                    if seen is None or seen.code != code:
                        seen = StateChange(cursor.state, code, self.wall_clock())
                    if (yield seen) is not False:
                        cursor.took(seen)
                        seen = None  # kept through the pauses only while its report is held back
                since = cursor.state_since if cursor.state == int(code) else (seen.since if seen else None)
                verdict = watch.on_status(code, status, since)
            except TRANSIENT_ERRORS as err:
                self.log.warning("AMT status check failed, will retry: %s", err)
                verdict = watch.on_transient_error(err)
                away = isinstance(err, AmtServerAwayError)
            except AmtError as err:
                verdict = Verdict(Outcome.ERROR, str(err))
            except Exception as err:  # our own trouble (a page's log writer...): never the job's end
                self.log.warning(
                    "Watching AMT batch request %s failed on our side (%s: %s); watching on as through an outage",
                    batch_request_id,
                    type(err).__name__,
                    err,
                    exc_info=True,
                )
                verdict = watch.on_transient_error(f"{type(err).__name__}: {err}", "watching failed on our side")
            if verdict.outcome is not Outcome.WAIT:
                return WatchResult(verdict.outcome, code, verdict.message)
            pause = verdict.pause
            # Nothing of this poll is kept through the pause: objects that live across it outlive
            # two young garbage collections and make the full ones (a triggerer's lag) come sooner.
            status = verdict = None  # type: ignore[assignment]
            if away:  # wait for the server's return instead; then poll at a random point of a poll
                if not (yield AwaitServer(pause)):
                    continue
                pause = (self.random or random).uniform(0, settings.poll_interval * RESUME_SPREAD)
            yield Sleep(pause)


def _may_have_arrived(reply: Reply) -> bool:
    """Whether the server may have acted on the request that got this reply."""
    if isinstance(reply, TransportFailure):
        return reply.kind is FailureKind.MAYBE_SENT
    return not 300 <= reply.status < 500  # 2xx (even unreadable) and 5xx: it may have acted


def _reason(reply: Reply) -> str:
    return reply.detail.split(":")[0] if isinstance(reply, TransportFailure) else f"HTTP {reply.status}"


# --- errors the engine raises ----------------------------------------------------------------------


def redirect_error(request: ApiRequest[Any], server: str, reply: Response) -> AmtConfigurationError:
    """Redirects are never followed: the password and the token must not go to another address."""
    return AmtConfigurationError(
        f"{request.describe(server)} answered HTTP {reply.status} redirecting to "
        f"{validation.brief(reply.location or '(no Location)', quote=False)}. Redirects are not followed, so that "
        "the password and the logon token never reach another address: set the connection URL (or api_paths) "
        "to where the Batch Server answers."
    )


def unreachable_error(
    request: ApiRequest[Any], server: str, failure: TransportFailure, attempts: int
) -> AmtServerUnavailableError:
    """Says truthfully whether the request may have reached the server (a held one never did)."""
    if failure.kind is FailureKind.HELD:
        return AmtServerAwayError(f"{request.describe(server)} was not sent: {failure.detail}.")
    if failure.kind is FailureKind.NOT_SENT:
        what = "could not reach the AMT Batch Server"
    else:
        what = "got no answer from the AMT Batch Server (the request may have arrived)"
    return AmtServerUnavailableError(
        f"{request.describe(server)} {what} after {attempts} attempt(s): {failure.detail}. Check the URL and "
        "port of the connection and that the server is running (AMT completion code 23 WEB_SERVER_ERROR)."
    )


def tls_error(request: ApiRequest[Any], server: str, detail: str) -> AmtConfigurationError:
    """Certificate problems are configuration problems: retrying cannot fix them."""
    return AmtConfigurationError(
        f"{request.describe(server)}: TLS handshake failed ({detail}). Set 'ca_bundle' to the CA that "
        "signed the server certificate, or, for tests only, 'verify_ssl': false."
    )


def reworded(error: AmtError, text: str) -> AmtError:
    """The same error (class and attributes, such as an unknown code's ``code``) with another text."""
    result = copy.copy(error)
    result.args = (text,)
    return result


#: Secrets shorter than this are not replaced inside other text (Airflow's masker has the same
#: minimum): a password ``1`` would otherwise turn ``[10]`` into ``[***0]``. Where such a secret is
#: known to stand (the logon body), it is never printed at all.
MIN_SECRET_CHARS = 5


@functools.lru_cache(maxsize=64)
def secret_forms(secret: str) -> tuple[str, ...]:
    """Every way text can hold ``secret``, longest first: as it is, JSON- and ``repr``-escaped,
    percent-encoded, and its UTF-8 read as Latin-1 (an answer decoded with the wrong charset)."""
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        secret.encode("unicode_escape").decode("ascii"),
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        secret.encode("utf-8").decode("latin-1"),
    }
    return tuple(sorted((form for form in forms if form), key=len, reverse=True))


def _forms_in(text: str, secrets: Sequence[str | None]) -> Iterator[str]:
    """The forms of the secrets (those long enough to tell from other text) that ``text`` holds."""
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_CHARS:
            yield from (form for form in secret_forms(secret) if form in text)


def holds_secret(text: str, secrets: Sequence[str | None]) -> bool:
    return next(_forms_in(text, secrets), None) is not None


def redact(text: str, secrets: Sequence[str | None]) -> str:
    """Replace every form of every secret in ``text`` by ``***`` (a belt over any logging framework's
    masker). Scrub a text before it is cut, or a long secret survives as a prefix."""
    for form in list(_forms_in(text, secrets)):
        text = text.replace(form, "***")
    return text
