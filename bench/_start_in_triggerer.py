"""The operator the real-triggerer benchmarks' DAGs map: a task that starts straight in the triggerer
(``start_from_trigger``: no worker) with the given trigger, one task instance per job (``n``)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator
from airflow.triggers.base import StartTriggerArgs


def started_in_the_triggerer(name: str, trigger_cls: str, trigger_kwargs: dict[str, Any]) -> type[BaseOperator]:
    class StartInTheTriggerer(BaseOperator):
        start_from_trigger = True
        start_trigger_args = StartTriggerArgs(
            trigger_cls=trigger_cls, trigger_kwargs=trigger_kwargs, next_method="execute_complete"
        )

        def __init__(self, n: int, **kwargs: Any):
            super().__init__(**kwargs)
            self.n = n

        def execute(self, context: Any) -> None:  # never called: the task starts in the triggerer
            raise RuntimeError("start_from_trigger")

        def execute_complete(self, context: Any, event: Any = None) -> Any:
            return event

    StartInTheTriggerer.__name__ = StartInTheTriggerer.__qualname__ = name
    return StartInTheTriggerer
