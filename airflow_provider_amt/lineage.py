"""OpenLineage facets of an AMT run, for Airflow's OpenLineage provider (the ``[openlineage]`` extra).

Imported only by the operators' ``get_openlineage_facets_on_complete`` / ``_on_failure``, which the
OpenLineage listener calls in the task's process when the task ends; without that provider nothing
imports this module. Everything is what the task holds in memory (its watch, its rendered fields):
no request goes to AMT or to Airflow, and nothing secret (the server is its URL, which holds no
credentials: a URL with ``user:password@`` is refused when the connection is read).
"""

from __future__ import annotations

from typing import Any

from attrs import define
from openlineage.client.facet_v2 import JobFacet, RunFacet

from airflow_provider_amt.start_ledger import task_guid
from amt_client import validation

#: The key of both facets in an event's ``run.facets`` and ``job.facets``.
FACET = "amt"


@define
class AmtRunFacet(RunFacet):
    """One AMT run: where it ran, what it was, how AMT ended it (field names in OpenLineage's camelCase)."""

    server: str | None
    application: str | None
    taskType: str  # AMT's own word: BatchJob or Script
    name: str | None
    batchRequestId: int | None
    amtTaskId: str  # the GUID taskId the Start carried (the same for every try)
    completionCode: int | None
    completionName: str | None
    recoveryRun: bool
    recoveryOf: int | None = None  # the batch request a recovery run resumes

    @staticmethod
    def _get_schema() -> str:
        return "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunFacet"


@define
class AmtJobFacet(JobFacet):
    """The AMT job or script an Airflow task runs: the same for every run of the task."""

    application: str | None
    taskType: str
    name: str | None

    @staticmethod
    def _get_schema() -> str:
        return "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobFacet"


def operator_lineage(task: Any, task_instance: Any) -> Any:
    """The ``OperatorLineage`` of an AMT task that ended (successfully or not).

    From what the task holds in memory only: the OpenLineage listener may call this in a forked
    child of the task process, where a request to the supervisor (an XCom, a connection) would share
    the parent's channel. A task that failed before its job was known reports no job ids or code.
    """
    from airflow.providers.openlineage.extractors import OperatorLineage

    wait, kind = task._wait, task.amt_task_type
    ended = wait.ended if wait is not None else None
    config = wait.hook.config if ended is not None else None  # resolved already: the ending used it
    application = task.application_name or (config.default_application if config is not None else None)
    name = getattr(task, kind.name_argument)
    guid = task_guid(
        task_instance.dag_id, task_instance.run_id, task_instance.task_id, getattr(task_instance, "map_index", -1)
    )
    run = AmtRunFacet(
        server=config.base_url if config is not None else None,
        application=application,
        taskType=kind.value,
        name=name,
        batchRequestId=_int(wait.job.batch_request_id if wait is not None else None),
        amtTaskId=guid,
        completionCode=_int((ended or {}).get("completion_code")),
        completionName=(ended or {}).get("completion_name"),
        recoveryRun=task._recovery_of is not None,
        recoveryOf=task._recovery_of,
    )
    job = AmtJobFacet(application=application, taskType=kind.value, name=name)
    return OperatorLineage(run_facets={FACET: run}, job_facets={FACET: job})


def _int(value: Any) -> int | None:
    """A job's number (a ``BatchRequestId`` is an ``int`` carrying ids: the plain number here), or None."""
    return int(value) if validation.is_int(value) else None
