"""``amt-probe``: check a live Batch Server against a wire contract before the first DAG runs.

No public specification of the AMTOpCon interface exists, so a site's first real server may differ
from the contract the client assumes. The probe asks the server what it can without changing
anything (heartbeat, logon, the status and messages of a batch request the user names) and says,
operation by operation, what matched the contract and what did not: the status it got, the fields
and shapes it saw. Where it can see how to fix a mismatch (field names in another case or nested in
an envelope, the token's form, a heartbeat that answers text) it corrects it in a suggested contract
document (``--suggest FILE``) that the connection's extra ``contract`` can name. One Start, and the
watch of that job to its end, happen only with ``--start APPLICATION/JOB``.

Never printed: the password, a logon token, a cookie's value. Exit code 0 only when every operation
checked matched the contract.

Usage::

    AMT_PASSWORD=... amt-probe --url https://batchserver:4004 --user amtopcon --password-env AMT_PASSWORD \\
        [--contract site.json] [--batch-request-id 17] [--suggest suggested.json] [--start DEMO2/REPORTTEST01]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from amt_client import validation
from amt_client.config import ServerConfig
from amt_client.contract import TOKEN_TRANSPORTS, ApiRequest, WireContract, lookup, shape, snippet
from amt_client.contract_document import contract_document, load_contract
from amt_client.errors import AmtError
from amt_client.start import BatchRequestId, StartRequest, job_ids

#: The naming conventions a request's field names are tried in when the server refuses the logon.
_CONVENTIONS: dict[str, Callable[[str], str]] = {
    "camelCase": lambda name: name,
    "PascalCase": lambda name: name[:1].upper() + name[1:],
    "snake_case": lambda name: "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_"),
}


@dataclass
class Finding:
    """What the probe saw of one operation."""

    operation: str
    matched: bool
    said: str
    #: The document keys the probe corrected (``{"fields.token": "LogonToken"}``).
    changes: dict[str, Any] = field(default_factory=dict)


class Probe:
    """The checks, in order; each one learns from the ones before (see the module docstring)."""

    def __init__(self, config: ServerConfig, session: requests.Session | None = None):
        self.config = config
        self.contract = config.contract  # corrected as the probe learns
        self.session = session or requests.Session()
        self.findings: list[Finding] = []
        self._token: str | None = None
        self._cookies: list[str] = []

    # --- the run ------------------------------------------------------------------------------------

    def run(self, batch_request_id: int | None = None, start: tuple[str, str] | None = None) -> list[Finding]:
        if self._heartbeat() and self._logon():
            request_id = batch_request_id
            if start is not None:
                request_id = self._start(*start)
            if request_id is not None:
                self._methods(request_id)
                self._token_form(request_id)
                self._status(request_id)
                self._messages(request_id)
                if start is not None:
                    self._watch(request_id)
        return self.findings

    @property
    def matched(self) -> bool:
        return bool(self.findings) and all(f.matched for f in self.findings)

    def suggestion(self) -> dict[str, Any]:
        """The contract document with every correction the probe could make."""
        return contract_document(self.contract)

    # --- operations ---------------------------------------------------------------------------------

    def _heartbeat(self) -> bool:
        contract = self.contract
        answer = self._send("heartbeat", contract.heartbeat_request())
        if answer is None:
            return False
        if answer.status_code >= 400:
            return self._found("heartbeat", False, f"HTTP {answer.status_code} at {contract.paths.heartbeat}")
        body = _json(answer)
        if body is _NOT_JSON and contract.heartbeat_answer == "json" and answer.text.strip():
            self._learn("heartbeat", {"heartbeat.answer": "text"}, "it answered text, not JSON")
            return True
        try:
            said = contract.parse_heartbeat(answer.text if contract.heartbeat_answer == "text" else body, "heartbeat")
            return self._found("heartbeat", True, said)
        except AmtError as err:
            mismatch = self._why(err, body, ("status",))
        shape = _shape(body)
        changes = self._fields_in(body, {"status": "up"})
        if changes:
            self._learn("heartbeat", changes, f"{mismatch} (the answer: {shape})")
            return True
        return self._found("heartbeat", False, f"{mismatch} (the answer: {shape})")

    def _logon(self) -> bool:
        """The logon as the contract says; refused as a bad request, with the request's field names
        in the other usual spellings (a logon changes nothing on the server)."""
        names = ("user_name", "password")
        attempts = [("as the contract says", self.contract)]
        attempts += [(name, self._spelled(spell, names)) for name, spell in _CONVENTIONS.items()]
        last: requests.Response | None = None
        for convention, contract in attempts:
            if last is not None and contract == self.contract:
                continue
            answer = self._send("logon", contract.logon_request(self.config.user, self.config.password))
            if answer is None:
                return False
            last = answer
            if answer.status_code in (400, 422):
                continue  # the request's field names may be spelled otherwise
            if answer.status_code >= 400:
                break
            changes = {
                f"fields.{name}": getattr(contract.fields, name)
                for name in names
                if getattr(contract.fields, name) != getattr(self.contract.fields, name)
            }
            self._cookies = _cookie_names(answer)
            return self._read_logon(answer, changes, convention)
        assert last is not None
        text = self._clean(snippet(last.text, 200))
        return self._found("logon", False, f"HTTP {last.status_code} at {self.contract.paths.logon}: {text}")

    def _read_logon(self, answer: requests.Response, changes: dict[str, Any], convention: str) -> bool:
        body = _json(answer)
        try:
            self._token, _ = self.contract.parse_logon(body, "logon")
            if changes:
                self._learn("logon", changes, f"it takes the request's field names in {convention}")
            else:
                self._found("logon", True, f"logon as {self.config.user} succeeded; the token is {self._token_shape()}")
            return True
        except AmtError as err:
            mismatch = self._why(err, body, ("token",))
        found = self._fields_in(body, {"token": str, "expires_in": None})
        why = f"{mismatch} (the answer: {_shape(body)})"
        if "fields.token" not in found:
            if self._cookies:
                why += f"; it set the cookie{'s' if len(self._cookies) > 1 else ''} {', '.join(self._cookies)}"
            return self._found("logon", False, why)
        self._learn("logon", {**changes, **found}, why)
        try:
            self._token, _ = self.contract.parse_logon(body, "logon")
        except AmtError as err:
            return self._found("logon", False, self._clean(str(err)))
        return True

    def _methods(self, batch_request_id: int) -> None:
        """A read the server refuses with 405 Method Not Allowed is tried by the other method; when
        that one is taken, it is suggested (``methods.<name>``) and used from here on."""
        reads: tuple[tuple[str, str, Callable[[WireContract], ApiRequest[Any]]], ...] = (
            ("status", "monitor", lambda contract: contract.status_request(batch_request_id)),
            ("messages", "messages", lambda contract: contract.messages_request(batch_request_id, 0, 5)),
        )
        for operation, name, build in reads:
            request = build(self.contract)
            answer = self._send(operation, request)
            if answer is None or answer.status_code != 405:
                continue
            other = {"methods." + name: "POST" if request.method == "GET" else "GET"}
            retry = self._send(operation, build(_with(self.contract, other)))
            if retry is not None and retry.status_code != 405:
                self._learn(operation, other, f"HTTP 405 to {request.method} {request.path}")

    def _token_form(self, batch_request_id: int) -> None:
        """Which form of the token the server takes: the contract's first, then the others."""
        request = self.contract.status_request(batch_request_id)
        tried = []
        for transport, name in self._token_forms():
            contract = dataclasses.replace(self.contract, token_transport=transport, token_header=name)
            answer = self._send("token", request, contract)
            if answer is None:
                return
            tried.append(f"{transport} {name}: HTTP {answer.status_code}")
            if answer.status_code not in self.contract.statuses.token_refused | {401, 403}:
                if (transport, name) == (self.contract.token_transport, self.contract.token_header):
                    self._found("token", True, f"the server takes the token as the contract says ({transport})")
                else:
                    changes = {"token.transport": transport, "token.name": name}
                    self._learn("token", changes, f"refused as the contract says; taken as {transport} {name}")
                return
        self._found("token", False, "the server took no form of the token: " + "; ".join(tried))

    def _a_code(self, value: Any) -> bool:
        """A completion code of the table, or one the contract document adds."""
        try:
            self.contract.code_of(value)
        except ValueError:
            return False
        return True

    def _status(self, batch_request_id: int) -> None:
        request = self.contract.status_request(batch_request_id)
        said = f"batch request {batch_request_id} is {{}}"
        read = self._read("status", request, ("batch_request_id", "completion_code"), said)
        if read is not None:
            body, mismatch = read
            wanted = {"batch_request_id": batch_request_id, "completion_code": self._a_code, "message_count": int}
            self._suggest("status", self._fields_in(body, wanted), "fields.completion_code", mismatch, body)

    def _messages(self, batch_request_id: int) -> None:
        request = self.contract.messages_request(batch_request_id, 0, 5)
        said = f"batch request {batch_request_id}: {{}} of its first messages read"
        read = self._read("messages", request, ("messages",), said)
        if read is None:
            return
        body, mismatch = read
        changes = self._fields_in(body, {"messages": list})
        learnt = _with(self.contract, changes)
        listed = lookup(learnt.opened(body), learnt.fields.messages)
        if isinstance(listed, list) and listed and isinstance(listed[0], dict):
            wanted = {"index": 0, "text": str, "timestamp": str, "severity": str}
            changes.update(self._fields_in(listed[0], wanted, enveloped=False))
        self._suggest("messages", changes, "fields.messages", mismatch, body)

    def _read(
        self, operation: str, request: ApiRequest[Any], names: Sequence[str], said: str
    ) -> tuple[Any, str] | None:
        """Send a read and parse it by the contract: None when that settled it (it matched, ``said``
        with what was read, or the server refused), else the answer and why it did not read."""
        answer = self._send(operation, request)
        if answer is None:
            return None
        if answer.status_code >= 400:
            text = self._clean(snippet(answer.text, 200))
            self._found(operation, False, f"HTTP {answer.status_code} at {request.path}: {text}")
            return None
        body = _json(answer)
        try:
            parsed = request.parse(body, operation)
        except AmtError as err:
            return body, self._why(err, body, names)
        self._found(operation, True, said.format(len(parsed) if isinstance(parsed, list) else parsed))
        return None

    def _suggest(self, operation: str, changes: dict[str, Any], needed: str, mismatch: str, body: Any) -> None:
        """A mismatch, with the corrections found when they include the one the operation needs."""
        why = f"{mismatch} (the answer: {_shape(body)})"
        if needed in changes:
            self._learn(operation, changes, why)
        else:
            self._found(operation, False, why)

    def _start(self, application: str, job: str) -> int | None:
        started = StartRequest.batch_job(application, job, task_id=str(uuid.uuid4()))  # as SMA's connector
        request = self.contract.start_request(started)
        answer = self._send("start", request)
        if answer is None:
            return None
        try:
            batch_request_id = request.parse(_json(answer), "start") if answer.status_code < 400 else None
        except AmtError as err:
            self._found("start", False, self._clean(str(err)))
            return None
        if batch_request_id is None:
            self._found("start", False, f"HTTP {answer.status_code}: {self._clean(answer.text)}")
            return None
        self._found("start", True, f"batch request {batch_request_id} started")
        return self.contract.identified(batch_request_id, started)  # with its ids, where the contract sends any

    def _watch(self, batch_request_id: int) -> None:
        """Follow the started job to its end with the contract as learnt (one status a second)."""
        deadline = time.monotonic() + 600
        request = self.contract.status_request(batch_request_id)
        while time.monotonic() < deadline:
            answer = self._send("watch", request)
            if answer is None or answer.status_code >= 400:
                self._found("watch", False, "the job could not be followed to its end")
                return
            try:
                status = request.parse(_json(answer), "watch")
            except AmtError as err:
                self._found("watch", False, self._clean(str(err)))
                return
            if status.is_terminal:
                self._found("watch", True, f"batch request {batch_request_id} ended with {status}")
                return
            time.sleep(1.0)
        self._found("watch", False, f"batch request {batch_request_id} did not end within 600 s")

    # --- helpers ------------------------------------------------------------------------------------

    def _send(
        self, operation: str, request: ApiRequest[Any], contract: WireContract | None = None
    ) -> requests.Response | None:
        contract = contract or self.contract
        self.session.cookies.clear()  # only the token form under test may authenticate a call
        headers = {"Accept": "application/json"}
        if request.needs_token and self._token:
            headers.update(contract.token_headers(self._token))
        try:
            return self.session.request(
                request.method,
                self.config.url(request.path),
                headers=headers,
                json=request.json_body,
                params=request.params,
                timeout=(self.config.connect_timeout, self.config.timeout),
                verify=self.config.verify,
                allow_redirects=False,
            )
        except requests.exceptions.SSLError as err:
            self._found(operation, False, f"TLS failed: {self._clean(str(err.__context__ or err))}")
        except requests.RequestException as err:
            self._found(operation, False, f"{self.config.base_url} cannot be reached: {type(err).__name__}")
        return None

    def _token_forms(self) -> list[tuple[str, str]]:
        """The contract's form first, then a header of the contract's name, a bearer token, and a
        cookie of each name the logon set (or of the contract's name)."""
        name = self.contract.token_header
        forms = [(self.contract.token_transport, name), ("header", name), ("bearer", name)]
        forms += [("cookie", cookie) for cookie in [*self._cookies, name]]
        return [form for form in dict.fromkeys(forms) if form[0] in TOKEN_TRANSPORTS]

    def _fields_in(self, body: Any, wanted: Mapping[str, Any], *, enveloped: bool = True) -> dict[str, Any]:
        """Where the fields the contract names sit in ``body``, found by name in any case and nesting.

        ``wanted``: field -> the value it must hold (None: any; a type: one of that type; a callable:
        a check). An envelope that holds every field found is suggested as ``answer_envelope``.
        """
        envelope = self.contract.answer_envelope
        if enveloped and envelope is not None and isinstance(lookup(body, envelope), dict):
            body, enveloped = lookup(body, envelope), False  # the envelope fits: look inside it
        else:
            envelope = None
        found: dict[str, str] = {}
        for name, value in wanted.items():
            expected = getattr(self.contract.fields, name)
            for keys, held in _walk(body):
                if _same(keys[-1], expected.rsplit(".", 1)[-1]) and _holds(held, value):
                    found[name] = ".".join(keys)
                    break
        if not found:
            return {}
        changes: dict[str, Any] = {}
        heads = {path.split(".")[0] for path in found.values()}
        if enveloped and len(heads) == 1 and all("." in path for path in found.values()):
            envelope = heads.pop()  # every field found sits in one object: the answers' envelope
            if envelope != self.contract.answer_envelope:
                changes["answer_envelope"] = envelope
        elif enveloped and self.contract.answer_envelope is not None:
            changes["answer_envelope"] = None  # the contract's envelope is not there
        for name, path in found.items():
            relative = path[len(envelope) + 1 :] if enveloped and envelope else path
            if relative != getattr(self.contract.fields, name):
                changes[f"fields.{name}"] = relative
        return changes

    def _why(self, err: AmtError, body: Any, names: Sequence[str]) -> str:
        """Why an answer did not read, without its values: the fields the contract names that it lacks."""
        if body is _NOT_JSON:
            return "the answer is not JSON"
        opened = self.contract.opened(body)
        missing = [
            getattr(self.contract.fields, n) for n in names if lookup(opened, getattr(self.contract.fields, n)) is None
        ]
        if missing:
            where = f" in its envelope {self.contract.answer_envelope!r}" if self.contract.answer_envelope else ""
            return f"the answer has no field {', '.join(repr(m) for m in missing)}{where}"
        return f"the answer does not read ({type(err).__name__}; values not shown)"

    def _spelled(self, spell: Callable[[str], str], names: Sequence[str]) -> WireContract:
        fields = {name: spell(getattr(self.contract.fields, name)) for name in names}
        return dataclasses.replace(self.contract, fields=dataclasses.replace(self.contract.fields, **fields))

    def _learn(self, operation: str, changes: dict[str, Any], why: str) -> bool:
        self.contract = _with(self.contract, changes)
        shown = ", ".join(f"{key}={json.dumps(value)}" for key, value in changes.items())
        return self._found(operation, False, f"{why} -> suggested: {shown}", changes)

    def _found(self, operation: str, matched: bool, said: str, changes: dict[str, Any] | None = None) -> bool:
        self.findings.append(Finding(operation, matched, self._clean(said), changes or {}))
        return matched

    def _clean(self, text: str) -> str:
        """No secret in anything printed: the password and the token, wherever they occur."""
        for secret in (self.config.password, getattr(self, "_token", None)):
            if secret:
                text = text.replace(secret, "***")
        return text

    def _token_shape(self) -> str:
        token = self._token or ""
        return f"{len(token)} characters"


_NOT_JSON = object()


def _json(answer: requests.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return _NOT_JSON


def _walk(body: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every (path, value) of a decoded answer's objects, breadth first, at most 4 levels deep."""
    if not isinstance(body, dict) or len(path) >= 4:
        return
    nested = []
    for key, value in body.items():
        if isinstance(key, str):
            yield (*path, key), value
            if isinstance(value, dict):
                nested.append(((*path, key), value))
    for inner_path, inner in nested:
        yield from _walk(inner, inner_path)


def _same(key: str, expected: str) -> bool:
    """A key that names the expected field in another case or spelling, or with a prefix more or
    less (``LogonToken`` for ``amtLogonToken``); the value check then decides."""

    def plain(name: str) -> str:
        return name.replace("_", "").replace("-", "").lower()

    a, b = plain(key), plain(expected)
    shorter = min(a, b, key=len)
    return a == b or (len(shorter) >= 5 and (a.endswith(b) or b.endswith(a)))


def _holds(held: Any, wanted: Any) -> bool:
    if wanted is None:
        return held is not None and not isinstance(held, (dict, list))
    if isinstance(wanted, type):
        return isinstance(held, wanted) and not isinstance(held, bool)
    if callable(wanted):
        return bool(wanted(held))
    if isinstance(wanted, str):
        return isinstance(held, str) and held.lower() == wanted.lower()
    return held == wanted and not isinstance(held, bool)


def _shape(body: Any) -> str:
    return "not JSON" if body is _NOT_JSON else shape(body)


def _cookie_names(answer: requests.Response) -> list[str]:
    return [cookie.name for cookie in answer.cookies]


def _with(contract: WireContract, changes: Mapping[str, Any]) -> WireContract:
    document = contract_document(contract)
    for key, value in changes.items():
        section, _, name = key.partition(".")
        if name:
            document[section][name] = value
        else:
            document[section] = value
    return load_contract(document)


# --- the command ------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="amt-probe", description="Check a live AMT Batch Server against a wire contract (read-only)."
    )
    parser.add_argument("--url", required=True, help="the Batch Server URL, e.g. https://batchserver:4004")
    parser.add_argument("--user", required=True, help="the API user")
    parser.add_argument(
        "--password-env", required=True, metavar="VAR", help="the environment variable that holds the password"
    )
    parser.add_argument("--contract", help="a contract document (.json / .yaml path, or JSON text); default: none")
    parser.add_argument("--batch-request-id", type=int, help="a batch request to read the status and messages of")
    parser.add_argument(
        "--job-id",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an id of that batch request's job the contract sends with its calls (ids): task_id, application...",
    )
    parser.add_argument("--suggest", metavar="FILE", help="write the contract document with every correction")
    parser.add_argument("--start", metavar="APPLICATION/JOB", help="start this batch job once and watch it to its end")
    parser.add_argument("--ca-bundle", help="PEM file of the CA that signed the server's certificate")
    parser.add_argument("--insecure", action="store_true", help="do not check the server's certificate (tests only)")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for one answer (default 15)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    args = parse_args(argv)
    password = os.environ.get(args.password_env)
    if not password:
        out(f"amt-probe: the environment variable {args.password_env} holds no password")
        return 2
    try:
        contract = load_contract(args.contract) if args.contract else WireContract()
        config = ServerConfig(
            args.url,
            args.user,
            password,
            verify=args.ca_bundle or not args.insecure,
            timeout=args.timeout,
            connect_timeout=min(args.timeout, 10.0),
            contract=contract,
        )
        start = _application_job(args.start) if args.start else None
        batch_request_id: int | None = None
        if args.batch_request_id is not None:
            number = validation.batch_request_id(args.batch_request_id)
            ids = job_ids(dict(_pair(text) for text in args.job_id), "--job-id")
            batch_request_id = BatchRequestId(number, ids) if ids else number
            contract.status_request(batch_request_id)  # the ids the contract sends are all given
            contract.messages_request(batch_request_id)
    except (AmtError, ValueError) as err:
        out(f"amt-probe: {err}")
        return 2
    probe = Probe(config)
    findings = probe.run(batch_request_id, start)
    for finding in findings:
        out(f"{'match   ' if finding.matched else 'MISMATCH'} {finding.operation:<9} {finding.said}")
    if args.batch_request_id is None and start is None:
        out("(not checked: the token's form, status and messages: give --batch-request-id N)")
    if args.suggest:
        with open(args.suggest, "w", encoding="utf-8") as handle:
            json.dump(probe.suggestion(), handle, indent=2)
            handle.write("\n")
        out(f"suggested contract document written to {args.suggest}")
    out("the contract fits" if probe.matched else "the contract does not fit (see MISMATCH above)")
    return 0 if probe.matched else 1


def _pair(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals:
        raise ValueError(f"--job-id takes NAME=VALUE, got {validation.brief(text, 60)}")
    return name.strip(), value


def _application_job(text: str) -> tuple[str, str]:
    application, _, job = text.partition("/")
    if not application or not job:
        raise ValueError(f"--start takes APPLICATION/JOB, got {validation.brief(text, 60)}")
    return application, job


if __name__ == "__main__":
    sys.exit(main())
