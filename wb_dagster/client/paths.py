"""Parsing the path strings ``wandb.Api`` accepts, and the W&B app URL of a deployment.

Run and sweep paths: ``entity/project/runs/id``, ``entity/project/sweeps/id``,
``entity/project/id``, ``entity/project:id``, ``project/id``, ``project:id`` and ``id``; a full
app URL (``https://wandb.ai/entity/project/runs/id``) also works. Missing parts come from the
client's defaults. Project paths: ``entity/project`` or ``project``.

Example:
    >>> parse_object_path("team/proj/runs/abc123")
    ObjectPath(entity='team', project='proj', id='abc123')
    >>> parse_object_path("proj:abc123", default_entity="me")
    ObjectPath(entity='me', project='proj', id='abc123')
    >>> parse_project_path("team/proj")
    ('team', 'proj')
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_BASE_URL = "https://api.forge.coreweave.com"  # the official SDK's default (0.31)
# CoreWeave Forge app hosts and the W&B API hosts behind them (as wandb 0.31 maps them)
_FORGE_HOSTS = {"forge.coreweave.com": "api.wandb.ai", "qa.forge.coreweave.com": "api.qa.wandb.ai"}


@dataclass(frozen=True)
class ObjectPath:
    """Where a run or sweep lives."""

    entity: str
    project: str
    id: str

    def __str__(self) -> str:
        return f"{self.entity}/{self.project}/{self.id}"


def _strip_url(path: str) -> str:
    if "://" in path:
        path = urlsplit(path).path
    return path


def parse_object_path(
    path: str,
    *,
    default_entity: str | None = None,
    default_project: str | None = None,
) -> ObjectPath:
    """Split a run/sweep path into entity, project and id (``wandb.Api`` rules).

    Raises ``ValueError`` naming the path when a part is missing.

    Example:
        >>> parse_object_path("abc", default_entity="e", default_project="p").id
        'abc'
    """
    original = path
    path = _strip_url(path)
    for marker in ("/runs/", "/sweeps/"):
        path = path.replace(marker, "/")
    path = path.strip("/ ")
    parts = path.split("/")
    entity, project, ident = default_entity, default_project, None
    if len(parts) == 3:
        entity, project, ident = parts
    elif len(parts) == 2:
        if ":" in parts[1]:
            entity = parts[0]
            project, ident = parts[1].split(":", 1)
        else:
            project, ident = parts
    elif len(parts) == 1 and parts[0]:
        if ":" in parts[0]:
            project, ident = parts[0].split(":", 1)
        else:
            ident = parts[0]
    elif len(parts) > 3:
        raise ValueError(
            f"Invalid path {original!r}: expected entity/project/runs/<id> or entity/project/<id>"
        )
    entity, project, ident = (x.strip() if x else x for x in (entity, project, ident))
    if not ident:
        raise ValueError(f"Invalid path {original!r}: no run or sweep id in it")
    if not project:
        raise ValueError(f"Invalid path {original!r} (missing project): use entity/project/{ident}")
    if not entity:
        raise ValueError(
            f"Invalid path {original!r} (missing entity): use entity/project/{ident}, or set "
            "WANDB_ENTITY / entity="
        )
    return ObjectPath(entity, project, ident)


def parse_project_path(path: str, *, default_entity: str | None = None) -> tuple[str, str]:
    """Split ``entity/project`` (or ``project`` with a default entity).

    Example:
        >>> parse_project_path("proj", default_entity="me")
        ('me', 'proj')
    """
    cleaned = _strip_url(path).strip("/ ")
    parts = [p.strip() for p in cleaned.split("/")]
    if len(parts) == 1 and parts[0]:
        entity, project = default_entity, parts[0]
    elif len(parts) == 2 and all(parts):
        entity, project = parts
    else:
        raise ValueError(f"Invalid project path {path!r}: expected entity/project")
    if not entity:
        raise ValueError(
            f"Invalid project path {path!r} (missing entity): use entity/{project}, or set "
            "WANDB_ENTITY / entity="
        )
    return entity, project


def app_url(base_url: str) -> str:
    """The W&B web app URL for an API base URL (no trailing slash).

    Example:
        >>> app_url("https://api.wandb.ai"), app_url("http://127.0.0.1:8080")
        ('https://forge.coreweave.com/wandb', 'http://127.0.0.1:8080')
        >>> app_url("https://api.forge.coreweave.com")
        'https://forge.coreweave.com/wandb'
    """
    base = base_url.rstrip("/")
    host = urlsplit(base).hostname or ""
    for forge, api in _FORGE_HOSTS.items():
        if host in (forge, f"api.{forge}", api):
            return f"https://{forge}/wandb"
    if "://api.wandb.test" in base or ("://api." in base and "://api.wandb." not in base):
        return base.replace("://api.", "://app.")
    if "://api.wandb." in base:
        return base.replace("://api.", "://")
    return base
