"""The emulator's HTTP service: the AMT contract of ``api_contract`` plus admin routes for tests.

Built on aiohttp's server because aiohttp is already a runtime dependency (the async hook uses its
client), it runs the whole service on one event loop with no extra process or framework, and it
gives the fault injector the raw transport, so it can drop a connection mid-request, which an
ASGI server does not allow. The OpenAPI document is written by hand in ``openapi.py`` and a test
checks it lists exactly the routes registered here.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from airflow_provider_amt import api_contract as contract
from airflow_provider_amt.codes import AmtCompletionCode as Code
from airflow_provider_amt.emulator.catalog import Catalog, JobSpec
from airflow_provider_amt.emulator.faults import FaultError, Faults
from airflow_provider_amt.emulator.openapi import openapi_document
from airflow_provider_amt.emulator.state import JobStore, Submission, iso

MAX_VALUES = 20
API_ROUTES = ("Heartbeat", "Logon", "OpConJobAction", "MonitorJob", "GetMessages")
_PUBLIC = ("Heartbeat", "Logon")


class BadRequest(Exception):
    """Turns into HTTP 400 with the message."""


@dataclass
class EmulatorConfig:
    user: str = "amtopcon"
    password: str = "amtopcon"
    version: str = "8.0.24223.0 (emulator)"


@dataclass
class Emulator:
    store: JobStore
    config: EmulatorConfig
    faults: Faults = field(default_factory=Faults)
    tokens: dict[str, float] = field(default_factory=dict)  # token -> monotonic expiry

    @property
    def catalog(self) -> Catalog:
        return self.store.catalog


def _error(status: int, message: str, code: int | None = None, headers: dict[str, str] | None = None) -> web.Response:
    reason = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}.get(status, "Error")
    body: dict[str, Any] = {"error": reason, "message": message}
    if code is not None:
        body["completionCode"] = code
    return web.json_response(body, status=status, headers=headers)


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


# --- middleware: faults, authentication, request log ------------------------------------------


@web.middleware
async def amt_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    route = request.match_info.route.name
    if route not in API_ROUTES:
        return await handler(request)
    emu = _emulator(request)
    action = None
    if route == "OpConJobAction":
        try:
            raw = await request.json()
            action = raw.get("action") if isinstance(raw, dict) else None
        except ValueError:
            action = None
    entry = {"at": time.time(), "method": request.method, "route": route, "path": request.path_qs, "action": action}
    if route == "OpConJobAction" and action == "Start":
        entry["detail"] = json.dumps({"taskId": raw.get("taskId"), "name": raw.get("jobName") or raw.get("scriptName")})
    drop_after = False
    for rule in emu.faults.pick(route, action):
        if rule.action == "delay":
            await asyncio.sleep(rule.seconds)
        elif rule.action == "error":
            headers = {"Retry-After": str(int(rule.retry_after))} if rule.retry_after is not None else None
            emu.store.log_request(**entry, status=rule.status, fault="error")
            return _error(rule.status, "injected fault", headers=headers)
        elif rule.action == "drop":
            emu.store.log_request(**entry, fault="drop")
            request.transport.close()
            raise asyncio.CancelledError
        elif rule.action == "drop_after":
            drop_after = True
    if route not in _PUBLIC:
        token = request.headers.get(contract.TOKEN_HEADER)
        expiry = emu.tokens.get(token or "")
        if expiry is None or expiry < time.monotonic():
            emu.tokens.pop(token or "", None)
            emu.store.log_request(**entry, status=401)
            reason = "missing logon token" if not token else "invalid or expired logon token"
            return _error(401, f"{reason}; log on again", int(Code.AUTHENTICATION_ERROR))
    try:
        response = await handler(request)
    except BadRequest as err:
        response = _error(400, str(err))
    except web.HTTPException as err:
        response = _error(err.status, err.text or err.reason)
    emu.store.log_request(**entry, status=response.status, fault="drop_after" if drop_after else None)
    if drop_after:
        request.transport.close()
        raise asyncio.CancelledError
    return response


# --- API routes -------------------------------------------------------------------------------


async def heartbeat(request: web.Request) -> web.Response:
    return web.json_response({"status": "up", "version": _emulator(request).config.version})


async def logon(request: web.Request) -> web.Response:
    emu = _emulator(request)
    body = await _json_object(request)
    user, password = body.get("userName"), body.get("password")
    if not isinstance(user, str) or not isinstance(password, str):
        raise BadRequest("userName and password are required strings")
    if not (secrets.compare_digest(user, emu.config.user) and secrets.compare_digest(password, emu.config.password)):
        return _error(401, "invalid API user or password", int(Code.AUTHENTICATION_ERROR))
    token = secrets.token_urlsafe(24)
    emu.tokens[token] = time.monotonic() + emu.faults.token_ttl
    return web.json_response({"amtLogonToken": token, "expiresIn": emu.faults.token_ttl})


def _string_list(body: dict[str, Any], name: str, need_pair: bool) -> list[str]:
    values = body.get(name)
    if values is None:
        return []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise BadRequest(f"{name} must be a list of strings")
    if len(values) > MAX_VALUES:
        raise BadRequest(f"{name} has {len(values)} entries; at most {MAX_VALUES} are allowed")
    if need_pair:
        for value in values:
            if "=" not in value or not value.partition("=")[0].strip():
                raise BadRequest(f"{name}: {value!r} is not in NAME=value form")
    return values


def _refused(message: str) -> web.Response:
    """AMT's way of saying no to a Start: a BatchRequestId that is not above 0."""
    return web.json_response({"batchRequestId": 0, "message": message})


async def job_action(request: web.Request) -> web.Response:
    emu = _emulator(request)
    body = await _json_object(request)
    action = body.get("action")
    if action in ("Stop", "Kill"):
        request_id = body.get("batchRequestId")
        if isinstance(request_id, bool) or not isinstance(request_id, int):
            raise BadRequest("batchRequestId must be an integer")
        code = emu.store.stop(request_id, kill=action == "Kill")
        if code is None:
            return _error(404, f"batch request {request_id} does not exist")
        return web.json_response({"batchRequestId": request_id, "completionCode": code})
    if action != "Start":
        raise BadRequest("action must be Start, Stop or Kill")
    return _start(emu, body)


def _start(emu: Emulator, body: dict[str, Any]) -> web.Response:
    task_type = body.get("taskType")
    if task_type not in ("BatchJob", "Script"):
        raise BadRequest("taskType must be BatchJob or Script")
    name_field = "jobName" if task_type == "BatchJob" else "scriptName"
    for required in (name_field, "amtSubmitUser", "amtStation"):
        if not isinstance(body.get(required), str) or not body[required].strip():
            raise BadRequest(f"{required} is required")
    for optional in ("applicationName", "amtUser", "amtQueueName", "taskId"):
        if body.get(optional) is not None and not isinstance(body[optional], str):
            raise BadRequest(f"{optional} must be a string")
    values = _string_list(
        body, "taskValues" if task_type == "BatchJob" else "scriptParameters", need_pair=task_type == "Script"
    )
    app_name = body.get("applicationName") or emu.catalog.default_application
    app = emu.catalog.applications.get(app_name or "")
    if app is None:
        return _refused(f"application '{app_name}' is not defined on this server")
    if body["amtSubmitUser"] != "BATCH" or body["amtStation"] != "OPCON":
        return _refused("submit user must be BATCH and station OPCON for requests from the scheduler")
    queue = body.get("amtQueueName") or app.default_queue
    if queue not in app.queues:
        return _refused(f"queue '{queue}' does not exist in application '{app.name}'")
    name = body[name_field]
    if task_type == "BatchJob":
        spec = app.batch_jobs.get(name)
        if spec is None:
            return _refused(f"batch job '{name}' is not defined in application '{app.name}'")
    else:
        spec = app.scripts.get(name) or _missing_script(app.scripts_folder, name)
    run_as = body.get("amtUser") or None
    request_id = emu.store.submit(
        Submission(
            task_id=body.get("taskId"),
            task_type=task_type,
            application=app.name,
            name=name,
            values=values,
            submit_user=body["amtSubmitUser"],
            station=body["amtStation"],
            run_as_user=run_as,
            queue=queue,
            spec=spec,
            invalid_user=run_as is not None and run_as not in app.users,
        )
    )
    return web.json_response({"batchRequestId": request_id, "taskId": body.get("taskId")})


def _missing_script(folder: str, name: str) -> JobSpec:
    path = name if ":" in name or name.startswith("\\") else f"{folder}\\{name}"
    return JobSpec(
        queue_delay=0.5,
        run_time=0.0,
        final_code=int(Code.ERROR),
        messages=({"at": 0, "severity": "ERROR", "text": f"File not found: {path}"},),
    )


def _request_id(request: web.Request) -> int:
    raw = request.match_info["batch_request_id"]
    if not raw.isdigit():
        raise BadRequest(f"batch request id must be an integer, got {raw!r}")
    return int(raw)


async def monitor_job(request: web.Request) -> web.Response:
    emu = _emulator(request)
    request_id = _request_id(request)
    row = emu.store.get(request_id)
    if row is None:
        return _error(404, f"batch request {request_id} does not exist")
    code = Code(row["code"])
    return web.json_response(
        {
            "batchRequestId": row["id"],
            "completionCode": int(code),
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
    )


async def get_messages(request: web.Request) -> web.Response:
    emu = _emulator(request)
    request_id = _request_id(request)
    try:
        offset = int(request.query.get("offset", "0"))
        limit = int(request.query.get("limit", str(contract.MAX_MESSAGES_PAGE)))
    except ValueError:
        raise BadRequest("offset and limit must be integers") from None
    if offset < 0 or not 1 <= limit <= contract.MAX_MESSAGES_PAGE:
        raise BadRequest(f"offset must be >= 0 and limit between 1 and {contract.MAX_MESSAGES_PAGE}")
    row = emu.store.get(request_id)
    if row is None:
        return _error(404, f"batch request {request_id} does not exist")
    rows, total = emu.store.messages(request_id, offset, limit)
    return web.json_response(
        {
            "batchRequestId": request_id,
            "offset": offset,
            "totalMessages": total,
            "jobCompleted": row["ended_at"] is not None,
            "messages": [
                {"index": m["idx"], "text": m["text"], "timestamp": iso(m["ts"]), "severity": m["severity"]}
                for m in rows
            ],
        }
    )


# --- admin routes (tests only; no authentication, loopback only) ------------------------------


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


async def get_requests(request: web.Request) -> web.Response:
    store = _emulator(request).store
    since = int(request.query.get("since", "0"))
    return web.json_response(store.request_log(request.query.get("route"), since))


async def clear_requests(request: web.Request) -> web.Response:
    _emulator(request).store.clear_request_log()
    return web.json_response({"cleared": True})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def create_app(emulator: Emulator) -> web.Application:
    app = web.Application(middlewares=[amt_middleware])
    app[EMULATOR_KEY] = emulator
    app.router.add_get(contract.HEARTBEAT_PATH, heartbeat, name="Heartbeat")
    app.router.add_post(contract.LOGON_PATH, logon, name="Logon")
    app.router.add_post(contract.JOB_ACTION_PATH, job_action, name="OpConJobAction")
    app.router.add_get(contract.MONITOR_PATH, monitor_job, name="MonitorJob")
    app.router.add_get(contract.MESSAGES_PATH, get_messages, name="GetMessages")
    app.router.add_get("/openapi.json", openapi, name="openapi")
    app.router.add_get("/admin/faults", get_faults, name="admin_get_faults")
    app.router.add_put("/admin/faults", put_faults, name="admin_put_faults")
    app.router.add_post("/admin/tokens/expire", expire_tokens, name="admin_expire_tokens")
    app.router.add_get("/admin/requests", get_requests, name="admin_get_requests")
    app.router.add_delete("/admin/requests", clear_requests, name="admin_clear_requests")
    return app
