"""DAG-parse-time behaviour of the operators and the sensor: bad static arguments fail early."""

from __future__ import annotations

import pytest

from airflow_provider_amt.compat import start_from_trigger_supported
from airflow_provider_amt.exceptions import AmtValidationError
from airflow_provider_amt.operators.amt import AmtBatchJobOperator, AmtScriptOperator
from airflow_provider_amt.sensors.amt import AmtJobSensor
from airflow_provider_amt.triggers.amt import AmtJobTrigger


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"task_values": [str(i) for i in range(21)]}, "task_values has 21 entries"),
        ({"task_values": "25"}, "task_values must be a list"),
        ({"job_name": ""}, "job_name is required"),
        ({"amt_user": 5}, "amt_user must be a string"),
        ({"poll_interval": 0}, "poll_interval must be a finite number of seconds >= 0.1"),
        ({"poll_interval": float("nan")}, "poll_interval must be a finite number"),
        ({"outage_grace_period": float("inf")}, "outage_grace_period must be a finite number"),
        ({"success_codes": [42]}, "unknown AMT completion code 42"),
        ({"submit_user": ""}, "submit_user is required"),
        ({"max_time_in_state": {"DONE": 60}}, "4 DONE is an ending of a job, not a state it waits in"),
        ({"max_time_in_state": {14: -1}}, r"max_time_in_state\[14\] must be a finite number of seconds > 0"),
        ({"max_time_in_state": [14]}, "max_time_in_state must be a dict"),
    ],
)
def test_batch_job_operator_refuses_bad_static_arguments(kwargs, match):
    with pytest.raises(AmtValidationError, match=match):
        AmtBatchJobOperator(task_id="t", **{"application_name": "DEMO2", "job_name": "J", **kwargs})


def test_script_operator_takes_free_text_parameters_and_refuses_blank_ones():
    """Issue 26: a list item is sent as written (AMT's scripts read /recover, -pa 'PARAM'...)."""
    op = AmtScriptOperator(task_id="s", script_name="X.ps1", script_parameters=["A=1", "/recover"])
    assert op.script_parameters == ["A=1", "/recover"]
    with pytest.raises(AmtValidationError, match=r"script_parameters\[1\] is blank"):
        AmtScriptOperator(task_id="s2", script_name="X.ps1", script_parameters=["A=1", " "])


def test_templated_arguments_are_checked_after_rendering_only():
    op = AmtBatchJobOperator(task_id="t", job_name="{{ params.job }}", task_values="{{ params['values'] }}")
    assert op.template_fields == ("application_name", "amt_user", "queue_name", "job_name", "task_values")
    script = AmtScriptOperator(task_id="s", script_name="X.ps1", script_parameters={"A": "{{ ds }}"})
    assert "script_parameters" in script.template_fields


@pytest.mark.parametrize("bad", [0, -3, "abc", True])
def test_sensor_refuses_bad_ids_but_accepts_templates_and_numeric_strings(bad):
    with pytest.raises(AmtValidationError, match="batch_request_id must be a positive integer"):
        AmtJobSensor(task_id="w", batch_request_id=bad)
    assert AmtJobSensor(task_id="w2", batch_request_id="{{ ti.xcom_pull('x') }}").template_fields == (
        "batch_request_id",
        "job_ids",  # 0.3: the job's ids, for a contract that sends them with every call
    )
    templated = AmtJobSensor(task_id="w4", batch_request_id=1, job_ids="{{ ti.xcom_pull('ids') }}")
    assert templated.job_ids == "{{ ti.xcom_pull('ids') }}"  # checked once rendered
    assert AmtJobSensor(task_id="w3", batch_request_id="42")._watch().job.batch_request_id == 42


def test_trigger_serializes_to_plain_json_and_back():
    import json

    trigger = AmtJobTrigger(batch_request_id=5, poll_interval=3, deadline=1.5e9, message_offset=7, success_codes=[4, 6])
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_amt.triggers.amt.AmtJobTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert AmtJobTrigger(**kwargs).serialize() == (path, kwargs)
    with pytest.raises(AmtValidationError, match="batch_request_id must be a positive integer"):
        AmtJobTrigger(batch_request_id="five")
    with pytest.raises(AmtValidationError, match="poll_interval must be a finite number"):
        AmtJobTrigger(batch_request_id=5, poll_interval=float("nan"))
    with pytest.raises(AmtValidationError, match="unknown arguments"):
        AmtJobTrigger(batch_request_id=5, stream_message=True)


def test_a_trigger_serialized_by_provider_0_1_0_is_read_by_this_version():
    """A task deferred before an upgrade resumes after it: the old kwargs still construct the trigger."""
    old_kwargs = {
        "batch_request_id": 5,
        "amt_conn_id": "amt_default",
        "poll_interval": 10.0,
        "deadline": None,
        "message_offset": 3,
        "success_codes": [4],
        "stream_messages": True,
        "cancel_on_kill": True,
        "outage_grace_period": 300.0,
        "undefined_grace_period": 60.0,
        "initial_interval": 1.0,
    }
    trigger = AmtJobTrigger(**old_kwargs)
    _, kwargs = trigger.serialize()
    kept = {k: v for k, v in old_kwargs.items() if k not in ("stream_messages", "cancel_on_kill")}
    assert kwargs == {**kept, "on_kill_action": "kill"}  # 0.3's new kwargs only where they are used
    assert AmtJobTrigger(**{**old_kwargs, "cancel_on_kill": False}).on_kill_action is None


# --- strict switches (issue 22): "false" is a true value to Python, so strings are refused ---------


@pytest.mark.parametrize(
    "argument", ["allow_fresh_start", "deferrable", "wait_for_completion", "skip_on_skipped_by_ops"]
)
@pytest.mark.parametrize("value", ["false", "0"])
def test_the_operators_refuse_strings_for_their_switches(argument, value):
    with pytest.raises(AmtValidationError, match=f"{argument} must be True or False"):
        AmtBatchJobOperator(task_id="t", application_name="A", job_name="J", **{argument: value})


def test_the_sensor_refuses_strings_for_its_switches():
    with pytest.raises(AmtValidationError, match="deferrable must be True or False"):
        AmtJobSensor(task_id="s", batch_request_id=5, deferrable="false")


def test_start_from_trigger_is_offered_exactly_where_airflow_runs_such_tasks():
    """3.3+ renders templated fields in the triggerer and tells a trigger its task was killed."""
    import airflow
    from packaging.version import Version

    from airflow_provider_amt.compat import start_from_trigger_supported

    assert start_from_trigger_supported() == (Version(airflow.__version__).release[:2] >= (3, 3))


def test_start_from_trigger_before_airflow_3_3_warns_and_runs_the_classic_deferrable_path(monkeypatch):
    from airflow_provider_amt.operators import amt as operators

    monkeypatch.setattr(operators, "start_from_trigger_supported", lambda: False)
    with pytest.warns(UserWarning, match="start_from_trigger needs Airflow 3.3"):
        op = AmtBatchJobOperator(task_id="t", application_name="DEMO2", job_name="J", start_from_trigger=True)
    assert op.start_from_trigger is False and op.deferrable is True and op.start_trigger_args is None


@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: AmtBatchJobOperator(task_id="j", application_name="DEMO2", job_name="X", **kw),
        lambda **kw: AmtJobSensor(task_id="s", batch_request_id=3, **kw),
    ],
    ids=["operator", "sensor"],
)
def test_0_2s_watch_attributes_still_read_and_say_where_they_went(make):
    """Issue 24 moved them into ``watch_options``; a DAG or callback that reads them works for one
    more release, warned; a task that does not read them hears nothing."""
    import warnings

    from airflow_provider_amt.compat import AirflowProviderDeprecationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # making the task reads none of them
        task = make(
            success_codes=[4, 12], skip_on_skipped_by_ops=True, outage_grace_period=30, undefined_grace_period=9
        )
    with pytest.warns(AirflowProviderDeprecationWarning, match=r"success_codes is deprecated.*watch_options"):
        assert task.success_codes == (4, 12)
    with pytest.warns(AirflowProviderDeprecationWarning):
        assert (task.skip_on_skipped_by_ops, task.outage_grace_period, task.undefined_grace_period) == (True, 30, 9)
    assert task.watch_options.rules.success_codes == (4, 12)


def test_a_state_limit_is_kept_in_the_watch_and_handed_to_both_triggers():
    operator = AmtBatchJobOperator(
        task_id="t", application_name="DEMO2", job_name="J", max_time_in_state={"wait for input request": 1800}
    )
    assert operator.watch_options.max_time_in_state == {14: 1800.0}
    settings = operator.watch_options.settings(10.0, None)
    deferred = AmtJobTrigger.for_job(7, "amt_default", settings, message_offset=0, on_kill_action="kill")
    kwargs = deferred.serialize()[1]
    assert kwargs["max_time_in_state"] == {"14": 1800.0} and "state" not in kwargs  # no state seen: none written
    assert AmtJobTrigger(**kwargs).settings.max_time_in_state == {14: 1800.0}  # read back as written
    if not start_from_trigger_supported():  # Airflow before 3.3: no start trigger to hand it to
        return
    plain = AmtBatchJobOperator(task_id="p", application_name="DEMO2", job_name="J", start_from_trigger=True)
    assert "max_time_in_state" not in plain.start_trigger_args.trigger_kwargs  # written only when set
    started = AmtBatchJobOperator(
        task_id="s", application_name="DEMO2", job_name="J", start_from_trigger=True, max_time_in_state={1: 600}
    )
    assert started.start_trigger_args.trigger_kwargs["max_time_in_state"] == {"1": 600.0}  # JSON object keys


def test_a_rescheduled_sensor_refuses_a_state_limit_it_could_not_keep():
    with pytest.raises(AmtValidationError, match="max_time_in_state needs deferrable=True or mode='poke'"):
        AmtJobSensor(task_id="s", batch_request_id=7, mode="reschedule", deferrable=False, max_time_in_state={14: 60})
    AmtJobSensor(task_id="p", batch_request_id=7, mode="poke", deferrable=False, max_time_in_state={14: 60})
