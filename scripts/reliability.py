"""``make faults``: the bad-input catalogue and the fault suite, written into docs/reliability.md.

* **Catalogue**: every kind of bad input a user (or a misbehaving server) can give, sent through
  the real entry points (operator and sensor constructors, the trigger, the connection, the hooks,
  a crafted server for answers the emulator never gives), with the error a user sees. Deterministic;
  ``tests/test_reliability.py`` checks the table in the docs is what this produces.
* **Fault suite**: real ``AmtJobTrigger``s watch jobs on the emulator while it misbehaves (5xx, an
  outage, restarts, token expiry, a trigger restart, a dropped Start). For every job: the outcome,
  messages lost or repeated, jobs left running (orphaned) or started twice.

``python scripts/reliability.py [catalogue|faults|all] [--write]``: prints the tables; ``--write``
puts them into docs/reliability.md between their markers.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="amt-reliability-"))
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")
DOC = ROOT / "docs" / "reliability.md"
SECRET = "s3cr3t-Pa55"


# --- the catalogue ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    kind: str
    where: str
    attempt: Callable[[], Any]


def _catalogue_cases(server: Any) -> list[Case]:
    from airflow_provider_amt.hooks.amt import AmtHook
    from airflow_provider_amt.operators.amt import AmtBatchJobOperator, AmtScriptOperator
    from airflow_provider_amt.sensors.amt import AmtJobSensor
    from airflow_provider_amt.triggers.amt import AmtJobTrigger
    from amt_client import AmtClient, HttpRetryPolicy, ServerConfig

    def job(**kwargs: Any) -> Callable[[], Any]:
        return lambda: AmtBatchJobOperator(task_id="t", **{"application_name": "DEMO2", "job_name": "J", **kwargs})

    def script(**kwargs: Any) -> Callable[[], Any]:
        return lambda: AmtScriptOperator(task_id="s", **{"application_name": "DEMO2", "script_name": "X.ps1", **kwargs})

    def sensor(**kwargs: Any) -> Callable[[], Any]:
        return lambda: AmtJobSensor(task_id="w", **{"batch_request_id": 5, **kwargs})

    def trigger(**kwargs: Any) -> Callable[[], Any]:
        return lambda: AmtJobTrigger(**{"batch_request_id": 5, **kwargs})

    def connection(**fields: Any) -> Callable[[], Any]:
        def read() -> Any:
            os.environ["AIRFLOW_CONN_AMT_CATALOGUE"] = json.dumps({"conn_type": "amt", **fields})
            return AmtHook("amt_catalogue").config

        return read

    good = {"host": "http://127.0.0.1:1", "login": "amtopcon", "password": SECRET}

    def answer(method: str, path: str, call: Callable[[AmtClient], Any], *reply: Any, **headers: str) -> Callable:
        def run() -> Any:
            server.routes.clear()
            server.logon_ok()
            server.answer(method, path, *reply, **headers)
            config = ServerConfig(server.url, "amtopcon", SECRET, timeout=2, max_response_bytes=64 * 1024)
            AmtClient.forget_tokens()
            with AmtClient(config, retry_policy=HttpRetryPolicy(max_retries=0)) as client:
                return call(client)

        return run

    status = ("GET", "/api/MonitorJob/5", lambda c: c.get_job_status(5))

    def hook_call(call: Callable[[AmtHook], Any]) -> Callable[[], Any]:
        def run() -> Any:
            os.environ["AIRFLOW_CONN_AMT_CATALOGUE"] = json.dumps({"conn_type": "amt", **good})
            return call(AmtHook("amt_catalogue"))

        return run

    return [
        Case("NaN poll interval", "operator", job(poll_interval=float("nan"))),
        Case("infinite poll interval", "operator", job(poll_interval=float("inf"))),
        Case("zero poll interval", "operator", job(poll_interval=0)),
        Case("poll interval as a list", "operator", job(poll_interval=[10])),
        Case("negative grace period", "operator", job(outage_grace_period=-1)),
        Case("NaN grace period", "operator", job(undefined_grace_period=float("nan"))),
        Case("unknown success code", "operator", job(success_codes=[42])),
        Case("the string 'false' as allow_fresh_start", "operator", job(allow_fresh_start="false")),
        Case("the string '0' as deferrable", "operator", job(deferrable="0")),
        Case("no success code", "operator", job(success_codes=[])),
        Case("success codes as text", "operator", job(success_codes="4")),
        Case("empty connection id", "operator", job(amt_conn_id="")),
        Case("TaskValues as one string", "operator", job(task_values="25")),
        Case("21 TaskValues", "operator", job(task_values=[str(i) for i in range(21)])),
        Case("a bool TaskValue", "operator", job(task_values=[True])),
        Case("a NaN TaskValue", "operator", job(task_values=[float("nan")])),
        Case("a dict TaskValue", "operator", job(task_values=[{"a": 1}])),
        Case("a newline in a TaskValue (forged log line)", "operator", job(task_values=["ok\nBatch Request Id  : 1"])),
        Case("a NUL in a TaskValue", "operator", job(task_values=["a\x00b"])),
        Case("a C1 control (NEL) in a TaskValue", "operator", job(task_values=["a\x85b"])),
        Case("U+2028 (line separator) in a TaskValue", "operator", job(task_values=["a\u2028b"])),
        Case("a bidi override in the job name", "operator", job(job_name="PAY\u202eROLL")),
        Case("a 5,000-character TaskValue", "operator", job(task_values=["x" * 5000])),
        Case("empty job name", "operator", job(job_name="")),
        Case("CR/LF in the job name", "operator", job(job_name="A\r\nB")),
        Case("a 300-character job name", "operator", job(job_name="J" * 300)),
        Case("application name not a string", "operator", job(application_name=5)),
        Case("AMT user not a string", "operator", job(amt_user=5)),
        Case("a tab in the queue name", "operator", job(queue_name="Q\t1")),
        Case("empty submit user", "operator", job(submit_user="")),
        Case("blank script parameter", "operator", script(script_parameters=["A=1", " "])),
        Case("parameter name holding =", "operator", script(script_parameters={"A=B": "x"})),
        Case("a newline in a parameter name", "operator", script(script_parameters={"A\nB": "x"})),
        Case("a 300-character parameter name", "operator", script(script_parameters={"N" * 300: "x"})),
        Case("script parameters as one string", "operator", script(script_parameters="A=1")),
        Case("a None script parameter value", "operator", script(script_parameters={"A": None})),
        Case("batch request id 0", "sensor", sensor(batch_request_id=0)),
        Case("batch request id not a number", "sensor", sensor(batch_request_id="abc")),
        Case("batch request id True", "sensor", sensor(batch_request_id=True)),
        Case("batch request id '\u00b2' (a digit to str.isdigit)", "sensor", sensor(batch_request_id="\u00b2")),
        Case("a batch request id of 5,000 digits", "sensor", sensor(batch_request_id="9" * 5000)),
        Case("a batch request id of 10**5000", "sensor", sensor(batch_request_id=10**5000)),
        Case("infinite sensor timeout", "sensor", sensor(timeout=float("inf"))),
        Case("NaN poke interval", "sensor", sensor(poke_interval=float("nan"))),
        Case("negative batch request id", "trigger", trigger(batch_request_id=-1)),
        Case("NaN poll interval", "trigger", trigger(poll_interval=float("nan"))),
        Case("infinite deadline", "trigger", trigger(deadline=float("inf"))),
        Case("unknown trigger argument", "trigger", trigger(stream_message=True)),
        Case("negative message offset", "trigger", trigger(message_offset=-3)),
        Case("no Batch Server URL", "connection", connection(login="u", password="p")),
        Case("not an http URL", "connection", connection(**{**good, "host": "ftp://batch:21"})),
        Case("user:password@ in the URL", "connection", connection(**{**good, "host": f"http://u:{SECRET}@b:1"})),
        Case("port 99999", "connection", connection(**{**good, "host": "http://batch:99999"})),
        Case("a space in the host", "connection", connection(**{**good, "host": "http://bat ch:1"})),
        Case("no password", "connection", connection(host="http://batch:1", login="u")),
        Case("timeout as words", "connection", connection(**good, extra={"timeout": "soon"})),
        Case("NaN timeout", "connection", connection(**good, extra={"timeout": "nan"})),
        Case("zero connect timeout", "connection", connection(**good, extra={"connect_timeout": 0})),
        Case("21 retries", "connection", connection(**good, extra={"max_retries": 21})),
        Case("negative retries", "connection", connection(**good, extra={"max_retries": -1})),
        Case("verify_ssl neither true nor false", "connection", connection(**good, extra={"verify_ssl": "perhaps"})),
        Case("missing CA bundle", "connection", connection(**good, extra={"ca_bundle": "/nowhere/ca.pem"})),
        Case("unknown API path name", "connection", connection(**good, extra={"api_paths": {"logn": "/x"}})),
        Case(
            "API path with another placeholder",
            "connection",
            connection(**good, extra={"api_paths": {"monitor": "/m/{id}"}}),
        ),
        Case(
            "a contract document with an unknown key",
            "connection",
            connection(**good, extra={"contract": {"version": 1, "tokn": {"transport": "cookie"}}}),
        ),
        Case(
            "a contract document's unknown token transport",
            "connection",
            connection(**good, extra={"contract": {"version": 1, "token": {"transport": "cokie"}}}),
        ),
        Case(
            "a contract document that cannot be read",
            "connection",
            connection(**good, extra={"contract": "/nowhere/contract.json"}),
        ),
        Case(
            "a contract document that is not JSON",
            "connection",
            connection(**good, extra={"contract": '{"version": 1, "password": hunter2}'}),
        ),
        Case("a header name with a space", "connection", connection(**good, extra={"token_header": "X Bad"})),
        Case("token header Host", "connection", connection(**good, extra={"token_header": "Host"})),
        Case("a header name ending in a newline", "connection", connection(**good, extra={"token_header": "X-T\n"})),
        Case(
            "an API path ending in a newline", "connection", connection(**good, extra={"api_paths": {"logon": "/x\n"}})
        ),
        Case(
            "a connection of another type (http)",
            "connection",
            lambda: (
                os.environ.__setitem__("AIRFLOW_CONN_AMT_HTTP", json.dumps({"conn_type": "http", **good})),
                AmtHook("amt_http").config,
            ),
        ),
        Case(
            "user:password@ in the URL and another port",
            "connection",
            connection(**{**good, "host": f"http://u:{SECRET}@b:1", "port": 2}),
        ),
        Case("connection that does not exist", "connection", lambda: AmtHook("amt_nowhere").config),
        Case("status of batch request 0", "hook", hook_call(lambda h: h.get_job_status(0))),
        Case("messages from offset -1", "hook", hook_call(lambda h: h.get_messages(5, offset=-1))),
        Case("a page of 5,000 messages", "hook", hook_call(lambda h: h.get_messages(5, limit=5000))),
        Case(
            "a Start with 21 TaskValues", "hook", hook_call(lambda h: h.start_batch_job("D", "J", task_values=[1] * 21))
        ),
        Case(
            "redirect on logon",
            "server answer",
            answer(
                "POST", "/api/Logon", lambda c: c.get_job_status(5), 307, {}, Location="http://elsewhere.example/steal"
            ),
        ),
        Case("token with CR/LF", "server answer", _token_case(server, answer)),
        Case(
            "answer about another job",
            "server answer",
            answer(*status, 200, {"batchRequestId": 6, "completionCode": 4}),
        ),
        Case(
            "unknown completion code 42",
            "server answer",
            answer(*status, 200, {"batchRequestId": 5, "completionCode": 42}),
        ),
        Case("JSON nested 30,000 deep", "server answer", answer(*status, 200, b"[" * 30_000 + b"]" * 30_000)),
        Case(
            "a key given twice",
            "server answer",
            answer(*status, 200, b'{"batchRequestId": 5, "completionCode": 2, "completionCode": 4}'),
        ),
        Case("a broken gzip body", "server answer", answer(*status, 200, b"not gzip", Content_Encoding="gzip")),
        Case(
            "a 60 KB gzip answer of 64 MB",
            "server answer",
            answer(*status, 200, gzip.compress(b" " * 64 * 1024 * 1024, 9), Content_Encoding="gzip"),
        ),
        Case("an unasked content encoding", "server answer", answer(*status, 200, b"{}", Content_Encoding="br")),
        Case(
            "messages about another batch request",
            "server answer",
            answer(
                "GET",
                "/api/GetMessages/5",
                lambda c: c.get_messages(5),
                200,
                {"batchRequestId": 6, "messages": [{"index": 0, "text": "a"}]},
            ),
        ),
        Case(
            "a find answer about another task id",
            "server answer",
            answer(
                "GET",
                "/api/FindBatchRequest",
                lambda c: c.find_batch_requests("mine"),
                200,
                {"taskId": "theirs", "batchRequestIds": [7]},
            ),
        ),
        Case("an answer that is not JSON", "server answer", answer(*status, 200, b"<html>proxy</html>")),
        Case("an answer without the code", "server answer", answer(*status, 200, {"batchRequestId": 5})),
        Case("a 100 KB answer (limit 64 KB)", "server answer", answer(*status, 200, {"x": "y" * 100_000})),
        Case(
            "a 50 KB error text echoing the password",
            "server answer",
            answer(*status, 400, {"message": f"bad {SECRET} " + "x" * 50_000}),
        ),
        Case(
            "messages with a gap",
            "server answer",
            answer(
                "GET", "/api/GetMessages/5", lambda c: c.get_messages(5), 200, {"messages": [{"index": 1, "text": "a"}]}
            ),
        ),
        Case(
            "a refused Start",
            "server answer",
            answer(
                "POST",
                "/api/OpConJobAction",
                lambda c: c.start_batch_job("DEMO2", "NOPE"),
                200,
                {"batchRequestId": 0, "message": "batch job 'NOPE' is not defined"},
            ),
        ),
        Case("an unexpected HTTP status", "server answer", answer(*status, 418, {"message": "teapot"})),
    ]


def _token_case(server: Any, answer: Callable[..., Callable]) -> Callable[[], Any]:
    from amt_client import AmtClient, HttpRetryPolicy, ServerConfig

    def run() -> Any:
        server.routes.clear()
        server.logon_ok("tok\r\nX-Injected: 1")
        AmtClient.forget_tokens()
        config = ServerConfig(server.url, "amtopcon", SECRET, timeout=2)
        with AmtClient(config, retry_policy=HttpRetryPolicy(max_retries=0)) as client:
            return client.get_job_status(5)

    return run


def _one_line(text: str, limit: int = 150) -> str:
    text = re.sub(r"http://127\.0\.0\.1:\d+", "http://SERVER", " ".join(text.split()))
    text = text.replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def catalogue() -> list[tuple[str, str, str, str]]:
    from tests.crafted import Crafted

    server = Crafted()
    rows = []
    try:
        for number, case in enumerate(_catalogue_cases(server), start=1):
            try:
                case.attempt()
                error = "NO ERROR"
                text = "(accepted)"
            except Exception as err:
                error, text = type(err).__name__, str(err)
            assert SECRET not in text, f"case {number} shows the password: {text[:300]}"
            rows.append((f"{number}. {case.kind}", case.where, error, _one_line(text)))
    finally:
        server.shutdown()
        os.environ.pop("AIRFLOW_CONN_AMT_CATALOGUE", None)
    return rows


def catalogue_table(rows: list[tuple[str, str, str, str]]) -> str:
    lines = ["| bad input | entered through | error | what the user reads |", "|---|---|---|---|"]
    lines += [f"| {kind} | {where} | `{error}` | {text} |" for kind, where, error, text in rows]
    return "\n".join(lines)


# --- the fault suite -----------------------------------------------------------------------------------

JOBS_PER_SCENARIO = 6
JOB = "CHATTYREPORT"  # 12 simulated seconds, a message every 0.3 s


@dataclass
class Outcome:
    scenario: str
    jobs: int
    right: int
    lost: int
    repeated: int
    orphaned: int
    started_twice: int
    seconds: float


async def _watch(request_id: int, logged: list[int], offset: int = 0) -> dict[str, Any]:
    """One real AmtJobTrigger; the indexes it logs are recorded (what the task log would show)."""
    from airflow_provider_amt.joblog import message_indexes
    from airflow_provider_amt.triggers.amt import AmtJobTrigger

    class Log:
        def log(self, level: int, text: str, *args: Any, **fields: Any) -> None:
            logged.extend(message_indexes(text))  # every message line of a record (a read's share one)

        def __getattr__(self, name: str) -> Any:
            return lambda *args, **kwargs: None

    recorder = Log()

    class Recorded(AmtJobTrigger):
        """The real trigger, its log lines recorded instead of printed (its logger is its class's)."""

        @property
        def log(self) -> Any:
            return recorder

    trigger = Recorded(request_id, poll_interval=0.5, initial_interval=0.1, message_offset=offset)
    events = [event.payload async for event in trigger.run()]
    return events[0]


def _scenario(name: str, emu: Any, hook: Any, disturb: Callable[[Any, list[int]], Any] | None) -> Outcome:
    from amt_client import AmtCompletionCode

    began = time.monotonic()
    ids = [hook.start_batch_job("DEMO2", JOB, task_id=str(uuid.uuid4())) for _ in range(JOBS_PER_SCENARIO)]
    logged: dict[int, list[int]] = {i: [] for i in ids}

    async def run() -> list[dict[str, Any]]:
        tasks = [asyncio.create_task(_watch(i, logged[i])) for i in ids]
        if disturb is not None:
            replaced = await disturb(tasks, ids, logged)
            if replaced:
                tasks = replaced
        return list(await asyncio.gather(*tasks))

    events = asyncio.run(run())
    emu.set_faults([])
    right = lost = repeated = orphaned = 0
    for request_id, event in zip(ids, events, strict=True):
        total = len(hook.get_messages(request_id))  # at most 1000 here; CHATTYREPORT writes ~40
        seen = logged[request_id]
        lost += len(set(range(total)) - set(seen))
        repeated += len(seen) - len(set(seen))
        code = hook.get_job_status(request_id).code
        orphaned += int(not code.is_terminal)
        right += int(
            event["status"] == "success" and code is AmtCompletionCode.DONE and event["message_offset"] == total
        )
    starts = [e for e in emu.requests("OpConJobAction", action="Start")]
    task_ids = [json.loads(e["detail"])["taskId"] for e in starts if e["status"] == 200]
    twice = len(task_ids) - len(set(task_ids))
    return Outcome(name, len(ids), right, lost, repeated, orphaned, twice, time.monotonic() - began)


def faults() -> list[Outcome]:
    from airflow_provider_amt.hooks.amt import AmtHook
    from amt_client import AmtClient, HttpRetryPolicy
    from amt_emulator import EmulatorProcess

    state = Path(tempfile.mkdtemp(prefix="amt-faults-")) / "state.sqlite"
    emu = EmulatorProcess(state, time_scale=2).start()
    os.environ["AIRFLOW_CONN_AMT_DEFAULT"] = emu.connection_uri(timeout=5, connect_timeout=2)
    AmtClient.forget_tokens()
    hook = AmtHook("amt_default", retry_policy=HttpRetryPolicy(max_retries=4))

    async def errors_30(tasks, ids, logged):
        emu.set_faults([{"route": "*", "action": "error", "status": 503, "rate": 0.3}], seed=7)

    async def outage(tasks, ids, logged):
        await asyncio.sleep(1.5)
        await asyncio.to_thread(emu.stop)
        await asyncio.sleep(10)
        await asyncio.to_thread(emu.start)

    async def restart(tasks, ids, logged):
        await asyncio.sleep(2)
        await asyncio.to_thread(emu.kill)
        await asyncio.to_thread(emu.start)

    async def tokens(tasks, ids, logged):
        for _ in range(3):
            await asyncio.sleep(1.5)
            await asyncio.to_thread(emu.expire_tokens)

    async def trigger_restart(tasks, ids, logged):
        await asyncio.sleep(2.5)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # the new instances start from the cursor the old ones saved (what triggers/checkpoint.py stores)
        return [asyncio.create_task(_watch(i, logged[i], offset=max(logged[i], default=-1) + 1)) for i in ids]

    rows = []
    try:
        for name, disturb in (
            ("no fault (baseline)", None),
            ("30 % of requests answer 503", errors_30),
            ("10 s outage (emulator down, state kept)", outage),
            ("emulator killed and restarted mid-job", restart),
            ("logon tokens expire mid-job (3 times)", tokens),
            ("trigger restart mid-job (resume from the saved cursor)", trigger_restart),
        ):
            emu.clear_requests()
            rows.append(_scenario(name, emu, hook, disturb))
            print(_fault_row(rows[-1]), flush=True)
        emu.clear_requests()
        rows.append(_dropped_start(emu, hook))
        print(_fault_row(rows[-1]), flush=True)
    finally:
        hook.close()
        emu.stop()
    return rows


def _dropped_start(emu: Any, hook: Any) -> Outcome:
    """The Start's answer is lost; the retry asks AMT by task id (start_ledger) and watches that job."""
    from airflow_provider_amt.start_ledger import StartLedger, job_of_earlier_try
    from amt_client import AmtCompletionCode, AmtError, Rules, StartRequest

    class Store(dict):
        def set(self, key: str, value: Any) -> None:
            self[key] = value

        def delete(self, key: str) -> None:
            self.pop(key, None)

    began = time.monotonic()
    emu.set_faults([{"route": "Start", "action": "drop_after", "count": JOBS_PER_SCENARIO}])
    ids, logged = [], {}
    for _ in range(JOBS_PER_SCENARIO):
        ledger = StartLedger(Store(), str(uuid.uuid4()))
        ledger.sending()
        try:
            hook.start(StartRequest.batch_job("DEMO2", JOB, task_id=ledger.task_id))
        except AmtError as err:
            ledger.failed(err)  # "may have arrived": the record stays in flight
        found = job_of_earlier_try(hook, ledger, Rules(), try_number=2, allow_fresh_start=False, log=_Quiet()).watch
        assert found is not None
        ids.append(found)
        logged[found] = []

    async def run() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(_watch(i, logged[i]) for i in ids)))

    events = asyncio.run(run())
    lost = sum(len(set(range(len(hook.get_messages(i)))) - set(logged[i])) for i in ids)
    repeated = sum(len(v) - len(set(v)) for v in logged.values())
    right = sum(
        e["status"] == "success" and hook.get_job_status(i).code is AmtCompletionCode.DONE
        for i, e in zip(ids, events, strict=True)
    )
    starts = [json.loads(e["detail"])["taskId"] for e in emu.requests("OpConJobAction", action="Start")]
    return Outcome(
        "the Start's answer is lost (retry looks the job up by task id)",
        len(ids),
        right,
        lost,
        repeated,
        sum(not hook.get_job_status(i).code.is_terminal for i in ids),
        len(starts) - len(set(starts)),
        time.monotonic() - began,
    )


class _Quiet:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def _fault_row(o: Outcome) -> str:
    return (
        f"| {o.scenario} | {o.jobs} | {o.right} | {o.lost} | {o.repeated} | {o.orphaned} | {o.started_twice} "
        f"| {o.seconds:.0f} |"
    )


def faults_table(rows: list[Outcome]) -> str:
    header = (
        "| scenario | jobs | right outcome | messages lost | messages repeated | jobs orphaned | started twice | s |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    return "\n".join([header, *(_fault_row(r) for r in rows)])


# --- docs ----------------------------------------------------------------------------------------------


def replace_section(text: str, name: str, table: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    before, _, rest = text.partition(start)
    _, _, after = rest.partition(end)
    return f"{before}{start}\n{table}\n{end}{after}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("catalogue", "faults", "all"), nargs="?", default="all")
    parser.add_argument("--write", action="store_true", help="write the tables into docs/reliability.md")
    args = parser.parse_args()
    text = DOC.read_text()
    if args.part in ("catalogue", "all"):
        table = catalogue_table(catalogue())
        print(table, flush=True)
        text = replace_section(text, "catalogue", table)
    if args.part in ("faults", "all"):
        rows = faults()
        table = faults_table(rows)
        stamp = time.strftime("%Y-%m-%d")
        text = replace_section(text, "faults", f"{table}\n\nProduced by `make faults` on {stamp}.")
        if any(r.right != r.jobs or r.lost or r.repeated or r.orphaned or r.started_twice for r in rows):
            print("FAULT SUITE FOUND A PROBLEM", flush=True)
            if args.write:
                DOC.write_text(text)
            return 1
    if args.write:
        DOC.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
