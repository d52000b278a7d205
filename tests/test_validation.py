"""Bad input is refused before anything is sent, with a message naming the argument."""

from __future__ import annotations

import pytest

from airflow_provider_amt import validation
from airflow_provider_amt.api_contract import build_start
from airflow_provider_amt.exceptions import AmtValidationError


def test_task_values_accepts_strings_and_numbers_and_keeps_special_characters():
    assert validation.task_values(["25", 7, 1.5, "A=<&>\"'é"]) == ["25", "7", "1.5", "A=<&>\"'é"]
    assert validation.task_values(None) == []


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("25", "must be a list of strings"),
        ([str(i) for i in range(21)], "has 21 entries; AMT accepts at most 20"),
        ([True], r"task_values\[0\] must be a string or a number"),
        (["a", {"b": 1}], r"task_values\[1\]"),
        (42, "must be a list"),
    ],
)
def test_bad_task_values_name_the_argument(value, match):
    with pytest.raises(AmtValidationError, match=match):
        validation.task_values(value)


def test_script_parameters_from_dict_or_list():
    assert validation.script_parameters({"A": 1, "B": "x=y"}) == ["A=1", "B=x=y"]
    assert validation.script_parameters(["A=1", "EMPTY="]) == ["A=1", "EMPTY="]


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (["NOEQUALS"], r"script_parameters\[0\] is 'NOEQUALS', which is not in NAME=value form"),
        (["=value"], "not in NAME=value form"),
        ({"A=B": "x"}, "invalid parameter name"),
        ({f"P{i}": i for i in range(21)}, "has 21 entries"),
        ("A=1", "must be a dict or a list"),
        ({"A": None}, r"script_parameters\['A'\] must be a string or a number"),
    ],
)
def test_bad_script_parameters(value, match):
    with pytest.raises(AmtValidationError, match=match):
        validation.script_parameters(value)


@pytest.mark.parametrize(("raw", "expected"), [(5, 5), ("17", 17), (" 3 ", 3)])
def test_batch_request_id_from_int_or_numeric_string(raw, expected):
    assert validation.batch_request_id(raw) == expected


@pytest.mark.parametrize("raw", [0, -1, "abc", "", None, True, 1.5])
def test_bad_batch_request_ids(raw):
    with pytest.raises(AmtValidationError, match="batch_request_id must be a positive integer"):
        validation.batch_request_id(raw)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"application_name": ""}, "application_name is required"),
        ({"application_name": 5}, "application_name must be a string"),
        ({"name": " "}, "job_name is required"),
        ({"submit_user": ""}, "submit_user is required"),
        ({"run_as_user": 12}, "run_as_user must be a string or None"),
    ],
)
def test_start_requests_validate_every_field(kwargs, match):
    args = {"application_name": "DEMO2", "name": "REPORTTEST01", **kwargs}
    with pytest.raises(AmtValidationError, match=match):
        build_start("BatchJob", args.pop("application_name"), args.pop("name"), None, **args)
