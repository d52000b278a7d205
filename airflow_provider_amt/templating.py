"""Parse-time checks of operator arguments that may still hold Jinja.

The operators and the sensor check every argument when the DAG is parsed, except those that hold
a template: those can only be judged after rendering (``execute`` checks them again then, through
the same validation functions).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def is_templated(value: Any) -> bool:
    """True when a value still holds Jinja (also inside lists and dicts)."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(is_templated(k) or is_templated(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(is_templated(v) for v in value)
    return False


def check_untemplated(checks: Mapping[str, tuple[Any, Callable[[Any, str], Any]]]) -> None:
    """Run ``check(value, argument)`` for every ``argument: (value, check)`` whose value holds no template."""
    for argument, (value, check) in checks.items():
        if not is_templated(value):
            check(value, argument)
