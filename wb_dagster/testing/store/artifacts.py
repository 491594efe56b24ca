"""Artifacts on the server: sequences, portfolios (registry links), versions, aliases and blobs.

A *collection* is an artifact sequence (the versions one project logs under a name) or a
portfolio (a registry collection that links versions of sequences). Every version belongs to
its sequence through a *membership* with a version index; a link adds a membership to a
portfolio with the portfolio's own index. Aliases belong to a collection and point at one
version; ``latest`` follows the newest committed membership. File bytes are stored once per
MD5 (``<data>/blobs/artifacts/<hex md5>``), so a version that repeats a file uploads nothing.
The manifest each version uploads is kept verbatim; the files a version lists come from it.

Example:
    >>> import tempfile, pathlib
    >>> from wb_dagster.testing.store.database import Store
    >>> store = ArtifactStore(Store(pathlib.Path(tempfile.mkdtemp())))
    >>> art = store.create(project_pk=1, type_name="model", name="net", digest="d1")
    >>> art["state"]
    'PENDING'
    >>> store.commit(art["pk"])["version_index"]
    0
    >>> store.aliases_of(art["pk"])
    [('net', 'latest')]
    >>> store.store.close()
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from wb_dagster.testing.store.artifact_files import ArtifactError, ArtifactFilesMixin, hex_md5
from wb_dagster.testing.store.database import Store

__all__ = ["LATEST", "ArtifactError", "ArtifactStore", "hex_md5"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS artifact_collections (
    pk INTEGER PRIMARY KEY,
    project_pk INTEGER NOT NULL,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    description TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (project_pk, name)
);
CREATE TABLE IF NOT EXISTS artifacts (
    pk INTEGER PRIMARY KEY,
    sequence_pk INTEGER NOT NULL,
    digest TEXT NOT NULL,
    state TEXT NOT NULL,
    description TEXT,
    metadata TEXT,
    aliases_on_commit TEXT,
    run_pk INTEGER,
    history_step INTEGER,
    client_id TEXT,
    manifest BLOB,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS artifacts_by_run ON artifacts (run_pk);
CREATE TABLE IF NOT EXISTS artifact_memberships (
    pk INTEGER PRIMARY KEY,
    collection_pk INTEGER NOT NULL,
    artifact_pk INTEGER NOT NULL,
    version_index INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (collection_pk, artifact_pk),
    UNIQUE (collection_pk, version_index)
);
CREATE TABLE IF NOT EXISTS artifact_aliases (
    pk INTEGER PRIMARY KEY,
    collection_pk INTEGER NOT NULL,
    alias TEXT NOT NULL,
    artifact_pk INTEGER NOT NULL,
    UNIQUE (collection_pk, alias)
);
CREATE TABLE IF NOT EXISTS artifact_uses (
    run_pk INTEGER NOT NULL,
    artifact_pk INTEGER NOT NULL,
    used_as TEXT,
    PRIMARY KEY (run_pk, artifact_pk)
);
"""

LATEST = "latest"


class ArtifactStore(ArtifactFilesMixin):
    """Collections, versions, aliases, uses and content-addressed file blobs."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.blob_dir = store.blob_dir / "artifacts"
        self.blob_dir.mkdir(exist_ok=True)
        self.manifest_dir = store.blob_dir / "artifact-manifests"
        self.manifest_dir.mkdir(exist_ok=True)
        self.store.conn().executescript(_SCHEMA)

    # ------------------------------------------------------------------ collections
    def collection(self, project_pk: int, name: str) -> dict[str, Any] | None:
        row = (
            self.store.conn()
            .execute(
                "SELECT * FROM artifact_collections WHERE project_pk = ? AND name = ?",
                (project_pk, name),
            )
            .fetchone()
        )
        return None if row is None else dict(row)

    def collection_by_pk(self, pk: int) -> dict[str, Any] | None:
        row = (
            self.store.conn()
            .execute("SELECT * FROM artifact_collections WHERE pk = ?", (pk,))
            .fetchone()
        )
        return None if row is None else dict(row)

    def _ensure_collection(self, project_pk: int, type_name: str, name: str, kind: str) -> int:
        found = self.collection(project_pk, name)
        if found is not None:
            if found["kind"] != kind:
                raise ArtifactError(
                    f"{name!r} is already an artifact {found['kind']} in this project; "
                    "pick another collection name"
                )
            if kind == "sequence" and found["type"] != type_name:
                raise ArtifactError(
                    f"artifact {name!r} has type {found['type']!r}, not {type_name!r}; "
                    "log it with its existing type or under another name"
                )
            return int(found["pk"])
        now = self.store.next_heartbeat()
        with self.store.write() as conn:
            cur = conn.execute(
                "INSERT INTO artifact_collections(project_pk, type, name, kind, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (project_pk, type_name, name, kind, now, now),
            )
            return int(cur.lastrowid or 0)

    def types(self, project_pk: int) -> list[str]:
        rows = self.store.conn().execute(
            "SELECT DISTINCT type FROM artifact_collections WHERE project_pk = ? ORDER BY type",
            (project_pk,),
        )
        return [r[0] for r in rows]

    def collections(self, project_pk: int, type_name: str) -> list[dict[str, Any]]:
        rows = self.store.conn().execute(
            "SELECT * FROM artifact_collections WHERE project_pk = ? AND type = ? ORDER BY pk",
            (project_pk, type_name),
        )
        return [dict(r) for r in rows]

    # ------------------------------------------------------------------ versions
    def get(self, pk: int) -> dict[str, Any] | None:
        row = self.store.conn().execute("SELECT * FROM artifacts WHERE pk = ?", (pk,)).fetchone()
        return None if row is None else dict(row)

    def create(
        self,
        project_pk: int,
        type_name: str,
        name: str,
        digest: str,
        *,
        description: str | None = None,
        metadata: str | None = None,
        aliases: Iterable[str] = (),
        run_pk: int | None = None,
        history_step: int | None = None,
        client_id: str | None = None,
    ) -> dict[str, Any]:
        """A new pending version, or the committed one with the same digest (W&B's dedup:
        logging unchanged contents again adds the aliases and creates nothing)."""
        with self.store.write():
            seq_pk = self._ensure_collection(project_pk, type_name, name, "sequence")
            same = (
                self.store.conn()
                .execute(
                    "SELECT a.pk FROM artifacts a WHERE a.sequence_pk = ? AND a.digest = ? "
                    "AND a.state = 'COMMITTED' ORDER BY a.pk DESC LIMIT 1",
                    (seq_pk, digest),
                )
                .fetchone()
            )
            if same is not None:
                for alias in aliases:
                    self.set_alias(seq_pk, alias, int(same[0]))
                return self.get(int(same[0])) or {}
            now = self.store.next_heartbeat()
            cur = self.store.conn().execute(
                "INSERT INTO artifacts(sequence_pk, digest, state, description, metadata, "
                "aliases_on_commit, run_pk, history_step, client_id, created_at, updated_at) "
                "VALUES (?, ?, 'PENDING', ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    seq_pk,
                    digest,
                    description,
                    metadata,
                    json.dumps(sorted(set(aliases) - {LATEST})),
                    run_pk,
                    history_step,
                    client_id,
                    now,
                    now,
                ),
            )
            return self.get(int(cur.lastrowid or 0)) or {}

    def by_client_id(self, client_id: str) -> dict[str, Any] | None:
        row = (
            self.store.conn()
            .execute(
                "SELECT * FROM artifacts WHERE client_id = ? AND state != 'DELETED' "
                "ORDER BY pk DESC LIMIT 1",
                (client_id,),
            )
            .fetchone()
        )
        return None if row is None else dict(row)

    def commit(self, pk: int) -> dict[str, Any]:
        """Give a pending version the sequence's next index, its aliases and ``latest``."""
        with self.store.write() as conn:
            art = self.get(pk)
            if art is None:
                raise ArtifactError(f"artifact {pk} not found")
            if art["state"] == "COMMITTED":
                return self.membership(art["sequence_pk"], pk) or {}
            seq_pk = art["sequence_pk"]
            index = self._add_membership(seq_pk, pk)
            conn.execute(
                "UPDATE artifacts SET state = 'COMMITTED', updated_at = ? WHERE pk = ?",
                (self.store.next_heartbeat(), pk),
            )
            for alias in json.loads(art["aliases_on_commit"] or "[]"):
                self.set_alias(seq_pk, alias, pk)
            self._move_latest(seq_pk)
            return {**(self.get(pk) or {}), "version_index": index}

    def _add_membership(self, collection_pk: int, artifact_pk: int) -> int:
        conn = self.store.conn()
        found = conn.execute(
            "SELECT version_index FROM artifact_memberships "
            "WHERE collection_pk = ? AND artifact_pk = ?",
            (collection_pk, artifact_pk),
        ).fetchone()
        if found is not None:
            return int(found[0])
        top = conn.execute(
            "SELECT max(version_index) FROM artifact_memberships WHERE collection_pk = ?",
            (collection_pk,),
        ).fetchone()[0]
        # W&B never reuses a deleted version's index
        used = self.store.get_setting(f"artifact-next-index:{collection_pk}")
        index = max(-1 if top is None else int(top), int(used or -1)) + 1
        conn.execute(
            "INSERT INTO artifact_memberships(collection_pk, artifact_pk, version_index, "
            "created_at) VALUES (?, ?, ?, ?)",
            (collection_pk, artifact_pk, index, self.store.next_heartbeat()),
        )
        self.store.set_setting(f"artifact-next-index:{collection_pk}", str(index))
        return index

    def _move_latest(self, collection_pk: int) -> None:
        conn = self.store.conn()
        top = conn.execute(
            "SELECT artifact_pk FROM artifact_memberships WHERE collection_pk = ? "
            "ORDER BY version_index DESC LIMIT 1",
            (collection_pk,),
        ).fetchone()
        conn.execute(
            "DELETE FROM artifact_aliases WHERE collection_pk = ? AND alias = ?",
            (collection_pk, LATEST),
        )
        if top is not None:
            self.set_alias(collection_pk, LATEST, int(top[0]))

    def link(self, portfolio_project_pk: int, portfolio: str, artifact_pk: int) -> int:
        """Link a committed version into a portfolio (created on first use); its index there."""
        with self.store.write():
            art = self.get(artifact_pk)
            if art is None or art["state"] != "COMMITTED":
                raise ArtifactError("only a committed artifact version can be linked")
            seq = self.collection_by_pk(art["sequence_pk"]) or {}
            port_pk = self._ensure_collection(
                portfolio_project_pk, seq.get("type", ""), portfolio, "portfolio"
            )
            found = self.collection_by_pk(port_pk) or {}
            if found.get("type") != seq.get("type"):
                raise ArtifactError(
                    f"collection {portfolio!r} holds {found.get('type')!r} artifacts, "
                    f"not {seq.get('type')!r}"
                )
            index = self._add_membership(port_pk, artifact_pk)
            self._move_latest(port_pk)
            return index

    def unlink(self, collection_pk: int, artifact_pk: int) -> None:
        with self.store.write() as conn:
            conn.execute(
                "DELETE FROM artifact_memberships WHERE collection_pk = ? AND artifact_pk = ?",
                (collection_pk, artifact_pk),
            )
            conn.execute(
                "DELETE FROM artifact_aliases WHERE collection_pk = ? AND artifact_pk = ?",
                (collection_pk, artifact_pk),
            )
            self._move_latest(collection_pk)

    def update(self, pk: int, description: str | None = None, metadata: str | None = None) -> None:
        sets, params = [], []
        if description is not None:
            sets.append("description = ?")
            params.append(description)
        if metadata is not None:
            sets.append("metadata = ?")
            params.append(metadata)
        if not sets:
            return
        with self.store.write() as conn:
            conn.execute(
                f"UPDATE artifacts SET {', '.join(sets)}, updated_at = ? WHERE pk = ?",
                (*params, self.store.next_heartbeat(), pk),
            )

    def delete(self, pk: int, delete_aliases: bool) -> None:
        """Delete a version; W&B refuses while it holds user aliases unless told to drop them."""
        with self.store.write() as conn:
            names = [a for _, a in self.aliases_of(pk) if a != LATEST]
            if names and not delete_aliases:
                raise ArtifactError(
                    f"cannot delete an artifact version with aliases {sorted(names)}; remove "
                    "them first or pass delete_aliases=True"
                )
            cols = [
                r[0]
                for r in conn.execute(
                    "SELECT collection_pk FROM artifact_memberships WHERE artifact_pk = ?", (pk,)
                )
            ]
            conn.execute("DELETE FROM artifact_memberships WHERE artifact_pk = ?", (pk,))
            conn.execute("DELETE FROM artifact_aliases WHERE artifact_pk = ?", (pk,))
            conn.execute("DELETE FROM artifact_uses WHERE artifact_pk = ?", (pk,))
            conn.execute("UPDATE artifacts SET state = 'DELETED' WHERE pk = ?", (pk,))
            for col in cols:
                self._move_latest(col)

    # ------------------------------------------------------------------ memberships & aliases
    def membership(self, collection_pk: int, artifact_pk: int) -> dict[str, Any] | None:
        row = (
            self.store.conn()
            .execute(
                "SELECT * FROM artifact_memberships WHERE collection_pk = ? AND artifact_pk = ?",
                (collection_pk, artifact_pk),
            )
            .fetchone()
        )
        return None if row is None else dict(row)

    def memberships_of(self, artifact_pk: int) -> list[dict[str, Any]]:
        rows = self.store.conn().execute(
            "SELECT * FROM artifact_memberships WHERE artifact_pk = ? ORDER BY pk", (artifact_pk,)
        )
        return [dict(r) for r in rows]

    def resolve(self, collection_pk: int, version_or_alias: str) -> dict[str, Any] | None:
        """The membership named ``vN`` or by an alias in a collection."""
        conn = self.store.conn()
        if version_or_alias[:1] == "v" and version_or_alias[1:].isdigit():
            row = conn.execute(
                "SELECT * FROM artifact_memberships WHERE collection_pk = ? AND version_index = ?",
                (collection_pk, int(version_or_alias[1:])),
            ).fetchone()
        else:
            row = conn.execute(
                "SELECT m.* FROM artifact_aliases a JOIN artifact_memberships m "
                "ON m.collection_pk = a.collection_pk AND m.artifact_pk = a.artifact_pk "
                "WHERE a.collection_pk = ? AND a.alias = ?",
                (collection_pk, version_or_alias),
            ).fetchone()
        return None if row is None else dict(row)

    def versions(
        self, collection_pk: int, offset: int, limit: int, newest_first: bool = True
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of a collection's memberships and the collection's version count."""
        conn = self.store.conn()
        total = conn.execute(
            "SELECT count(*) FROM artifact_memberships WHERE collection_pk = ?", (collection_pk,)
        ).fetchone()[0]
        order = "DESC" if newest_first else "ASC"
        rows = conn.execute(
            "SELECT * FROM artifact_memberships WHERE collection_pk = ? "
            f"ORDER BY version_index {order} LIMIT ? OFFSET ?",
            (collection_pk, limit, offset),
        )
        return [dict(r) for r in rows], int(total)

    def set_alias(self, collection_pk: int, alias: str, artifact_pk: int) -> None:
        """Point ``alias`` at a version (moving it from the version that held it)."""
        if not alias or any(c in alias for c in "/:"):
            raise ArtifactError(f"alias {alias!r} is empty or contains '/' or ':'")
        with self.store.write() as conn:
            conn.execute(
                "INSERT INTO artifact_aliases(collection_pk, alias, artifact_pk) "
                "VALUES (?, ?, ?) ON CONFLICT(collection_pk, alias) "
                "DO UPDATE SET artifact_pk = excluded.artifact_pk",
                (collection_pk, alias, artifact_pk),
            )

    def drop_alias(self, collection_pk: int, alias: str, artifact_pk: int) -> None:
        with self.store.write() as conn:
            conn.execute(
                "DELETE FROM artifact_aliases WHERE collection_pk = ? AND alias = ? "
                "AND artifact_pk = ?",
                (collection_pk, alias, artifact_pk),
            )

    def aliases_of(self, artifact_pk: int) -> list[tuple[str, str]]:
        """``(collection name, alias)`` pairs of a version, in every collection."""
        rows = self.store.conn().execute(
            "SELECT c.name, a.alias FROM artifact_aliases a JOIN artifact_collections c "
            "ON c.pk = a.collection_pk WHERE a.artifact_pk = ? ORDER BY a.pk",
            (artifact_pk,),
        )
        return [(r[0], r[1]) for r in rows]

    def alias_rows(self, collection_pk: int) -> list[dict[str, Any]]:
        rows = self.store.conn().execute(
            "SELECT * FROM artifact_aliases WHERE collection_pk = ? ORDER BY pk", (collection_pk,)
        )
        return [dict(r) for r in rows]

    # ------------------------------------------------------------------ runs
    def output_of(self, run_pk: int) -> list[dict[str, Any]]:
        rows = self.store.conn().execute(
            "SELECT * FROM artifacts WHERE run_pk = ? AND state = 'COMMITTED' ORDER BY pk",
            (run_pk,),
        )
        return [dict(r) for r in rows]

    def use(self, run_pk: int, artifact_pk: int, used_as: str | None) -> None:
        with self.store.write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO artifact_uses(run_pk, artifact_pk, used_as) "
                "VALUES (?, ?, ?)",
                (run_pk, artifact_pk, used_as),
            )

    def inputs_of(self, run_pk: int) -> list[dict[str, Any]]:
        rows = self.store.conn().execute(
            "SELECT a.* FROM artifact_uses u JOIN artifacts a ON a.pk = u.artifact_pk "
            "WHERE u.run_pk = ? AND a.state = 'COMMITTED' ORDER BY a.pk",
            (run_pk,),
        )
        return [dict(r) for r in rows]

    def users_of(self, artifact_pk: int) -> list[int]:
        rows = self.store.conn().execute(
            "SELECT run_pk FROM artifact_uses WHERE artifact_pk = ? ORDER BY run_pk",
            (artifact_pk,),
        )
        return [int(r[0]) for r in rows]

    def seed_version(
        self,
        project_pk: int,
        type_name: str,
        name: str,
        files: dict[str, bytes],
        *,
        aliases: Iterable[str] = (),
        run_pk: int | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Write one committed version directly (fast seeding for tests and benchmarks)."""
        contents = {
            path: {"digest": self.put_blob(data), "size": len(data)} for path, data in files.items()
        }
        digest = hashlib.md5(
            json.dumps(sorted((p, e["digest"]) for p, e in contents.items())).encode()
        ).hexdigest()
        meta = json.dumps(metadata or {})
        art = self.create(
            project_pk, type_name, name, digest, aliases=aliases, run_pk=run_pk, metadata=meta
        )
        manifest = {
            "version": 1,
            "storagePolicy": "wandb-storage-policy-v1",
            "storagePolicyConfig": {"storageLayout": "V2"},
            "contents": contents,
        }
        self.put_manifest(art["pk"], json.dumps(manifest).encode())
        return self.commit(art["pk"])
