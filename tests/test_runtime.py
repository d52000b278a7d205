"""The triggerer runtime: one visible object per event loop holds what the AMT triggers share (issue 24)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest

from airflow_provider_amt import config
from airflow_provider_amt.triggers.runtime import TriggererRuntime


def test_a_loop_has_one_runtime_made_on_first_use_and_the_next_loop_a_new_one():
    async def twice() -> tuple[TriggererRuntime, TriggererRuntime]:
        return TriggererRuntime.current(), TriggererRuntime.current()

    first, again = asyncio.run(twice())
    later, _ = asyncio.run(twice())
    assert first is again and later is not first


def test_the_options_are_read_once_per_runtime(monkeypatch: pytest.MonkeyPatch):
    """Airflow's config parser is slow: a restart storm's triggers read the runtime's copy."""
    monkeypatch.setenv("AIRFLOW__AMT__MESSAGE_READ_RATE", "40")

    async def read() -> tuple[float, float]:
        runtime = TriggererRuntime.current()
        monkeypatch.setenv("AIRFLOW__AMT__MESSAGE_READ_RATE", "80")
        return runtime.options.message_read_rate, TriggererRuntime.current().options.message_read_rate

    assert asyncio.run(read()) == (40.0, 40.0)


def test_an_installed_runtime_is_the_one_the_loop_uses_and_its_budgets_follow_its_options():
    options = dataclasses.replace(config.trigger_options(), message_read_rate=100.0, checkpoint_rate=0.0)

    async def installed() -> tuple[bool, float, float]:
        runtime = TriggererRuntime(options).install()
        for _ in range(1000):
            runtime.loop_watch.attach()
        spacing = TriggererRuntime.current().message_read_spacing()
        for _ in range(1000):
            runtime.loop_watch.detach()
        return TriggererRuntime.current() is runtime, spacing, runtime.checkpoint_saves.rate

    assert asyncio.run(installed()) == (True, 10.0, 0.0)  # 1,000 triggers share 100 reads a second


def test_a_kill_in_flight_is_held_until_it_is_done():
    """The loop keeps tasks weakly: an on_kill decision Airflow stopped waiting for must not vanish."""

    async def kill() -> tuple[int, int, str]:
        runtime = TriggererRuntime.current()
        done = asyncio.Event()

        async def decision() -> None:
            await done.wait()

        future = asyncio.ensure_future(decision())
        runtime.keep_until_done(future)
        held = len(runtime.kills_in_flight)
        done.set()
        await future
        await asyncio.sleep(0)  # the done callback runs
        return held, len(runtime.kills_in_flight), str(future.done())

    assert asyncio.run(kill()) == (1, 0, "True")


def test_the_triggerer_has_four_options_and_the_02_interval_still_works_with_a_warning(monkeypatch, caplog):
    """Few knobs (issue 24): each left is justified by a figure in docs/deployment.md. The deprecated
    one is logged by the triggerer (a warning raised there would end the trigger that read it)."""
    assert sorted(name for name, option in config.OPTIONS.items() if "Deprecated" not in option["description"]) == [
        "checkpoint_rate",
        "message_read_rate",
        "trigger_messages",
        "triggerer_gc_threshold",
    ]
    monkeypatch.setenv("AIRFLOW__AMT__CHECKPOINT_INTERVAL", "30")

    async def spacing() -> float:
        runtime = TriggererRuntime.current()
        runtime.loop_watch.users = 1
        return runtime.checkpoint_save_spacing()

    with caplog.at_level("WARNING", logger="airflow_provider_amt.triggers.runtime"):
        assert asyncio.run(spacing()) == 30.0  # still honoured until 0.4
    assert [r.getMessage() for r in caplog.records if "checkpoint_interval" in r.getMessage()] == [
        config.CHECKPOINT_INTERVAL_DEPRECATED
    ]


@pytest.mark.parametrize(
    ("value", "live", "said"),
    [
        ("live", True, None),
        ("LIVE ", True, None),
        ("at_read", False, "this process's task log handler is not AmtTaskLogHandler"),
        ("at-read", True, "is not one of live, at_read: read as live"),
    ],
)
def test_trigger_messages_reads_live_or_at_read_and_the_triggerer_says_what_is_wrong_once(
    monkeypatch, caplog, value, live, said
):
    """A value it does not know reads as ``live`` (nothing is lost); ``at_read`` without the AMT log
    handler in this process is named too (the API server's may still have it)."""
    monkeypatch.setenv("AIRFLOW__AMT__TRIGGER_MESSAGES", value)

    async def options() -> bool:
        return TriggererRuntime.current().options.messages_live

    with caplog.at_level("WARNING", logger="airflow_provider_amt.triggers.runtime"):
        assert asyncio.run(options()) is live
    warnings = [r.getMessage() for r in caplog.records if "trigger_messages" in r.getMessage()]
    assert len(warnings) == (0 if said is None else 1) and all(said in w for w in warnings)


def test_at_read_with_the_amt_log_handler_in_place_says_nothing(monkeypatch, caplog):
    from airflow_provider_amt.log.task_handler import AmtTaskLogHandler

    handler = AmtTaskLogHandler(base_log_folder="/tmp")
    task_logger = logging.getLogger("airflow.task")
    monkeypatch.setattr(task_logger, "handlers", [*task_logger.handlers, handler])
    monkeypatch.setenv("AIRFLOW__AMT__TRIGGER_MESSAGES", "at_read")
    assert config.trigger_messages_problem() is None


def test_at_read_with_the_amt_logging_config_says_nothing_though_no_handler_is_in_place(monkeypatch):
    """A triggerer's runner reconfigures its logging: the configured ``logging_config_class`` counts."""
    monkeypatch.setenv("AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS", "airflow_provider_amt.log.config.LOGGING_CONFIG")
    monkeypatch.setenv("AIRFLOW__AMT__TRIGGER_MESSAGES", "at_read")
    monkeypatch.setattr(logging.getLogger("airflow.task"), "handlers", [])
    assert config.trigger_messages_problem() is None
    monkeypatch.setenv(
        "AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS",
        "airflow.config_templates.airflow_local_settings.DEFAULT_LOGGING_CONFIG",
    )
    assert "not AmtTaskLogHandler" in str(config.trigger_messages_problem())
