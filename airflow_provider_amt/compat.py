"""Everything that differs between Airflow 3.x minor versions, in one small module.

The provider targets Airflow >= 3.0 and is developed on 3.3.2. Names that moved or only exist in
newer versions (``amask_secret``, ``aget_connection``, the Task SDK exceptions) are looked up here
by feature, not by version number. Features that are simply absent on older versions need no code:
``BaseTrigger.on_kill`` is never called there, and ``context["task_state_store"]`` is missing.
"""

from __future__ import annotations

import contextlib
from typing import Any

from packaging.version import Version

try:
    from airflow import __version__ as _airflow_version
except ImportError:  # pragma: no cover - airflow is a hard dependency
    _airflow_version = "0"

AIRFLOW_VERSION = Version(Version(_airflow_version).base_version)
AIRFLOW_V_3_3_PLUS = Version("3.3.0") <= AIRFLOW_VERSION


def _secrets_masker() -> Any:
    try:
        from airflow.sdk.log import mask_secret  # 3.1+
    except ImportError:  # pragma: no cover - Airflow 3.0
        from airflow.sdk.execution_time.secrets_masker import mask_secret
    return mask_secret


def mask_secret(secret: str | None) -> None:
    """Register a secret with Airflow's masker (task process and, where possible, supervisor)."""
    if secret:
        with contextlib.suppress(Exception):
            _secrets_masker()(secret)


async def amask_secret(secret: str | None) -> None:
    """The same from a coroutine: the sync version can deadlock a triggerer's supervisor channel."""
    if not secret:
        return
    try:
        from airflow.sdk.log import amask_secret as _amask  # 3.2+
    except ImportError:  # pragma: no cover - older Airflow: masker only, no supervisor round trip
        with contextlib.suppress(Exception):
            from airflow.sdk.execution_time.secrets_masker import _secrets_masker as _masker

            _masker().add_mask(secret)
        return
    with contextlib.suppress(Exception):
        await _amask(secret)


async def aget_connection(conn_id: str) -> Any:
    """Fetch a connection without blocking the event loop (``BaseHook.aget_connection`` on 3.1+)."""
    from airflow.sdk import BaseHook

    getter = getattr(BaseHook, "aget_connection", None)
    if getter is not None:
        return await getter(conn_id)
    import asyncio  # pragma: no cover - Airflow 3.0

    return await asyncio.to_thread(BaseHook.get_connection, conn_id)  # pragma: no cover


try:  # 3.1+: task-facing names live in the Task SDK
    from airflow.sdk.configuration import conf
    from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowSkipException, AirflowTaskTimeout
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.configuration import conf  # type: ignore[no-redef]
    from airflow.exceptions import (  # type: ignore[no-redef]
        AirflowSensorTimeout,
        AirflowSkipException,
        AirflowTaskTimeout,
    )

#: ``next_method`` of a task the framework resumes only to fail it (trigger timeout or crash).
TRIGGER_FAIL_REPR = "__fail__"


def default_deferrable() -> bool:
    return conf.getboolean("operators", "default_deferrable", fallback=False)


__all__ = [
    "TRIGGER_FAIL_REPR",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "AirflowTaskTimeout",
    "aget_connection",
    "amask_secret",
    "conf",
    "default_deferrable",
    "mask_secret",
]
