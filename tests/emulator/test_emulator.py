"""The emulator, driven over HTTP exactly as a client would, including its admin routes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from amt_client import DEFAULT_CONTRACT
from amt_client.contract_document import load_contract
from amt_emulator import EmulatorProcess

PATHS = DEFAULT_CONTRACT.paths
TOKEN_HEADER = DEFAULT_CONTRACT.token_header


@pytest.fixture
def api(emulator):
    session = requests.Session()
    token = session.post(emulator.url + PATHS.logon, json={"userName": "amtopcon", "password": "amtopcon"}).json()[
        "amtLogonToken"
    ]
    session.headers[TOKEN_HEADER] = token
    session.base = emulator.url
    return session


def start(api, **fields):
    body = {
        "action": "Start",
        "taskType": "BatchJob",
        "applicationName": "DEMO2",
        "jobName": "REPORTTEST01",
        "amtSubmitUser": "BATCH",
        "amtStation": "OPCON",
        **fields,
    }
    return api.post(api.base + PATHS.job_action, json=body)


def status(api, request_id):
    return api.get(api.base + f"/api/MonitorJob/{request_id}").json()


def wait_code(api, request_id, codes, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = status(api, request_id)
        if body["completionCode"] in codes:
            return body
        time.sleep(0.05)
    raise AssertionError(f"request {request_id} never reached {codes}: {body}")


def messages(api, request_id, offset=0, limit=1000):
    return api.get(api.base + f"/api/GetMessages/{request_id}", params={"offset": offset, "limit": limit}).json()


def test_heartbeat_needs_no_token(emulator):
    assert requests.get(emulator.url + PATHS.heartbeat).json()["status"] == "up"


@pytest.mark.parametrize("token", [None, "not-a-token"])
def test_api_routes_refuse_missing_or_bad_tokens_with_401(emulator, token):
    headers = {TOKEN_HEADER: token} if token else {}
    response = requests.get(emulator.url + "/api/MonitorJob/1", headers=headers)
    assert response.status_code == 401
    assert response.json()["completionCode"] == 24


def test_logon_with_bad_password_is_401(emulator):
    response = requests.post(emulator.url + PATHS.logon, json={"userName": "amtopcon", "password": "x"})
    assert response.status_code == 401 and "invalid API user or password" in response.json()["message"]


def test_batch_job_goes_through_queued_running_done_with_messages(api):
    request_id = start(api, taskValues=["25", "MODE=FULL"]).json()["batchRequestId"]
    assert request_id > 0
    assert status(api, request_id)["completionCode"] in (1, 2)  # QUEUED for 0.1 s at time scale 10
    wait_code(api, request_id, {2})
    done = wait_code(api, request_id, {4})
    assert done["completionCodeName"] == "DONE" and done["endedAt"]
    body = messages(api, request_id)
    texts = [m["text"] for m in body["messages"]]
    assert texts[0].startswith("Started Rev: 1.3") and f"/R:{request_id}" in texts[0]
    assert "TaskValue 1: 25" in texts and "TaskValue 2: MODE=FULL" in texts and texts[-1] == "Done"
    assert [m["index"] for m in body["messages"]] == list(range(len(texts)))
    assert body["jobCompleted"] is True and body["totalMessages"] == len(texts)
    assert all(m["timestamp"].endswith("Z") and m["severity"] == "INFO" for m in body["messages"])


def test_messages_are_readable_while_running_and_from_an_offset(api):
    request_id = start(api, jobName="LONGRUNNINGREPORT").json()["batchRequestId"]
    wait_code(api, request_id, {2})
    time.sleep(1.0)  # 10 simulated seconds: a few "Processing block" messages
    first = messages(api, request_id)
    assert first["jobCompleted"] is False and len(first["messages"]) >= 3
    page = messages(api, request_id, offset=1, limit=2)
    assert [m["index"] for m in page["messages"]] == [1, 2]
    assert page["messages"][0]["text"] == first["messages"][1]["text"]
    api.post(api.base + PATHS.job_action, json={"action": "Kill", "batchRequestId": request_id})


def test_script_echoes_each_parameter_and_keeps_special_characters(api):
    params = ["NAME=<&>\"'", "CITY=Zürich", "EXPR=a=b"]
    request_id = start(
        api, taskType="Script", jobName=None, scriptName="RUN_PARAMETERSTEST.ps1", scriptParameters=params
    ).json()["batchRequestId"]
    wait_code(api, request_id, {4})
    texts = [m["text"] for m in messages(api, request_id)["messages"]]
    assert "Parameter NAME = <&>\"'" in texts and "Parameter CITY = Zürich" in texts and "Parameter EXPR = a=b" in texts


def test_unknown_script_ends_in_error_file_not_found(api):
    request_id = start(api, taskType="Script", scriptName="NOPE.ps1").json()["batchRequestId"]
    assert wait_code(api, request_id, {11})["completionCodeName"] == "ERROR"
    (message,) = messages(api, request_id)["messages"]
    assert message["text"] == "File not found: C:\\AMT\\DEMO2\\Scripts\\NOPE.ps1" and message["severity"] == "ERROR"


def test_unknown_run_as_user_ends_in_99(api):
    request_id = start(api, amtUser="NOBODY").json()["batchRequestId"]
    assert wait_code(api, request_id, {99})["completionCodeName"] == "INVALID AMT USER"
    assert "Invalid AMT user 'NOBODY'" in messages(api, request_id)["messages"][0]["text"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"jobName": "NOSUCHJOB"}, "batch job 'NOSUCHJOB' is not defined"),
        ({"applicationName": "NOAPP"}, "application 'NOAPP' is not defined"),
        ({"amtSubmitUser": "ME"}, "submit user must be BATCH"),
        ({"amtQueueName": "NOQUEUE"}, "queue 'NOQUEUE' does not exist"),
    ],
)
def test_refused_starts_return_a_request_id_of_zero_with_the_reason(api, fields, reason):
    body = start(api, **fields).json()
    assert body["batchRequestId"] == 0 and reason in body["message"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"taskValues": [str(i) for i in range(21)]}, "at most 20"),
        ({"taskValues": "25"}, "must be a list of strings"),
        ({"jobName": None}, "jobName is required"),
        ({"taskType": "Report"}, "taskType must be"),
        ({"taskType": "Script", "scriptName": "X.ps1", "scriptParameters": [""]}, "is blank"),
        ({"action": "Pause"}, "action must be"),
    ],
)
def test_bad_requests_are_400_with_a_message(api, fields, reason):
    response = start(api, **fields)
    assert response.status_code == 400 and reason in response.json()["message"]


def test_non_json_body_is_400(api):
    response = api.post(api.base + PATHS.job_action, data="{nope")
    assert response.status_code == 400 and "not valid JSON" in response.json()["message"]


@pytest.mark.parametrize("path", ["/api/MonitorJob/999999", "/api/GetMessages/999999"])
def test_unknown_ids_are_404(api, path):
    assert api.get(api.base + path).status_code == 404


def test_kill_and_stop_of_unknown_id_are_404(api):
    for action in ("Kill", "Stop"):
        response = api.post(api.base + PATHS.job_action, json={"action": action, "batchRequestId": 999999})
        assert response.status_code == 404


def _action(api, action, request_id):
    return api.post(api.base + PATHS.job_action, json={"action": action, "batchRequestId": request_id})


def test_kill_ends_a_running_job_and_stop_removes_a_queued_one(api):
    running = start(api, jobName="LONGRUNNINGREPORT", amtQueueName="SERIAL").json()["batchRequestId"]
    wait_code(api, running, {2})
    queued = start(api, jobName="REPORTTEST01", amtQueueName="SERIAL").json()["batchRequestId"]
    assert status(api, queued)["completionCode"] == 1  # the only SERIAL slot is taken
    assert _action(api, "Stop", queued).json()["completionCode"] == 10  # DEL_QUEUE
    assert _action(api, "Kill", queued).json()["completionCode"] == 10  # ended jobs do not change
    assert _action(api, "Kill", running).json()["completionCode"] == 3
    assert status(api, running)["completionCodeName"] == "KILLED"


def test_stop_of_a_running_job_ends_it_with_a_notice(api):
    running = start(api, jobName="LONGRUNNINGREPORT").json()["batchRequestId"]
    wait_code(api, running, {2})
    assert _action(api, "Stop", running).json()["completionCode"] == 3
    assert messages(api, running)["messages"][-1]["text"] == "Stop requested: job ended before completion"


def test_queue_concurrency_holds_extra_requests_in_queued(api):
    first = start(api, jobName="LONGRUNNINGREPORT", amtQueueName="SERIAL").json()["batchRequestId"]
    second = start(api, jobName="REPORTTEST01", amtQueueName="SERIAL").json()["batchRequestId"]
    wait_code(api, first, {2})
    time.sleep(0.5)  # well past the queue delay: the only slot is taken
    assert status(api, second)["completionCode"] == 1
    api.post(api.base + PATHS.job_action, json={"action": "Kill", "batchRequestId": first})
    wait_code(api, second, {2, 4})
    assert wait_code(api, second, {4})["startedAt"] >= status(api, first)["endedAt"]


def test_request_log_records_routes_actions_and_task_ids(emulator, api):
    emulator.clear_requests()
    start(api, taskId="3f1c-guid")
    (entry,) = emulator.requests("OpConJobAction", action="Start")
    assert entry["status"] == 200 and "3f1c-guid" in entry["detail"]


def test_openapi_document_lists_exactly_the_registered_routes(emulator):
    from amt_emulator.app import Emulator, EmulatorConfig, create_app
    from amt_emulator.openapi import openapi_document

    document = requests.get(emulator.url + "/openapi.json").json()
    assert document == openapi_document()
    variant = load_contract(str(Path(__file__).parents[2] / "contracts" / "variant.json"))
    for contract in (DEFAULT_CONTRACT, variant):  # the variant's reads include POSTs (``methods``)
        unstarted = Emulator.__new__(Emulator)
        unstarted.config = EmulatorConfig(contract=contract)
        app = create_app(unstarted)
        registered = {(r.method.lower(), r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"}
        served = openapi_document(contract)
        documented = {(m, p) for p, ops in served["paths"].items() for m in ops}
        assert registered == documented
    assert ("post", variant.paths.messages) in registered


def test_injected_errors_delays_and_drops(emulator, api):
    emulator.set_faults([{"route": "MonitorJob", "action": "error", "status": 503, "count": 1, "retry_after": 2}])
    response = api.get(api.base + "/api/MonitorJob/1")
    assert response.status_code == 503 and response.headers["Retry-After"] == "2"
    assert api.get(api.base + "/api/MonitorJob/1").status_code == 200  # count 1: retired
    emulator.set_faults([{"route": "Heartbeat", "action": "delay", "seconds": 0.5}])
    began = time.monotonic()
    requests.get(emulator.url + PATHS.heartbeat)
    assert time.monotonic() - began >= 0.5
    emulator.set_faults([{"route": "Heartbeat", "action": "drop", "count": 1}])
    with pytest.raises(requests.ConnectionError):
        requests.get(emulator.url + PATHS.heartbeat)
    assert requests.get(emulator.url + PATHS.heartbeat).status_code == 200


def test_malformed_fault_documents_are_400(emulator):
    with pytest.raises(Exception, match="400"):
        emulator.set_faults([{"route": "*", "action": "explode"}])


def test_state_survives_a_restart_and_jobs_go_on_by_the_clock(tmp_path):
    with EmulatorProcess(tmp_path / "state.sqlite", time_scale=10) as emu:
        session = requests.Session()
        session.base = emu.url

        def logon():
            token = session.post(emu.url + PATHS.logon, json={"userName": "amtopcon", "password": "amtopcon"}).json()[
                "amtLogonToken"
            ]
            session.headers[TOKEN_HEADER] = token

        logon()
        done = start(session, taskValues=["A"]).json()["batchRequestId"]
        wait_code(session, done, {4})
        running = start(session, jobName="REPORTTEST01").json()["batchRequestId"]
        wait_code(session, running, {2})
        before = messages(session, done)["messages"]
        emu.kill()  # a crash, not a clean stop
        time.sleep(0.8)  # the job keeps running on the clock while the server is down
        emu.start()
        assert session.get(emu.url + f"/api/MonitorJob/{done}").status_code == 401  # tokens are not persisted
        logon()
        assert messages(session, done)["messages"] == before
        assert wait_code(session, running, {4}, timeout=3)["completionCode"] == 4
        assert messages(session, running)["messages"][-1]["text"] == "Done"
        assert emu.requests("OpConJobAction", action="Start")  # the request log is persisted too


def test_faults_can_be_set_at_start_up():
    rules = [{"route": "Heartbeat", "action": "error", "status": 502, "count": 1}]
    with EmulatorProcess(faults={"rules": rules, "token_ttl": 5}) as emu:
        assert requests.get(emu.url + PATHS.heartbeat).status_code == 502
        assert requests.get(emu.url + PATHS.heartbeat).status_code == 200
        logon = requests.post(emu.url + PATHS.logon, json={"userName": "amtopcon", "password": "amtopcon"})
        assert logon.json()["expiresIn"] == 5


CUSTOM = {
    "version": 1,
    "paths": {"logon": "/amt/v2/Logon", "monitor": "/amt/v2/jobs/{batch_request_id}"},
    "token": {"name": "X-Token"},
}


def test_the_emulator_serves_another_contract_when_told():
    with EmulatorProcess(contract=CUSTOM) as emu:
        assert (
            requests.post(emu.url + PATHS.logon, json={"userName": "amtopcon", "password": "amtopcon"}).status_code
            == 404
        )
        token = requests.post(emu.url + "/amt/v2/Logon", json={"userName": "amtopcon", "password": "amtopcon"}).json()[
            "amtLogonToken"
        ]
        assert requests.get(emu.url + "/amt/v2/jobs/1", headers={TOKEN_HEADER: token}).status_code == 401
        assert requests.get(emu.url + "/amt/v2/jobs/1", headers={"X-Token": token}).status_code == 404  # no job 1 yet
        document = requests.get(emu.url + "/openapi.json").json()
        assert "/amt/v2/jobs/{batch_request_id}" in document["paths"]
        assert document["components"]["securitySchemes"]["logonToken"]["name"] == "X-Token"


def test_admin_routes_are_off_on_a_non_loopback_bind_unless_a_token_is_given():
    with EmulatorProcess(host="0.0.0.0") as emu:
        url = f"http://127.0.0.1:{emu.port}"
        refused = requests.get(url + "/admin/requests")
        assert refused.status_code == 403 and "--admin-token" in refused.json()["message"]
        assert requests.get(url + PATHS.heartbeat).status_code == 200  # the API itself still answers
    with EmulatorProcess(host="0.0.0.0", admin_token="let-me-in") as emu:
        url = f"http://127.0.0.1:{emu.port}"
        assert requests.get(url + "/admin/requests").status_code == 403
        allowed = requests.get(url + "/admin/requests", headers={"X-AMT-Emulator-Admin-Token": "let-me-in"})
        assert allowed.status_code == 200
        assert emu.requests() == allowed.json()  # EmulatorProcess sends its token itself


# --- every bad request is a 4xx with a reason, never a 500 (issue 22) ---------------------------------


@pytest.mark.parametrize(
    "rule",
    [
        {"route": "*", "action": "error", "status": "abc"},
        {"route": "*", "action": "error", "status": 99},
        {"route": "*", "action": "delay", "seconds": "soon"},
        {"route": "*", "action": "delay", "seconds": -1},
        {"route": "*", "action": "error", "rate": "often"},
        {"route": "*", "action": "error", "count": 1.5},
        {"route": "*", "action": "error", "retry_after": "later"},
        {"route": 5, "action": "error"},
    ],
)
def test_wrongly_typed_fault_rules_are_400_and_change_nothing(emulator, rule):
    with pytest.raises(Exception, match="400"):
        emulator.set_faults([rule])
    assert requests.get(emulator.url + PATHS.heartbeat).status_code == 200


@pytest.mark.parametrize("since", ["abc", "\u00b2", "9" * 5000])
def test_a_bad_since_is_400(emulator, since):
    response = requests.get(emulator.url + "/admin/requests", params={"since": since})
    assert response.status_code == 400 and "since" in response.json()["message"]


@pytest.mark.parametrize("raw", ["\u00b2", "9" * 5000, "\uff11"])
def test_odd_ids_in_paths_are_400(emulator, raw):
    session = requests.Session()
    token = session.post(emulator.url + PATHS.logon, json={"userName": "amtopcon", "password": "amtopcon"}).json()
    session.headers[TOKEN_HEADER] = token["amtLogonToken"]
    response = session.get(emulator.url + PATHS.monitor.replace("{batch_request_id}", raw))
    assert response.status_code == 400


@pytest.mark.parametrize("user", ["ämtöpcon", "amt\u200bopcon", "用户"])
def test_non_ascii_credentials_are_refused_with_401_not_500(emulator, user):
    response = requests.post(emulator.url + PATHS.logon, json={"userName": user, "password": "pässwörd"})
    assert response.status_code == 401


def test_a_non_ascii_password_can_log_on(tmp_path):
    with EmulatorProcess(tmp_path / "state.sqlite", password="pässwörd€") as emu:
        response = requests.post(emu.url + PATHS.logon, json={"userName": "amtopcon", "password": "pässwörd€"})
        assert response.status_code == 200 and response.json()["amtLogonToken"]
