"""Fault injection rules for the local server (``POST /_control/faults``).

A rule matches a request by GraphQL operation name (``"Run"``, ``"HistoryPage"``...; the name
declared in the document, since the SDK sends ``operationName: ""``) or by ``"METHOD /path-regex"``
(``"GET /files/.*\\.h5$"``). A matching rule answers instead of the server with ``status``,
``headers`` and ``body`` (default: a W&B-shaped errors body), after ``delay_ms``. With
``status: null`` the rule only delays the real answer. ``count`` limits how many requests it
hits (then it is spent); ``probability`` makes it hit randomly (seeded: reproducible).

``action`` picks what a hit does: ``"respond"`` (default, the answer above), ``"reset"`` (the
connection is dropped with a TCP reset before any answer, as a crashed proxy does) or
``"truncate"`` (the real answer is sent with its full ``Content-Length`` but the connection is
cut after ``truncate_bytes`` bytes of body, default half: a download cut mid-stream).

Example:
    >>> rules = FaultSet()
    >>> rules.add([{"match": "Run", "status": 429, "headers": {"Retry-After": "1"}, "count": 1}])
    >>> rules.take("POST", "/graphql", "Run").status
    429
    >>> rules.take("POST", "/graphql", "Run") is None
    True
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

_METHOD_RULE = re.compile(r"^(GET|POST|PUT|DELETE|HEAD|PATCH|OPTIONS)\s+(\S.*)$")


class FaultRule(BaseModel):
    """One fault rule (fields as in the module docstring).

    Example (file downloads answered 50 ms late, but answered):
        >>> rule = FaultRule(match="GET /files/.*", status=None, delay_ms=50)
        >>> rule.count, rule.action
        (None, 'respond')
    """

    match: str
    status: int | None = 500
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    count: int | None = None
    probability: float = 1.0
    delay_ms: int = 0
    action: Literal["respond", "reset", "truncate"] = "respond"
    truncate_bytes: int | None = Field(default=None, ge=0)

    @field_validator("match")
    @classmethod
    def _valid_match(cls, value: str) -> str:
        method = _METHOD_RULE.match(value)
        if method:
            try:
                re.compile(method.group(2))
            except re.error as exc:
                raise ValueError(f"invalid path regex in match {value!r}: {exc}") from exc
        return value

    def matches(self, method: str, path: str, operation: str | None) -> bool:
        rule = _METHOD_RULE.match(self.match)
        if rule:
            return rule.group(1) == method and re.search(rule.group(2), path) is not None
        return operation is not None and operation == self.match

    def response_body(self) -> bytes:
        import json

        if self.body is None:
            return json.dumps(
                {"errors": [{"message": f"injected fault: HTTP {self.status} ({self.match})"}]}
            ).encode()
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


class FaultSet:
    """The active rules; thread-safe, first matching rule wins."""

    def __init__(self, seed: int = 0) -> None:
        self._rules: list[FaultRule] = []
        self._remaining: list[int | None] = []
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def add(self, rules: Iterable[Mapping[str, Any] | FaultRule]) -> None:
        parsed = [r if isinstance(r, FaultRule) else FaultRule.model_validate(r) for r in rules]
        with self._lock:
            for rule in parsed:
                self._rules.append(rule)
                self._remaining.append(rule.count)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._remaining.clear()

    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {**r.model_dump(), "remaining": n}
                for r, n in zip(self._rules, self._remaining, strict=True)
            ]

    def take(self, method: str, path: str, operation: str | None) -> FaultRule | None:
        """The rule that hits this request (consuming one of its ``count``), if any."""
        with self._lock:
            for i, rule in enumerate(self._rules):
                if self._remaining[i] == 0 or not rule.matches(method, path, operation):
                    continue
                if rule.probability < 1.0 and self._random.random() >= rule.probability:
                    continue
                if self._remaining[i] is not None:
                    self._remaining[i] -= 1  # type: ignore[operator]
                return rule
        return None
