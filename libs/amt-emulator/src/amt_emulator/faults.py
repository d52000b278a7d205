"""Fault injection rules for the emulator, set at start-up (``--faults``) or at runtime (``PUT /admin/faults``).

A fault document looks like::

    {"seed": 7,
     "token_ttl": 3600,
     "rules": [
        {"route": "MonitorJob", "action": "error", "status": 503, "count": 2, "retry_after": 1},
        {"route": "*", "action": "delay", "seconds": 0.5, "rate": 0.1},
        {"route": "GetMessages", "action": "drop", "count": 1}
     ]}

``route`` is one of the API route names (Heartbeat, Logon, OpConJobAction, MonitorJob,
GetMessages), ``Start``/``Stop``/``Kill`` for one OpConJobAction, or ``*``. ``action`` is
``error`` (answer ``status`` without doing anything), ``drop`` (close the connection without an
answer, before doing anything), ``drop_after`` (do the work, then close the connection: the
client cannot know it happened) or ``delay`` (wait ``seconds``, then answer normally). ``rate``
(default 1) is the chance a matching request is hit; ``count`` (default unlimited) how many
requests the rule hits before it retires.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

ACTIONS = ("error", "drop", "drop_after", "delay")


class FaultError(ValueError):
    """The fault document is malformed."""


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # not NaN


@dataclass
class FaultRule:
    route: str = "*"
    action: str = "error"
    status: int = 503
    seconds: float = 0.0
    rate: float = 1.0
    count: int | None = None
    retry_after: float | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRule:
        if not isinstance(data, dict):
            raise FaultError(f"a fault rule is an object, got {data!r}")
        unknown = set(data) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise FaultError(f"unknown fault rule fields: {sorted(unknown)}")
        rule = cls(**data)
        if not isinstance(rule.route, str):
            raise FaultError(f"fault route must be a route or action name, got {rule.route!r}")
        if rule.action not in ACTIONS:
            raise FaultError(f"fault action must be one of {ACTIONS}, got {rule.action!r}")
        if not _whole(rule.status) or not 100 <= rule.status <= 599:
            raise FaultError(f"fault status must be an HTTP status (100-599), got {rule.status!r}")
        if not _number(rule.seconds) or not 0 <= rule.seconds <= 3600:
            raise FaultError(f"fault seconds must be a number from 0 to 3600, got {rule.seconds!r}")
        if not _number(rule.rate) or not 0.0 <= rule.rate <= 1.0:
            raise FaultError(f"fault rate must be a number between 0 and 1, got {rule.rate!r}")
        if rule.count is not None and (not _whole(rule.count) or rule.count < 1):
            raise FaultError(f"fault count must be a whole number >= 1, got {rule.count!r}")
        if rule.retry_after is not None and (not _number(rule.retry_after) or not 0 <= rule.retry_after <= 86400):
            raise FaultError(f"fault retry_after must be a number of seconds, got {rule.retry_after!r}")
        return rule

    def matches(self, route: str, action: str | None) -> bool:
        return self.route in ("*", route) or (action is not None and self.route == action)


@dataclass
class Faults:
    rules: list[FaultRule] = field(default_factory=list)
    token_ttl: float = 3600.0
    seed: int | None = None
    #: False: MonitorJob answers without ``messageCount``, like a server that does not give one.
    message_count: bool = True
    _random: random.Random = field(default_factory=random.Random, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None, default_ttl: float = 3600.0) -> Faults:
        data = data or {}
        if not isinstance(data, dict):
            raise FaultError("the fault document is a JSON object")
        unknown = set(data) - {"rules", "token_ttl", "seed", "message_count"}
        if unknown:
            raise FaultError(f"unknown fault settings: {sorted(unknown)}")
        faults = cls(
            rules=[FaultRule.from_json(r) for r in data.get("rules", [])],
            token_ttl=float(data.get("token_ttl", default_ttl)),
            seed=data.get("seed"),
            message_count=bool(data.get("message_count", True)),
        )
        faults._random.seed(faults.seed)
        return faults

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "token_ttl": self.token_ttl,
            "message_count": self.message_count,
            "rules": [{k: v for k, v in rule.__dict__.items() if v is not None} for rule in self.rules],
        }

    def pick(self, route: str, action: str | None) -> list[FaultRule]:
        """The rules that hit this request (a delay may combine with an error or a drop)."""
        hits = []
        for rule in list(self.rules):
            if not rule.matches(route, action) or self._random.random() >= rule.rate:
                continue
            hits.append(rule)
            if rule.count is not None:
                rule.count -= 1
                if rule.count <= 0:
                    self.rules.remove(rule)
        return hits
