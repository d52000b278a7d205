"""The one type that describes a Start, from a caller's arguments to the wire and to a job log.

A :class:`StartRequest` is validated when it is made, so holding one means every field is fine to
send: the Airflow operators build one before anything is sent, the clients turn it into the wire
body (``contract.start_body``), the provider's job information block prints it, and the emulator
reads a received body back into one (``contract.parse_start_body``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypedDict

from typing_extensions import Unpack

from amt_client import validation
from amt_client.codes import Code
from amt_client.errors import AmtValidationError


class TaskType(str, enum.Enum):
    """What a Start starts. The value is AMT's ``taskType``."""

    BATCH_JOB = "BatchJob"
    SCRIPT = "Script"

    @property
    def label(self) -> str:
        """As OpCon's job information block prints it."""
        return "Batch Job" if self is TaskType.BATCH_JOB else "Script"

    @property
    def name_argument(self) -> str:
        """The caller's argument that names the thing started."""
        return "job_name" if self is TaskType.BATCH_JOB else "script_name"

    @property
    def values_argument(self) -> str:
        return "task_values" if self is TaskType.BATCH_JOB else "script_parameters"

    @property
    def values_label(self) -> str:
        return "TaskValues" if self is TaskType.BATCH_JOB else "Parameters"

    def normalise_values(self, values: Any, argument: str | None = None) -> tuple[str, ...]:
        """TaskValues and script parameters are single-line strings (a mapping of script parameters
        becomes ``NAME=value``)."""
        if self is TaskType.BATCH_JOB:
            return validation.task_values(values, argument or self.values_argument)
        return validation.script_parameters(values, argument or self.values_argument)


class Action(str, enum.Enum):
    """OpConJobAction's actions. The value is AMT's ``action``."""

    START = "Start"
    STOP = "Stop"
    KILL = "Kill"

    @classmethod
    def of(cls, value: Action | str) -> Action:
        """An action from its AMT value or a DAG author's spelling (``"kill"``, ``"Stop"``...)."""
        if isinstance(value, Action):
            return value
        for action in cls:
            if isinstance(value, str) and value.strip().lower() == action.value.lower():
                return action
        raise AmtValidationError(f"unknown AMT action {value!r}: use Start, Stop or Kill.")


#: How long a Stop or Kill waits for the job to show its end code before it reports what it sees.
END_SETTLE_SECONDS = 10.0


@dataclass(frozen=True)
class JobEnding:
    """What a Stop or Kill did: ``sent`` False means the job had already ended and nothing was sent."""

    batch_request_id: int
    action: Action
    code: Code
    sent: bool

    def __str__(self) -> str:
        code = f"{self.code.amt_name} ({int(self.code)})"
        if not self.sent:
            return f"AMT batch request {self.batch_request_id} had already ended ({code}): no {self.action.value} sent"
        if self.code.is_terminal:
            done = "Stopped" if self.action is Action.STOP else "Killed"
            return f"{done} AMT batch request {self.batch_request_id}: completion code {code}"
        return (
            f"Sent {self.action.value} to AMT batch request {self.batch_request_id}; after "
            f"{END_SETTLE_SECONDS:g}s it is still {code}"
        )


class StartOptions(TypedDict, total=False):
    """The optional fields of a Start, as keyword arguments."""

    run_as_user: str | None
    queue_name: str | None
    submit_user: str
    station: str
    task_id: str | None


#: Fields every Start has, with the check each one gets (the name and values depend on the type).
COMMON_FIELDS = {
    "application_name": validation.require_text,
    "run_as_user": validation.optional_text,
    "queue_name": validation.optional_text,
    "submit_user": validation.require_text,
    "station": validation.require_text,
    "task_id": validation.optional_text,
}


@dataclass(frozen=True)
class StartRequest:
    """A validated Start of an AMT batch job or script (fields from SMA's AsyscoAMT connector).

    :param task_type: batch job or script.
    :param application_name: the AMT application, e.g. ``DEMO2``.
    :param name: the job name (batch job) or script name (script).
    :param values: TaskValues, or script parameters as free text (a mapping becomes ``NAME=value``).
    :param run_as_user: AMT's ``amtUser``; None runs as the application user.
    :param queue_name: AMT's ``amtQueueName``; None uses the application's default queue.
    :param submit_user: AMT's ``amtSubmitUser``; AMT expects ``BATCH``.
    :param station: AMT's ``amtStation``; AMT expects ``OPCON``.
    :param task_id: the caller's correlation GUID, sent as ``taskId``.
    """

    task_type: TaskType
    application_name: str
    name: str
    values: tuple[str, ...] = ()
    run_as_user: str | None = None
    queue_name: str | None = None
    submit_user: str = "BATCH"
    station: str = "OPCON"
    task_id: str | None = None

    def __post_init__(self) -> None:
        task_type = TaskType(self.task_type)
        checked: dict[str, Any] = {field: check(getattr(self, field), field) for field, check in COMMON_FIELDS.items()}
        checked["name"] = validation.require_text(self.name, task_type.name_argument)
        checked["values"] = task_type.normalise_values(self.values)
        checked["task_type"] = task_type
        for field, value in checked.items():
            object.__setattr__(self, field, value)

    @classmethod
    def batch_job(
        cls, application_name: str, job_name: str, task_values: Any = None, **options: Unpack[StartOptions]
    ) -> StartRequest:
        return cls(TaskType.BATCH_JOB, application_name, job_name, task_values, **options)

    @classmethod
    def script(
        cls, application_name: str, script_name: str, script_parameters: Any = None, **options: Unpack[StartOptions]
    ) -> StartRequest:
        return cls(TaskType.SCRIPT, application_name, script_name, script_parameters, **options)

    @property
    def what(self) -> str:
        """``batch job DEMO2/REPORTTEST01``: for logs and error messages."""
        return f"{self.task_type.label.lower()} {self.application_name}/{self.name}"


#: The ids of a job, besides its batch request id, that a contract may send with the calls about
#: it (the contract document's ``ids``): values of the Start that created the job.
JOB_ID_NAMES = ("task_id", "application", "task_type", "name", "queue")


class BatchRequestId(int):
    """A batch request id that carries the ids of its job some servers want with every call about it
    (SMA's connector sends the task id and the task's configuration with status and kill).

    It is the number everywhere (formatting, JSON, comparison); only the contract's requests read
    ``ids``, by :data:`JOB_ID_NAMES`. Made from the Start by :meth:`of`, or from a trigger's kwargs.
    """

    ids: Mapping[str, str]

    def __new__(cls, number: int, ids: Mapping[str, str]) -> BatchRequestId:
        request_id = super().__new__(cls, number)
        request_id.ids = MappingProxyType(job_ids(ids))
        return request_id

    @classmethod
    def of(cls, number: int, start: StartRequest) -> BatchRequestId:
        values = {
            "task_id": start.task_id,
            "application": start.application_name,
            "task_type": start.task_type.value,
            "name": start.name,
            "queue": start.queue_name,
        }
        return cls(number, {name: value for name, value in values.items() if value})

    def __str__(self) -> str:  # the number, as in every message (int's own __str__ is the repr)
        return int.__repr__(self)

    def __repr__(self) -> str:
        return f"BatchRequestId({int(self)}, {dict(self.ids)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return BatchRequestId, (int(self), dict(self.ids))


def job_ids(value: Any, argument: str = "job_ids") -> dict[str, str]:
    """A job's ids by name (a trigger's kwargs may hold them): names of :data:`JOB_ID_NAMES`, texts."""
    if not isinstance(value, Mapping):
        raise AmtValidationError(f"{argument} must be a mapping of id name to text, got {validation.brief(value)}.")
    checked = {}
    for name, text in value.items():
        if name not in JOB_ID_NAMES:
            raise AmtValidationError(
                f"{argument}: unknown id {validation.brief(name)}; known: {', '.join(JOB_ID_NAMES)}."
            )
        checked[name] = validation.require_text(text, f"{argument}.{name}")
    return checked


def optional_job_ids(value: Any, argument: str = "job_ids") -> dict[str, str] | None:
    """:func:`job_ids`, or None for None (an argument a DAG need not give)."""
    return None if value is None else job_ids(value, argument)
