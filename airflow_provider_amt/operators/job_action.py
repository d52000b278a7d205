"""``AmtJobActionOperator``: OpConJobAction's Stop and Kill as a task of its own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator

from airflow_provider_amt.hooks.amt import DEFAULT_CONN_NAME, AmtHook
from airflow_provider_amt.joblog import log_ending
from airflow_provider_amt.templating import check_untemplated
from airflow_provider_amt.worker_watch import result, with_job_ids
from amt_client import Rules, validation
from amt_client.start import optional_job_ids


class AmtJobActionOperator(BaseOperator):
    """OpConJobAction's Stop or Kill for an AMT batch request, as a task of its own.

    For pipelines that end a long job at a deadline or on a branch. A job that has already ended is
    left as it is (logged as "had already ended", not an error). Otherwise the action is sent and
    the task waits up to 10 s for the job to show its end code: 3 KILLED after a Kill, 10 DEL_QUEUE
    when a queued job is stopped (a running job that is stopped ends as 3 KILLED in the emulator;
    what a real AMT reports is **assumed**, see docs/api-contract.md).

    :param action: ``"stop"`` or ``"kill"``.
    :param batch_request_id: the BatchRequestId (an int or a numeric string). Templated, e.g.
        ``"{{ ti.xcom_pull(task_ids='start', key='batch_request_id') }}"``.
    :param amt_conn_id: Airflow connection of type ``amt``.
    :param job_ids: only for a Batch Server whose contract document sends the job's ids with a Stop
        or Kill (``ids``): the job's ``task_id``, ``application``, ``name``... Templated.
    :return: ``{"batch_request_id", "completion_code", "status", "outcome"}`` as the starting operators
        return, with the code the job has after the action (or had, when it had already ended) and
        what that code means by the default rules (``cancelled`` for 3 KILLED and 10 DEL_QUEUE).
    """

    template_fields: Sequence[str] = ("batch_request_id", "job_ids")
    ui_color = "#ffd6cc"

    def __init__(
        self,
        *,
        action: str,
        batch_request_id: int | str,
        amt_conn_id: str = DEFAULT_CONN_NAME,
        job_ids: Mapping[str, str] | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.action = validation.end_action(action, "action", optional=False)
        self.batch_request_id = batch_request_id
        self.amt_conn_id = validation.connection_id(amt_conn_id)
        self.job_ids = job_ids
        check_untemplated(
            {
                "batch_request_id": (batch_request_id, validation.batch_request_id),
                "job_ids": (job_ids, optional_job_ids),
            }
        )

    def execute(self, context: Any) -> dict[str, Any]:
        batch_request_id = with_job_ids(validation.batch_request_id(self.batch_request_id), self.job_ids)
        assert self.action is not None  # not optional here
        ending = AmtHook(self.amt_conn_id).end_job(self.action, batch_request_id)
        log_ending(self.log, ending, f"task {self.task_id}")
        return result(batch_request_id, ending.code, Rules().outcome(ending.code))
