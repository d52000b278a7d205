"""Checks of the values a DAG author passes, run before anything is sent to AMT.

The hooks call these when building a Start request and the operators call them at the start of
``execute`` (after templating), so a bad DAG fails with a message that names the argument and says
what to fix, and no AMT job is started for it. The emulator applies the same limits server side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_amt.exceptions import AmtValidationError

#: AMT accepts at most this many TaskValues, and at most this many script parameters.
MAX_LIST_ITEMS = 20


def require_text(value: Any, argument: str) -> str:
    """A required, non-blank string argument (application, job, script, submit user, station)."""
    if not isinstance(value, str):
        raise AmtValidationError(f"{argument} must be a string, got {type(value).__name__} {value!r}.")
    if not value.strip():
        raise AmtValidationError(f"{argument} is required and must not be empty.")
    return value


def optional_text(value: Any, argument: str) -> str | None:
    """An optional string argument: None or blank means "let AMT use its default"."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise AmtValidationError(f"{argument} must be a string or None, got {type(value).__name__} {value!r}.")
    return value if value.strip() else None


def _scalar_text(value: Any, where: str) -> str:
    # bool is an int subclass, but True -> "True" is almost certainly a DAG bug, so refuse it.
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise AmtValidationError(
            f"{where} must be a string or a number, got {type(value).__name__} {value!r}. "
            "Convert it to a string in the DAG."
        )
    return value if isinstance(value, str) else str(value)


def _check_count(items: Sequence[Any], argument: str) -> None:
    if len(items) > MAX_LIST_ITEMS:
        raise AmtValidationError(
            f"{argument} has {len(items)} entries; AMT accepts at most {MAX_LIST_ITEMS}. "
            "Combine values or move them into the job definition."
        )


def task_values(values: Any, argument: str = "task_values") -> list[str]:
    """Normalise TaskValues: a list of up to 20 strings (numbers are turned into strings).

    Both bare values (``"25"``) and ``name=value`` strings are accepted, as AMT sites use both.
    """
    if values is None:
        return []
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise AmtValidationError(
            f"{argument} must be a list of strings, got {type(values).__name__} {values!r}. "
            'Write task_values=["25", "MODE=FULL"] rather than a single string.'
        )
    _check_count(values, argument)
    return [_scalar_text(v, f"{argument}[{i}]") for i, v in enumerate(values)]


def script_parameters(params: Any, argument: str = "script_parameters") -> list[str]:
    """Normalise script parameters to a list of up to 20 ``NAME=value`` strings.

    A mapping ``{"NAME": "value"}`` or a list ``["NAME=value"]`` is accepted; everything after the
    first ``=`` is the value and passes through unchanged, so values may hold ``=`` themselves.
    """
    if params is None:
        return []
    if isinstance(params, Mapping):
        items = list(params.items())
        _check_count(items, argument)
        result = []
        for name, value in items:
            if not isinstance(name, str) or not name.strip() or "=" in name:
                raise AmtValidationError(
                    f"{argument} has an invalid parameter name {name!r}: names must be non-empty strings without '='."
                )
            result.append(f"{name}={_scalar_text(value, f'{argument}[{name!r}]')}")
        return result
    if isinstance(params, (str, bytes)) or not isinstance(params, Sequence):
        raise AmtValidationError(
            f"{argument} must be a dict or a list of 'NAME=value' strings, got {type(params).__name__} {params!r}."
        )
    _check_count(params, argument)
    result = []
    for i, item in enumerate(params):
        text = _scalar_text(item, f"{argument}[{i}]")
        name, sep, _ = text.partition("=")
        if not sep or not name.strip():
            raise AmtValidationError(
                f"{argument}[{i}] is {text!r}, which is not in NAME=value form. "
                "Write it as 'NAME=value' or pass a dict."
            )
        result.append(text)
    return result


def batch_request_id(value: Any, argument: str = "batch_request_id") -> int:
    """A batch request id: a positive int, or a numeric string (as rendered by a template)."""
    if isinstance(value, bool):
        raise AmtValidationError(f"{argument} must be a positive integer, got {value!r}.")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or value <= 0:
        raise AmtValidationError(
            f"{argument} must be a positive integer (the BatchRequestId AMT returned), got {value!r}."
        )
    return value
