"""The one type that describes a Start, from a caller's arguments to the wire and to a job log.

A :class:`StartRequest` is validated when it is made, so holding one means every field is fine to
send: the Airflow operators build one before anything is sent, the clients turn it into the wire
body (``contract.start_body``), the provider's job information block prints it, and the emulator
reads a received body back into one (``contract.parse_start_body``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
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
        """TaskValues are free strings; script parameters must be ``NAME=value``."""
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
    :param values: TaskValues, or script parameters as ``NAME=value`` (a mapping is accepted too).
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
