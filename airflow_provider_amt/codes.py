"""The AMT completion-code table, as DAG authors import it (``from airflow_provider_amt.codes import ...``).

The table itself lives in the AMT client library (``amt_client.codes``); this module re-exports it.
"""

from __future__ import annotations

from amt_client.codes import AmtCompletionCode, AmtMessage, CodeClass, JobStatus

__all__ = ["AmtCompletionCode", "AmtMessage", "CodeClass", "JobStatus"]
