"""OpenAPI 3.1 description of the contract the emulator serves (``GET /openapi.json``).

Paths and the token header come from the served :class:`~amt_client.contract.WireContract`, so they
cannot drift; a test checks that the document lists every
route the emulator registers and nothing else.
"""

from __future__ import annotations

from typing import Any

from amt_client.codes import AmtCompletionCode
from amt_client.contract import DEFAULT_CONTRACT, WireContract
from amt_emulator import __version__

_ERROR = {"$ref": "#/components/schemas/Error"}
_ID_PARAM = {"name": "batch_request_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}


def _ok(schema: str, description: str = "OK") -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _err(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def _json_body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


_AUTH_ERRORS = {"401": _err("missing, invalid or expired logon token"), "503": _err("server unavailable (injected)")}

_STRINGS = {"type": "array", "items": {"type": "string"}, "maxItems": 20}


def _read(method: str, operation: dict[str, Any]) -> dict[str, Any]:
    """A read operation under its method; sent as ``POST``, its query parameters are a JSON body."""
    if method == "GET":
        return {"get": operation}
    query = [p for p in operation.get("parameters", []) if p["in"] == "query"]
    operation = {**operation, "parameters": [p for p in operation.get("parameters", []) if p["in"] != "query"]}
    if query:
        properties = {p["name"]: p["schema"] for p in query}
        required = [p["name"] for p in query if p.get("required")]
        schema = {"type": "object", "properties": properties, **({"required": required} if required else {})}
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    return {"post": operation}


def openapi_document(contract: WireContract = DEFAULT_CONTRACT) -> dict[str, Any]:
    paths = contract.paths
    lookup: dict[str, Any] = {}
    if paths.find_request is not None:
        lookup[paths.find_request] = _read(
            contract.methods.find_request,
            {
                "operationId": "FindBatchRequest",
                "summary": "Batch requests a Start with this GUID task id created, oldest first (assumed capability)",
                "security": [{"logonToken": []}],
                "parameters": [{"name": "taskId", "in": "query", "required": True, "schema": {"type": "string"}}],
                "responses": {
                    "200": {
                        "description": "OK (an empty list: no Start with this task id arrived)",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["batchRequestIds"],
                                    "properties": {
                                        "taskId": {"type": "string"},
                                        "batchRequestIds": {"type": "array", "items": {"type": "integer"}},
                                    },
                                }
                            }
                        },
                    },
                    "400": _err("taskId missing"),
                    **_AUTH_ERRORS,
                },
            },
        )
    secured: list[dict[str, list[str]]] = [{"logonToken": []}]
    admin = {"tags": ["admin (emulator only)"]}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "AMT Batch Server (AMTOpCon interface) - emulator",
            "version": __version__,
            "description": "The contract the AMT client assumes (amt_client.contract); see docs/api-contract.md.",
        },
        "components": {
            "securitySchemes": {"logonToken": _token_scheme(contract)},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {
                        "error": {"type": "string"},
                        "message": {"type": "string"},
                        "completionCode": {"type": "integer"},
                    },
                },
                "Heartbeat": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {"status": {"enum": ["up", "down"]}, "version": {"type": "string"}},
                },
                "Logon": {
                    "type": "object",
                    "required": ["userName", "password"],
                    "properties": {"userName": {"type": "string"}, "password": {"type": "string"}},
                },
                "LogonResult": {
                    "type": "object",
                    "required": ["amtLogonToken"],
                    "properties": {"amtLogonToken": {"type": "string"}, "expiresIn": {"type": "number"}},
                },
                "JobAction": {
                    "type": "object",
                    "required": ["action"],
                    "properties": {
                        "action": {"enum": ["Start", "Stop", "Kill"]},
                        "batchRequestId": {"type": "integer", "description": "Stop and Kill"},
                        "taskType": {"enum": ["BatchJob", "Script"]},
                        "taskId": {"type": ["string", "null"], "description": "caller's correlation GUID"},
                        "applicationName": {"type": ["string", "null"]},
                        "amtSubmitUser": {"type": "string", "default": "BATCH"},
                        "amtStation": {"type": "string", "default": "OPCON"},
                        "amtUser": {"type": ["string", "null"]},
                        "amtQueueName": {"type": ["string", "null"]},
                        "jobName": {"type": "string"},
                        "taskValues": _STRINGS,
                        "scriptName": {"type": "string"},
                        "scriptParameters": {**_STRINGS, "items": {"type": "string", "pattern": "^[^=]+=.*$"}},
                    },
                },
                "JobActionResult": {
                    "type": "object",
                    "required": ["batchRequestId"],
                    "properties": {
                        "batchRequestId": {"type": "integer", "description": "> 0: accepted; <= 0: refused"},
                        "message": {"type": "string"},
                        "completionCode": {"type": "integer"},
                    },
                },
                "JobStatus": {
                    "type": "object",
                    "required": ["batchRequestId", "completionCode"],
                    "properties": {
                        "batchRequestId": {"type": "integer"},
                        "completionCode": {"enum": [int(c) for c in AmtCompletionCode]},
                        "completionCodeName": {"type": "string"},
                        "taskType": {"type": "string"},
                        "applicationName": {"type": "string"},
                        "name": {"type": "string"},
                        "queueName": {"type": "string"},
                        "taskId": {"type": ["string", "null"]},
                        "submittedAt": {"type": "string", "format": "date-time"},
                        "startedAt": {"type": ["string", "null"], "format": "date-time"},
                        "endedAt": {"type": ["string", "null"], "format": "date-time"},
                    },
                },
                "Messages": {
                    "type": "object",
                    "required": ["batchRequestId", "offset", "messages"],
                    "properties": {
                        "batchRequestId": {"type": "integer"},
                        "offset": {"type": "integer"},
                        "totalMessages": {"type": "integer"},
                        "jobCompleted": {"type": "boolean"},
                        "messages": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["index", "text"],
                                "properties": {
                                    "index": {"type": "integer"},
                                    "text": {"type": "string"},
                                    "timestamp": {"type": ["string", "null"], "format": "date-time"},
                                    "severity": {"enum": ["INFO", "WARNING", "ERROR", None]},
                                },
                            },
                        },
                    },
                },
            },
        },
        "paths": {
            paths.heartbeat: _read(
                contract.methods.heartbeat,
                {
                    "operationId": "Heartbeat",
                    "summary": "Is the server up (no token)",
                    "responses": {"200": _ok("Heartbeat")},
                },
            ),
            paths.logon: {
                "post": {
                    "operationId": "Logon",
                    "summary": "Exchange API user and password for a logon token",
                    "requestBody": _json_body("Logon"),
                    "responses": {
                        "200": _ok("LogonResult"),
                        "400": _err("missing fields"),
                        "401": _err("credentials rejected (code 24)"),
                    },
                }
            },
            paths.job_action: {
                "post": {
                    "operationId": "OpConJobAction",
                    "summary": "Start, Stop or Kill a batch job or script",
                    "security": secured,
                    "requestBody": _json_body("JobAction"),
                    "responses": {
                        "200": _ok("JobActionResult"),
                        "400": _err("missing fields, wrong types, more than 20 values"),
                        "404": _err("unknown batch request id (Stop, Kill)"),
                        **_AUTH_ERRORS,
                    },
                }
            },
            paths.monitor: _read(
                contract.methods.monitor,
                {
                    "operationId": "MonitorJob",
                    "summary": "Current completion code of a batch request",
                    "security": secured,
                    "parameters": [_ID_PARAM],
                    "responses": {"200": _ok("JobStatus"), "404": _err("unknown batch request id"), **_AUTH_ERRORS},
                },
            ),
            paths.messages: _read(
                contract.methods.messages,
                {
                    "operationId": "GetMessages",
                    "summary": "Messages the job wrote, from an offset, readable while it runs",
                    "security": secured,
                    "parameters": [
                        _ID_PARAM,
                        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": contract.max_messages_page},
                        },
                    ],
                    "responses": {
                        "200": _ok("Messages"),
                        "400": _err("bad offset or limit"),
                        "404": _err("unknown batch request id"),
                        **_AUTH_ERRORS,
                    },
                },
            ),
            **lookup,
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {"200": {"description": "OK"}},
                }
            },
            "/admin/faults": {
                "get": {
                    **admin,
                    "operationId": "admin_get_faults",
                    "responses": {"200": {"description": "current fault settings"}},
                },
                "put": {
                    **admin,
                    "operationId": "admin_put_faults",
                    "summary": "Replace the fault settings (see docs/emulator.md)",
                    "responses": {"200": {"description": "new settings"}, "400": _err("malformed")},
                },
            },
            "/admin/tokens/expire": {
                "post": {
                    **admin,
                    "operationId": "admin_expire_tokens",
                    "summary": "Expire every logon token now",
                    "responses": {"200": {"description": "how many"}},
                }
            },
            "/admin/tokens": {
                "get": {
                    **admin,
                    "operationId": "admin_issued_tokens",
                    "summary": "Every logon token issued so far, expired ones too (tests look for them in logs)",
                    "responses": {"200": {"description": '{"issued": [token, ...]}'}},
                }
            },
            "/admin/requests": {
                "get": {
                    **admin,
                    "operationId": "admin_get_requests",
                    "summary": "Request log (?route=, ?since=)",
                    "responses": {"200": {"description": "entries"}, "400": _err("a bad since")},
                },
                "delete": {
                    **admin,
                    "operationId": "admin_clear_requests",
                    "summary": "Clear the request log",
                    "responses": {"200": {"description": "cleared"}},
                },
            },
            "/admin/requests/last": {
                "get": {
                    **admin,
                    "operationId": "admin_last_request",
                    "summary": "The newest request log entry's sequence number",
                    "responses": {"200": {"description": "{seq}"}},
                }
            },
        },
    }


def _token_scheme(contract: WireContract) -> dict[str, Any]:
    """How the logon token travels, in OpenAPI's words."""
    if contract.token_transport == "bearer":
        return {"type": "http", "scheme": "bearer"}
    place = "cookie" if contract.token_transport == "cookie" else "header"
    return {"type": "apiKey", "in": place, "name": contract.token_header}
