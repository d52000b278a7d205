"""The validation holes issue 22 found: every one refused with a typed, short error before anything is sent."""

from __future__ import annotations

from typing import Any

import pytest

from amt_client import AmtConfigurationError, AmtValidationError, StartRequest, validation
from amt_client.contract import ApiPaths, WireContract


@pytest.mark.parametrize("value", ["false", "0", "true", 1, 0, None, "False"])
def test_the_boolean_reader_takes_true_and_false_only(value):
    with pytest.raises(AmtValidationError, match="must be True or False"):
        validation.flag(value, "allow_fresh_start")


@pytest.mark.parametrize(
    "name",
    ["A\nB", "A\x85B", "A\u2028B", "A\u202eB", "A\u200bB", "N" * 300, "", " ", 5],
)
def test_script_parameter_names_in_a_dict_are_checked_like_every_name(name):
    with pytest.raises(AmtValidationError, match="script_parameters"):
        validation.script_parameters({name: "v"})


@pytest.mark.parametrize("text", ["A\x85B", "A\u2028B", "A\u2029B", "A\u202eB", "A\u200bB", "A\ufeffB", "A\x00B"])
def test_c1_controls_separators_and_format_characters_are_refused_in_names_and_values(text):
    with pytest.raises(AmtValidationError, match="U\\+"):
        validation.require_text(text, "job_name")
    with pytest.raises(AmtValidationError, match="U\\+"):
        validation.task_values([text])


def test_ordinary_unicode_names_pass():
    assert validation.require_text("Lohnabrechnung_März", "job_name") == "Lohnabrechnung_März"


@pytest.mark.parametrize("path", ["/api/Logon\n", "/api/Logon\r", "/api/\u2028Logon"])
def test_paths_must_match_whole(path):
    with pytest.raises(AmtConfigurationError):
        ApiPaths(logon=path)


@pytest.mark.parametrize("header", ["X-Token\n", "Host", "content-length", "Transfer-Encoding", "Connection", "Cookie"])
def test_token_header_must_be_a_whole_name_that_is_not_reserved(header):
    with pytest.raises(AmtConfigurationError, match="token_header"):
        WireContract(token_header=header)


def test_authorization_may_carry_the_token():
    assert WireContract(token_header="Authorization").token_header == "Authorization"


@pytest.mark.parametrize(
    "raw",
    ["²", "9" * 5000, 10**5000, 2**63, "\uff11\uff12"],
    ids=["sup2", "5000-digits", "10e5000", "2e63", "fullwidth"],
)
def test_huge_or_foreign_digit_ids_are_typed_errors(raw: Any):
    with pytest.raises(AmtValidationError, match="batch_request_id"):
        validation.batch_request_id(raw)


@pytest.mark.parametrize(
    "call",
    [
        lambda: validation.integer("9" * 5000, "max_retries", minimum=0, maximum=20),
        lambda: validation.integer("²", "max_retries", minimum=0, maximum=20),
        lambda: validation.seconds(10**5000, "timeout"),
        lambda: validation.seconds("1" * 5000, "timeout"),
        lambda: validation.offset(10**5000),
        lambda: validation.optional_seconds(10**400, "deadline"),
    ],
)
def test_numbers_are_bounded_before_they_are_converted(call):
    with pytest.raises(AmtValidationError) as err:
        call()
    assert len(str(err.value)) < 300


def test_a_start_with_a_c1_control_in_a_task_value_is_refused_before_sending():
    with pytest.raises(AmtValidationError, match="task_values\\[0\\]"):
        StartRequest.batch_job("DEMO2", "JOB", ["ok\x85forged"])
