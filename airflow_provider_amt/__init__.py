"""Apache Airflow provider for the Asysco AMT Batch Server.

The AMT protocol itself (contract, codes, retries, paging, polling) lives in the Airflow-free
``amt_client`` library; this package adapts it to Airflow (hooks, operators, sensor, trigger,
task-log integration).
"""

from __future__ import annotations

__version__ = "0.2.0"

from amt_client.codes import AmtCompletionCode, AmtMessage, CodeClass, JobStatus

__all__ = ["AmtCompletionCode", "AmtMessage", "CodeClass", "JobStatus", "__version__"]
