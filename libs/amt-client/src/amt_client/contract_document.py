"""A site's contract document: the whole wire contract as one versioned JSON (or YAML) document.

No public specification of the AMTOpConService interface exists, so the first real Batch Server a
site meets may differ from our defaults in a path, a field name, how the token travels or how the
heartbeat answers. A document says so without a code change; every key is optional but
``version``, and what it leaves out keeps the default (``docs/api-contract.md`` lists every key)::

    {
      "version": 1,
      "paths": {"monitor": "/AmtOpConService/MonitorJob"},
      "token": {"transport": "cookie", "name": "AMTSession", "lifetime": 1200},
      "heartbeat": {"answer": "text"},
      "answer_envelope": "Result",
      "fields": {"batch_request_id": "BatchRequestId", "completion_code": "CompletionCode"},
      "messages": {"max_page": 500},
      "retryable_statuses": [429, 502, 503, 504]
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
    TOKEN_TRANSPORTS,
    ApiPaths,
    FieldNames,
    WireContract,
    field_path,
)
from amt_client.errors import AmtConfigurationError, AmtError

#: The document versions this library reads.
VERSION = 1
#: Largest document read (a contract is a few kilobytes; a larger file is the wrong file).
MAX_DOCUMENT_BYTES = 256 * 1024

_PATH_NAMES = tuple(f.name for f in dataclasses.fields(ApiPaths))
_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(FieldNames))
_SECTIONS: dict[str, tuple[str, ...]] = {
    "paths": _PATH_NAMES,
    "token": ("transport", "name", "lifetime"),
    "heartbeat": ("answer",),
    "fields": _FIELD_NAMES,
    "messages": ("max_page",),
}
_TOP = ("version", *_SECTIONS, "answer_envelope", "retryable_statuses")


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
    paths = document.get("paths", {})
    for name, path in paths.items():
        _checked(f"paths.{name}", path, partial(_one_path, name))
    if paths:
        changes["paths"] = dataclasses.replace(base.paths, **paths)
    token = document.get("token", {})
    if "transport" in token:
        changes["token_transport"] = _checked("token.transport", token["transport"], _one_of(TOKEN_TRANSPORTS))
    if "name" in token:
        transport = changes.get("token_transport", base.token_transport)

        def token_name(value: Any) -> str:
            return WireContract(token_header=_text(value), token_transport=transport).token_header

        changes["token_header"] = _checked("token.name", token["name"], token_name)
    if "lifetime" in token:
        changes["token_lifetime"] = _checked(
            "token.lifetime", token["lifetime"], lambda v: None if v is None else validation.seconds(v, "lifetime")
        )
    heartbeat = document.get("heartbeat", {})
    if "answer" in heartbeat:
        changes["heartbeat_answer"] = _checked("heartbeat.answer", heartbeat["answer"], _one_of(HEARTBEAT_ANSWERS))
    if "answer_envelope" in document:
        envelope = document["answer_envelope"]
        changes["answer_envelope"] = _checked(
            "answer_envelope", envelope, lambda v: None if v is None else field_path(v, "the envelope")
        )
    fields = document.get("fields", {})
    for name, value in fields.items():
        _checked(f"fields.{name}", value, lambda v: field_path(v, "it"))
    if fields:
        changes["fields"] = dataclasses.replace(base.fields, **fields)
    if "max_page" in document.get("messages", {}):
        changes["max_messages_page"] = _checked(
            "messages.max_page",
            document["messages"]["max_page"],
            lambda v: validation.integer(v, "max_page", minimum=1, maximum=100_000),
        )
    if "retryable_statuses" in document:
        changes["retryable_statuses"] = _checked("retryable_statuses", document["retryable_statuses"], _statuses)
    try:
        return dataclasses.replace(base, **changes)
    except AmtError as err:  # a combination of keys (e.g. a cookie name that is no token)
        raise AmtConfigurationError(f"contract document: {err}") from None


def contract_document(contract: WireContract = DEFAULT_CONTRACT) -> dict[str, Any]:
    """The whole document of ``contract``, every key written (what ``load_contract`` reads back)."""
    return {
        "version": VERSION,
        "paths": dataclasses.asdict(contract.paths),
        "token": {
            "transport": contract.token_transport,
            "name": contract.token_header,
            "lifetime": contract.token_lifetime,
        },
        "heartbeat": {"answer": contract.heartbeat_answer},
        "answer_envelope": contract.answer_envelope,
        "fields": dataclasses.asdict(contract.fields),
        "messages": {"max_page": contract.max_messages_page},
        "retryable_statuses": sorted(contract.retryable_statuses),
    }


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


def _checked(key: str, value: Any, check: Callable[[Any], Any]) -> Any:
    try:
        return check(value)
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


def _one_path(name: str, path: Any) -> ApiPaths:
    return ApiPaths(**{name: path})


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _Bad(f"must be a non-empty string, got {_shown(value)}")
    return value


def _statuses(value: Any) -> frozenset[int]:
    if not isinstance(value, list) or not all(validation.is_int(v) and 400 <= v <= 599 for v in value):
        raise _Bad(f"must be a list of HTTP statuses from 400 to 599, got {_shown(value)}")
    return frozenset(value)
