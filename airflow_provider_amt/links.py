"""The "AMT job" button of a task that started an AMT job: a link to the site's AMT portal.

As the official providers do (dbt Cloud, Databricks), the URL is also in XCom (``job_url``) for DAGs.
The button itself: Airflow asks ``get_link`` on the worker when a try ends and stores the answer
for the UI; the task knows its job and its connection's ``job_url_template`` then, so nothing is
read back (an XCom read of a missing ``job_url`` would log an error line in every task log of a
site without a template). A try that never knew its job, or no template: no link. A task started
from the triggerer never runs on a worker: its trigger writes the link's XCom itself.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink


class AmtJobLink(BaseOperatorLink):
    """The task's AMT job in the site's portal (``job_url_template`` of the connection)."""

    name = "AMT job"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        wait = getattr(operator, "_wait", None)  # the watch of the try's job (worker_watch.JobWait)
        if wait is None:
            return ""
        return wait.hook.config.job_url(wait.job.batch_request_id) or ""
