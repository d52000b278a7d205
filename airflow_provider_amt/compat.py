"""Everything that differs between Airflow 3.x minor versions, in one small module.

The provider targets Airflow >= 3.0 and is developed on 3.3.2. Names that moved or only exist in
newer versions (``BaseHook``, ``amask_secret``, ``aget_connection``, the Task SDK exceptions) are
looked up here by feature, not by version number. Features that are absent on older versions
are detected here too: ``BaseTrigger.on_kill`` (3.3+) is never called before (the operator says
so in the task log when it defers), ``start_from_trigger`` needs both it and the triggerer's
rendering of templated fields (3.3+; before, the task defers from a worker as usual),
``context["task_state_store"]`` (3.3+) is missing, and async
XCom access from triggers (3.3+) falls back to the sync calls in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import sys
from typing import TYPE_CHECKING, Any

from airflow.exceptions import AirflowProviderDeprecationWarning  # the same home on 3.0-3.3


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
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSensorTimeout,
        AirflowSkipException,
        AirflowTaskTimeout,
    )
else:
    BaseHook = _first("airflow.sdk:BaseHook", "airflow.hooks.base:BaseHook")  # 3.1+ | 3.0
    conf = _first("airflow.sdk.configuration:conf", "airflow.configuration:conf")  # 3.2+ | 3.0-3.1
    AirflowFailException, AirflowNotFoundException, AirflowSensorTimeout, AirflowSkipException, AirflowTaskTimeout = (
        _first(f"airflow.sdk.exceptions:{name}", f"airflow.exceptions:{name}")
        for name in (
            "AirflowFailException",
            "AirflowNotFoundException",
            "AirflowSensorTimeout",
            "AirflowSkipException",
            "AirflowTaskTimeout",
        )
    )


def mask_secret(secret: str | None) -> None:
    """Register a secret with Airflow's masker (task process and, where possible, supervisor).

    An in-process supervisor (``airflow dags test``) shares this process's masker, so it is not
    sent the secret: on Airflow 3.0-3.3 it logs every request it is sent at DEBUG, the secret in
    clear (``Sending request msg=MaskSecret(value=...)``).
    """
    if not secret:
        return
    with contextlib.suppress(Exception):
        if _supervised_in_process():
            secrets_masker().add_mask(secret)
        else:
            _first("airflow.sdk.log:mask_secret", "airflow.sdk.execution_time.secrets_masker:mask_secret")(secret)


def _supervised_in_process() -> bool:
    """Whether this task's supervisor is this very process (``dags test``), not a parent process."""
    runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return type(getattr(runner, "SUPERVISOR_COMMS", None)).__name__ == "InProcessSupervisorComms"


def secrets_masker() -> Any:
    """This process's Airflow secrets masker (``airflow.sdk.log`` on 3.3+, its 3.0-3.2 home otherwise)."""
    return _first("airflow.sdk.log:_secrets_masker", "airflow.sdk.execution_time.secrets_masker:_secrets_masker")()


async def amask_secret(secret: str | None) -> None:
    """The same from a coroutine: the sync version can deadlock a triggerer's supervisor channel."""
    if not secret:
        return
    try:
        amask = None if _supervised_in_process() else _first("airflow.sdk.log:amask_secret")
    except ImportError:  # older Airflow
        amask = None
    if amask is None:  # the local masker only: no supervisor round trip (dags test: see mask_secret)
        with contextlib.suppress(Exception):
            secrets_masker().add_mask(secret)
        return
    with contextlib.suppress(Exception):
        await amask(secret)


async def aget_connection(conn_id: str) -> Any:
    """Fetch a connection without blocking the event loop (``BaseHook.aget_connection`` on 3.1+)."""
    getter = getattr(BaseHook, "aget_connection", None)
    if getter is not None:
        return await getter(conn_id)
    return await asyncio.to_thread(BaseHook.get_connection, conn_id)  # pragma: no cover - Airflow 3.0


async def aget_xcom(key: str, **keys: Any) -> Any:
    """Read an XCom of the trigger's own task instance without blocking the event loop.

    ``BaseXCom.aget_one`` on 3.3+; before, the sync ``get_one`` in a thread (the triggerer's channel
    carries sync calls from threads onto its loop there).
    """
    from airflow.sdk.bases.xcom import BaseXCom

    getter = getattr(BaseXCom, "aget_one", None)
    if getter is not None:
        return await getter(key=key, **keys)
    return await asyncio.to_thread(BaseXCom.get_one, key=key, **keys)  # pragma: no cover - Airflow 3.0-3.2


async def aset_xcom(key: str, value: Any, **keys: Any) -> None:
    """Write an XCom of the trigger's own task instance (``BaseXCom.aset`` on 3.3+, see above)."""
    from airflow.sdk.bases.xcom import BaseXCom

    setter = getattr(BaseXCom, "aset", None)
    if setter is not None:
        await setter(key, value, **keys)
        return
    await asyncio.to_thread(BaseXCom.set, key, value, **keys)  # pragma: no cover - Airflow 3.0-3.2


def trigger_on_kill_supported() -> bool:
    """Whether Airflow tells a trigger that its task was killed (``BaseTrigger.on_kill``, 3.3+)."""
    from airflow.triggers.base import BaseTrigger

    return hasattr(BaseTrigger, "on_kill")


def start_from_trigger_supported() -> bool:
    """Whether a task can start in the triggerer with its templated fields rendered there and be told
    it was killed (3.3+: ``BaseTrigger.render_template_fields`` and ``BaseTrigger.on_kill``)."""
    from airflow.triggers.base import BaseTrigger

    return hasattr(BaseTrigger, "render_template_fields") and trigger_on_kill_supported()


#: ``next_method`` of a task the framework resumes only to fail it (trigger timeout or crash).
TRIGGER_FAIL_REPR = "__fail__"
#: Its ``error`` when the framework's deferral timeout (the task's deadline) passed; any other
#: (``"Trigger failure"``) means the trigger crashed.
TRIGGER_TIMEOUT = "Trigger timeout"


def default_deferrable() -> bool:
    return bool(conf.getboolean("operators", "default_deferrable", fallback=False))


__all__ = [
    "TRIGGER_FAIL_REPR",
    "TRIGGER_TIMEOUT",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowProviderDeprecationWarning",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "AirflowTaskTimeout",
    "BaseHook",
    "aget_connection",
    "aget_xcom",
    "amask_secret",
    "aset_xcom",
    "conf",
    "default_deferrable",
    "mask_secret",
    "secrets_masker",
    "start_from_trigger_supported",
    "trigger_on_kill_supported",
]
