"""``amt-probe`` against real emulators: a fitting contract, and a server that differs from it (issue 25).

The differing server changes only what a read-only probe can observe: field names (case, nesting,
an envelope), the token's form, the heartbeat's answer. Its paths stay the default ones (no probe
can guess a path).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_amt.hooks.amt import AmtHook
from amt_client import AmtClient, AmtCompletionCode, MessageCursor, Outcome, ServerConfig, WatchSettings
from amt_client.contract_document import load_contract
from amt_client.probe import main
from amt_emulator import EmulatorProcess
from tests.conftest import FAST_RETRIES, TIME_SCALE
from tests.test_completion import wait_for

VARIANT = json.loads((Path(__file__).parent.parent / "contracts" / "variant.json").read_text())
#: Fields only a Start, a find or an error would show: a read-only probe cannot see them.
UNSEEN = {
    "action",
    "task_type",
    "task_id",
    "application",
    "submit_user",
    "station",
    "run_as_user",
    "queue",
    "job_name",
    "task_values",
    "script_name",
    "script_parameters",
    "offset",
    "limit",
    "batch_request_ids",
    "message",
    "error",
}
OBSERVABLE = {
    "version": 1,
    "methods": {"monitor": "POST", "messages": "POST"},  # a 405 to the other method shows it
    "token": {"transport": "cookie", "name": "AmtSession"},
    "heartbeat": {"answer": "text"},
    "answer_envelope": "Result",
    "fields": {name: value for name, value in VARIANT["fields"].items() if name not in UNSEEN},
}
PASSWORD = "s3cret-Probe-pw"


@pytest.fixture(scope="module")
def differing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    state = tmp_path_factory.mktemp("probe") / "state.sqlite"
    with EmulatorProcess(state, time_scale=TIME_SCALE, contract=OBSERVABLE, password=PASSWORD) as emu:
        yield emu


@pytest.fixture(scope="module")
def fitting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    state = tmp_path_factory.mktemp("probe-default") / "state.sqlite"
    with EmulatorProcess(state, time_scale=TIME_SCALE, password=PASSWORD) as emu:
        yield emu


def probe(emu: EmulatorProcess, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("AMT_PROBE_PASSWORD", PASSWORD)
    lines: list[str] = []
    code = main(["--url", emu.url, "--user", emu.user, "--password-env", "AMT_PROBE_PASSWORD", *args], lines.append)
    return code, "\n".join(lines)


def a_job(emu: EmulatorProcess) -> int:
    """A finished job on ``emu``, started through a client that knows its contract."""
    contract = load_contract(emu.contract) if emu.contract else load_contract({"version": 1})
    with AmtClient(ServerConfig(emu.url, emu.user, PASSWORD, contract=contract)) as amt:
        request_id = amt.start_batch_job("DEMO2", "REPORTTEST01", task_values=["probe"])
        wait_for(amt, request_id, {AmtCompletionCode.DONE})  # type: ignore[arg-type]
    return request_id


def test_a_fitting_contract_matches_every_operation_and_exits_0(fitting, monkeypatch):
    request_id = a_job(fitting)
    code, out = probe(fitting, monkeypatch, "--batch-request-id", str(request_id))
    assert code == 0, out
    for operation in ("heartbeat", "logon", "token", "status", "messages"):
        assert f"match    {operation}" in out, out
    assert "MISMATCH" not in out and "the contract fits" in out
    assert PASSWORD not in out


def test_without_a_batch_request_it_checks_what_it_can_and_says_what_it_did_not(fitting, monkeypatch):
    code, out = probe(fitting, monkeypatch)
    assert code == 0 and "not checked: the token's form, status and messages" in out, out


def test_a_differing_server_is_named_and_the_suggestion_fits_it(differing, monkeypatch, tmp_path):
    request_id = a_job(differing)
    suggested = tmp_path / "suggested.json"
    code, out = probe(differing, monkeypatch, "--batch-request-id", str(request_id), "--suggest", str(suggested))
    assert code == 1, out
    for named in (
        "MISMATCH heartbeat",
        'heartbeat.answer="text"',
        'answer_envelope="Result"',
        'fields.token="LogonToken"',
        'fields.user_name="UserName"',
        'token.transport="cookie"',
        'token.name="AmtSession"',
        'fields.completion_code="State.CompletionCode"',
        'fields.messages="Messages"',
        'fields.index="Index"',
        'methods.monitor="POST"',
        'methods.messages="POST"',
    ):
        assert named in out, (named, out)
    assert PASSWORD not in out and "the contract does not fit" in out
    document = json.loads(suggested.read_text())
    code, out = probe(differing, monkeypatch, "--batch-request-id", str(request_id), "--contract", str(suggested))
    assert code == 0, out
    assert document["token"] == {"transport": "cookie", "name": "AmtSession", "lifetime": None}


def test_a_hook_on_the_suggested_document_starts_watches_reads_and_kills(differing, monkeypatch, tmp_path):
    request_id = a_job(differing)
    suggested = tmp_path / "suggested.json"
    probe(differing, monkeypatch, "--batch-request-id", str(request_id), "--suggest", str(suggested))
    uri: dict[str, Any] = json.loads(differing.connection_uri(timeout=5, connect_timeout=2))
    uri["extra"]["contract"] = str(suggested)
    monkeypatch.setenv("AIRFLOW_CONN_AMT_PROBED", json.dumps(uri))
    AmtClient.forget_tokens()
    hook = AmtHook("amt_probed", retry_policy=FAST_RETRIES)
    try:
        started = hook.start_batch_job("DEMO2", "REPORTTEST01", task_values=["after the probe"])
        lines: list[Any] = []
        ended = hook.watch_job(started, MessageCursor(), WatchSettings(poll_interval=0.2), lines.extend)
        assert ended.outcome is Outcome.SUCCESS and "TaskValue 1: after the probe" in [m.text for m in lines]
        long = hook.start_batch_job("DEMO2", "LONGRUNNINGREPORT")
        wait_for(hook, long, {AmtCompletionCode.RUNNING})
        assert hook.end_job("kill", long).code is AmtCompletionCode.KILLED
    finally:
        hook.close()


def test_the_console_script_runs_and_refuses_a_missing_password(fitting):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "amt_client.probe",
            "--url",
            fitting.url,
            "--user",
            "x",
            "--password-env",
            "NO_VAR",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2 and "NO_VAR holds no password" in done.stdout, done


def test_no_token_or_password_in_anything_the_probe_says(differing):
    """The token the logon gave (the probe holds it) and the password appear in no finding."""
    from amt_client.probe import Probe

    request_id = a_job(differing)
    probe_run = Probe(ServerConfig(differing.url, differing.user, PASSWORD, contract=load_contract({"version": 1})))
    said = "\n".join(f.said + json.dumps(f.changes) for f in probe_run.run(request_id))
    assert probe_run._token and len(probe_run._token) >= 20
    assert probe_run._token not in said and PASSWORD not in said
    assert "LogonToken: str" in said  # answers are shown by their shape


def test_start_runs_one_job_and_watches_it_to_its_end(fitting, monkeypatch):
    """Only ``--start`` changes anything: one Start, then the job's status until it ends."""
    code, out = probe(fitting, monkeypatch, "--start", "DEMO2/REPORTTEST01")
    assert code == 0, out
    assert "match    start     batch request" in out and "ended with DONE (4)" in out, out
    code, out = probe(fitting, monkeypatch, "--start", "DEMO2")
    assert code == 2 and "--start takes APPLICATION/JOB" in out


def test_a_certificate_the_probe_cannot_trust_is_named_as_tls_and_a_ca_bundle_fixes_it(tls_files, monkeypatch):
    """Reachability and TLS come first: a server whose certificate the trust store does not know is
    reported as a TLS failure (not "unreachable", not a crash), and --ca-bundle is the way past it."""
    import ssl

    from tests.crafted import Crafted

    ca, cert, key = tls_files
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = Crafted(tls=context)
    server.answer("GET", "/api/Heartbeat", body={"status": "up"})
    monkeypatch.setenv("AMT_PROBE_PASSWORD", PASSWORD)
    base = ["--url", server.url, "--user", "amtopcon", "--password-env", "AMT_PROBE_PASSWORD"]
    try:
        untrusted: list[str] = []
        assert main(base, untrusted.append) != 0
        said = "\n".join(untrusted)
        assert "MISMATCH heartbeat" in said and "TLS failed" in said and "certificate" in said.lower(), said
        assert "cannot be reached" not in said and PASSWORD not in said, said
        assert all(request[1] != "/api/Logon" for request in server.seen)  # no handshake, no logon sent

        trusted: list[str] = []
        main([*base, "--ca-bundle", str(ca)], trusted.append)
        said = "\n".join(trusted)
        assert "TLS failed" not in said, said
        assert "match    heartbeat" in said, said  # past TLS: the heartbeat answered as the contract says
        assert PASSWORD not in said, said
    finally:
        server.shutdown()


def test_a_contract_that_sends_the_jobs_ids_is_probed_with_them(tmp_path, monkeypatch):
    """``ids``: the probe asks for the job's ids of the batch request it reads (``--job-id``), refuses
    to start without them, and has them itself for the job it starts."""
    document = {"version": 1, "ids": {"monitor": ["task_id", "application"], "messages": ["task_id"]}}
    state = tmp_path / "state.sqlite"
    with EmulatorProcess(state, time_scale=TIME_SCALE, contract=json.dumps(document), password=PASSWORD) as emu:
        contract = load_contract(document)
        with AmtClient(ServerConfig(emu.url, emu.user, PASSWORD, contract=contract)) as amt:
            guid = "5b0c7f44-0000-4c1e-9d0e-4f1f0c6a8a14"
            job = amt.start_batch_job("DEMO2", "REPORTTEST01", task_id=guid)
            wait_for(amt, job, {AmtCompletionCode.DONE})  # type: ignore[arg-type]
        given = ("--contract", json.dumps(document), "--batch-request-id", str(int(job)))
        code, out = probe(emu, monkeypatch, *given)
        assert code == 2 and "task_id, application" in out and "comes without them" in out, out
        code, out = probe(emu, monkeypatch, *given, "--job-id", f"task_id={guid}", "--job-id", "application=DEMO2")
        assert code == 0 and "match    status" in out and "match    messages" in out, out
        code, out = probe(emu, monkeypatch, "--contract", json.dumps(document), "--start", "DEMO2/REPORTTEST01")
        assert code == 0 and "match    watch" in out, out
        code, out = probe(emu, monkeypatch, *given, "--job-id", "colour=blue")
        assert code == 2 and "unknown id" in out, out
