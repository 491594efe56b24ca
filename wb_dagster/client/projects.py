"""An entity's projects, as ``wandb.Api``'s ``api.projects(entity)`` lists them.

Each :class:`Project` has the SDK's attribute names (``name``, ``entity``, ``id``,
``entity_name``, ``created_at``, ``is_benchmark``, ``path``, ``url``); the listing pages with
W&B's ``models(entityName:)`` connection, 200 projects per request by default (as the SDK).

Example (``client`` connected to the local server with the demo seed):
    >>> [(p.name, p.entity, p.is_benchmark) for p in client.projects("wb-demo")]
    [('cifar', 'wb-demo', False)]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from wb_dagster.client.paging import LazyPages
from wb_dagster.client.queries import PROJECTS

if TYPE_CHECKING:
    from wb_dagster.client.session import WandbSession


@dataclass(frozen=True)
class Project:
    """One W&B project of an entity (``user``: its creator's ``name``/``username``, if known).

    Example:
        >>> p = Project(name="cifar", entity="team", app_url="https://wandb.ai")
        >>> p.path, p.url
        (['team', 'cifar'], 'https://wandb.ai/team/cifar/workspace')
    """

    name: str
    entity: str
    id: str | None = None
    created_at: str | None = None
    is_benchmark: bool = False
    user: dict[str, Any] | None = None
    app_url: str = field(default="", repr=False)

    @property
    def entity_name(self) -> str:
        """The owning entity, as ``wandb``'s ``Project.entity_name``."""
        return self.entity

    @property
    def path(self) -> list[str]:
        """``[entity, name]``."""
        return [self.entity, self.name]

    @property
    def url(self) -> str:
        """The project's workspace page in the W&B app."""
        return f"{self.app_url}/{quote(self.entity, safe='')}/{quote(self.name, safe='')}/workspace"


class Projects(LazyPages[Project]):
    """The projects of ``entity``, fetched page by page (``per_page`` per request)."""

    def __init__(self, client: WandbSession, entity: str, per_page: int = 50) -> None:
        super().__init__()
        if per_page < 1:
            raise ValueError(f"projects(per_page={per_page}): per_page must be at least 1")
        self.client, self.entity, self.per_page = client, entity, per_page

    def __repr__(self) -> str:
        return f"<Projects {self.entity}>"

    def _load_page(self) -> None:
        data = self.client.transport.graphql(
            PROJECTS,
            {"entity": self.entity, "cursor": self._cursor, "perPage": self.per_page},
            what=f"listing the projects of entity {self.entity!r}",
        )
        connection = data.get("models") or {}
        for edge in connection.get("edges") or []:
            node = edge.get("node") or {}
            self.objects.append(
                Project(
                    name=str(node["name"]),
                    entity=str(node.get("entityName") or self.entity),
                    id=node.get("id"),
                    created_at=node.get("createdAt"),
                    is_benchmark=bool(node.get("isBenchmark")),
                    user=node.get("user"),
                    app_url=self.client.app_url,
                )
            )
        info = connection.get("pageInfo") or {}
        cursor = info.get("endCursor")
        self._more = bool(info.get("hasNextPage")) and bool(cursor) and cursor != self._cursor
        self._cursor = cursor or self._cursor
        if not self._more:
            self._count = len(self.objects)

    def __len__(self) -> int:
        while self._more:  # the connection serves no total
            self._load_page()
        return len(self.objects)


__all__ = ["Project", "Projects"]
