"""Apache Airflow provider for the Asysco AMT Batch Server."""

from __future__ import annotations

__version__ = "0.1.0"

from airflow_provider_amt.codes import AmtCompletionCode, AmtMessage, CodeClass, JobStatus

__all__ = ["AmtCompletionCode", "AmtMessage", "CodeClass", "JobStatus", "__version__"]
