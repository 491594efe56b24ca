"""W&B artifacts: ``client.artifact(name)``, ``client.artifacts(type, collection)``,
``run.logged_artifacts()`` / ``used_artifacts()``, and ``Artifact.download(root)``.

Names follow ``wandb.Api``: ``entity/project/collection:alias`` (``vN`` or an alias such as
``best``; none means ``latest``); a registry link is read through its registry project, e.g.
``entity/wandb-registry-model/prod-models:staging``. Every read asks for each version's file
list inline (first page of up to ``FILES_INLINE`` files), so listing N versions costs
``N / per_page`` requests and downloading them one manifest GET per version (it tells
references from stored files, see ``artifact_manifest.py``) and one GET per file. Downloads
run concurrently (the client's ``download_concurrency``), are MD5-verified, skip files already
present with the right MD5 (resumable) and never write outside ``root``.

Example:
    >>> from wb_dagster.client import WandbClient
    >>> client = WandbClient(api_key="k" * 40, base_url="http://127.0.0.1:9", entity="me")
    >>> art = Artifact(client, "me", "proj", "model", 3, {"id": "QXJ0", "aliases": [
    ...     {"alias": "best", "artifactCollection": {"name": "model"}}]})
    >>> art.name, art.version, art.aliases, art.qualified_name
    ('model:v3', 'v3', ['best'], 'me/proj/model:v3')

With a server: ``client.artifact("me/proj/model:best").download("out")`` returns ``"out"``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from wb_dagster.client.artifact_manifest import ManifestEntry, parse_manifest
from wb_dagster.client.errors import CommError, NotFoundError
from wb_dagster.client.files import safe_join
from wb_dagster.client.paging import LazyPages
from wb_dagster.client.verified_download import (
    copy_verified,
    download_reference_verified,
    download_verified,
    local_md5_ok,
)

if TYPE_CHECKING:
    from wb_dagster.client.session import RunRef, WandbSession

FILES_INLINE = 100  # files asked for with each version (more are paged in on demand)

_FIELDS = """
fragment WbArtifactFields on Artifact {
  id digest state description metadata createdAt updatedAt fileCount size versionIndex
  artifactType { name }
  artifactSequence { name project { name entity { name } } }
  aliases { alias artifactCollection { name } }
  createdBy { __typename ... on Run { name project { name entity { name } } } }
  files(first: $filesFirst) {
    pageInfo { hasNextPage endCursor }
    edges { node { name sizeBytes md5 directUrl } }
  }
  currentManifest { file { directUrl } }
}
"""

ARTIFACT_BY_NAME = (
    """
query WbArtifactByName($entity: String!, $project: String!, $name: String!, $filesFirst: Int) {
  project(name: $project, entityName: $entity) {
    artifactCollectionMembership(name: $name) {
      versionIndex
      artifactCollection { name }
      artifact { ...WbArtifactFields }
    }
  }
}
"""
    + _FIELDS
)

COLLECTION_VERSIONS = (
    """
query WbArtifactVersions($entity: String!, $project: String!, $type: String!,
                         $collection: String!, $cursor: String, $perPage: Int,
                         $filesFirst: Int) {
  project(name: $project, entityName: $entity) {
    artifactType(name: $type) {
      artifactCollection(name: $collection) {
        name
        artifacts(after: $cursor, first: $perPage) {
          totalCount
          pageInfo { hasNextPage endCursor }
          edges { version node { ...WbArtifactFields } }
        }
      }
    }
  }
}
"""
    + _FIELDS
)

RUN_ARTIFACTS = (
    """
query WbRunArtifacts($entity: String!, $project: String!, $run: String!, $cursor: String,
                     $perPage: Int, $filesFirst: Int, $output: Boolean!) {
  project(name: $project, entityName: $entity) {
    run(name: $run) {
      outputArtifacts(after: $cursor, first: $perPage) @include(if: $output) { ...WbConn }
      inputArtifacts(after: $cursor, first: $perPage) @skip(if: $output) { ...WbConn }
    }
  }
}
fragment WbConn on ArtifactConnection {
  totalCount
  pageInfo { hasNextPage endCursor }
  edges { node { ...WbArtifactFields } }
}
"""
    + _FIELDS
)

ARTIFACT_FILES = """
query WbArtifactFiles($id: ID!, $cursor: String, $perPage: Int) {
  artifact(id: $id) {
    files(after: $cursor, first: $perPage) {
      pageInfo { hasNextPage endCursor }
      edges { node { name sizeBytes md5 directUrl } }
    }
  }
}
"""


@dataclass(frozen=True)
class ArtifactFile:
    """One file of an artifact version: its path in the artifact, size, base64 MD5, URL."""

    name: str
    size: int
    md5: str
    url: str


@dataclass(frozen=True)
class ArtifactPath:
    """``entity/project/collection:alias`` split (``alias`` is ``latest`` when omitted)."""

    entity: str
    project: str
    collection: str
    alias: str

    def __str__(self) -> str:
        return f"{self.entity}/{self.project}/{self.collection}:{self.alias}"


def parse_artifact_path(
    name: str, default_entity: str | None, default_project: str | None
) -> ArtifactPath:
    """Split an artifact name as ``wandb.Api().artifact`` takes it.

    >>> parse_artifact_path("team/proj/model:v3", None, None)
    ArtifactPath(entity='team', project='proj', collection='model', alias='v3')
    >>> parse_artifact_path("model", "me", "proj").alias
    'latest'
    """
    text = name.strip()
    parts = text.split("/")
    if len(parts) > 3 or not all(parts):
        raise ValueError(
            f"artifact name {name!r}: expected 'entity/project/collection:alias' "
            "(entity and project may be left to the client's defaults)"
        )
    collection, _, alias = parts[-1].partition(":")
    project = parts[-2] if len(parts) >= 2 else default_project
    entity = parts[-3] if len(parts) == 3 else default_entity
    if not collection or not project or not entity:
        raise ValueError(
            f"artifact name {name!r} does not say its "
            f"{'project' if not project else 'entity' if not entity else 'collection'}: "
            "use 'entity/project/collection:alias' or set the client's entity/project"
        )
    return ArtifactPath(entity, project, collection, alias or "latest")


def _files_from(conn: dict[str, Any] | None) -> tuple[list[ArtifactFile], str | None, bool]:
    conn = conn or {}
    files = [
        ArtifactFile(
            name=n["name"],
            size=int(n.get("sizeBytes") or 0),
            md5=str(n.get("md5") or ""),
            url=str(n.get("directUrl") or ""),
        )
        for n in (e.get("node") for e in conn.get("edges") or [])
        if n
    ]
    info = conn.get("pageInfo") or {}
    return files, info.get("endCursor"), bool(info.get("hasNextPage"))


class Artifact:
    """One artifact version, as read from W&B (attribute names as ``wandb.Api``'s).

    ``name`` is ``collection:vN`` (in the collection it was read through: a registry link has
    the registry's own version), ``aliases`` the aliases it holds there, ``metadata`` a dict,
    ``logged_by_path`` the ``entity/project/run_id`` of the run that logged it (or ``None``).
    """

    def __init__(
        self, client: WandbSession, entity: str, project: str, collection: str, index: int,
        attrs: dict[str, Any],
    ) -> None:  # fmt: skip
        self.client = client
        self.entity = entity
        self.project = project
        self.collection = collection
        self.version_index = index
        self._attrs = attrs
        self._files, self._files_cursor, self._files_more = _files_from(attrs.get("files"))
        self._manifest: dict[str, ManifestEntry] | None = None

    @property
    def id(self) -> str:
        return str(self._attrs["id"])

    @property
    def path(self) -> ArtifactPath:
        return ArtifactPath(self.entity, self.project, self.collection, self.version)

    @property
    def version(self) -> str:
        return f"v{self.version_index}"

    @property
    def name(self) -> str:
        return f"{self.collection}:{self.version}"

    @property
    def qualified_name(self) -> str:
        return f"{self.entity}/{self.project}/{self.name}"

    @property
    def source_name(self) -> str:
        """``collection:vN`` in the sequence that logged it (differs for registry links)."""
        seq = self._attrs.get("artifactSequence") or {}
        return f"{seq.get('name')}:v{self._attrs.get('versionIndex')}"

    @property
    def type(self) -> str:
        return str((self._attrs.get("artifactType") or {}).get("name") or "")

    @property
    def aliases(self) -> list[str]:
        return [
            a["alias"]
            for a in self._attrs.get("aliases") or []
            if (a.get("artifactCollection") or {}).get("name") == self.collection
        ]

    @property
    def metadata(self) -> dict[str, Any]:
        raw = self._attrs.get("metadata")
        value = json.loads(raw) if isinstance(raw, str) and raw else raw
        return dict(value or {})

    digest = property(lambda self: str(self._attrs.get("digest") or ""))
    description = property(lambda self: self._attrs.get("description"))
    state = property(lambda self: self._attrs.get("state"))
    created_at = property(lambda self: self._attrs.get("createdAt"))
    updated_at = property(lambda self: self._attrs.get("updatedAt"))
    size = property(lambda self: int(self._attrs.get("size") or 0))
    file_count = property(lambda self: int(self._attrs.get("fileCount") or 0))

    @property
    def logged_by_path(self) -> str | None:
        run = self._attrs.get("createdBy") or {}
        if run.get("__typename") != "Run":
            return None
        project = run.get("project") or {}
        return f"{(project.get('entity') or {}).get('name')}/{project.get('name')}/{run['name']}"

    def logged_by(self) -> RunRef | None:
        """The run that logged this version (as ``wandb``'s ``Artifact.logged_by()``): the
        client's cached ``Run``, typed as its :class:`RunRef` part because ``runs.py`` lists a
        run's artifacts and so cannot be imported here."""
        path = self.logged_by_path
        return None if path is None else self.client.run(path)

    def __repr__(self) -> str:
        return f"<Artifact {self.qualified_name} ({self.type})>"

    # -- files -----------------------------------------------------------------------------
    def files(self) -> list[ArtifactFile]:
        """Every file of the version, sorted by path (pages beyond the inline one fetched)."""
        while self._files_more:
            data = self.client.transport.graphql(
                ARTIFACT_FILES,
                {"id": self.id, "cursor": self._files_cursor, "perPage": 1000},
                what=f"listing files of artifact {self.qualified_name}",
            )
            more, cursor, has_more = _files_from((data.get("artifact") or {}).get("files"))
            self._files.extend(more)
            # an empty page ends the listing whatever it claims (no endless loop)
            self._files_cursor, self._files_more = cursor, has_more and bool(more)
        return list(self._files)

    def manifest(self) -> dict[str, ManifestEntry]:
        """The version's manifest entries by path (as ``wandb``'s ``artifact.manifest.entries``):
        ``entry.ref`` is the URI of a reference, ``None`` for a file W&B stores. Read once."""
        if self._manifest is None:
            what = f"reading the manifest of artifact {self.qualified_name}"
            url = ((self._attrs.get("currentManifest") or {}).get("file") or {}).get("directUrl")
            if not url:
                raise CommError(f"{what}: the server gave no manifest URL; try again.")
            raw = self.client.transport.get_bytes(str(url), what=what)
            self._manifest = parse_manifest(raw, what)
        return dict(self._manifest)

    def download(
        self, root: str | os.PathLike[str] | None = None, references: References = "fetch"
    ) -> str:
        """Download every file into ``root`` (default ``./artifacts/<collection>:<vN>``) and
        return that directory. Files already there with the right MD5 are kept, the rest are
        fetched concurrently into temporary files and moved into place once their MD5 matches.

        A ``file://`` reference is copied from its path, an ``http(s)://`` one fetched (its
        ETag checked, as the SDK does); a version with other references (``s3://``,
        ``gs://``: their stores' own clients fetch them) fails before anything is written,
        unless ``references="skip"``, which leaves out every reference (``manifest()`` lists
        them).
        """
        target = os.fspath(root) if root is not None else os.path.join("artifacts", self.name)
        download_all([(self, target)], self.client.transport.download_concurrency, references)
        return target


References = Literal["fetch", "skip"]


@dataclass(frozen=True)
class _Job:
    art: Artifact
    path: str  # inside the root, checked
    file: ArtifactFile
    reference: ManifestEntry | None  # the manifest's entry when it is a reference


def _fetch_one(job: _Job) -> bool:
    """Make ``job.path`` hold the file's bytes; False when it already did."""
    f, ref = job.file, job.reference
    what = f"downloading {f.name} of artifact {job.art.qualified_name}"
    if ref is not None and ref.http_url is not None:
        # its digest is an ETag, not an md5: a local copy cannot be checked, so it is fetched
        download_reference_verified(
            job.art.client.transport, ref.http_url, job.path, ref.digest, what=what
        )
        return True
    expected = ref.digest if ref is not None else f.md5
    if local_md5_ok(job.path, expected):
        return False
    if ref is not None and ref.local_path is not None:
        copy_verified(ref.local_path, job.path, expected, what=what)
    elif not f.url:
        raise CommError(f"{what}: the server gave no URL for it; try again.")
    else:
        download_verified(job.art.client.transport, f.url, job.path, f.md5, size=f.size, what=what)
    return True


def download_all(
    jobs: Iterable[tuple[Artifact, str]], max_workers: int, references: References = "fetch"
) -> int:
    """Download many versions (each into its own root) through one pool; files fetched."""
    if references not in ("fetch", "skip"):
        raise ValueError(f"references={references!r}: use 'fetch' or 'skip'")
    jobs = list(jobs)
    with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
        # every manifest and name is checked before anything is written: a hostile name or
        # a reference this client cannot fetch fails the whole call
        manifests = list(pool.map(lambda job: job[0].manifest(), jobs))
        work = [
            _Job(art, safe_join(root, f.name), f, _reference(manifest, f.name))
            for (art, root), manifest in zip(jobs, manifests, strict=True)
            for f in art.files()
        ]
        if references == "skip":
            work = [job for job in work if job.reference is None]
        _refuse_foreign_references(work)
        for directory in {os.path.dirname(job.path) for job in work}:
            os.makedirs(directory, exist_ok=True)
        return sum(pool.map(_fetch_one, work))


def _reference(manifest: dict[str, ManifestEntry], name: str) -> ManifestEntry | None:
    entry = manifest.get(name)
    return entry if entry is not None and entry.ref is not None else None


def _refuse_foreign_references(work: list[_Job]) -> None:
    foreign = [
        (job, job.reference.ref)
        for job in work
        if job.reference is not None and not job.reference.fetchable
    ]
    if not foreign:
        return
    shown = ", ".join(f"{job.file.name} -> {ref}" for job, ref in foreign[:3])
    more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
    raise CommError(
        f"artifact {foreign[0][0].art.qualified_name} references files W&B does not hold "
        f"({shown}{more}); this client fetches file:// and http(s) references only, and "
        "nothing was written. Fetch those with their store's own client (Artifact.manifest() "
        "lists every entry's ref) and pass references='skip' to download the rest."
    )


# ---------------------------------------------------------------------------- lookups
def fetch_artifact(client: WandbSession, path: ArtifactPath) -> Artifact:
    """``client.artifact(name)``: one version, by its parsed ``entity/project/collection:alias``
    (``NotFoundError`` when there is none)."""
    data = client.transport.graphql(
        ARTIFACT_BY_NAME,
        {
            "entity": path.entity,
            "project": path.project,
            "name": f"{path.collection}:{path.alias}",
            "filesFirst": FILES_INLINE,
        },
        what=f"fetching artifact {path}",
    )
    project = data.get("project")
    if project is None:
        raise NotFoundError(f"Could not find project {path.entity}/{path.project} ({path}).")
    membership = project.get("artifactCollectionMembership")
    if not membership or not membership.get("artifact"):
        raise NotFoundError(
            f"Could not find artifact {path}: check the collection name and the version or "
            "alias (e.g. ':latest', ':v0')."
        )
    collection = (membership.get("artifactCollection") or {}).get("name") or path.collection
    return Artifact(
        client, path.entity, path.project, collection, int(membership["versionIndex"]),
        membership["artifact"],
    )  # fmt: skip


class Artifacts(LazyPages[Artifact]):
    """The versions of one collection, newest first, paged lazily (``per_page`` a request)."""

    def __init__(
        self, client: WandbSession, entity: str, project: str, type_name: str, collection: str,
        per_page: int = 100, files_per_version: int = FILES_INLINE,
    ) -> None:  # fmt: skip
        super().__init__()
        self.client = client
        self.entity, self.project = entity, project
        self.type_name, self.collection = type_name, collection
        self.per_page = per_page
        self.files_per_version = files_per_version

    def _load_page(self) -> None:
        where = f"{self.entity}/{self.project}/{self.collection} (type {self.type_name!r})"
        data = self.client.transport.graphql(
            COLLECTION_VERSIONS,
            {
                "entity": self.entity,
                "project": self.project,
                "type": self.type_name,
                "collection": self.collection,
                "cursor": self._cursor,
                "perPage": self.per_page,
                "filesFirst": self.files_per_version,
            },
            what=f"listing artifact versions of {where}",
        )
        col = ((data.get("project") or {}).get("artifactType") or {}).get("artifactCollection")
        if col is None:
            raise NotFoundError(
                f"Could not find artifact collection {where}: check the type and the name."
            )
        conn = col.get("artifacts") or {}
        edges = conn.get("edges") or []
        for e in edges:
            index = int(str(e["version"]).lstrip("v"))
            self.objects.append(
                Artifact(self.client, self.entity, self.project, col["name"], index, e["node"])
            )
        info = conn.get("pageInfo") or {}
        self._count = int(conn.get("totalCount") or 0)
        self._cursor = info.get("endCursor")
        self._more = bool(info.get("hasNextPage")) and bool(edges)


class RunArtifacts(LazyPages[Artifact]):
    """Artifacts a run logged (``output=True``) or used, paged lazily."""

    def __init__(
        self, client: WandbSession, entity: str, project: str, run_id: str, output: bool,
        per_page: int = 100,
    ) -> None:  # fmt: skip
        super().__init__()
        self.client = client
        self.entity, self.project, self.run_id = entity, project, run_id
        self.output = output
        self.per_page = per_page

    def _load_page(self) -> None:
        field = "outputArtifacts" if self.output else "inputArtifacts"
        where = f"{self.entity}/{self.project}/{self.run_id}"
        data = self.client.transport.graphql(
            RUN_ARTIFACTS,
            {
                "entity": self.entity,
                "project": self.project,
                "run": self.run_id,
                "cursor": self._cursor,
                "perPage": self.per_page,
                "filesFirst": FILES_INLINE,
                "output": self.output,
            },
            what=f"listing the artifacts {'logged' if self.output else 'used'} by run {where}",
        )
        run = (data.get("project") or {}).get("run")
        if run is None:
            raise NotFoundError(f"Could not find run {where} while listing its artifacts.")
        conn = run.get(field) or {}
        edges = conn.get("edges") or []
        for e in edges:
            node = e["node"]
            seq = node.get("artifactSequence") or {}
            project = seq.get("project") or {}
            self.objects.append(
                Artifact(
                    self.client,
                    (project.get("entity") or {}).get("name") or self.entity,
                    project.get("name") or self.project,
                    seq.get("name") or "",
                    int(node.get("versionIndex") or 0),
                    node,
                )
            )
        info = conn.get("pageInfo") or {}
        self._count = int(conn.get("totalCount") or 0)
        self._cursor = info.get("endCursor")
        self._more = bool(info.get("hasNextPage")) and bool(edges)


class RunArtifactsMixin:
    """``logged_artifacts()`` / ``used_artifacts()`` of :class:`~wb_dagster.client.runs.Run`."""

    client: WandbSession
    project: str

    @property
    def entity(self) -> str:  # provided by Run
        raise NotImplementedError

    @property
    def id(self) -> str:  # provided by Run
        raise NotImplementedError

    def logged_artifacts(self, per_page: int = 100) -> RunArtifacts:
        """The artifact versions this run logged (as ``wandb``'s ``Run.logged_artifacts``)."""
        return RunArtifacts(self.client, self.entity, self.project, self.id, True, per_page)

    def used_artifacts(self, per_page: int = 100) -> RunArtifacts:
        """The artifact versions this run used as inputs."""
        return RunArtifacts(self.client, self.entity, self.project, self.id, False, per_page)
