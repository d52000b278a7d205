"""What a trigger may ask the triggerer about its own task instance (keys and current state).

A trigger runs in the triggerer's async runner, which proxies a few Execution API reads for it
(``GetXCom``/``SetXCom``, ``GetTaskStates``). The readers here answer ``None`` where that channel
does not exist (triggers run inline by ``airflow dags test``, unit tests), so callers decide what
"unknown" means for them.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_amt.compat import aget_xcom
from airflow_provider_amt.keys import XCOM_BATCH_REQUEST_ID
from amt_client.validation import is_int


def ti_keys(task_instance: Any) -> dict[str, Any] | None:
    """``dag_id``/``task_id``/``run_id``/``map_index`` of the trigger's task instance, if it has one."""
    if task_instance is None:
        return None
    try:
        keys = {
            "dag_id": task_instance.dag_id,
            "task_id": task_instance.task_id,
            "run_id": task_instance.run_id,
            "map_index": getattr(task_instance, "map_index", -1),
        }
    except AttributeError:
        return None
    if keys["map_index"] is None:
        keys["map_index"] = -1
    return keys if all(keys[k] for k in ("dag_id", "task_id", "run_id")) else None


async def current_state(task_instance: Any, log: Any) -> str | None:
    """The task instance's state in the metadata DB now (``"deferred"``, ``"failed"``, ...).

    ``None`` when it cannot be asked. A cleared task instance reads as ``"none"``: the API reports a
    missing state that way, and it is not ``"deferred"`` either.
    """
    keys = ti_keys(task_instance)
    if keys is None:
        return None
    try:
        from airflow.sdk.execution_time.comms import GetTaskStates, TaskStatesResult
        from airflow.sdk.execution_time.task_runner import SUPERVISOR_COMMS

        answer = await SUPERVISOR_COMMS.asend(
            GetTaskStates(
                dag_id=keys["dag_id"],
                task_ids=[keys["task_id"]],
                run_ids=[keys["run_id"]],
                map_index=keys["map_index"],
            )
        )
    except Exception as err:  # no supervisor channel, or an Airflow without this message
        log.debug("Task instance state not readable: %s", err)
        return None
    if not isinstance(answer, TaskStatesResult):
        return None
    run = answer.task_states.get(keys["run_id"])
    if not isinstance(run, dict):
        return None
    name = keys["task_id"] if keys["map_index"] < 0 else f"{keys['task_id']}_{keys['map_index']}"
    if name not in run:
        return None
    state = run[name]
    return "none" if state is None else str(getattr(state, "value", state))


async def watched_batch_request(task_instance: Any, log: Any) -> int | None:
    """The batch request id the task instance's current try pushed to XCom (None: unknown or none).

    A try pushes it before it defers, and a new try's XComs replace the old try's, so this tells
    which job the task instance watches *now*.
    """
    keys = ti_keys(task_instance)
    if keys is None:
        return None
    try:
        value = await aget_xcom(XCOM_BATCH_REQUEST_ID, **keys)
    except Exception as err:
        log.debug("Task instance's batch request id not readable: %s", err)
        return None
    return value if is_int(value) else None
