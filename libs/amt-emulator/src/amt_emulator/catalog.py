"""The emulator's job catalogue: which applications, jobs, scripts, users and queues exist.

A catalogue is a JSON (or YAML, when PyYAML is installed) document; ``catalog.json`` next to this
module is the bundled one. Each job or script says how long it waits in the queue, how long it
runs (``null`` = until stopped or killed), the completion code it ends with, and the messages it
writes over time. Times are in simulated seconds; the emulator's ``--time-scale`` speeds them up.

Message specs (``messages``), all with an optional ``severity`` (INFO, WARNING, ERROR):

* ``{"at": 2, "text": "..."}`` one message ``at`` seconds after the job started;
* ``{"at": 1, "for_each": "values", "text": "TaskValue {index}: {value}"}`` one message per TaskValue
  or script parameter (``{key}`` and ``{param}`` are the two sides of ``NAME=value``);
* ``{"every": 3, "text": "Progress {n}"}`` repeats from the start until the job ends;
* ``{"at": 1, "count": 50000, "over": 10, "text": "Line {n}"}`` many messages spread over ``over`` s.

Placeholders: ``{batch_request_id}``, ``{application}``, ``{name}``, ``{values}`` (all values,
space separated), ``{user}``, ``{queue}``, and the per-item ones above.
"""

from __future__ import annotations

import heapq
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from amt_client.codes import AmtCompletionCode

#: The codes a running job may show (not an ending).
_WAITING_CODES = frozenset(int(code) for code in AmtCompletionCode if not code.is_terminal)

SEVERITIES = ("INFO", "WARNING", "ERROR")


class CatalogError(ValueError):
    """The catalogue file is malformed; the message says where."""


@dataclass(frozen=True)
class JobSpec:
    queue_delay: float = 1.0
    run_time: float | None = 5.0  # None: runs until stopped or killed
    final_code: int = 4
    messages: tuple[dict[str, Any], ...] = ()
    #: States the running job shows, ``{"at": seconds after its start, "code": 14}``, in time order
    #: (2 RUNNING before the first and whenever a state says so).
    states: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "queue_delay": self.queue_delay,
            "run_time": self.run_time,
            "final_code": self.final_code,
            "messages": list(self.messages),
            **({"states": list(self.states)} if self.states else {}),
        }

    def state_at(self, elapsed: float) -> int:
        """The code the job shows ``elapsed`` simulated seconds after it started (before it ends)."""
        code = 2
        for state in self.states:
            if state["at"] <= elapsed:
                code = state["code"]
        return code

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = "job") -> JobSpec:
        if not isinstance(data, dict):
            raise CatalogError(f"{where}: expected an object, got {data!r}")
        run_time = data.get("run_time", 5.0)
        spec = cls(
            queue_delay=float(data.get("queue_delay", 1.0)),
            run_time=None if run_time is None else float(run_time),
            final_code=int(data.get("final_code", 4)),
            messages=tuple(data.get("messages", ())),
            states=tuple(data.get("states", ())),
        )
        for i, message in enumerate(spec.messages):
            _check_message(message, f"{where}.messages[{i}]")
        for i, state in enumerate(spec.states):
            if not isinstance(state, dict) or not isinstance(state.get("at"), (int, float)):
                raise CatalogError(f"{where}.states[{i}]: expected {{'at': seconds, 'code': n}}, got {state!r}")
            if state.get("code") not in _WAITING_CODES:
                raise CatalogError(f"{where}.states[{i}]: 'code' must be a state a job waits in, got {state!r}")
        return spec


def _check_message(message: Any, where: str) -> None:
    if not isinstance(message, dict) or not isinstance(message.get("text"), str):
        raise CatalogError(f"{where}: a message needs a 'text' string, got {message!r}")
    if message.get("severity", "INFO") not in SEVERITIES:
        raise CatalogError(f"{where}: severity must be one of {SEVERITIES}")
    if "every" in message and float(message["every"]) <= 0:
        raise CatalogError(f"{where}: 'every' must be > 0")
    if message.get("for_each") not in (None, "values"):
        raise CatalogError(f"{where}: 'for_each' can only be 'values'")


@dataclass(frozen=True)
class Application:
    name: str
    users: frozenset[str]
    queues: dict[str, int]  # queue name -> how many of its requests may run at once
    default_queue: str
    batch_jobs: dict[str, JobSpec]
    scripts: dict[str, JobSpec]
    scripts_folder: str


@dataclass(frozen=True)
class Catalog:
    applications: dict[str, Application] = field(default_factory=dict)
    default_application: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Catalog:
        if not isinstance(data, dict) or not isinstance(data.get("applications"), dict):
            raise CatalogError("a catalogue is an object with an 'applications' object")
        apps = {}
        for name, app in data["applications"].items():
            queues = {q: int(v.get("concurrency", 1)) for q, v in app.get("queues", {"default": {}}).items()}
            default_queue = app.get("default_queue", next(iter(queues)))
            if default_queue not in queues:
                raise CatalogError(f"applications.{name}: default_queue {default_queue!r} is not a queue")
            apps[name] = Application(
                name=name,
                users=frozenset(app.get("users", ())),
                queues=queues,
                default_queue=default_queue,
                batch_jobs={
                    j: JobSpec.from_json(s, f"applications.{name}.batch_jobs.{j}")
                    for j, s in app.get("batch_jobs", {}).items()
                },
                scripts={
                    j: JobSpec.from_json(s, f"applications.{name}.scripts.{j}")
                    for j, s in app.get("scripts", {}).items()
                },
                scripts_folder=app.get("scripts_folder", f"C:\\AMT\\{name}\\Scripts"),
            )
        default = data.get("default_application")
        if default is not None and default not in apps:
            raise CatalogError(f"default_application {default!r} is not an application")
        return cls(applications=apps, default_application=default)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Catalog:
        """Load a catalogue file, or the bundled one when ``path`` is None."""
        if path is None:
            text = resources.files(__package__).joinpath("catalog.json").read_text(encoding="utf-8")
            return cls.from_json(json.loads(text))
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        if path.suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:  # pragma: no cover - PyYAML comes with Airflow
                raise CatalogError("YAML catalogues need PyYAML; use JSON instead") from None
            return cls.from_json(yaml.safe_load(text))
        return cls.from_json(json.loads(text))


# --- message generation -------------------------------------------------------------------------


class _Fields(dict):
    """format_map() that leaves unknown placeholders as they are instead of failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _render(template: str, fields: dict[str, Any]) -> str:
    try:
        return template.format_map(_Fields(fields))
    except (ValueError, IndexError):
        return template


#: (offset, spec_index, template, fields, severity)
_Raw = tuple[float, int, str, dict[str, Any], str]

# Each spec's generator yields (offset, spec_index, template, fields, severity) *unrendered*:
# the emulator skips the messages it already stored on every call, and rendering only the ones it
# keeps is what makes a 50,000-message job cheap to poll.


def _every(interval: float, spec_index: int, template: str, severity: str) -> Iterator[_Raw]:
    for n in itertools.count(1):
        yield interval * n, spec_index, template, {"n": n}, severity


def _count(at: float, count: int, over: float, spec_index: int, template: str, severity: str) -> Iterator[_Raw]:
    step = over / count if count else 0.0
    for n in range(1, count + 1):
        yield at + step * (n - 1), spec_index, template, {"n": n}, severity


def _each_value(at: float, spec_index: int, template: str, severity: str, values: list[str]) -> Iterator[_Raw]:
    for i, value in enumerate(values):
        key, sep, rest = value.partition("=")
        fields = {"index": i + 1, "value": value, "key": key if sep else "", "param": rest if sep else value}
        yield at, spec_index, template, fields, severity


def raw_stream(spec: JobSpec, context: dict[str, Any]) -> Iterator[tuple[float, str, dict[str, Any], str]]:
    """The job's messages in time order as (offset, template, per-item fields, severity), unrendered.

    Deterministic for one request, so the emulator resumes it after a restart by skipping what it
    already stored; ``every`` specs make it infinite. Each spec gets its own generator function so
    that its arguments are bound now, not when the merge reads it.
    """
    streams: list[Iterator[tuple[float, int, str, dict[str, Any], str]]] = []
    for spec_index, message in enumerate(spec.messages):
        severity = message.get("severity", "INFO")
        template = message["text"]
        at = float(message.get("at", 0.0))
        if "every" in message:
            streams.append(_every(float(message["every"]), spec_index, template, severity))
        elif message.get("for_each") == "values":
            streams.append(_each_value(at, spec_index, template, severity, context.get("value_list", [])))
        elif "count" in message:
            count, over = int(message["count"]), float(message.get("over", 0.0))
            streams.append(_count(at, count, over, spec_index, template, severity))
        else:
            streams.append(iter([(at, spec_index, template, {}, severity)]))
    for offset, _, template, fields, severity in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
        yield offset, template, fields, severity


def render(template: str, context: dict[str, Any], fields: dict[str, Any]) -> str:
    return _render(template, {**context, **fields})


def message_stream(spec: JobSpec, context: dict[str, Any]) -> Iterator[tuple[float, str, str]]:
    """Every message the job writes, rendered, as (seconds after start, text, severity)."""
    for offset, template, fields, severity in raw_stream(spec, context):
        yield offset, render(template, context, fields), severity
