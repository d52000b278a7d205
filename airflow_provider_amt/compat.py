"""Everything that differs between Airflow 3.x minor versions, in one small module.

The provider targets Airflow >= 3.0 and is developed on 3.3.2. Names that moved or only exist in
newer versions (``BaseHook``, ``amask_secret``, ``aget_connection``, the Task SDK exceptions) are
looked up here by feature, not by version number. Features that are simply absent on older
versions need no code: ``BaseTrigger.on_kill`` is never called there, and
``context["task_state_store"]`` is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from typing import TYPE_CHECKING, Any


def _first(*candidates: str) -> Any:
    """The first of ``module:name`` that imports: the same feature under its newer or older home."""
    for candidate in candidates:
        module, _, name = candidate.partition(":")
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"none of {candidates} is available in this Airflow")


if TYPE_CHECKING:  # the type checker reads the newest homes (the locked Airflow)
    from airflow.sdk import BaseHook
    from airflow.sdk.configuration import conf
    from airflow.sdk.exceptions import (
        AirflowNotFoundException,
        AirflowSensorTimeout,
        AirflowSkipException,
        AirflowTaskTimeout,
    )
else:
    BaseHook = _first("airflow.sdk:BaseHook", "airflow.hooks.base:BaseHook")  # 3.1+ | 3.0
    conf = _first("airflow.sdk.configuration:conf", "airflow.configuration:conf")
    AirflowNotFoundException, AirflowSensorTimeout, AirflowSkipException, AirflowTaskTimeout = (
        _first(f"airflow.sdk.exceptions:{name}", f"airflow.exceptions:{name}")
        for name in ("AirflowNotFoundException", "AirflowSensorTimeout", "AirflowSkipException", "AirflowTaskTimeout")
    )


def mask_secret(secret: str | None) -> None:
    """Register a secret with Airflow's masker (task process and, where possible, supervisor)."""
    if secret:
        with contextlib.suppress(Exception):
            _first("airflow.sdk.log:mask_secret", "airflow.sdk.execution_time.secrets_masker:mask_secret")(secret)


async def amask_secret(secret: str | None) -> None:
    """The same from a coroutine: the sync version can deadlock a triggerer's supervisor channel."""
    if not secret:
        return
    try:
        amask = _first("airflow.sdk.log:amask_secret")
    except ImportError:  # older Airflow: the local masker only, no supervisor round trip
        with contextlib.suppress(Exception):
            _first("airflow.sdk.execution_time.secrets_masker:_secrets_masker")().add_mask(secret)
        return
    with contextlib.suppress(Exception):
        await amask(secret)


async def aget_connection(conn_id: str) -> Any:
    """Fetch a connection without blocking the event loop (``BaseHook.aget_connection`` on 3.1+)."""
    getter = getattr(BaseHook, "aget_connection", None)
    if getter is not None:
        return await getter(conn_id)
    return await asyncio.to_thread(BaseHook.get_connection, conn_id)  # pragma: no cover - Airflow 3.0


#: ``next_method`` of a task the framework resumes only to fail it (trigger timeout or crash).
TRIGGER_FAIL_REPR = "__fail__"


def default_deferrable() -> bool:
    return bool(conf.getboolean("operators", "default_deferrable", fallback=False))


__all__ = [
    "TRIGGER_FAIL_REPR",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "AirflowTaskTimeout",
    "BaseHook",
    "aget_connection",
    "amask_secret",
    "conf",
    "default_deferrable",
    "mask_secret",
]
