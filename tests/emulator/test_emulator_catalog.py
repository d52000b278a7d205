"""The catalogue's message generator, checked text by text (no server needed)."""

from __future__ import annotations

import itertools

import pytest

from amt_emulator.catalog import Catalog, CatalogError, JobSpec, message_stream


def test_mixed_specs_keep_their_own_text_offset_and_order():
    spec = JobSpec.from_json(
        {
            "run_time": 10,
            "messages": [
                {"at": 0, "text": "start {name}"},
                {"every": 2, "text": "tick {n}"},
                {"at": 1, "count": 3, "over": 3, "text": "line {n}"},
                {"at": 1, "for_each": "values", "text": "{index}: {key}={param}"},
                {"at": 10, "severity": "WARNING", "text": "end"},
            ],
        }
    )
    context = {"name": "JOB", "value_list": ["A=1", "bare"]}
    items = list(itertools.takewhile(lambda m: m[0] <= 10, message_stream(spec, context)))
    assert items == [
        (0.0, "start JOB", "INFO"),
        (1.0, "line 1", "INFO"),
        (1.0, "1: A=1", "INFO"),
        (1.0, "2: =bare", "INFO"),
        (2.0, "tick 1", "INFO"),
        (2.0, "line 2", "INFO"),
        (3.0, "line 3", "INFO"),
        (4.0, "tick 2", "INFO"),
        (6.0, "tick 3", "INFO"),
        (8.0, "tick 4", "INFO"),
        (10.0, "tick 5", "INFO"),
        (10.0, "end", "WARNING"),
    ]


def test_bundled_catalogue_big_log_has_fifty_thousand_distinct_lines():
    spec = Catalog.load().applications["DEMO2"].batch_jobs["BIGLOGREPORT"]
    texts = [text for _, text, _ in message_stream(spec, {"value_list": [], "values": ""})]
    assert len(texts) == 50_002 and len(set(texts)) == 50_002 and texts[-1] == "Done"


def test_braces_in_values_are_not_templates():
    spec = JobSpec.from_json({"messages": [{"at": 0, "for_each": "values", "text": "v={value}"}]})
    assert [t for _, t, _ in message_stream(spec, {"value_list": ["{name}", "{0}"]})] == ["v={name}", "v={0}"]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({}, "'applications' object"),
        ({"applications": {"A": {"queues": {"Q": {}}, "default_queue": "X"}}}, "default_queue 'X' is not a queue"),
        ({"applications": {"A": {"batch_jobs": {"J": {"messages": [{"at": 0}]}}}}}, "needs a 'text'"),
        ({"applications": {"A": {"batch_jobs": {"J": {"messages": [{"text": "x", "severity": "LOUD"}]}}}}}, "severity"),
        ({"applications": {}, "default_application": "NOPE"}, "is not an application"),
        ({"applications": {"A": {"batch_jobs": {"J": {"states": [{"at": 1, "code": 4}]}}}}}, "a state a job waits in"),
        ({"applications": {"A": {"batch_jobs": {"J": {"states": [{"code": 14}]}}}}}, r"J.states\[0\]"),
    ],
)
def test_malformed_catalogues_say_where(data, match):
    with pytest.raises(CatalogError, match=match):
        Catalog.from_json(data)


def test_a_running_job_shows_the_states_of_its_spec_by_the_clock():
    spec = Catalog.load().applications["DEMO2"].batch_jobs["WAITFORINPUT"]
    assert [spec.state_at(t) for t in (0, 1.9, 2, 3600)] == [2, 2, 14, 14]
    assert JobSpec.from_json(spec.to_json()) == spec
