"""How the local server is as hostile as W&B: offset cursors, zone-less times, caps, churn.

Every knob defaults to W&B's behaviour; ``POST /_control/hostility`` changes knobs for a focused
test (``GET`` shows them, ``DELETE`` restores the defaults). Each default, its evidence and its
value: ``docs/local-server.md``.

* ``offset_cursors``: connection cursors are ``base64("arrayconnection:N")`` offsets (wandb#6614),
  so a run created, deleted or re-ordered between two pages shifts the next page.
* ``zone_less_times``: timestamps are served as ``2023-11-05T17:46:36`` (UTC, whole seconds, no
  zone) and time filters compare whole seconds and reject epoch numbers.
* ``history_samples_cap`` / ``events_samples_cap`` / ``first_cap``: the most rows one
  ``history``/``sampledHistory``, ``events`` or connection page returns, whatever was asked.

Churn (``POST /_control/churn``, :class:`ChurnRule`): after each page of a project's run listing
the server creates, deletes, heartbeats or finishes runs, so a test meets runs moving between
pages deterministically, without sleeping.

Example:
    >>> h = Hostility()
    >>> h.offset_cursors, h.events_samples_cap, h.capped_samples(5000, h.events_samples_cap)
    (True, 1000, 1000)
    >>> wire_time("2024-01-02T03:04:05.123456Z", h)
    '2024-01-02T03:04:05'
    >>> decode_offset(encode_offset(199)), encode_offset(199)
    (199, 'YXJyYXljb25uZWN0aW9uOjE5OQ==')
"""

from __future__ import annotations

import base64
import binascii
import threading

from pydantic import BaseModel, Field

OFFSET_PREFIX = "arrayconnection:"
DEFAULT_FIRST = 50


class Hostility(BaseModel):
    """The server's W&B-like hostilities (all on by default)."""

    offset_cursors: bool = True
    zone_less_times: bool = True
    history_samples_cap: int = Field(default=1000, ge=1)
    events_samples_cap: int = Field(default=1000, ge=1)
    first_cap: int = Field(default=500, ge=1)

    def capped_samples(self, samples: int | None, cap: int) -> int:
        """``samples`` as the server applies it (W&B's default 500 when omitted, then the cap)."""
        asked = 500 if samples is None else max(0, int(samples))
        return min(asked, cap)

    def page_size(self, first: int | None) -> int:
        """Edges one connection page returns for ``first`` (50 when omitted, then the cap)."""
        asked = DEFAULT_FIRST if first is None else max(0, int(first))
        return min(asked, self.first_cap)


def wire_time(stored: str | None, hostility: Hostility) -> str | None:
    """A stored timestamp (``...T03:04:05.123456Z``) as the server answers it."""
    if stored is None or not hostility.zone_less_times:
        return stored
    return stored[:19]


def encode_offset(index: int) -> str:
    """The cursor of the edge at ``index`` (0-based) of a listing, as W&B spells it."""
    return base64.b64encode(f"{OFFSET_PREFIX}{index}".encode()).decode()


def decode_offset(cursor: str) -> int:
    """The index an offset cursor names; ``ValueError`` (saying what to pass) otherwise."""
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
        if not text.startswith(OFFSET_PREFIX):
            raise ValueError(text)
        index = int(text[len(OFFSET_PREFIX) :])
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(
            f"invalid cursor {cursor!r}: pass the cursor of the last edge of the previous page"
        ) from exc
    if index < 0:
        raise ValueError(f"invalid cursor {cursor!r}: negative offset")
    return index


def offset_after(cursor: str | None) -> int:
    """Where the page after ``cursor`` starts (0 for the first page)."""
    return 0 if not cursor else decode_offset(cursor) + 1


def offset_window(cursor: str | None, first: int | None, hostility: Hostility) -> slice:
    """The rows one offset-paged connection page covers (``more`` = one row past the end).

    >>> offset_window(encode_offset(1), 2, Hostility())
    slice(2, 4, None)
    """
    start = offset_after(cursor)
    return slice(start, start + hostility.page_size(first))


class ChurnRule(BaseModel):
    """What happens to a project's runs after each page of its run listing is served.

    Deleted runs are the oldest created; heartbeated runs those with the oldest heartbeat (the
    head of a ``+heartbeat_at`` listing); both only among runs in ``state`` when it is set.
    Finished runs are the oldest running ones; created runs are named ``churn-00001``... and get
    ``create_state``.
    """

    project: str
    pages: int = Field(default=1, ge=1, description="how many pages trigger the rule")
    skip_pages: int = Field(default=0, ge=0, description="pages served before the rule acts")
    create: int = Field(default=0, ge=0)
    create_state: str = "running"
    delete: int = Field(default=0, ge=0)
    heartbeat: int = Field(default=0, ge=0)
    state: str | None = Field(default=None, description="delete/heartbeat only runs in it")
    finish: int = Field(default=0, ge=0)


class ChurnSet:
    """The active churn rules of one server (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.rules: list[ChurnRule] = []
        self.created = 0

    def add(self, rules: list[ChurnRule]) -> None:
        with self.lock:
            self.rules.extend(rules)

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()

    def due(self, project: str) -> list[ChurnRule]:
        """The rules that act on this page of ``project`` (their counters advanced)."""
        with self.lock:
            acting: list[ChurnRule] = []
            for rule in self.rules:
                if rule.project != project:
                    continue
                if rule.skip_pages:
                    rule.skip_pages -= 1
                    continue
                rule.pages -= 1
                acting.append(rule)
            self.rules = [r for r in self.rules if r.pages > 0]
            return acting

    def next_name(self) -> str:
        with self.lock:
            self.created += 1
            return f"churn-{self.created:05d}"
