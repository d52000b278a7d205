"""A site's contract document: every key read, every wrong value refused naming its key (issue 25)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from amt_client import AmtConfigurationError, AmtResponseError
from amt_client.contract import DEFAULT_CONTRACT, ApiMethods, ApiPaths, FieldNames, HttpStatuses, WireContract, lookup
from amt_client.contract_document import (
    MAX_DOCUMENT_BYTES,
    contract_document,
    contract_from_document,
    load_contract,
)


def doc(**keys):
    return {"version": 1, **keys}


def test_the_default_document_reads_back_as_the_default_contract():
    document = contract_document()
    assert load_contract(document) == DEFAULT_CONTRACT
    assert load_contract(json.dumps(document)) == DEFAULT_CONTRACT
    assert load_contract(doc()) == DEFAULT_CONTRACT  # every key is optional
    assert load_contract({}) == DEFAULT_CONTRACT  # the version too: read as 1


def test_every_key_is_read():
    contract = load_contract(
        doc(
            paths={"logon": "/x/Logon", "monitor": "/x/Status", "find_request": None},
            methods={"monitor": "POST", "heartbeat": "GET"},
            token={"transport": "bearer", "name": "Ignored-With-Bearer", "lifetime": 600},
            heartbeat={"answer": "text"},
            answer_envelope="d.result",
            fields={"completion_code": "State.Code", "user_name": "User"},
            messages={"max_page": 50},
            retryable_statuses=[503],
            statuses={"token_refused": [401, 440], "not_found": [410]},
        )
    )
    assert contract.paths == dataclasses.replace(ApiPaths(), logon="/x/Logon", monitor="/x/Status", find_request=None)
    assert contract.methods == ApiMethods(monitor="POST")
    assert (contract.token_transport, contract.token_header, contract.token_lifetime) == (
        "bearer",
        "Ignored-With-Bearer",
        600.0,
    )
    assert (contract.heartbeat_answer, contract.answer_envelope) == ("text", "d.result")
    assert contract.fields == dataclasses.replace(FieldNames(), completion_code="State.Code", user_name="User")
    assert (contract.max_messages_page, contract.retryable_statuses) == (50, frozenset({503}))
    assert contract.statuses == HttpStatuses(token_refused=frozenset({401, 440}), not_found=frozenset({410}))


@pytest.mark.parametrize(
    ("document", "key"),
    [
        (doc(version=2), "'version'"),
        (doc(version="1"), "'version'"),
        (doc(version=True), "'version'"),
        (doc(paths=[]), "'paths'"),
        (doc(paths={"logon": "Logon"}), "'paths.logon'"),
        (doc(paths={"logon": 5}), "'paths.logon'"),
        (doc(paths={"logon": None}), "'paths.logon'"),  # only find_request may be switched off
        (doc(paths={"monitor": "/m/{id}"}), "'paths.monitor'"),
        (doc(paths={"monitor": "/m/{batch_request_id}/{batch_request_id}"}), "'paths.monitor'"),
        (doc(paths={"heartbeat": "/h/{batch_request_id}"}), "'paths.heartbeat'"),
        (doc(methods={"monitor": "PUT"}), "'methods.monitor'"),
        (doc(methods={"monitor": "post"}), "'methods.monitor'"),
        (doc(methods={"messages": None}), "'methods.messages'"),
        (doc(methods="POST"), "'methods'"),
        (doc(token="cookie"), "'token'"),
        (doc(token={"transport": "cokie"}), "'token.transport'"),
        (doc(token={"transport": None}), "'token.transport'"),
        (doc(token={"name": ""}), "'token.name'"),
        (doc(token={"name": "X Bad"}), "'token.name'"),
        (doc(token={"name": "Host"}), "'token.name'"),  # a header HTTP itself uses
        (doc(token={"name": 7}), "'token.name'"),
        (doc(token={"lifetime": -1}), "'token.lifetime'"),
        (doc(token={"lifetime": float("nan")}), "'token.lifetime'"),
        (doc(token={"lifetime": "1h"}), "'token.lifetime'"),
        (doc(heartbeat={"answer": "xml"}), "'heartbeat.answer'"),
        (doc(answer_envelope=""), "'answer_envelope'"),
        (doc(answer_envelope="a..b"), "'answer_envelope'"),
        (doc(answer_envelope=["Result"]), "'answer_envelope'"),
        (doc(fields={"completion_code": ""}), "'fields.completion_code'"),
        (doc(fields={"completion_code": "a b"}), "'fields.completion_code'"),
        (doc(fields={"completion_code": "a.b."}), "'fields.completion_code'"),
        (doc(fields={"completion_code": None}), "'fields.completion_code'"),
        (doc(fields={"text": "x" * 101}), "'fields.text'"),
        (doc(messages={"max_page": 0}), "'messages.max_page'"),
        (doc(messages={"max_page": 1.5}), "'messages.max_page'"),
        (doc(messages={"max_page": True}), "'messages.max_page'"),
        (doc(messages={"paging": "cursor"}), "'messages.paging'"),
        (doc(messages={"first_page": 2}), "'messages.first_page'"),
        (doc(messages={"first_page": "1"}), "'messages.first_page'"),
        (doc(retryable_statuses=[200]), "'retryable_statuses'"),
        (doc(retryable_statuses="503"), "'retryable_statuses'"),
        (doc(retryable_statuses=[True]), "'retryable_statuses'"),
        (doc(statuses={"token_refused": "440"}), "'statuses.token_refused'"),
        (doc(statuses={"token_refused": []}), "'statuses.token_refused'"),
        (doc(statuses={"not_found": [200]}), "'statuses.not_found'"),
        (doc(statuses={"refused": [400.5]}), "'statuses.refused'"),
        (doc(statuses={"not_found": [401]}), "'statuses'"),  # 401 is already token_refused's
        (doc(statuses=[401]), "'statuses'"),
        (doc(ids={"monitor": ["password"]}), "'ids.monitor'"),
        (doc(ids={"monitor": "task_id"}), "'ids.monitor'"),
        (doc(ids={"monitor": [5]}), "'ids.monitor'"),
        (doc(codes={"28": "failed"}), "'codes'"),
        (doc(codes=[28]), "'codes'"),
        (doc(codes={"4": {"name": "MY DONE", "class": "failed"}}), "'codes'"),  # the table's DONE
        (doc(codes={"28": {"name": "X", "class": "ambiguous"}}), "'codes'"),
        (doc(codes={"28": {"name": "", "class": "failed"}}), "'codes'"),
        (doc(codes={"28": {"name": "A\nB", "class": "failed"}}), "'codes'"),
        (doc(codes={"28": {"class": "failed"}}), "'codes'"),
        (doc(codes={"28": {"name": "X", "class": "failed", "color": "red"}}), "'codes'"),
        (doc(codes={"abc": {"name": "X", "class": "failed"}}), "'codes'"),
        (doc(codes={"12345": {"name": "X", "class": "failed"}}), "'codes'"),
        (doc(codes={"-1": {"name": "X", "class": "failed"}}), "'codes'"),
        (doc(codes={"²": {"name": "X", "class": "failed"}}), "'codes'"),
    ],
)
def test_a_wrong_value_is_refused_naming_its_key(document, key):
    with pytest.raises(AmtConfigurationError, match=f"key {key}" if key != "'version'" else "'version'"):
        load_contract(document)


@pytest.mark.parametrize(
    ("document", "named"),
    [
        (doc(tokn={}), "'tokn'; known: version, paths"),
        (doc(paths={"logn": "/x"}), "'paths.logn'; known in paths: heartbeat, logon"),
        (doc(fields={"completionCode": "x"}), "'fields.completionCode'; known in fields: user_name"),
        (doc(token={"header": "X"}), "'token.header'; known in token: transport, name, lifetime"),
        (doc(heartbeat={"status": "up"}), "'heartbeat.status'"),
        (doc(messages={"page": 5}), "'messages.page'"),
        # the logon and OpConJobAction carry a password or a Start: always a POST body, never a URL
        (
            doc(methods={"logon": "GET"}),
            "'methods.logon'; known in methods: heartbeat, monitor, messages, find_request",
        ),
    ],
)
def test_an_unknown_key_is_refused_with_the_known_ones(document, named):
    with pytest.raises(AmtConfigurationError, match="unknown key") as err:
        load_contract(document)
    assert named in str(err.value)


def test_codes_a_document_adds_are_read_by_their_class_and_written_back():
    from amt_client import AmtUnknownCodeError, Outcome, Rules
    from amt_client.codes import CodeClass, ExtraCode

    contract = load_contract(
        doc(codes={"28": {"name": "WAIT FOR TAPE", "class": "waiting"}, "30": {"name": "SITE OK", "class": "success"}})
    )
    assert contract.extra_codes == ((28, "WAIT FOR TAPE", "waiting", ""), (30, "SITE OK", "success", ""))
    tape = contract.parse_status({"batchRequestId": 7, "completionCode": 28}, "MonitorJob 7").code
    assert isinstance(tape, ExtraCode) and (int(tape), tape.amt_name, tape.code_class) == (
        28,
        "WAIT FOR TAPE",
        CodeClass.WAITING,
    )
    assert Rules().outcome(tape) is Outcome.WAIT and tape not in (4, 3)
    ok = contract.code_of("30")
    # a code the document adds as "success" is one, beside the task's success codes (which name table codes)
    assert ok.is_successful and ok.is_terminal and Rules(success_codes=(4,)).ending(ok) is Outcome.SUCCESS
    with pytest.raises(AmtUnknownCodeError, match="contract document"):
        contract.parse_status({"batchRequestId": 7, "completionCode": 29}, "MonitorJob 7")
    assert load_contract(contract_document(contract)) == contract
    assert contract_document(contract)["codes"]["28"] == {"name": "WAIT FOR TAPE", "class": "waiting"}


def test_messages_by_page_number_ask_for_the_page_that_holds_the_cursor_and_skip_what_was_read():
    """``messages.paging: page``: a server that pages by number (from ``first_page``) and a fixed
    size. The cursor need not sit on a page boundary: the page holding it is asked for and the
    messages before it are dropped; a drain knows a page was full by ``full_page``."""
    contract = load_contract(
        doc(messages={"max_page": 10, "paging": "page", "first_page": 1}, fields={"page": "PageNumber"})
    )
    request = contract.messages_request(7, 23, 5)
    assert request.params == {"PageNumber": "3", "limit": "10"}  # messages 20-29: page 3 of 10
    body = {"messages": [{"index": i, "text": f"m{i}"} for i in range(20, 30)]}
    assert [m.index for m in request.parse(body, "GetMessages")] == [23, 24, 25, 26, 27]  # from 23, at most 5
    assert [m.index for m in contract.messages_request(7, 23).parse(body, "x")] == list(range(23, 30))
    assert (contract.full_page(23, 10), contract.full_page(20, 10), contract.full_page(23, 5)) == (7, 10, 5)
    assert (DEFAULT_CONTRACT.full_page(23, 10), DEFAULT_CONTRACT.full_page(0, 1000)) == (10, 1000)
    zero = load_contract(doc(messages={"max_page": 10, "paging": "page", "first_page": 0}))
    assert zero.messages_request(7, 9).params == {"page": "0", "limit": "10"}
    with pytest.raises(AmtResponseError, match="expected 20"):  # the page must start where it says
        request.parse({"messages": [{"index": 21, "text": "x"}]}, "GetMessages")
    assert load_contract(contract_document(contract)) == contract


def test_the_ids_a_contract_sends_with_a_jobs_calls_come_from_its_start():
    """``ids``: SMA's connector sends the task id and the task's configuration with status and kill.
    A batch request id made from its Start carries them; one without them is refused before sending."""
    from amt_client import BatchRequestId, StartRequest
    from amt_client.start import Action

    contract = load_contract(
        doc(ids={"monitor": ["task_id", "application"], "job_action": ["task_id", "name"], "messages": ["task_type"]})
    )
    start = StartRequest.batch_job("DEMO2", "REPORTTEST01", task_id="guid-1")
    job = BatchRequestId.of(7, start)
    assert job == 7 and int(job) == 7 and f"{job}" == "7" and json.dumps({"id": job}) == '{"id": 7}'
    assert contract.status_request(job).path == "/api/MonitorJob/7"
    assert contract.status_request(job).params == {"taskId": "guid-1", "applicationName": "DEMO2"}
    kill = contract.action_request(Action.KILL, job).json_body
    assert kill == {"action": "Kill", "batchRequestId": 7, "taskId": "guid-1", "jobName": "REPORTTEST01"}
    assert contract.messages_request(job, 0, 5).params == {"taskType": "BatchJob", "offset": "0", "limit": "5"}
    with pytest.raises(AmtConfigurationError, match=r"task_id, application.*batch request 7 comes without them"):
        contract.status_request(7)  # a job this caller did not start: no ids to send
    assert DEFAULT_CONTRACT.status_request(job).params == {}  # the default sends none
    assert load_contract(contract_document(contract)) == contract
    assert "ids monitor=task_id,application" in ", ".join(contract.differences())


def test_a_status_may_mean_one_thing_only():
    with pytest.raises(AmtConfigurationError, match=r"retryable_statuses and statuses both name \[503\]"):
        load_contract(doc(statuses={"refused": [400, 503]}))


def test_the_statuses_a_document_gives_decide_what_an_error_answer_is():
    from amt_client import AmtAuthenticationError, AmtNotFoundError, AmtResponseError, AmtValidationError

    contract = load_contract(doc(statuses={"token_refused": [440], "not_found": [410], "refused": [418]}))
    status = contract.status_request(7)
    kinds = {
        code: type(contract.error_for_status(code, "", status, "http://x")) for code in (440, 410, 418, 404, 401, 400)
    }
    assert kinds == {
        440: AmtAuthenticationError,
        410: AmtNotFoundError,
        418: AmtValidationError,
        404: AmtNotFoundError,  # a path that is not there is always "not found"
        401: AmtAuthenticationError,  # as 403: always an authentication error
        400: AmtResponseError,  # no longer a refusal this server says it makes
    }
    assert "status token_refused=440, status not_found=410, status refused=418" in ", ".join(contract.differences())


def test_a_read_sent_as_post_carries_its_inputs_in_a_json_body_and_a_get_in_the_query():
    """``methods``: a service that takes every call as a POST gets the id, the paging and the task id
    in the body, under the contract's (dotted) field names; the path's placeholder still wins."""
    post = load_contract(
        doc(
            paths={"monitor": "/s/Status"},
            methods={"monitor": "POST", "messages": "POST", "find_request": "POST", "heartbeat": "POST"},
            fields={"offset": "Paging.Offset", "limit": "Paging.Limit", "batch_request_id": "Id"},
        )
    )
    status = post.status_request(7)
    assert (status.method, status.path, status.json_body, status.params) == ("POST", "/s/Status", {"Id": 7}, {})
    messages = post.messages_request(7, 20, 5)
    assert (messages.method, messages.path, messages.params) == ("POST", "/api/GetMessages/7", {})
    assert messages.json_body == {"Paging": {"Offset": 20, "Limit": 5}}  # the id went in the path
    found = post.find_request_request("guid-1")
    assert (found.method, found.json_body) == ("POST", {"taskId": "guid-1"})
    assert (post.heartbeat_request().method, post.heartbeat_request().needs_token) == ("POST", False)
    assert "monitor by POST" in post.differences()
    get = DEFAULT_CONTRACT.messages_request(7, 20, 5)
    assert (get.method, get.json_body, get.params) == ("GET", None, {"offset": "20", "limit": "5"})
    assert contract_document(post)["methods"]["messages"] == "POST" and load_contract(contract_document(post)) == post


def test_a_document_that_is_no_object_is_refused():
    for bad in ([], "[]", 5, None):
        with pytest.raises(AmtConfigurationError, match=r"must be an object|cannot be read|not valid JSON"):
            load_contract(bad)


def test_files_are_read_as_json_or_yaml_and_their_text_is_never_quoted(tmp_path):
    json_file = tmp_path / "site.json"
    json_file.write_text(json.dumps(doc(token={"transport": "cookie", "name": "S"})))
    assert load_contract(json_file).token_transport == "cookie"
    assert load_contract(str(json_file)).token_header == "S"
    secret = tmp_path / "secret.json"
    secret.write_text('{"version": 1, "password": hunter2-is-not-json}')
    with pytest.raises(AmtConfigurationError, match=r"not valid JSON \(line 1") as err:
        load_contract(secret)
    assert "hunter2" not in str(err.value)


def test_yaml_documents_are_read_where_pyyaml_is_installed(tmp_path):
    """Airflow brings PyYAML; the client alone (this directory also runs without Airflow) says what is missing."""
    yaml_file = tmp_path / "site.yaml"
    yaml_file.write_text("version: 1\nheartbeat:\n  answer: text\n")
    bad_yaml = tmp_path / "bad.yml"
    bad_yaml.write_text("version: 1\n  token: [hunter2\n")
    try:
        import yaml  # noqa: F401
    except ImportError:
        with pytest.raises(AmtConfigurationError, match="PyYAML is not installed"):
            load_contract(yaml_file)
        return
    assert load_contract(yaml_file).heartbeat_answer == "text"
    with pytest.raises(AmtConfigurationError, match="not valid YAML") as err:
        load_contract(bad_yaml)
    assert "hunter2" not in str(err.value)


def test_a_missing_huge_or_binary_file_is_a_clear_error(tmp_path):
    with pytest.raises(AmtConfigurationError, match="cannot be read"):
        load_contract(tmp_path / "nowhere.json")
    huge = tmp_path / "huge.json"
    huge.write_text(" " * (MAX_DOCUMENT_BYTES + 1))
    with pytest.raises(AmtConfigurationError, match="larger than"):
        load_contract(huge)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00{")
    with pytest.raises(AmtConfigurationError, match="not UTF-8"):
        load_contract(binary)
    with pytest.raises(AmtConfigurationError, match="nested too deeply"):
        load_contract('{"a":' * 20_000 + "1" + "}" * 20_000)
    with pytest.raises(AmtConfigurationError, match="larger than"):
        load_contract('{"version": 1, "x": "' + "y" * MAX_DOCUMENT_BYTES + '"}')


def test_a_document_builds_on_the_base_it_is_given():
    base = WireContract(token_transport="cookie", token_header="Session")
    assert load_contract(doc(token={"lifetime": 60}), base=base).token_header == "Session"
    with pytest.raises(AmtConfigurationError, match=r"key 'token\.name'"):  # checked for the base's transport
        contract_from_document(doc(token={"name": "Cookie"}), WireContract())


def test_dotted_field_names_nest_requests_and_answers():
    contract = load_contract(doc(fields={"task_values": "Parameters.TaskValues"}, answer_envelope="Result"))
    from amt_client import StartRequest

    body = contract.start_body(StartRequest.batch_job("DEMO2", "X", ["1"]))
    assert body["Parameters"] == {"TaskValues": ["1"]}
    answer = contract.answer({"batchRequestId": 7, "State.Code": 4})
    assert answer == {"Result": {"batchRequestId": 7, "State": {"Code": 4}}}
    assert lookup(contract.opened(answer), "State.Code") == 4
    assert contract.parse_start(contract.answer({"batchRequestId": 9}), "start") == 9
