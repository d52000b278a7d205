"""The provider's ``[amt]`` Airflow configuration options, declared once.

``get_provider_info`` publishes them (so ``airflow config list`` shows them with their defaults) and
the code reads them through the functions below; the defaults live only here.
"""

from __future__ import annotations

from typing import Any

SECTION = "amt"
CHECKPOINT_INTERVAL = "checkpoint_interval"
CHECKPOINT_INTERVAL_DEFAULT = 0.0
CHECKPOINT_RATE = "checkpoint_rate"
CHECKPOINT_RATE_DEFAULT = 10.0

OPTIONS: dict[str, dict[str, Any]] = {
    CHECKPOINT_INTERVAL: {
        "description": (
            "Least seconds between two saves of a deferred task's AMT message cursor (a round trip through "
            "the triggerer's supervisor each). 0 (default): after every page of messages, as far as "
            "checkpoint_rate allows. A triggerer that stops or crashes makes the next one log again what was "
            "logged since the last save; AmtTaskLogHandler shows each message once. See docs/performance.md."
        ),
        "version_added": "0.2.0",
        "type": "float",
        "example": "30",
        "default": str(CHECKPOINT_INTERVAL_DEFAULT),
    },
    CHECKPOINT_RATE: {
        "description": (
            "Most checkpoint saves per second of all AMT triggers of one triggerer together. With more "
            "triggers than checkpoint_interval allows at this rate, each saves less often (interval = "
            "triggers / rate), so the supervisor's time for checkpoints stays bounded however many jobs "
            "a triggerer watches. 0: no bound. See docs/performance.md."
        ),
        "version_added": "0.2.0",
        "type": "float",
        "example": "10",
        "default": str(CHECKPOINT_RATE_DEFAULT),
    },
}


def _non_negative(option: str, default: float) -> float:
    """A float option; a malformed value falls back to the default, never below 0."""
    from airflow_provider_amt.compat import conf

    try:
        value = float(conf.get(SECTION, option, fallback=str(default)))
    except (TypeError, ValueError):
        return default
    return max(value, 0.0)


def checkpoint_interval() -> float:
    return _non_negative(CHECKPOINT_INTERVAL, CHECKPOINT_INTERVAL_DEFAULT)


def checkpoint_rate() -> float:
    return _non_negative(CHECKPOINT_RATE, CHECKPOINT_RATE_DEFAULT)
