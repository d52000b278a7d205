"""A ``logging_config_class`` target: Airflow's default logging config with ``AmtTaskLogHandler``.

``[logging] logging_config_class = airflow_provider_amt.log.config.LOGGING_CONFIG``

Everything else (log folder, formatters, remote logging set up through ``[logging]
remote_logging``) stays as Airflow configures it: only the class of the ``task`` handler changes,
and only when it is Airflow's plain ``FileTaskHandler`` (a site that already uses another task
handler keeps it; see docs/logs.md).
"""

from __future__ import annotations

import copy

from airflow.config_templates.airflow_local_settings import DEFAULT_LOGGING_CONFIG

_FILE_TASK_HANDLER = "airflow.utils.log.file_task_handler.FileTaskHandler"

LOGGING_CONFIG = copy.deepcopy(DEFAULT_LOGGING_CONFIG)
if LOGGING_CONFIG["handlers"]["task"]["class"] == _FILE_TASK_HANDLER:
    LOGGING_CONFIG["handlers"]["task"]["class"] = "airflow_provider_amt.log.task_handler.AmtTaskLogHandler"
