"""``ClassLogger``: one logger per class instead of one per object, for the objects a triggerer
holds thousands of (``AmtJobTrigger``, ``AmtAsyncHook``).

Airflow's ``LoggingMixin`` makes each object its own logger on first use: about four objects that
live as long as it does, for every garbage collection to walk. In Airflow 3 the logging context
(trigger id, task instance) is in context variables, not in the logger, so the class's logger,
with the same name, logs exactly the same lines.
"""

from __future__ import annotations

from typing import Any


class ClassLogger:
    """Put before Airflow's ``LoggingMixin`` (``BaseTrigger``, ``BaseHook``) in the bases."""

    @property
    def log(self) -> Any:
        return type(self).logger()  # type: ignore[attr-defined]  # LoggingMixin's classmethod
