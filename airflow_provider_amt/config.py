"""The provider's ``[amt]`` Airflow configuration options, declared once.

``get_provider_info`` publishes them (so ``airflow config list`` shows them with their defaults) and
the code reads them through :func:`checkpoint_interval`; the default lives only here.
"""

from __future__ import annotations

from typing import Any

SECTION = "amt"
CHECKPOINT_INTERVAL = "checkpoint_interval"
CHECKPOINT_INTERVAL_DEFAULT = 30.0

OPTIONS: dict[str, dict[str, Any]] = {
    CHECKPOINT_INTERVAL: {
        "description": (
            "Seconds between two saves of a deferred task's AMT message cursor (a round trip through the "
            "triggerer's supervisor each). 0 saves after every page of messages. A triggerer that crashes "
            "makes the next one log up to this many seconds of messages again; AmtTaskLogHandler shows them "
            "once. See docs/performance.md."
        ),
        "version_added": "0.2.0",
        "type": "float",
        "example": "30",
        "default": str(CHECKPOINT_INTERVAL_DEFAULT),
    },
}


def checkpoint_interval() -> float:
    """``[amt] checkpoint_interval``; a malformed value falls back to the default (never below 0)."""
    from airflow_provider_amt.compat import conf

    try:
        value = float(conf.get(SECTION, CHECKPOINT_INTERVAL, fallback=str(CHECKPOINT_INTERVAL_DEFAULT)))
    except (TypeError, ValueError):
        return CHECKPOINT_INTERVAL_DEFAULT
    return max(value, 0.0)
