"""The AMT Batch Server wire contract as data: paths, the token's form, JSON field names, code table.

The real ``AmtOpConService`` paths and bodies are not published (see ``docs/api-contract.md``), so
most of this is *assumed*. It is one typed object, :class:`WireContract`, with the documented or
assumed defaults, because a site must be able to align with its real Batch Server without a code
change: a contract document (``contract_document.py``) describes another server, and
:meth:`WireContract.with_overrides` takes single paths and another token header on top (the Airflow
connection passes them from its extras). Field names and the code table are part of the same
object, so the clients and the emulator cannot disagree on them.

A field name may be a dotted path into a nested object (``Result.BatchRequestId``), and every answer
may sit under one envelope (``answer_envelope``); a per-job path without ``{batch_request_id}`` sends
the id as a query parameter instead.

The module does no I/O: it turns arguments into :class:`ApiRequest` objects and JSON bodies back
into Python objects, raising the typed errors of ``errors.py``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, TypeVar

from amt_client import validation
from amt_client.codes import EXTRA_CODE_CLASSES, AmtCompletionCode, AmtMessage, Code, ExtraCode, JobStatus, UnknownCode
from amt_client.errors import (
    AmtAuthenticationError,
    AmtConfigurationError,
    AmtError,
    AmtNotFoundError,
    AmtResponseError,
    AmtServerUnavailableError,
    AmtUnknownCodeError,
    AmtValidationError,
)
from amt_client.start import JOB_ID_NAMES, Action, BatchRequestId, StartRequest, TaskType

T = TypeVar("T")

#: The placeholder the per-job paths carry.
ID_PLACEHOLDER = "{batch_request_id}"
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an RFC 9110 token (fullmatch)
_PATH = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/{}-]*")  # fullmatch: no trailing newline
#: How the logon token travels: in a header of its own, as ``Authorization: Bearer``, or as a cookie.
TOKEN_TRANSPORTS = ("header", "bearer", "cookie")
#: AMT's task types by value (a job's ids name the field of its name by its type).
TASK_TYPE_VALUES = tuple(kind.value for kind in TaskType)
#: How GetMessages pages: from an offset (at most a limit), or by page number and a fixed page size.
MESSAGE_PAGING = ("offset", "page")
#: How the heartbeat's answer is read: a JSON object whose status says "up", or any non-empty text
#: (SMA's connector takes any answer as "up").
HEARTBEAT_ANSWERS = ("json", "text")
#: Headers a token may not travel in: they frame, route or describe the request itself.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "expect",
        "accept",
        "accept-encoding",
        "cookie",
        "proxy-authorization",
        "proxy-connection",
    }
)


@dataclass(frozen=True)
class ApiPaths:
    """Where each AMT function is served (all *assumed*). The per-job ones carry ``{batch_request_id}``,
    or, without it, send the id as the query parameter ``fields.batch_request_id`` names."""

    heartbeat: str = "/api/Heartbeat"
    logon: str = "/api/Logon"
    job_action: str = "/api/OpConJobAction"
    monitor: str = "/api/MonitorJob/{batch_request_id}"
    messages: str = "/api/GetMessages/{batch_request_id}"
    #: "Which batch requests carry this GUID task id?" (our emulator answers it; None: do not ask).
    find_request: str | None = "/api/FindBatchRequest"

    def __post_init__(self) -> None:
        for name, path in dataclasses.asdict(self).items():
            if name == "find_request" and path is None:
                continue
            per_job = name in ("monitor", "messages")
            if not isinstance(path, str) or not _PATH.fullmatch(path):
                raise AmtConfigurationError(
                    f"api path {name!r} must be a URL path starting with '/' (no spaces, query or fragment), "
                    f"got {path!r}."
                )
            braces = path.count("{") + path.count("}")
            if per_job and braces and (path.count(ID_PLACEHOLDER) != 1 or braces != 2):
                raise AmtConfigurationError(
                    f"api path {name!r} may contain {ID_PLACEHOLDER} once (without it the id goes in the query), "
                    f"got {path!r}."
                )
            if not per_job and braces:
                raise AmtConfigurationError(f"api path {name!r} takes no placeholder, got {path!r}.")


@dataclass(frozen=True)
class CallIds:
    """The ids of a job (names of ``JOB_ID_NAMES``) each per-job call sends besides the batch request
    id, under their ``fields.*`` names (**assumed** none; SMA's connector sends the task id and the
    task's configuration with status and kill)."""

    monitor: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    #: Stop and Kill (a Start sends its whole body anyway).
    job_action: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name, ids in dataclasses.asdict(self).items():
            if isinstance(ids, (str, bytes)) or not isinstance(ids, (list, tuple)):
                raise AmtConfigurationError(
                    f"ids of {name!r} must be a list of id names, got {validation.brief(ids, 40)}."
                )
            unknown = [i for i in ids if i not in JOB_ID_NAMES]
            if unknown:
                raise AmtConfigurationError(
                    f"ids of {name!r}: unknown {validation.brief(unknown[0], 30)}; known: {', '.join(JOB_ID_NAMES)}."
                )
            object.__setattr__(self, name, tuple(dict.fromkeys(ids)))


#: The methods a read operation may be sent with: ``GET`` carries its inputs in the query, ``POST``
#: in a JSON body (services that take every call as a POST). The logon and OpConJobAction are
#: always ``POST``: their bodies hold a password or a Start, which never go in a URL.
READ_METHODS = ("GET", "POST")


@dataclass(frozen=True)
class ApiMethods:
    """The HTTP method of each read operation (all *assumed* ``GET``; see :data:`READ_METHODS`)."""

    heartbeat: str = "GET"
    monitor: str = "GET"
    messages: str = "GET"
    find_request: str = "GET"

    def __post_init__(self) -> None:
        for name, method in dataclasses.asdict(self).items():
            if method not in READ_METHODS:
                raise AmtConfigurationError(
                    f"method of {name!r} must be one of {', '.join(READ_METHODS)}, got {validation.brief(method, 20)}."
                )


def http_statuses(value: Any, what: str, *, empty: bool = False) -> frozenset[int]:
    """A list of HTTP error statuses (400-599) from a document or a caller; ``empty``: none allowed."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset)):
        raise AmtConfigurationError(f"{what} must be a list of HTTP statuses, got {validation.brief(value, 40)}.")
    if (not value and not empty) or not all(validation.is_int(v) and 400 <= v <= 599 for v in value):
        raise AmtConfigurationError(
            f"{what} must list HTTP statuses from 400 to 599, got {validation.brief(value, 40)}."
        )
    return frozenset(value)


def extra_code(number: Any, entry: Any) -> tuple[int, str, str, str]:
    """One code a document adds: ``{"name": ..., "class": ..., "description": ...}`` (description
    optional), for a number the table does not hold."""
    if not validation.is_int(number) or not 0 <= number <= 9999:
        raise AmtConfigurationError(f"a code must be a number from 0 to 9999, got {validation.brief(number, 20)}.")
    if number in AmtCompletionCode._value2member_map_:
        raise AmtConfigurationError(
            f"code {number} is the table's {AmtCompletionCode(number).amt_name}: a document adds codes, "
            "it does not redefine them."
        )
    if not isinstance(entry, Mapping):
        raise AmtConfigurationError(
            f"code {number} must be an object with name and class, got {validation.brief(entry, 40)}."
        )
    unknown = sorted(str(key) for key in entry if key not in ("name", "class", "description"))
    if unknown:
        raise AmtConfigurationError(f"code {number} has unknown keys {unknown}; known: name, class, description.")
    name, kind, description = entry.get("name"), entry.get("class"), entry.get("description") or ""
    if not isinstance(name, str) or not 0 < len(name) <= 60 or validation.one_line(name) != name:
        raise AmtConfigurationError(
            f"code {number}: name must be one line of 1-60 characters, got {validation.brief(name, 40)}."
        )
    if kind not in EXTRA_CODE_CLASSES:
        raise AmtConfigurationError(
            f"code {number}: class must be one of {', '.join(EXTRA_CODE_CLASSES)}, got {validation.brief(kind, 20)}."
        )
    if (
        not isinstance(description, str)
        or len(description) > 200
        or validation.one_line(description, 200) != description
    ):
        raise AmtConfigurationError(f"code {number}: description must be one line of at most 200 characters.")
    return number, name, kind, description


@dataclass(frozen=True)
class HttpStatuses:
    """What an error status means (all *assumed*; a 2xx is an answer, a 3xx a refused redirect).

    Sessions differ most here: an expired token may come back as 401, 403 or a server's own 440.
    """

    #: The logon token was refused: log on again once, then fail as an authentication error (401
    #: and 403 always are one).
    token_refused: frozenset[int] = frozenset({401})
    #: The batch request does not exist (a 404 always means not found: a path that is not there).
    not_found: frozenset[int] = frozenset({404})
    #: The request was refused as wrong: never sent again.
    refused: frozenset[int] = frozenset({400, 409, 422})

    def __post_init__(self) -> None:
        for name in ("token_refused", "not_found", "refused"):
            object.__setattr__(self, name, http_statuses(getattr(self, name), f"statuses.{name}"))
        overlap = (
            (self.token_refused & self.not_found)
            | (self.token_refused & self.refused)
            | (self.not_found & self.refused)
        )
        if overlap:
            raise AmtConfigurationError(f"statuses: {sorted(overlap)} may mean one thing only.")


@dataclass(frozen=True)
class FieldNames:
    """JSON field names. The Start fields come from SMA's connector code; the rest are *assumed*."""

    user_name: str = "userName"
    password: str = "password"
    token: str = "amtLogonToken"
    expires_in: str = "expiresIn"
    status: str = "status"
    version: str = "version"
    action: str = "action"
    task_type: str = "taskType"
    task_id: str = "taskId"
    application: str = "applicationName"
    submit_user: str = "amtSubmitUser"
    station: str = "amtStation"
    run_as_user: str = "amtUser"
    queue: str = "amtQueueName"
    job_name: str = "jobName"
    task_values: str = "taskValues"
    script_name: str = "scriptName"
    script_parameters: str = "scriptParameters"
    batch_request_id: str = "batchRequestId"
    batch_request_ids: str = "batchRequestIds"
    completion_code: str = "completionCode"
    #: In a MonitorJob answer: how many messages the job has written so far (**assumed**, optional).
    message_count: str = "messageCount"
    message: str = "message"
    error: str = "error"
    messages: str = "messages"
    index: str = "index"
    text: str = "text"
    timestamp: str = "timestamp"
    severity: str = "severity"
    offset: str = "offset"
    limit: str = "limit"
    #: The page number, where messages are paged by number (``messages.paging: page``).
    page: str = "page"

    def name_field(self, task_type: TaskType) -> str:
        return self.job_name if task_type is TaskType.BATCH_JOB else self.script_name

    def values_field(self, task_type: TaskType) -> str:
        return self.task_values if task_type is TaskType.BATCH_JOB else self.script_parameters

    def id_field(self, name: str, task_type: TaskType) -> str:
        """The field a job's id ``name`` (of ``JOB_ID_NAMES``) travels in: ``name`` is the job's or
        the script's name field by the task type, the others have a field of their own."""
        if name == "name":
            return self.name_field(task_type)
        return str(getattr(self, name))


@dataclass(frozen=True)
class ApiRequest(Generic[T]):
    """One HTTP call and how to read its answer, independent of the client library that sends it."""

    method: str
    path: str
    #: Short human description for logs and errors ("Start batch job DEMO2/REPORTTEST01").
    what: str
    parse: Callable[[Any, str], T] = field(repr=False)
    json_body: dict[str, Any] | None = field(default=None, repr=False)
    params: dict[str, str] = field(default_factory=dict)
    needs_token: bool = True
    #: Safe to send again after an ambiguous failure (read timeout, dropped connection, 5xx).
    idempotent: bool = True
    #: Stable name of the AMT function for metrics (``MonitorJob``, ``Start``, ``Kill``...), whatever the path.
    operation: str = ""
    #: The answer is read as text, not JSON (a heartbeat answering plain text).
    text_answer: bool = False

    def describe(self, server: str) -> str:
        """``POST http://host:42000/api/OpConJobAction (Start batch job DEMO2/X)``: never a body or secret."""
        return f"{self.method} {server}{self.path} ({self.what})"


@dataclass(frozen=True)
class WireContract:
    """Everything the clients and the emulator must agree on. Defaults are the documented/assumed ones."""

    paths: ApiPaths = ApiPaths()
    methods: ApiMethods = ApiMethods()
    call_ids: CallIds = CallIds()
    #: From SMA's sample code [code]: every call after the logon carries the token in this header
    #: (with ``token_transport="cookie"``: the cookie's name; unused with ``"bearer"``).
    token_header: str = "X-AMT-LogonToken"
    #: ``header`` (SMA's code), ``bearer`` (``Authorization: Bearer <token>``) or ``cookie`` (AMT's
    #: REST services use cookie authentication).
    token_transport: str = "header"
    #: Seconds a token lives when the logon answer does not say (None: until the server refuses it).
    token_lifetime: float | None = None
    #: ``json`` (``{"status": "up"}``, **assumed**) or ``text`` (any non-empty answer is "up").
    heartbeat_answer: str = "json"
    #: Dotted path of the object every answer's fields sit in (``d``, ``Result``); None: at the top.
    answer_envelope: str | None = None
    fields: FieldNames = FieldNames()
    #: The completion-code table the status answer is read with.
    codes: type[AmtCompletionCode] = AmtCompletionCode
    #: Codes a site's document adds to the table, ``(number, name, class, description)`` by number
    #: (``extra_code`` checks one): a newer AMT's state read by its class, not as an unknown code.
    extra_codes: tuple[tuple[int, str, str, str], ...] = ()
    #: Largest page of messages one GetMessages call may ask for (assumed server limit).
    max_messages_page: int = 1000
    #: ``offset`` (GetMessages from an offset, at most a limit: **assumed**) or ``page`` (by page
    #: number from ``first_page``, ``max_messages_page`` messages a page).
    message_paging: str = "offset"
    first_page: int = 1
    #: HTTP statuses after which an idempotent call is tried again.
    retryable_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})
    statuses: HttpStatuses = HttpStatuses()

    def __post_init__(self) -> None:
        if self.token_transport not in TOKEN_TRANSPORTS:
            raise AmtConfigurationError(
                f"token transport must be one of {', '.join(TOKEN_TRANSPORTS)}, "
                f"got {validation.brief(self.token_transport, 40)}."
            )
        if not isinstance(self.token_header, str) or not _HEADER_NAME.fullmatch(self.token_header):
            raise AmtConfigurationError(
                f"token_header must be an HTTP header name, got {validation.brief(self.token_header, 60)}."
            )
        if self.token_transport == "header" and self.token_header.lower() in RESERVED_HEADERS:
            raise AmtConfigurationError(
                f"token_header {self.token_header!r} is a header HTTP itself uses (framing, routing or "
                "cookies); name the header the Batch Server reads the logon token from."
            )
        if self.token_lifetime is not None:
            object.__setattr__(self, "token_lifetime", validation.seconds(self.token_lifetime, "token lifetime"))
        if self.message_paging not in MESSAGE_PAGING:
            raise AmtConfigurationError(
                f"message paging must be one of {', '.join(MESSAGE_PAGING)}, "
                f"got {validation.brief(self.message_paging, 20)}."
            )
        if self.first_page not in (0, 1) or isinstance(self.first_page, bool):
            raise AmtConfigurationError(f"first page must be 0 or 1, got {validation.brief(self.first_page, 20)}.")
        if self.heartbeat_answer not in HEARTBEAT_ANSWERS:
            raise AmtConfigurationError(
                f"heartbeat answer must be one of {', '.join(HEARTBEAT_ANSWERS)}, "
                f"got {validation.brief(self.heartbeat_answer, 40)}."
            )
        if self.answer_envelope is not None:
            field_path(self.answer_envelope, "answer envelope")
        for name, value in dataclasses.asdict(self.fields).items():
            field_path(value, f"field {name}")
        for number, name, kind, description in self.extra_codes:
            extra_code(number, {"name": name, "class": kind, "description": description})
        s = self.statuses
        both = self.retryable_statuses & (s.token_refused | s.not_found | s.refused)
        if both:
            raise AmtConfigurationError(f"retryable_statuses and statuses both name {sorted(both)}.")

    # --- the token and the shape of bodies ----------------------------------------------------------

    def token_headers(self, token: str) -> dict[str, str]:
        """The header that carries ``token`` on a call after the logon."""
        if self.token_transport == "bearer":
            return {"Authorization": f"Bearer {token}"}
        if self.token_transport == "cookie":
            return {"Cookie": f"{self.token_header}={token}"}
        return {self.token_header: token}

    def token_of(self, headers: Mapping[str, str]) -> str | None:
        """The server side of :meth:`token_headers`: the token a request carries, if any."""
        if self.token_transport == "bearer":
            scheme, _, token = (headers.get("Authorization") or "").partition(" ")
            return token.strip() or None if scheme.lower() == "bearer" else None
        if self.token_transport == "cookie":
            for pair in (headers.get("Cookie") or "").split(";"):
                name, _, value = pair.strip().partition("=")
                if name == self.token_header:
                    return value or None
            return None
        return headers.get(self.token_header)

    def answer(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """An answer body from ``{field name: value}`` (dotted names nested, inside the envelope)."""
        body = nest(values)
        return nest({self.answer_envelope: body}) if self.answer_envelope else body

    def opened(self, body: Any) -> Any:
        """An answer's own object: inside the envelope when the contract has one (else unchanged; a
        missing envelope leaves nothing to find, so each field reads as absent)."""
        if self.answer_envelope is None:
            return body
        found = lookup(body, self.answer_envelope)
        return found if isinstance(found, dict) else {}

    def _read(self, name: str, inputs: Mapping[str, Any], **request: Any) -> ApiRequest[Any]:
        """A read operation's request (``name`` as in :class:`ApiPaths`): its ``inputs`` (field name ->
        value) in the query for ``GET``, in a JSON body for ``POST``; a per-job id goes in the path
        when the path has the placeholder."""
        path = getattr(self.paths, name)
        batch_request_id = inputs.get(self.fields.batch_request_id)
        if batch_request_id is not None and ID_PLACEHOLDER in path:
            path = path.replace(ID_PLACEHOLDER, str(batch_request_id))
            inputs = {field: value for field, value in inputs.items() if field != self.fields.batch_request_id}
        method = getattr(self.methods, name)
        if method == "POST":
            return ApiRequest(method, path, json_body=nest(inputs), **request)
        return ApiRequest(
            method, path, params={query_name(field): str(value) for field, value in inputs.items()}, **request
        )

    def identified(self, batch_request_id: int, start: StartRequest) -> int:
        """The batch request id a caller that knows the job's Start keeps: with the job's ids where
        this contract sends any (``ids``), else the plain number."""
        if not any(dataclasses.astuple(self.call_ids)):
            return batch_request_id
        return BatchRequestId.of(batch_request_id, start)

    def _job_ids(self, name: str, batch_request_id: int) -> dict[str, str]:
        """The job's ids the contract sends with call ``name`` (of :class:`CallIds`), by field name.
        A batch request id that does not carry them is refused before anything is sent."""
        wanted = getattr(self.call_ids, name)
        if not wanted:
            return {}
        ids: Mapping[str, str] = getattr(batch_request_id, "ids", {})
        missing = [i for i in wanted if not ids.get(i)]
        if missing:
            raise AmtConfigurationError(
                f"this server's contract sends {', '.join(wanted)} with every {name} call, and batch request "
                f"{int(batch_request_id)} comes without them ({', '.join(missing)} missing): a job the task "
                "did not start cannot be asked about there (see docs/api-contract.md, ids)."
            )
        f = self.fields
        kind = ids.get("task_type")
        task_type = TaskType(kind) if kind in TASK_TYPE_VALUES else TaskType.BATCH_JOB
        return {f.id_field(i, task_type): ids[i] for i in wanted}

    def with_overrides(self, paths: Mapping[str, Any] | None = None, token_header: str | None = None) -> WireContract:
        """This contract with some paths and/or the token header replaced (validated).

        ``paths`` maps names of :class:`ApiPaths` (``logon``, ``monitor``...) to paths.
        """
        if paths is not None and not isinstance(paths, Mapping):
            raise AmtConfigurationError(f"api_paths must be an object of name -> path, got {paths!r}.")
        unknown = sorted(set(paths or {}) - {f.name for f in dataclasses.fields(ApiPaths)})
        if unknown:
            known = ", ".join(f.name for f in dataclasses.fields(ApiPaths))
            raise AmtConfigurationError(f"api_paths has unknown names {unknown}; known: {known}.")
        return dataclasses.replace(
            self,
            paths=dataclasses.replace(self.paths, **dict(paths or {})),
            token_header=token_header or self.token_header,
        )

    def differences(self) -> list[str]:
        """What differs from the default contract, e.g. ``["logon=/amt/Logon", "token header=X-Token"]``
        (for the task log's job information block: names and shapes, never a value sent)."""
        default = WireContract()
        result = [
            f"{name}={path or 'off'}"
            for name, path in dataclasses.asdict(self.paths).items()
            if path != getattr(default.paths, name)
        ]
        result += [
            f"{name} by {method}"
            for name, method in dataclasses.asdict(self.methods).items()
            if method != getattr(default.methods, name)
        ]
        result += [
            f"status {name}={','.join(map(str, sorted(codes)))}"
            for name, codes in dataclasses.asdict(self.statuses).items()
            if codes != getattr(default.statuses, name)
        ]
        result += [f"ids {name}={','.join(ids)}" for name, ids in dataclasses.asdict(self.call_ids).items() if ids]
        if (self.token_transport, self.token_header) != (default.token_transport, default.token_header):
            result.append(
                f"token {self.token_transport}" + ("" if self.token_transport == "bearer" else f"={self.token_header}")
            )
        if self.token_lifetime is not None:
            result.append(f"token lifetime={self.token_lifetime:g} s")
        if self.heartbeat_answer != default.heartbeat_answer:
            result.append(f"heartbeat={self.heartbeat_answer}")
        if self.answer_envelope is not None:
            result.append(f"envelope={self.answer_envelope}")
        renamed = [
            name for name, value in dataclasses.asdict(self.fields).items() if value != getattr(default.fields, name)
        ]
        if renamed:
            result.append(f"{len(renamed)} field name{'s' if len(renamed) > 1 else ''} changed")
        return result

    # --- requests -------------------------------------------------------------------------------

    def heartbeat_request(self) -> ApiRequest[str]:
        return self._read(
            "heartbeat",
            {},
            what="heartbeat",
            parse=self.parse_heartbeat,
            needs_token=False,
            operation="Heartbeat",
            text_answer=self.heartbeat_answer == "text",
        )

    def logon_request(self, user: str, password: str) -> ApiRequest[tuple[str, float | None]]:
        # The body holds the password; ApiRequest.describe() never prints bodies.
        body = nest({self.fields.user_name: user, self.fields.password: password})
        return ApiRequest(
            "POST",
            self.paths.logon,
            f"logon as {user}",
            self.parse_logon,
            json_body=body,
            needs_token=False,
            operation="Logon",
        )

    def start_request(self, start: StartRequest) -> ApiRequest[int]:
        return ApiRequest(
            "POST",
            self.paths.job_action,
            f"Start {start.what}",
            self.parse_start,
            json_body=self.start_body(start),
            # A repeated Start may create a second job: the server is not known to de-duplicate taskId.
            idempotent=False,
            operation="Start",
        )

    def action_request(self, action: Action, batch_request_id: int) -> ApiRequest[int]:
        """Stop or Kill: asking twice has the same effect as asking once, so it may be retried."""
        action = Action(action)
        if action is Action.START:
            raise AmtValidationError("use start_request for a Start; action_request is for Stop and Kill.")
        ids = self._job_ids("job_action", batch_request_id)
        batch_request_id = validation.batch_request_id(batch_request_id)
        f = self.fields
        return ApiRequest(
            "POST",
            self.paths.job_action,
            f"{action.value} batch request {batch_request_id}",
            partial(self.parse_action, expected=batch_request_id),
            json_body=nest({f.action: action.value, f.batch_request_id: batch_request_id, **ids}),
            operation=action.value,
        )

    def status_request(self, batch_request_id: int) -> ApiRequest[JobStatus]:
        ids = self._job_ids("monitor", batch_request_id)
        batch_request_id = validation.batch_request_id(batch_request_id)
        return self._read(
            "monitor",
            {self.fields.batch_request_id: batch_request_id, **ids},
            what=f"MonitorJob {batch_request_id}",
            parse=partial(self.parse_status, expected=batch_request_id),
            operation="MonitorJob",
        )

    def messages_request(
        self, batch_request_id: int, offset: int = 0, limit: int | None = None
    ) -> ApiRequest[list[AmtMessage]]:
        ids = self._job_ids("messages", batch_request_id)
        batch_request_id = validation.batch_request_id(batch_request_id)
        offset = validation.offset(offset)
        page = self.max_messages_page
        limit = page if limit is None else validation.integer(limit, "limit", minimum=1, maximum=page)
        f = self.fields
        inputs: dict[str, Any] = {f.batch_request_id: batch_request_id, **ids, f.offset: offset, f.limit: limit}
        parse = partial(self.parse_messages, offset=offset, expected=batch_request_id)
        if self.message_paging == "page":  # the page that holds the offset; what precedes it is dropped
            number, skip = divmod(offset, page)
            inputs = {f.batch_request_id: batch_request_id, **ids, f.page: number + self.first_page, f.limit: page}
            parse = partial(self._page_from, skip=skip, limit=limit, read=partial(parse, offset=offset - skip))
        return self._read(
            "messages",
            inputs,
            what=f"GetMessages {batch_request_id} from {offset}",
            parse=parse,
            operation="GetMessages",
        )

    @staticmethod
    def _page_from(
        body: Any, where: str, skip: int, limit: int, read: Callable[..., list[AmtMessage]]
    ) -> list[AmtMessage]:
        return read(body, where)[skip : skip + limit]

    def full_page(self, offset: int, limit: int) -> int:
        """How many messages a full answer to ``messages_request(_, offset, limit)`` holds: a shorter
        one means the job has written no more (for now). By page number, the page ends at its size."""
        if self.message_paging == "page":
            return min(limit, self.max_messages_page - offset % self.max_messages_page)
        return limit

    def find_request_request(self, task_id: str) -> ApiRequest[list[int]]:
        """Which batch requests a Start with this GUID task id created (**assumed** capability)."""
        task_id = validation.require_text(task_id, "task_id")
        assert self.paths.find_request is not None, "the caller checks that the lookup is configured"
        return self._read(
            "find_request",
            {self.fields.task_id: task_id},
            what=f"find the batch request of task id {task_id}",
            parse=partial(self.parse_found, task_id=task_id),
            operation="FindBatchRequest",
        )

    # --- the Start body, both ways ----------------------------------------------------------------

    def start_body(self, start: StartRequest) -> dict[str, Any]:
        f = self.fields
        return nest(
            {
                f.action: Action.START.value,
                f.task_type: start.task_type.value,
                f.task_id: start.task_id,
                f.application: start.application_name,
                f.submit_user: start.submit_user,
                f.station: start.station,
                f.run_as_user: start.run_as_user,
                f.queue: start.queue_name,
                f.name_field(start.task_type): start.name,
                f.values_field(start.task_type): list(start.values),
            }
        )

    def parse_start_body(self, body: Mapping[str, Any], default_application: str | None = None) -> StartRequest:
        """The server side of :meth:`start_body`: raises ``AmtValidationError`` naming the bad wire field."""
        f = self.fields
        try:
            task_type = TaskType(lookup(body, f.task_type))
        except ValueError:
            raise AmtValidationError(f"{f.task_type} must be one of {[t.value for t in TaskType]}") from None
        name_field, values_field = f.name_field(task_type), f.values_field(task_type)
        for required in (name_field, f.submit_user, f.station):
            validation.require_text(lookup(body, required), required)
        for optional in (f.application, f.run_as_user, f.queue, f.task_id):
            validation.optional_text(lookup(body, optional), optional)
        return StartRequest(
            task_type,
            validation.require_text(lookup(body, f.application) or default_application, f.application),
            lookup(body, name_field),
            task_type.normalise_values(lookup(body, values_field), values_field),
            run_as_user=lookup(body, f.run_as_user),
            queue_name=lookup(body, f.queue),
            submit_user=lookup(body, f.submit_user),
            station=lookup(body, f.station),
            task_id=lookup(body, f.task_id),
        )

    # --- answers ----------------------------------------------------------------------------------

    def parse_heartbeat(self, body: Any, where: str) -> str:
        """``json``: ``{"status": "up", "version": "..."}``, any other status is "down"; ``text``: any
        non-empty answer is "up" (as SMA's connector reads it)."""
        if self.heartbeat_answer == "text":
            if not isinstance(body, str) or not body.strip():
                raise AmtServerUnavailableError(f"{where}: the AMT Batch Server answered with an empty body.")
            return f"AMT Batch Server is up (it answered {snippet(body.strip(), 60)!r})"
        body = self.opened(body)
        status = _field(body, self.fields.status, str, where)
        if status.lower() != "up":
            raise AmtServerUnavailableError(f"{where}: the AMT Batch Server reports status {snippet(status, 60)!r}.")
        version = lookup(body, self.fields.version)
        return f"AMT Batch Server is up (version {snippet(version, 60)})" if version else "AMT Batch Server is up"

    def parse_logon(self, body: Any, where: str) -> tuple[str, float | None]:
        """The logon token and, when the server says, its lifetime in seconds."""
        body = self.opened(body)
        if not isinstance(lookup(body, self.fields.token), str):  # the answer holds a credential: its shape only
            raise AmtResponseError(
                f"{where}: the logon answer has no field {self.fields.token!r} holding text (its shape: {shape(body)})"
            )
        token = _field(body, self.fields.token, str, where)
        if not token:
            raise AmtResponseError(f"{where}: the server returned an empty logon token.")
        if not token.isprintable() or not token.isascii() or " " in token:
            # never quoted: it may be a valid secret with one bad character, and it would go into a header
            raise AmtResponseError(f"{where}: the logon token holds characters an HTTP header cannot carry.")
        expires = lookup(body, self.fields.expires_in)
        if expires is not None and not validation.is_number(expires):
            raise AmtResponseError(f"{where}: field {self.fields.expires_in!r} has an unexpected value {expires!r}")
        return token, (float(expires) if expires is not None else self.token_lifetime)

    def parse_start(self, body: Any, where: str) -> int:
        """A BatchRequestId above 0 means the request was accepted; 0 or below means it was not."""
        body = self.opened(body)
        request_id = _field(body, self.fields.batch_request_id, int, where)
        if request_id <= 0:
            reason = snippet(lookup(body, self.fields.message) or "no reason given")
            raise AmtValidationError(f"{where}: AMT did not accept the request (BatchRequestId {request_id}): {reason}")
        return int(request_id)

    def parse_status(self, body: Any, where: str, expected: int | None = None) -> JobStatus:
        body = self.opened(body)
        request_id = self._request_id(body, where, expected)
        raw = _field(body, self.fields.completion_code, (int, str), where)
        try:
            code = self.code_of(raw)
        except UnknownCode as err:
            raise AmtUnknownCodeError(
                f"{where}: {err}. The job is left as it is; the client does not guess what an unknown code "
                "means: add it to the contract document (codes) with its class, and report it so that it can "
                "be added to the code table.",
                err.number,
            ) from None
        except ValueError as err:
            raise AmtResponseError(
                f"{where}: {err}. The client does not guess what an unknown code means; "
                "report it so that it can be added to the code table."
            ) from None
        return JobStatus(batch_request_id=request_id, code=code, message_count=self._message_count(body))

    def code_of(self, raw: object) -> Code:
        """A reported code: the table's, or one the document adds (``UnknownCode`` for neither)."""
        try:
            return self.codes.parse(raw)
        except UnknownCode as err:
            for number, name, kind, description in self.extra_codes:
                if number == err.number:
                    return ExtraCode(number, name, kind, description)
            raise

    def _message_count(self, body: dict[str, Any]) -> int | None:
        """The optional message count; anything but a non-negative integer counts as "not given"
        (the watcher then reads messages on every poll, as it would without the field)."""
        count = lookup(body, self.fields.message_count)
        return count if validation.is_int(count) and count >= 0 else None

    def parse_action(self, body: Any, where: str, expected: int | None = None) -> int:
        return self._request_id(self.opened(body), where, expected)

    def _request_id(self, body: Any, where: str, expected: int | None) -> int:
        """The answer's batch request id, which must be the one asked about."""
        request_id = int(_field(body, self.fields.batch_request_id, int, where))
        if expected is not None and request_id != expected:
            raise AmtResponseError(f"{where}: the answer is about batch request {request_id}, not {expected}.")
        return request_id

    def parse_found(self, body: Any, where: str, task_id: str | None = None) -> list[int]:
        body = self.opened(body)
        ids = _field(body, self.fields.batch_request_ids, list, where)
        answered = lookup(body, self.fields.task_id, task_id)
        if task_id is not None and answered != task_id:  # a retry must never adopt another task's job
            raise AmtResponseError(f"{where}: the answer is about task id {snippet(answered, 60)!r}, not {task_id!r}.")
        if not all(validation.is_int(i) and i > 0 for i in ids):
            raise AmtResponseError(
                f"{where}: {self.fields.batch_request_ids} must be positive integers: {snippet(ids)}"
            )
        return sorted(ids)

    def parse_messages(self, body: Any, where: str, offset: int, expected: int | None = None) -> list[AmtMessage]:
        """Messages from ``offset`` on, checked to be contiguous so a cursor can never skip or repeat,
        and to be about the batch request asked for where the answer names one."""
        f = self.fields
        body = self.opened(body)
        raw = _field(body, f.messages, list, where)
        if expected is not None and lookup(body, f.batch_request_id) is not None:
            self._request_id(body, where, expected)
        result = []
        for i, item in enumerate(raw):
            at = f"{where} message {i}"
            index = _field(item, f.index, int, at)
            if index != offset + i:
                raise AmtResponseError(
                    f"{where}: message {i} has index {index}, expected {offset + i}; the server's "
                    "message list is not contiguous."
                )
            timestamp, severity = lookup(item, f.timestamp), lookup(item, f.severity)
            result.append(
                AmtMessage(
                    index=index,
                    text=_field(item, f.text, str, at),
                    timestamp=validation.one_line(timestamp) if isinstance(timestamp, str) else None,
                    severity=validation.one_line(severity) if isinstance(severity, str) else None,
                )
            )
        return result

    # --- errors -----------------------------------------------------------------------------------

    def error_for_status(self, status: int, text: str, request: ApiRequest[Any], server: str) -> AmtError:
        """The typed error for a non-2xx answer, with the server's own message when it gave one."""
        detail = self._server_message(text)
        where = f"{request.describe(server)} failed with HTTP {status}"
        if detail:
            where += f": {detail}"
        if status in self.statuses.token_refused or status in (401, 403):
            hint = (
                "Check the API user and password."
                if request.path == self.paths.logon
                else "The logon token was refused even after logging on again."
            )
            return AmtAuthenticationError(f"{where}. {hint} (AMT completion code 24 AUTHENTICATION_ERROR)")
        if status in self.statuses.not_found or status == 404:
            return AmtNotFoundError(f"{where}. Check the batch request id / job name, and the API paths.")
        if status in self.statuses.refused:
            return AmtValidationError(f"{where}. Fix the request; retrying it will not help.")
        if status in self.retryable_statuses:
            return AmtServerUnavailableError(
                f"{where}. The AMT Batch Server is failing or overloaded; try again later "
                "(AMT completion code 23 WEB_SERVER_ERROR)."
            )
        return AmtResponseError(f"{where}. This status is not part of the AMT API contract.")

    def _server_message(self, text: str) -> str:
        try:
            body = json.loads(text)
        except RecursionError:
            return "(an error body nested too deeply to read)"
        except ValueError:
            return snippet(text)
        if isinstance(body, dict):
            body = self.opened(body) or body
            return snippet(str(lookup(body, self.fields.message) or lookup(body, self.fields.error) or ""))
        return ""


class _DuplicateKey(ValueError):
    pass


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are unique: with two ``completionCode`` keys, which one is meant?"""
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


#: Made once: ``json.loads`` with a hook builds a decoder per call, which doubled a status answer's parse.
_DECODER = json.JSONDecoder(object_pairs_hook=_object)


def decode_json(text: str, request: ApiRequest[Any], server: str) -> Any:
    """The answer's JSON, or an ``AmtResponseError``: not JSON, nested deeper than Python can
    parse, or an object that names a key twice."""
    try:
        return _DECODER.decode(text) if text else None
    except _DuplicateKey as key:
        raise AmtResponseError(
            f"{request.describe(server)} returned an object that names {snippet(str(key))!r} more than once."
        ) from None
    except RecursionError:
        raise AmtResponseError(f"{request.describe(server)} returned JSON nested too deeply to read.") from None
    except ValueError:
        raise AmtResponseError(
            f"{request.describe(server)} returned a body that is not JSON: {snippet(text)!r}. "
            "Check that the URL points at the AMT Batch Server and not at a proxy page."
        ) from None


_MISSING = object()


def lookup(body: Any, path: str, default: Any = None) -> Any:
    """The value at a dotted ``path`` (``Result.BatchRequestId``) in a decoded JSON object, or ``default``."""
    value = body
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return value


def nest(values: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1, "c": 2}`` -> ``{"a": {"b": 1}, "c": 2}``: a body from dotted field names."""
    body: dict[str, Any] = {}
    for path, value in values.items():
        *parents, last = path.split(".")
        node = body
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return body


def field_path(value: Any, what: str) -> str:
    """A field name or dotted path: names of letters, digits, ``_``, ``-``, ``$``, ``@`` joined by dots."""
    if not isinstance(value, str) or not _DOTTED.fullmatch(value):
        raise AmtConfigurationError(
            f"{what} must be a JSON field name or a dotted path of names (e.g. Result.BatchRequestId), "
            f"got {validation.brief(value, 60)}."
        )
    return value


_DOTTED = re.compile(r"[A-Za-z0-9_$@-]{1,100}(\.[A-Za-z0-9_$@-]{1,100}){0,7}")


def query_name(field_name: str) -> str:
    """The query parameter a field travels as: the last name of a dotted path."""
    return field_name.rsplit(".", 1)[-1]


def _field(body: Any, name: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = lookup(body, name, _MISSING)
    if value is _MISSING:
        raise AmtResponseError(f"{where}: the response has no field {name!r}: {snippet(body)!r}")
    if isinstance(value, bool) or not isinstance(value, kind):
        raise AmtResponseError(f"{where}: field {name!r} has an unexpected value {snippet(value)!r}")
    return value


def shape(body: Any) -> str:
    """A decoded answer's shape for a message: keys and value types, never values (they may be secret)."""
    if isinstance(body, dict):
        inner = ", ".join(f"{snippet(str(key), 40)}: {shape(value)}" for key, value in list(body.items())[:12])
        return "{" + inner + (", ..." if len(body) > 12 else "") + "}"
    if isinstance(body, list):
        return f"[{shape(body[0])}, ...]" if body else "[]"
    return type(body).__name__


def snippet(value: Any, limit: int = 200) -> str:
    """A server-supplied value for an error message: a text as it is, anything else as ``repr``, cut."""
    return validation.brief(value, limit, quote=False)


#: The contract with every documented/assumed default.
DEFAULT_CONTRACT = WireContract()
