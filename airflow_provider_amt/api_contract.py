"""The AMT Batch Server HTTP contract: paths, verbs, JSON bodies, parsing and error mapping.

The real ``AmtOpConService`` paths and bodies are not published (see ``docs/api-contract.md``), so
everything here that is marked *assumed* is our choice. It is kept in this one module on purpose:
the sync hook, the async hook and the emulator all import it, so aligning with a real server is an
edit here and nowhere else. The module does no I/O; it turns Python arguments into
:class:`ApiRequest` objects and JSON bodies back into Python objects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_provider_amt import validation
from airflow_provider_amt.codes import AmtCompletionCode, AmtMessage, JobStatus
from airflow_provider_amt.exceptions import (
    AmtAuthenticationError,
    AmtError,
    AmtNotFoundError,
    AmtResponseError,
    AmtServerUnavailableError,
    AmtValidationError,
)

# --- paths and headers (assumed, except the token header which comes from SMA's sample code) ---
TOKEN_HEADER = "X-AMT-LogonToken"
HEARTBEAT_PATH = "/api/Heartbeat"
LOGON_PATH = "/api/Logon"
JOB_ACTION_PATH = "/api/OpConJobAction"
MONITOR_PATH = "/api/MonitorJob/{batch_request_id}"
MESSAGES_PATH = "/api/GetMessages/{batch_request_id}"

#: Largest page of messages one GetMessages call may ask for (assumed server limit).
MAX_MESSAGES_PAGE = 1000

Action = Literal["Start", "Stop", "Kill"]
TaskType = Literal["BatchJob", "Script"]

#: HTTP statuses after which an idempotent call is tried again.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class ApiRequest:
    """One HTTP call, independent of the client library that sends it."""

    method: str
    path: str
    #: Short human description for logs and errors ("Start batch job DEMO2/REPORTTEST01").
    what: str
    json_body: dict[str, Any] | None = None
    params: dict[str, str] = field(default_factory=dict)
    needs_token: bool = True
    #: Safe to send again after an ambiguous failure (read timeout, dropped connection, 5xx).
    idempotent: bool = True

    def describe(self, server: str) -> str:
        """``POST http://host:42000/api/OpConJobAction (Start batch job DEMO2/X)``: never a secret."""
        return f"{self.method} {server}{self.path} ({self.what})"


# --- request builders -------------------------------------------------------------------------


def heartbeat_request() -> ApiRequest:
    return ApiRequest("GET", HEARTBEAT_PATH, "heartbeat", needs_token=False)


def logon_request(user: str, password: str) -> ApiRequest:
    # The body holds the password; ApiRequest.describe() never prints bodies.
    return ApiRequest(
        "POST",
        LOGON_PATH,
        f"logon as {user}",
        json_body={"userName": user, "password": password},
        needs_token=False,
    )


@dataclass(frozen=True)
class StartRequest:
    """What a Start carries, common to batch jobs and scripts (fields from SMA's connector)."""

    task_type: TaskType
    application_name: str
    name: str  # job name or script name
    values: list[str]  # TaskValues or script parameters, already validated
    run_as_user: str | None = None
    queue_name: str | None = None
    submit_user: str = "BATCH"
    station: str = "OPCON"
    task_id: str | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "action": "Start",
            "taskType": self.task_type,
            "taskId": self.task_id,
            "applicationName": self.application_name,
            "amtSubmitUser": self.submit_user,
            "amtStation": self.station,
            "amtUser": self.run_as_user,
            "amtQueueName": self.queue_name,
        }
        if self.task_type == "BatchJob":
            body.update(jobName=self.name, taskValues=self.values)
        else:
            body.update(scriptName=self.name, scriptParameters=self.values)
        return body


def build_start(
    task_type: TaskType,
    application_name: str,
    name: str,
    values: Any,
    *,
    run_as_user: str | None = None,
    queue_name: str | None = None,
    submit_user: str = "BATCH",
    station: str = "OPCON",
    task_id: str | None = None,
) -> StartRequest:
    """Validate every argument of a Start and return the request, or raise AmtValidationError."""
    label = "job_name" if task_type == "BatchJob" else "script_name"
    normalise = validation.task_values if task_type == "BatchJob" else validation.script_parameters
    return StartRequest(
        task_type=task_type,
        application_name=validation.require_text(application_name, "application_name"),
        name=validation.require_text(name, label),
        values=normalise(values),
        run_as_user=validation.optional_text(run_as_user, "run_as_user"),
        queue_name=validation.optional_text(queue_name, "queue_name"),
        submit_user=validation.require_text(submit_user, "submit_user"),
        station=validation.require_text(station, "station"),
        task_id=validation.optional_text(task_id, "task_id"),
    )


def start_request(start: StartRequest) -> ApiRequest:
    kind = "batch job" if start.task_type == "BatchJob" else "script"
    return ApiRequest(
        "POST",
        JOB_ACTION_PATH,
        f"Start {kind} {start.application_name}/{start.name}",
        json_body=start.body(),
        # A repeated Start may create a second job: the server is not known to de-duplicate taskId.
        idempotent=False,
    )


def job_action_request(action: Action, batch_request_id: int) -> ApiRequest:
    """Stop or Kill: asking twice has the same effect as asking once, so it may be retried."""
    batch_request_id = validation.batch_request_id(batch_request_id)
    return ApiRequest(
        "POST",
        JOB_ACTION_PATH,
        f"{action} batch request {batch_request_id}",
        json_body={"action": action, "batchRequestId": batch_request_id},
    )


def status_request(batch_request_id: int) -> ApiRequest:
    batch_request_id = validation.batch_request_id(batch_request_id)
    return ApiRequest(
        "GET",
        MONITOR_PATH.format(batch_request_id=batch_request_id),
        f"MonitorJob {batch_request_id}",
    )


def messages_request(batch_request_id: int, offset: int = 0, limit: int = MAX_MESSAGES_PAGE) -> ApiRequest:
    batch_request_id = validation.batch_request_id(batch_request_id)
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise AmtValidationError(f"offset must be an integer >= 0, got {offset!r}.")
    limit = max(1, min(int(limit), MAX_MESSAGES_PAGE))
    return ApiRequest(
        "GET",
        MESSAGES_PATH.format(batch_request_id=batch_request_id),
        f"GetMessages {batch_request_id} from {offset}",
        params={"offset": str(offset), "limit": str(limit)},
    )


# --- response parsers -------------------------------------------------------------------------


def decode_json(text: str, request: ApiRequest, server: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        raise AmtResponseError(
            f"{request.describe(server)} returned a body that is not JSON: {_snippet(text)!r}. "
            "Check that the connection URL points at the AMT Batch Server and not at a proxy page."
        ) from None


def _field(body: Any, name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(body, dict) or name not in body:
        raise AmtResponseError(f"{where}: the response has no field {name!r}: {_snippet(body)!r}")
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise AmtResponseError(f"{where}: field {name!r} has an unexpected value {_snippet(value)!r}")
    return value


def parse_heartbeat(body: Any, where: str) -> str:
    """The heartbeat returns ``{"status": "up", "version": "..."}``; anything else is "down"."""
    status = _field(body, "status", str, where)
    if status.lower() != "up":
        raise AmtServerUnavailableError(f"{where}: the AMT Batch Server reports status {status!r}.")
    version = body.get("version")
    return f"AMT Batch Server is up (version {version})" if version else "AMT Batch Server is up"


def parse_logon(body: Any, where: str) -> tuple[str, float | None]:
    """Return the logon token and, when the server says, its lifetime in seconds."""
    token = _field(body, "amtLogonToken", str, where)
    if not token:
        raise AmtResponseError(f"{where}: the server returned an empty logon token.")
    expires = body.get("expiresIn")
    if expires is not None and (isinstance(expires, bool) or not isinstance(expires, (int, float))):
        raise AmtResponseError(f"{where}: field 'expiresIn' has an unexpected value {expires!r}")
    return token, (float(expires) if expires is not None else None)


def parse_start(body: Any, where: str) -> int:
    """A BatchRequestId above 0 means the request was accepted; 0 or below means it was not."""
    request_id = _field(body, "batchRequestId", int, where)
    if request_id <= 0:
        reason = body.get("message") or "no reason given"
        raise AmtValidationError(f"{where}: AMT did not accept the request (BatchRequestId {request_id}): {reason}")
    return request_id


def parse_status(body: Any, where: str) -> JobStatus:
    request_id = _field(body, "batchRequestId", int, where)
    raw = _field(body, "completionCode", (int, str), where)
    try:
        code = AmtCompletionCode.parse(raw)
    except ValueError as err:
        raise AmtResponseError(
            f"{where}: {err}. The provider does not guess what an unknown code means; "
            "report it so that it can be added to the code table."
        ) from None
    return JobStatus(batch_request_id=request_id, code=code)


def parse_action(body: Any, where: str) -> int:
    return _field(body, "batchRequestId", int, where)


def parse_messages(body: Any, where: str, offset: int) -> list[AmtMessage]:
    """Messages from ``offset`` on, checked to be contiguous so a cursor can never skip or repeat."""
    raw = _field(body, "messages", list, where)
    result = []
    for i, item in enumerate(raw):
        index = _field(item, "index", int, f"{where} message {i}")
        if index != offset + i:
            raise AmtResponseError(
                f"{where}: message {i} has index {index}, expected {offset + i}; the server's "
                "message list is not contiguous."
            )
        text = _field(item, "text", str, f"{where} message {i}")
        timestamp = item.get("timestamp")
        severity = item.get("severity")
        result.append(
            AmtMessage(
                index=index,
                text=text,
                timestamp=timestamp if isinstance(timestamp, str) else None,
                severity=severity if isinstance(severity, str) else None,
            )
        )
    return result


# --- errors ----------------------------------------------------------------------------------


def error_for_status(status: int, text: str, request: ApiRequest, server: str) -> AmtError:
    """The typed error for a non-2xx answer, with the server's own message when it gave one."""
    detail = _server_message(text)
    where = f"{request.describe(server)} failed with HTTP {status}"
    if detail:
        where += f": {detail}"
    if status in (401, 403):
        hint = (
            "Check the API user and password of the Airflow connection."
            if request.path == LOGON_PATH
            else "The logon token was refused even after logging on again."
        )
        return AmtAuthenticationError(f"{where}. {hint} (AMT completion code 24 AUTHENTICATION_ERROR)")
    if status == 404:
        return AmtNotFoundError(f"{where}. Check the batch request id / job name.")
    if status in (400, 409, 422):
        return AmtValidationError(f"{where}. Fix the request; retrying it will not help.")
    if status in RETRYABLE_STATUSES:
        return AmtServerUnavailableError(
            f"{where}. The AMT Batch Server is failing or overloaded; try again later "
            "(AMT completion code 23 WEB_SERVER_ERROR)."
        )
    return AmtResponseError(f"{where}. This status is not part of the AMT API contract.")


def unreachable_error(request: ApiRequest, server: str, cause: BaseException, attempts: int) -> AmtError:
    return AmtServerUnavailableError(
        f"{request.describe(server)} could not reach the AMT Batch Server after {attempts} "
        f"attempt(s): {type(cause).__name__}: {_snippet(str(cause))}. Check the URL and port of the "
        "connection and that the server is running (AMT completion code 23 WEB_SERVER_ERROR)."
    )


def _server_message(text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return _snippet(text)
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or "")
    return ""


def _snippet(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every secret in ``text`` by ``***`` (a belt over Airflow's own masker)."""
    for secret in secrets:
        if secret:
            text = re.sub(re.escape(secret), "***", text)
    return text


Parser = Callable[[Any, str], Any]
