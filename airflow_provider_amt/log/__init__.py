"""Task-log integration: ``AmtTaskLogHandler`` and a ready ``logging_config_class`` value.

Enable with ``[logging] logging_config_class = airflow_provider_amt.log.config.LOGGING_CONFIG``.
"""

from airflow_provider_amt.log.task_handler import AmtTaskLogHandler

__all__ = ["AmtTaskLogHandler"]
