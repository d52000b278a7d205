"""Bad input is refused before anything is sent, with a message naming the argument (no Airflow here)."""

from __future__ import annotations

import pytest

from amt_client import AmtValidationError, StartRequest, TaskType, validation


def test_task_values_accepts_strings_and_numbers_and_keeps_special_characters():
    assert validation.task_values(["25", 7, 1.5, "A=<&>\"'é"]) == ("25", "7", "1.5", "A=<&>\"'é")
    assert validation.task_values(None) == ()


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
    assert validation.script_parameters({"A": 1, "B": "x=y"}) == ("A=1", "B=x=y")
    assert validation.script_parameters(["A=1", "EMPTY="]) == ("A=1", "EMPTY=")


def test_script_parameters_in_a_list_are_free_text_sent_as_given():
    """AMT's scripts read /recover, /r:<id>, SGS:RESTART <label> and quoted values (issue 26)."""
    given = ["/recover", "/r:17", "SGS:RESTART STEP3", "-pa 'PARAM'", " spaced  ", "A=1"]
    assert validation.script_parameters(given) == tuple(given)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (["  "], r"script_parameters\[0\] is blank"),
        (["a\nFORGED LINE"], r"script_parameters\[0\] contains the character U\+000A"),
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
        StartRequest(TaskType.BATCH_JOB, args.pop("application_name"), args.pop("name"), None, **args)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: validation.seconds(float("nan"), "poll_interval"), "finite number of seconds"),
        (lambda: validation.seconds(float("inf"), "timeout"), "finite number of seconds"),
        (lambda: validation.seconds(0, "timeout"), "> 0"),
        (lambda: validation.seconds("soon", "timeout"), "got 'soon'"),
        (lambda: validation.integer(21, "max_retries", minimum=0, maximum=20), "from 0 to 20"),
        (lambda: validation.integer(True, "max_retries", minimum=0, maximum=20), "from 0 to 20"),
        (lambda: validation.flag("maybe", "verify_ssl"), "True or False"),
        (lambda: validation.offset(-1), "integer >= 0"),
    ],
)
def test_numbers_and_flags_are_finite_bounded_and_typed(call, match):
    with pytest.raises(AmtValidationError, match=match):
        call()


def test_numeric_strings_from_connection_extras_are_accepted():
    assert validation.seconds("12", "timeout") == 12.0
    assert validation.integer(" 3 ", "max_retries", minimum=0, maximum=20) == 3


def test_a_start_request_is_normalised_once_and_names_its_arguments_by_type():
    start = StartRequest.script("DEMO2", "X.ps1", {"A": 1}, run_as_user=" ")
    assert (start.values, start.run_as_user, start.what) == (("A=1",), None, "script DEMO2/X.ps1")
    with pytest.raises(AmtValidationError, match="script_name is required"):
        StartRequest.script("DEMO2", "")
    with pytest.raises(AmtValidationError, match="is blank"):
        StartRequest.script("DEMO2", "X.ps1", [""])
