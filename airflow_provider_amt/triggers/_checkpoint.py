"""The trigger's message cursor, kept in XCom of its own task instance.

A trigger holds no state outside its kwargs, and its kwargs carry the offset it was *started*
with. After a triggerer restart, or when a trigger moves to another triggerer, a fresh instance
would log every message from that offset again. The triggerer proxies XCom reads and writes from
a trigger for its own task instance (through the API server), and XComs live as long as the try,
so the trigger saves ``{"batch_request_id": n, "offset": m}`` after each page it logs and resumes
from it. Where XCom is not reachable (for instance triggers run inline by ``airflow dags test``),
the checkpoint is simply skipped: the kwargs offset still holds.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_amt.keys import XCOM_MESSAGE_CURSOR as XCOM_KEY
from airflow_provider_amt.triggers._task_instance import ti_keys


def seed(ti: Any, batch_request_id: int, offset: int) -> None:
    """Written by the worker just before it defers: the trigger's first ``load`` finds a checkpoint
    (no "XCom not found" error in the triggerer's log for every trigger start)."""
    ti.xcom_push(key=XCOM_KEY, value=_value(batch_request_id, offset))


def _value(batch_request_id: int, offset: int) -> dict[str, int]:
    return {"batch_request_id": batch_request_id, "offset": offset}


async def load(task_instance: Any, batch_request_id: int, log: Any) -> int | None:
    """The offset a previous instance of this trigger reached for this job, if it saved one."""
    keys = ti_keys(task_instance)
    if keys is None:
        return None
    try:
        from airflow.sdk.bases.xcom import BaseXCom

        value = await BaseXCom.aget_one(key=XCOM_KEY, **keys)
    except Exception as err:  # no supervisor channel (dags test) or an older Airflow
        log.debug("AMT message checkpoint not readable: %s", err)
        return None
    if isinstance(value, dict) and value.get("batch_request_id") == batch_request_id:
        offset = value.get("offset")
        if isinstance(offset, int) and not isinstance(offset, bool) and offset >= 0:
            return offset
    return None


async def save(task_instance: Any, batch_request_id: int, offset: int, log: Any) -> bool:
    keys = ti_keys(task_instance)
    if keys is None:
        return False
    try:
        from airflow.sdk.bases.xcom import BaseXCom

        await BaseXCom.aset(XCOM_KEY, _value(batch_request_id, offset), **keys)
    except Exception as err:
        log.debug("AMT message checkpoint not writable: %s", err)
        return False
    return True
