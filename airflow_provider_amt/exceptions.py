"""The provider's errors: the AMT client library's typed errors, under the names DAGs import.

They are the very classes ``amt_client.errors`` defines (not copies), so ``except AmtError`` catches
an error whichever layer raised it. Airflow 3 fails (and retries) a task the same way for any
exception, so they need no Airflow base class.
"""

from __future__ import annotations

from amt_client.errors import *  # noqa: F403 - the very classes, under the names DAGs import
from amt_client.errors import __all__ as __all__
