"""The emulator's HTTP service: the AMT wire contract of ``amt_client.contract`` plus admin routes.

Built on aiohttp's server because aiohttp is already a dependency of the client library, it runs
the whole service on one event loop with no extra process or framework, and it gives the fault
injector the raw transport, so it can drop a connection mid-request, which an ASGI server does
not allow. The OpenAPI document is written by hand in ``openapi.py`` and a test checks it lists
exactly the routes registered here.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from amt_client.codes import AmtCompletionCode as Code
from amt_client.contract import DEFAULT_CONTRACT, WireContract, lookup, nest, query_name
from amt_client.errors import AmtValidationError
from amt_client.start import Action, TaskType
from amt_emulator.catalog import Catalog, JobSpec
from amt_emulator.faults import FaultError, Faults
from amt_emulator.openapi import openapi_document
from amt_emulator.state import JobStore, iso

#: Header that carries the admin token when admin routes are protected (non-loopback binds).
ADMIN_TOKEN_HEADER = "X-AMT-Emulator-Admin-Token"
API_ROUTES = ("Heartbeat", "Logon", "OpConJobAction", "MonitorJob", "GetMessages", "FindBatchRequest")
_PUBLIC = ("Heartbeat", "Logon")


#: An id or sequence number in a path or query: ASCII digits, at most 18 of them.
_ID = re.compile(r"[0-9]{1,18}")


class BadRequest(Exception):
    """Turns into HTTP 400 with the message."""


@dataclass
class EmulatorConfig:
    """The API login, the served contract, and who may use the admin routes.

    Admin routes change what the server does (faults, token expiry) and show every request: on a
    loopback bind they are open, as tests need them; otherwise they need ``admin_token`` in the
    ``X-AMT-Emulator-Admin-Token`` header, and without one they are off.
    """

    user: str = "amtopcon"
    password: str = "amtopcon"
    version: str = "8.0.24223.0 (emulator)"
    contract: WireContract = DEFAULT_CONTRACT
    admin_open: bool = True
    admin_token: str | None = None


@dataclass
class Emulator:
    store: JobStore
    config: EmulatorConfig
    faults: Faults = field(default_factory=Faults)
    tokens: dict[str, float] = field(default_factory=dict)  # token -> monotonic expiry
    #: every token ever issued, expired ones too: a test greps logs for them (``/admin/tokens``)
    issued: list[str] = field(default_factory=list)

    @property
    def catalog(self) -> Catalog:
        return self.store.catalog


def _error(
    status: int,
    message: str,
    code: int | None = None,
    headers: dict[str, str] | None = None,
    contract: WireContract = DEFAULT_CONTRACT,
    translate: bool = True,
) -> web.Response:
    """An error answer in the served contract's field names (inside its envelope, if it has one),
    with a status the contract gives its meaning (``statuses``: the usual one where the contract
    holds it, else the contract's highest; a refused token may be a 440)."""
    reason = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}.get(status, "Error")
    if translate:
        meant = {401: contract.statuses.token_refused, 404: contract.statuses.not_found, 400: contract.statuses.refused}
        if status in meant and status not in meant[status]:
            status = max(meant[status])
    f = contract.fields
    body: dict[str, Any] = {f.error: reason, f.message: message}
    if code is not None:
        body[f.completion_code] = code
    return web.json_response(contract.answer(body), status=status, headers=headers)


EMULATOR_KEY: web.AppKey[Emulator] = web.AppKey("emulator", Emulator)


def _emulator(request: web.Request) -> Emulator:
    return request.app[EMULATOR_KEY]


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def _close(request: web.Request) -> None:
    """Drop the connection without an answer (the ``drop`` and ``drop_after`` faults)."""
    if request.transport is not None:
        request.transport.close()


# --- middleware: faults, authentication, request log ------------------------------------------


@web.middleware
async def amt_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    route = request.match_info.route.name or ""
    emu = _emulator(request)
    if route.startswith("admin_"):
        refusal = _admin_refusal(emu.config, request)
        if refusal is not None:
            return refusal
        try:
            return await handler(request)
        except BadRequest as err:
            return _error(400, str(err))
    if route not in API_ROUTES:
        return await handler(request)
    contract = emu.config.contract
    fields = contract.fields
    action, raw = None, {}
    if route == "OpConJobAction":
        try:
            body = await request.json()
            raw = body if isinstance(body, dict) else {}
            action = lookup(raw, fields.action)
        except ValueError:
            action = None
    entry = {"at": time.time(), "method": request.method, "route": route, "path": request.path_qs, "action": action}
    if route == "OpConJobAction" and action == Action.START.value:
        name = lookup(raw, fields.job_name) or lookup(raw, fields.script_name)
        entry["detail"] = json.dumps({"taskId": lookup(raw, fields.task_id), "name": name})
    elif route == "OpConJobAction":  # Stop / Kill: which job
        entry["detail"] = json.dumps({"batchRequestId": lookup(raw, fields.batch_request_id)})
    drop_after = False
    for rule in emu.faults.pick(route, action):
        if rule.action == "delay":
            await asyncio.sleep(rule.seconds)
        elif rule.action == "error":
            headers = {"Retry-After": str(int(rule.retry_after))} if rule.retry_after is not None else None
            emu.store.log_request(**entry, status=rule.status, fault="error")
            return _error(rule.status, "injected fault", headers=headers, contract=contract, translate=False)
        elif rule.action == "drop":
            emu.store.log_request(**entry, fault="drop")
            _close(request)
            raise asyncio.CancelledError
        elif rule.action == "drop_after":
            drop_after = True
    if route not in _PUBLIC:
        token = contract.token_of(request.headers)
        expiry = emu.tokens.get(token or "")
        if expiry is None or expiry < time.monotonic():
            emu.tokens.pop(token or "", None)
            reason = "missing logon token" if not token else "invalid or expired logon token"
            refused = _error(401, f"{reason}; log on again", int(Code.AUTHENTICATION_ERROR), contract=contract)
            emu.store.log_request(**entry, status=refused.status)
            return refused
    try:
        response = await handler(request)
    except BadRequest as err:
        response = _error(400, str(err), contract=contract)
    except web.HTTPException as err:
        response = _error(err.status, err.text or err.reason, contract=contract, translate=False)  # routing
    emu.store.log_request(**entry, status=response.status, fault="drop_after" if drop_after else None)
    if drop_after:
        _close(request)
        raise asyncio.CancelledError
    return response


def _admin_refusal(config: EmulatorConfig, request: web.Request) -> web.Response | None:
    if config.admin_token is not None:
        given = request.headers.get(ADMIN_TOKEN_HEADER, "")
        if secrets.compare_digest(given.encode(), config.admin_token.encode()):
            return None
        return _error(403, f"admin routes need the {ADMIN_TOKEN_HEADER} header")
    if not config.admin_open:
        return _error(403, "admin routes are off on a non-loopback bind; start the emulator with --admin-token")
    return None


# --- API routes -------------------------------------------------------------------------------


async def heartbeat(request: web.Request) -> web.Response:
    config = _emulator(request).config
    contract = config.contract
    if contract.heartbeat_answer == "text":
        return web.Response(text="OK")
    return web.json_response(contract.answer({contract.fields.status: "up", contract.fields.version: config.version}))


async def logon(request: web.Request) -> web.Response:
    emu = _emulator(request)
    body = await _json_object(request)
    contract = emu.config.contract
    fields = contract.fields
    user, password = lookup(body, fields.user_name), lookup(body, fields.password)
    if not isinstance(user, str) or not isinstance(password, str):
        raise BadRequest(f"{fields.user_name} and {fields.password} are required strings")
    # compared as UTF-8 bytes: compare_digest refuses str with non-ASCII characters (a 500 before)
    same_user = secrets.compare_digest(user.encode("utf-8", "surrogatepass"), emu.config.user.encode())
    same_password = secrets.compare_digest(password.encode("utf-8", "surrogatepass"), emu.config.password.encode())
    if not (same_user and same_password):
        return _error(401, "invalid API user or password", int(Code.AUTHENTICATION_ERROR), contract=contract)
    token = secrets.token_urlsafe(24)
    emu.tokens[token] = time.monotonic() + emu.faults.token_ttl
    emu.issued.append(token)
    answer: dict[str, Any] = {fields.token: token}
    if contract.token_lifetime is None:  # else: a server that does not say how long a token lives
        answer[fields.expires_in] = emu.faults.token_ttl
    response = web.json_response(contract.answer(answer))
    if contract.token_transport == "cookie":  # as a cookie-authenticated server does: Set-Cookie too
        response.set_cookie(contract.token_header, token, httponly=True)
    return response


def _refused(contract: WireContract, message: str) -> web.Response:
    """AMT's way of saying no to a Start: a BatchRequestId that is not above 0."""
    return web.json_response(contract.answer({contract.fields.batch_request_id: 0, contract.fields.message: message}))


async def job_action(request: web.Request) -> web.Response:
    emu = _emulator(request)
    body = await _json_object(request)
    contract = emu.config.contract
    fields = contract.fields
    action = lookup(body, fields.action)
    if action in (Action.STOP.value, Action.KILL.value):
        request_id = lookup(body, fields.batch_request_id)
        if isinstance(request_id, bool) or not isinstance(request_id, int):
            raise BadRequest(f"{fields.batch_request_id} must be an integer")
        row = emu.store.get(request_id)
        if row is not None:
            await _check_job_ids(request, contract, "job_action", row, body)
        code = emu.store.stop(request_id, kill=action == Action.KILL.value)
        if code is None:
            return _error(404, f"batch request {request_id} does not exist", contract=contract)
        return web.json_response(contract.answer({fields.batch_request_id: request_id, fields.completion_code: code}))
    if action != Action.START.value:
        raise BadRequest(f"{fields.action} must be Start, Stop or Kill")
    return _start(emu, body)


def _start(emu: Emulator, body: dict[str, Any]) -> web.Response:
    contract = emu.config.contract
    try:
        start = contract.parse_start_body(body, emu.catalog.default_application)
    except AmtValidationError as err:
        raise BadRequest(str(err)) from None
    app = emu.catalog.applications.get(start.application_name)
    if app is None:
        return _refused(contract, f"application '{start.application_name}' is not defined on this server")
    if start.submit_user != "BATCH" or start.station != "OPCON":
        return _refused(contract, "submit user must be BATCH and station OPCON for requests from the scheduler")
    queue = start.queue_name or app.default_queue
    if queue not in app.queues:
        return _refused(contract, f"queue '{queue}' does not exist in application '{app.name}'")
    if start.task_type is TaskType.BATCH_JOB:
        spec = app.batch_jobs.get(start.name)
        if spec is None:
            return _refused(contract, f"batch job '{start.name}' is not defined in application '{app.name}'")
    else:
        spec = app.scripts.get(start.name) or _missing_script(app.scripts_folder, start.name)
    invalid_user = start.run_as_user is not None and start.run_as_user not in app.users
    request_id = emu.store.submit(start, queue=queue, spec=spec, invalid_user=invalid_user)
    fields = contract.fields
    return web.json_response(contract.answer({fields.batch_request_id: request_id, fields.task_id: start.task_id}))


def _missing_script(folder: str, name: str) -> JobSpec:
    path = name if ":" in name or name.startswith("\\") else f"{folder}\\{name}"
    return JobSpec(
        queue_delay=0.5,
        run_time=0.0,
        final_code=int(Code.ERROR),
        messages=({"at": 0, "severity": "ERROR", "text": f"File not found: {path}"},),
    )


async def _input(request: web.Request, field: str) -> str:
    """A read operation's input as the contract's method sends it: from the query for ``GET``, from
    the JSON body (the field's dotted path) for ``POST``; "" when it is not there."""
    if request.method != "POST":
        return request.query.get(query_name(field), "")
    value = lookup(await _json_object(request), field)
    return "" if value is None or isinstance(value, (bool, dict, list)) else str(value)


async def _request_id(request: web.Request, contract: WireContract) -> int:
    """The id from the path, or as the other inputs where the contract's path has no placeholder."""
    raw = request.match_info.get("batch_request_id") or await _input(request, contract.fields.batch_request_id)
    if not _ID.fullmatch(raw):  # ASCII digits, bounded: "²" and 5,000 digits are not ids
        raise BadRequest(f"batch request id must be an integer, got {raw[:40]!r}")
    return int(raw)


async def _check_job_ids(request: web.Request, contract: WireContract, call: str, row: Any, body: Any = None) -> None:
    """A server whose contract names ids for ``call`` (``ids``) wants each, the job's own: read as
    the contract's method sends them (a Stop's or Kill's from its body)."""
    f = contract.fields
    kind = TaskType(row["task_type"])
    for name in getattr(contract.call_ids, call):
        field = f.id_field(name, kind)
        if body is not None:
            found = lookup(body, field)
            given = "" if found is None else str(found)
        else:
            given = await _input(request, field)
        if given != str(row[name] or ""):  # the store's columns have the ids' names
            raise BadRequest(f"{field} is required with {call} and must be the job's own")


async def monitor_job(request: web.Request) -> web.Response:
    emu = _emulator(request)
    contract = emu.config.contract
    request_id = await _request_id(request, contract)
    row = emu.store.get(request_id)
    if row is None:
        return _error(404, f"batch request {request_id} does not exist", contract=contract)
    await _check_job_ids(request, contract, "monitor", row)
    code = Code(emu.store.code(row))
    fields = contract.fields
    answer = {
        fields.batch_request_id: row["id"],
        fields.completion_code: int(code),
        "completionCodeName": code.amt_name,
        "taskType": row["task_type"],
        "applicationName": row["application"],
        "name": row["name"],
        "queueName": row["queue"],
        "taskId": row["task_id"],
        "submittedAt": iso(row["submitted_at"]),
        "startedAt": iso(row["started_at"]) if row["started_at"] else None,
        "endedAt": iso(row["ended_at"]) if row["ended_at"] else None,
    }
    if emu.faults.message_count:  # the **assumed** optional field; a fault document can turn it off
        answer[fields.message_count] = emu.store.message_count(request_id)
    return web.json_response(contract.answer(answer))


async def get_messages(request: web.Request) -> web.Response:
    emu = _emulator(request)
    contract = emu.config.contract
    f = contract.fields
    request_id = await _request_id(request, contract)
    page_limit = contract.max_messages_page
    try:
        limit = int(await _input(request, f.limit) or str(page_limit))
        if contract.message_paging == "page":  # by page number, from the contract's first page
            number = int(await _input(request, f.page) or str(contract.first_page))
            if number < contract.first_page:
                raise BadRequest(f"{f.page} starts at {contract.first_page}")
            offset = (number - contract.first_page) * limit
        else:
            offset = int(await _input(request, f.offset) or "0")
    except ValueError:
        raise BadRequest("offset, page and limit must be integers") from None
    if offset < 0 or not 1 <= limit <= page_limit:
        raise BadRequest(f"offset must be >= 0 and limit between 1 and {page_limit}")
    row = emu.store.get(request_id)
    if row is None:
        return _error(404, f"batch request {request_id} does not exist", contract=contract)
    await _check_job_ids(request, contract, "messages", row)
    rows, total = emu.store.messages(request_id, offset, limit)
    return web.json_response(
        contract.answer(
            {
                f.batch_request_id: request_id,
                f.offset: offset,
                "totalMessages": total,
                "jobCompleted": row["ended_at"] is not None,
                f.messages: [
                    nest({f.index: m["idx"], f.text: m["text"], f.timestamp: iso(m["ts"]), f.severity: m["severity"]})
                    for m in rows
                ],
            }
        )
    )


async def find_batch_request(request: web.Request) -> web.Response:
    """Which batch requests a Start with this GUID task id created (**assumed** AMT capability)."""
    emu = _emulator(request)
    contract = emu.config.contract
    fields = contract.fields
    task_id = await _input(request, fields.task_id)
    if not task_id.strip():
        raise BadRequest(f"{fields.task_id} is required")
    return web.json_response(
        contract.answer({fields.task_id: task_id, fields.batch_request_ids: emu.store.find(task_id)})
    )


# --- admin routes (tests; open on loopback, token-protected or off elsewhere) -------------------


async def get_faults(request: web.Request) -> web.Response:
    return web.json_response(_emulator(request).faults.to_json())


async def put_faults(request: web.Request) -> web.Response:
    emu = _emulator(request)
    try:
        emu.faults = Faults.from_json(await _json_object(request))
    except (FaultError, TypeError, ValueError, BadRequest) as err:
        return _error(400, str(err))
    return web.json_response(emu.faults.to_json())


async def expire_tokens(request: web.Request) -> web.Response:
    emu = _emulator(request)
    count = len(emu.tokens)
    emu.tokens.clear()
    return web.json_response({"expired": count})


async def issued_tokens(request: web.Request) -> web.Response:
    return web.json_response({"issued": _emulator(request).issued})


async def get_requests(request: web.Request) -> web.Response:
    store = _emulator(request).store
    since = request.query.get("since", "0")
    if not _ID.fullmatch(since):
        raise BadRequest(f"since must be a request sequence number, got {since[:40]!r}")
    return web.json_response(store.request_log(request.query.get("route"), int(since)))


async def last_request(request: web.Request) -> web.Response:
    return web.json_response({"seq": _emulator(request).store.last_request_seq()})


async def clear_requests(request: web.Request) -> web.Response:
    _emulator(request).store.clear_request_log()
    return web.json_response({"cleared": True})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(_emulator(request).config.contract))


def create_app(emulator: Emulator) -> web.Application:
    app = web.Application(middlewares=[amt_middleware])
    app[EMULATOR_KEY] = emulator
    paths, methods = emulator.config.contract.paths, emulator.config.contract.methods
    app.router.add_route(methods.heartbeat, paths.heartbeat, heartbeat, name="Heartbeat")
    app.router.add_post(paths.logon, logon, name="Logon")
    app.router.add_post(paths.job_action, job_action, name="OpConJobAction")
    app.router.add_route(methods.monitor, paths.monitor, monitor_job, name="MonitorJob")
    app.router.add_route(methods.messages, paths.messages, get_messages, name="GetMessages")
    if paths.find_request is not None:
        app.router.add_route(methods.find_request, paths.find_request, find_batch_request, name="FindBatchRequest")
    app.router.add_get("/openapi.json", openapi, name="openapi")
    app.router.add_get("/admin/faults", get_faults, name="admin_get_faults")
    app.router.add_put("/admin/faults", put_faults, name="admin_put_faults")
    app.router.add_post("/admin/tokens/expire", expire_tokens, name="admin_expire_tokens")
    app.router.add_get("/admin/tokens", issued_tokens, name="admin_issued_tokens")
    app.router.add_get("/admin/requests", get_requests, name="admin_get_requests")
    app.router.add_get("/admin/requests/last", last_request, name="admin_last_request")
    app.router.add_delete("/admin/requests", clear_requests, name="admin_clear_requests")
    return app
