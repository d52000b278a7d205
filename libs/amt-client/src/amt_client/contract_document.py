"""A site's contract document: the whole wire contract as one versioned JSON (or YAML) document.

No public specification of the AMTOpConService interface exists, so the first real Batch Server a
site meets may differ from our defaults in a path, a field name, how the token travels or how the
heartbeat answers. A document says so without a code change; every key is optional but
``version``, and what it leaves out keeps the default (``docs/api-contract.md`` lists every key)::

    {
      "version": 1,
      "paths": {"monitor": "/AmtOpConService/MonitorJob"},
      "methods": {"messages": "POST"},
      "token": {"transport": "cookie", "name": "AMTSession", "lifetime": 1200},
      "heartbeat": {"answer": "text"},
      "answer_envelope": "Result",
      "fields": {"batch_request_id": "BatchRequestId", "completion_code": "CompletionCode"},
      "messages": {"max_page": 500},
      "retryable_statuses": [429, 502, 503, 504],
      "statuses": {"token_refused": [401, 440]}
    }

A bad document is an :class:`~amt_client.errors.AmtConfigurationError` that names the bad key
(``contract document, key 'token.transport': ...``), raised when the document is loaded, before
anything is sent. The document is read as data only: an error never quotes the file's text.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from amt_client import validation
from amt_client.contract import (
    DEFAULT_CONTRACT,
    HEARTBEAT_ANSWERS,
    MESSAGE_PAGING,
    TOKEN_TRANSPORTS,
    ApiMethods,
    ApiPaths,
    CallIds,
    FieldNames,
    HttpStatuses,
    WireContract,
    extra_code,
    field_path,
    http_statuses,
)
from amt_client.errors import AmtConfigurationError, AmtError

#: The document versions this library reads.
VERSION = 1
#: Largest document read (a contract is a few kilobytes; a larger file is the wrong file).
MAX_DOCUMENT_BYTES = 256 * 1024


@dataclasses.dataclass(frozen=True)
class _Key:
    """One key of the document that sets one attribute of :class:`WireContract` (the one table
    both the reader and the writer go by)."""

    key: str  # dotted: "token.transport"
    attribute: str
    #: value, and the contract's attribute as read so far (a token name depends on the transport)
    check: Callable[[Any, Callable[[str], Any]], Any]
    write: Callable[[Any], Any] = lambda value: value


def _token_name(value: Any, current: Callable[[str], Any]) -> str:
    return WireContract(token_header=_text(value), token_transport=current("token_transport")).token_header


_KEYS = (
    _Key("token.transport", "token_transport", lambda v, _: _one_of(TOKEN_TRANSPORTS)(v)),
    _Key("token.name", "token_header", _token_name),
    _Key("token.lifetime", "token_lifetime", lambda v, _: None if v is None else validation.seconds(v, "lifetime")),
    _Key("heartbeat.answer", "heartbeat_answer", lambda v, _: _one_of(HEARTBEAT_ANSWERS)(v)),
    _Key("answer_envelope", "answer_envelope", lambda v, _: None if v is None else field_path(v, "the envelope")),
    _Key(
        "messages.max_page",
        "max_messages_page",
        lambda v, _: validation.integer(v, "max_page", minimum=1, maximum=100_000),
    ),
    _Key("messages.paging", "message_paging", lambda v, _: _one_of(MESSAGE_PAGING)(v)),
    _Key("messages.first_page", "first_page", lambda v, _: _first_page(v)),
    _Key("codes", "extra_codes", lambda v, _: _extra_codes(v), write=lambda codes: _codes_document(codes)),
    _Key("retryable_statuses", "retryable_statuses", lambda v, _: http_statuses(v, "it", empty=True), write=sorted),
)
#: Sections whose every key is one field of a dataclass attribute of the contract.
_Group = type[ApiPaths] | type[ApiMethods] | type[CallIds] | type[FieldNames] | type[HttpStatuses]
_GROUPS: dict[str, _Group] = {
    "paths": ApiPaths,
    "methods": ApiMethods,
    "ids": CallIds,
    "fields": FieldNames,
    "statuses": HttpStatuses,
}
#: A group's attribute of the contract where it is not the section's name.
_ATTRIBUTES = {"ids": "call_ids"}
_SECTIONS: dict[str, tuple[str, ...]] = {
    **{section: tuple(f.name for f in dataclasses.fields(kind)) for section, kind in _GROUPS.items()},
    **{
        section: tuple(k.key.split(".")[1] for k in _KEYS if k.key.startswith(section + "."))
        for section in dict.fromkeys(k.key.split(".")[0] for k in _KEYS if "." in k.key)
    },
}
_TOP = ("version", *_SECTIONS, *(k.key for k in _KEYS if "." not in k.key))


class _Bad(Exception):
    """A value a key may not hold (the loader adds which key)."""


def load_contract(source: Any, base: WireContract = DEFAULT_CONTRACT) -> WireContract:
    """The contract a document describes, on top of ``base``.

    ``source``: the document as a mapping, as JSON text (starting with ``{``), or the path of a
    ``.json``, ``.yaml`` or ``.yml`` file.
    """
    document = _read(source) if isinstance(source, (str, Path)) else source
    return contract_from_document(document, base)


def contract_from_document(document: Any, base: WireContract = DEFAULT_CONTRACT) -> WireContract:
    """Check a decoded document key by key and build its contract (see the module docstring)."""
    if not isinstance(document, Mapping):
        raise AmtConfigurationError(f"contract document must be an object, got {type(document).__name__}.")
    _known(document, _TOP, "")
    version = document.get("version", VERSION)  # a document without one is read as version 1
    if version != VERSION or isinstance(version, bool):
        _fail("version", f"must be {VERSION} (the document versions this client reads), got {_shown(version)}")
    for section, names in _SECTIONS.items():
        value = document.get(section, {})
        if not isinstance(value, Mapping):
            _fail(section, f"must be an object, got {_shown(value)}")
        _known(value, names, f"{section}.")
    changes: dict[str, Any] = {}
    for section, kind in _GROUPS.items():
        group = document.get(section, {})
        for name, value in group.items():
            _checked(f"{section}.{name}", value, partial(_one_of_group, kind, name))
        if group:  # the whole group checked too: statuses may mean one thing only
            attribute = _ATTRIBUTES.get(section, section)
            changes[attribute] = _checked(section, group, _group_with, getattr(base, attribute))

    def current(attribute: str) -> Any:
        return changes.get(attribute, getattr(base, attribute))

    for key in _KEYS:
        section, _, name = key.key.rpartition(".")
        holder = document.get(section, {}) if section else document
        if name in holder:
            changes[key.attribute] = _checked(key.key, holder[name], key.check, current)
    try:
        return dataclasses.replace(base, **changes)
    except AmtError as err:  # a combination of keys (e.g. a cookie name that is no token)
        raise AmtConfigurationError(f"contract document: {err}") from None


def contract_document(contract: WireContract = DEFAULT_CONTRACT) -> dict[str, Any]:
    """The whole document of ``contract``, every key written (what ``load_contract`` reads back)."""
    document: dict[str, Any] = {"version": VERSION}
    for section in _GROUPS:
        group = dataclasses.asdict(getattr(contract, _ATTRIBUTES.get(section, section))).items()
        document[section] = {name: sorted(v) if isinstance(v, frozenset) else v for name, v in group}
    for key in _KEYS:
        section, _, name = key.key.rpartition(".")
        holder = document.setdefault(section, {}) if section else document
        holder[name] = key.write(getattr(contract, key.attribute))
    return document


# --- reading ----------------------------------------------------------------------------------------


def _read(source: str | Path) -> Any:
    text = str(source).strip()
    if text.startswith("{"):
        if len(text) > MAX_DOCUMENT_BYTES:
            raise AmtConfigurationError(
                f"the inline contract document is larger than {MAX_DOCUMENT_BYTES // 1024} KiB: not a contract."
            )
        return _parse_json(text, "the inline contract document")
    path = Path(text)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as err:
        raise AmtConfigurationError(
            f"contract document {validation.brief(text, 120)} cannot be read ({err.strerror or type(err).__name__})."
        ) from None
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise AmtConfigurationError(
            f"contract document {path.name} is larger than {MAX_DOCUMENT_BYTES // 1024} KiB: not a contract."
        )
    try:
        decoded = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AmtConfigurationError(f"contract document {path.name} is not UTF-8 text.") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        return _parse_yaml(decoded, path.name)
    return _parse_json(decoded, f"contract document {path.name}")


def _parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise AmtConfigurationError(f"{what} is nested too deeply to read.") from None
    except ValueError as err:
        where = f" (line {err.lineno}, column {err.colno})" if isinstance(err, json.JSONDecodeError) else ""
        raise AmtConfigurationError(f"{what} is not valid JSON{where}.") from None


def _parse_yaml(text: str, name: str) -> Any:
    try:
        import yaml  # Airflow depends on PyYAML; the client alone may not have it
    except ImportError:
        raise AmtConfigurationError(
            f"contract document {name} is YAML, and PyYAML is not installed: install it or write the document as JSON."
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise AmtConfigurationError(f"contract document {name} is not valid YAML{where}.") from None


# --- checking ---------------------------------------------------------------------------------------


def _known(mapping: Mapping[Any, Any], names: tuple[str, ...], prefix: str) -> None:
    unknown = sorted(str(key) for key in mapping if key not in names)
    if unknown:
        raise AmtConfigurationError(
            f"contract document has unknown key{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(prefix + validation.brief(key, 40, quote=False)) for key in unknown[:5])}; "
            f"known{' in ' + prefix.rstrip('.') if prefix else ''}: {', '.join(names)}."
        )


def _checked(key: str, value: Any, check: Callable[..., Any], *context: Any) -> Any:
    try:
        return check(value, *context)
    except (_Bad, AmtError, TypeError) as err:
        _fail(key, str(err))


def _fail(key: str, why: str) -> Any:
    raise AmtConfigurationError(f"contract document, key {key!r}: {why}")


def _shown(value: Any) -> str:
    return validation.brief(value, 40)


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise _Bad(f"must be one of {', '.join(choices)}, got {_shown(value)}")
        return str(value)

    return check


def _group_with(values: Mapping[str, Any], group: Any) -> Any:
    return dataclasses.replace(group, **values)


def _one_of_group(kind: _Group, name: str, value: Any) -> Any:
    """A path or a method is checked by its class itself; a field name is a dotted path; statuses
    are a list here (what they mean together is checked with the whole group)."""
    if kind is FieldNames:
        return field_path(value, "it")
    if kind is HttpStatuses:
        return http_statuses(value, "it")
    if kind is CallIds:
        return getattr(CallIds(**{name: value}), name)
    return kind(**{name: value})


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _Bad(f"must be a non-empty string, got {_shown(value)}")
    return value


def _extra_codes(value: Any) -> tuple[tuple[int, str, str, str], ...]:
    """``{"28": {"name": ..., "class": ...}}``: the codes a document adds, by number."""
    if not isinstance(value, Mapping) or len(value) > 100:
        raise _Bad(f"must be an object of at most 100 codes by number, got {_shown(value)}")
    added = []
    for number, entry in value.items():
        digits = str(number) if isinstance(number, (str, int)) and not isinstance(number, bool) else ""
        if not (digits.isascii() and digits.isdigit() and len(digits) <= 4):  # YAML may give an int key
            raise _Bad(f"a code must be a number from 0 to 9999, got {_shown(number)}")
        added.append(extra_code(int(digits), entry))
    return tuple(sorted(added))


def _codes_document(codes: tuple[tuple[int, str, str, str], ...]) -> dict[str, Any]:
    return {
        str(number): {"name": name, "class": kind, **({"description": description} if description else {})}
        for number, name, kind, description in codes
    }


def _first_page(value: Any) -> int:
    if not validation.is_int(value) or value not in (0, 1):
        raise _Bad(f"must be 0 or 1 (the number of the first page), got {_shown(value)}")
    return int(value)
