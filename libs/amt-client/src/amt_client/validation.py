"""Every check of a caller-supplied value, in one module, raising :class:`AmtValidationError`.

The Start request, the request builders, the server settings, the polling settings, and in the
Airflow provider the operators, the sensor and the trigger all validate through these functions, so
a value is judged the same way wherever it enters, and nothing is sent for a value that is wrong.
Messages name the argument and say what to write instead.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeGuard

from amt_client.codes import AmtCompletionCode
from amt_client.errors import AmtValidationError

#: AMT accepts at most this many TaskValues, and at most this many script parameters.
MAX_LIST_ITEMS = 20
#: Longest name (application, job, script, user, queue, station) we send. AMT's own limit is not
#: published; these bounds are ours (docs/reliability.md) and keep a runaway template from sending MBs.
MAX_NAME_CHARS = 256
#: Longest single TaskValue or script parameter we send.
MAX_VALUE_CHARS = 4000
#: Unicode categories no name or value may hold: controls (C0, DEL, C1 such as NEL ``\x85``), format
#: characters (bidi overrides, zero-width), and the line and paragraph separators: each can forge
#: or hide a line of a job log, or make a name look like another.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _refused(ch: str) -> bool:
    return unicodedata.category(ch) in REFUSED_CATEGORIES


def _first_refused(text: str) -> str | None:
    if text.isascii():  # the usual case: one regex scan
        match = _ASCII_CONTROL.search(text)
        return match.group() if match else None
    return next((ch for ch in text if _refused(ch)), None)


def brief(value: Any, limit: int = 200, *, quote: bool = True) -> str:
    """``repr`` of a value (a string as it is, with ``quote=False``), cut to ``limit`` characters.

    Every value quoted in an error message goes through it, so messages stay short whatever came in.
    """
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**limit:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"  # repr() of 10**5000 raises
    try:
        text = value if isinstance(value, str) and not quote else repr(value)
    except (ValueError, RecursionError):
        return f"a {type(value).__name__} that cannot be shown"
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def _plain(text: str, argument: str, limit: int) -> str:
    """No control characters (a newline could forge a line of the job log), and not too long."""
    bad = _first_refused(text)
    if bad is not None:
        raise AmtValidationError(
            f"{argument} contains the character U+{ord(bad):04X} ({unicodedata.category(bad)}); AMT names and "
            "values are single-line text without control or format characters."
        )
    if len(text) > limit:
        raise AmtValidationError(f"{argument} is {len(text)} characters long; at most {limit} are accepted.")
    return text


def is_int(value: Any) -> TypeGuard[int]:
    """An ``int`` that is not a ``bool`` (``True`` is an int to Python, never to AMT)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def require_text(value: Any, argument: str) -> str:
    """A required, non-blank string argument (application, job, script, submit user, station)."""
    if value is None:
        raise AmtValidationError(f"{argument} is required.")
    if not isinstance(value, str):
        raise AmtValidationError(f"{argument} must be a string, got {type(value).__name__} {brief(value)}.")
    if not value.strip():
        raise AmtValidationError(f"{argument} is required and must not be empty.")
    return _plain(value, argument, MAX_NAME_CHARS)


def one_line(text: str, limit: int = 64) -> str:
    """A short server-supplied label (a severity, a timestamp) made safe to print inside a line:
    control, format and separator characters escaped (``\\n``, ``\\u2028``), cut to ``limit``."""
    if _first_refused(text) is not None:
        text = "".join(ch.encode("unicode_escape").decode("ascii") if _refused(ch) else ch for ch in text)
    return text[:limit]


def secret(value: Any, argument: str) -> str:
    """A password or token: required single-line text of up to ``MAX_VALUE_CHARS`` characters.
    Never quoted in the error (a wrong value may still be a real secret)."""
    if not isinstance(value, str) or not value:
        raise AmtValidationError(f"{argument} is required and must be a string.")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise AmtValidationError(f"{argument} contains a control character; it must be single-line text.")
    if len(value) > MAX_VALUE_CHARS:
        raise AmtValidationError(f"{argument} is {len(value)} characters long; at most {MAX_VALUE_CHARS} are accepted.")
    return value


def optional_text(value: Any, argument: str) -> str | None:
    """An optional string argument: None or blank means "let AMT use its default"."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise AmtValidationError(f"{argument} must be a string or None, got {type(value).__name__} {brief(value)}.")
    return _plain(value, argument, MAX_NAME_CHARS) if value.strip() else None


def _scalar_text(value: Any, where: str) -> str:
    # bool is an int subclass, but True -> "True" is almost certainly a caller bug, so refuse it.
    if not (isinstance(value, str) or is_number(value)):
        raise AmtValidationError(
            f"{where} must be a string or a number, got {type(value).__name__} {brief(value)}. Convert it to a string."
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise AmtValidationError(f"{where} must be a finite number, got {brief(value)}.")
    return _plain(value if isinstance(value, str) else str(value), where, MAX_VALUE_CHARS)


def _check_count(items: Sequence[Any], argument: str) -> None:
    if len(items) > MAX_LIST_ITEMS:
        raise AmtValidationError(
            f"{argument} has {len(items)} entries; AMT accepts at most {MAX_LIST_ITEMS}. "
            "Combine values or move them into the job definition."
        )


def task_values(values: Any, argument: str = "task_values") -> tuple[str, ...]:
    """Normalise TaskValues: up to 20 strings (numbers are turned into strings).

    Both bare values (``"25"``) and ``name=value`` strings are accepted, as AMT sites use both.
    """
    if values is None:
        return ()
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise AmtValidationError(
            f"{argument} must be a list of strings, got {type(values).__name__} {brief(values)}. "
            'Write task_values=["25", "MODE=FULL"] rather than a single string.'
        )
    _check_count(values, argument)
    return tuple(_scalar_text(v, f"{argument}[{i}]") for i, v in enumerate(values))


def script_parameters(params: Any, argument: str = "script_parameters") -> tuple[str, ...]:
    """Normalise script parameters to up to 20 single-line strings, sent as given.

    AMT script parameters are free text (``/recover``, ``-pa 'PARAM'``, ``SGS:RESTART LBL``,
    ``NAME=value``): a list is sent item by item, unchanged; a mapping ``{"NAME": "value"}`` becomes
    ``NAME=value`` strings (everything after the first ``=`` is the value, so values may hold ``=``).
    """
    if params is None:
        return ()
    if isinstance(params, Mapping):
        items = list(params.items())
        _check_count(items, argument)
        for name, _ in items:
            if not isinstance(name, str) or not name.strip() or "=" in name:
                raise AmtValidationError(
                    f"{argument} has an invalid parameter name {brief(name, 60)}: "
                    "names must be non-empty strings without '='."
                )
            _plain(name, f"{argument} name {brief(name, 60)}", MAX_NAME_CHARS)
        return tuple(f"{name}={_scalar_text(value, f'{argument}[{brief(name)}]')}" for name, value in items)
    if isinstance(params, (str, bytes)) or not isinstance(params, Sequence):
        raise AmtValidationError(
            f"{argument} must be a dict or a list of strings, got {type(params).__name__} {brief(params)}."
        )
    _check_count(params, argument)
    result = []
    for i, item in enumerate(params):
        text = _scalar_text(item, f"{argument}[{i}]")
        if not text.strip():
            raise AmtValidationError(f"{argument}[{i}] is blank: leave it out, or write what the script reads.")
        result.append(text)
    return tuple(result)


#: The largest id or offset taken (a signed 64-bit integer, what a .NET server can hold).
MAX_ID = 2**63 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")
_SIGNED_DIGITS = re.compile(r"-?[0-9]{1,19}")


def _whole_number(value: Any, signed: bool = False) -> Any:
    """An int from a numeric string of ASCII digits, bounded before ``int()`` sees it; anything else as it is."""
    if isinstance(value, str) and (_SIGNED_DIGITS if signed else _DIGITS).fullmatch(value.strip()):
        return int(value.strip())
    return value


def batch_request_id(value: Any, argument: str = "batch_request_id") -> int:
    """A batch request id: a positive int, or a numeric string (as rendered by a template)."""
    value = _whole_number(value)
    if not is_int(value) or not 0 < value <= MAX_ID:
        raise AmtValidationError(
            f"{argument} must be a positive integer (the BatchRequestId AMT returned), got {brief(value, 60)}."
        )
    return int(value)


def offset(value: Any, argument: str = "offset") -> int:
    """A message index to read from: an int >= 0."""
    if not is_int(value) or not 0 <= value <= MAX_ID:
        raise AmtValidationError(f"{argument} must be an integer >= 0, got {brief(value, 60)}.")
    return int(value)


def integer(value: Any, argument: str, *, minimum: int, maximum: int) -> int:
    """An int within ``[minimum, maximum]``; numeric strings (from connection extras) are accepted."""
    value = _whole_number(value, signed=True)
    if not is_int(value) or not minimum <= value <= maximum:
        raise AmtValidationError(f"{argument} must be an integer from {minimum} to {maximum}, got {brief(value, 60)}.")
    return int(value)


#: No number of seconds above this is taken (a thousand years: a deadline in epoch seconds fits).
MAX_SECONDS = 10**12 * 32


def seconds(value: Any, argument: str, *, minimum: float = 0.0, exclusive: bool = True) -> float:
    """A finite number of seconds above ``minimum`` (or at least it, with ``exclusive=False``).

    NaN and infinity are refused: either would start a job and then break the wait for it.
    Numeric strings (from connection extras) are accepted.
    """
    number: Any = value
    if isinstance(value, str) and len(value) <= 40 and value.isascii():
        try:
            number = float(value)
        except ValueError:
            number = value
    if is_int(number) and abs(number) > MAX_SECONDS:  # float() of a huge int raises OverflowError
        number = math.inf
    if not is_number(number) or not math.isfinite(number) or number < minimum or (exclusive and number == minimum):
        bound = f"> {minimum:g}" if exclusive else f">= {minimum:g}"
        raise AmtValidationError(f"{argument} must be a finite number of seconds {bound}, got {brief(value, 60)}.")
    return float(number)


def optional_seconds(value: Any, argument: str, *, minimum: float = 0.0) -> float | None:
    return None if value is None else seconds(value, argument, minimum=minimum, exclusive=False)


def flag(value: Any, argument: str) -> bool:
    """A yes/no argument: ``True`` or ``False`` and nothing else.

    ``"false"`` is a true value to Python, so a string is refused rather than guessed at (a
    connection's text extras are read by the connection module before they come here).
    """
    if isinstance(value, bool):
        return value
    raise AmtValidationError(f"{argument} must be True or False, not {type(value).__name__} {brief(value)}.")


_CODE_RANGE = re.compile(r"\s*([0-9]{1,3})\s*-\s*([0-9]{1,3})\s*")


def _codes_of(item: Any) -> list[int]:
    """One entry of a code list: a code (``4``, ``"4"``), a name of the table (``"DONE"``,
    ``"wait for file"``) or an OpCon-style range ``"0-4"`` (the table's codes within, ends included;
    both ends must be codes of the table)."""
    if isinstance(item, str) and (span := _CODE_RANGE.fullmatch(item)):
        low, high = (int(AmtCompletionCode.parse(end)) for end in span.groups())
        if low > high:
            raise ValueError(f"range {item.strip()!r} runs backwards")
        return [int(c) for c in AmtCompletionCode if low <= c <= high]
    if isinstance(item, str) and not item.strip().lstrip("-").isdigit():
        return [int(AmtCompletionCode.named(item))]
    return [int(AmtCompletionCode.parse(item))]


def completion_codes(codes: Any, argument: str, *, at_least_one: bool = False) -> tuple[int, ...]:
    """A list of completion codes (OpCon-style criteria): codes, names of the code table or ranges
    ``"a-b"``, each checked against the table; in the order given, each once."""
    if isinstance(codes, (str, bytes)) or not isinstance(codes, Iterable):
        raise AmtValidationError(f"{argument} must be a list of completion codes, got {brief(codes)}.")
    result: list[int] = []
    for item in codes:
        try:
            found = _codes_of(item)
        except ValueError as err:
            raise AmtValidationError(f"{argument}: {err}.") from None
        result.extend(c for c in found if c not in result)
    if at_least_one and not result:
        raise AmtValidationError(f"{argument} must name at least one completion code (usually 4 DONE).")
    return tuple(result)


def state_limits(limits: Any, argument: str = "max_time_in_state") -> dict[int, float]:
    """Seconds a job may stay in a state, by code: ``{14: 1800, "QUEUED": 600}`` (keys in any form a
    code list takes, ranges too; each a state a job is waited in, not an ending)."""
    if not isinstance(limits, Mapping):
        raise AmtValidationError(f"{argument} must be a dict of completion code to seconds, got {brief(limits)}.")
    if len(limits) > len(AmtCompletionCode):
        raise AmtValidationError(f"{argument} has {len(limits)} entries; the code table has {len(AmtCompletionCode)}.")
    result: dict[int, float] = {}
    for key, value in limits.items():
        for code in completion_codes([key], argument):
            if AmtCompletionCode(code).is_terminal:
                name = AmtCompletionCode(code).amt_name
                raise AmtValidationError(f"{argument}: {code} {name} is an ending of a job, not a state it waits in.")
            result[code] = seconds(value, f"{argument}[{code}]")
    return result


def success_codes(codes: Any, argument: str = "success_codes") -> tuple[int, ...]:
    """OpCon-style success criteria: known completion codes (names and ranges too), at least one."""
    return completion_codes(codes, argument, at_least_one=True)


def connection_id(value: Any, argument: str = "amt_conn_id") -> str:
    if not isinstance(value, str) or not value.strip():
        raise AmtValidationError(f"{argument} must be the id of an Airflow connection, got {brief(value)}.")
    return value


#: The most connections a task may name: a primary and three alternates (as an OpCon ACS job).
MAX_CONNECTIONS = 4


def connection_ids(value: Any, argument: str = "amt_conn_id") -> tuple[str, ...]:
    """One connection id, or a list of up to four (the primary first, then its alternates), each once."""
    if isinstance(value, str):
        return (connection_id(value, argument),)
    if not isinstance(value, Sequence) or isinstance(value, bytes) or not value:
        raise AmtValidationError(
            f"{argument} must be a connection id or a list of up to {MAX_CONNECTIONS} (primary first), "
            f"got {brief(value)}."
        )
    ids = tuple(connection_id(item, f"{argument}[{i}]") for i, item in enumerate(value))
    if len(ids) > MAX_CONNECTIONS:
        raise AmtValidationError(
            f"{argument} names {len(ids)} connections; at most {MAX_CONNECTIONS} (a primary and three alternates)."
        )
    if len(set(ids)) != len(ids):
        raise AmtValidationError(f"{argument} names a connection twice: {list(ids)}.")
    return ids


#: The actions that end a job, as DAG authors write them (OpConJobAction's Stop and Kill).
END_ACTIONS = ("kill", "stop")


def end_action(value: Any, argument: str, *, optional: bool = True) -> str | None:
    """``"kill"`` or ``"stop"`` (any case), or None where ``optional``: what ends an AMT job."""
    if value is None and optional:
        return None
    if isinstance(value, str) and value.strip().lower() in END_ACTIONS:
        return value.strip().lower()
    allowed = "'kill', 'stop' or None" if optional else "'kill' or 'stop'"
    raise AmtValidationError(f"{argument} must be {allowed}, not {brief(value)}.")
