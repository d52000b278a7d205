"""The "AMT job" button of a task that started an AMT job: a link to the site's AMT portal.

As the official providers do (dbt Cloud, Databricks): the URL is built once, when the job is known,
from the connection's ``job_url_template`` and pushed to XCom ``job_url``; the link reads it back.
No template, no job yet: no link (Airflow shows the button disabled).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink

from airflow_provider_amt.keys import XCOM_JOB_URL


class AmtJobLink(BaseOperatorLink):
    """The task's AMT job in the site's portal (``job_url_template`` of the connection)."""

    name = "AMT job"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from airflow.sdk.bases.xcom import BaseXCom

        url = BaseXCom.get_value(ti_key=ti_key, key=XCOM_JOB_URL)
        return url if isinstance(url, str) else ""
