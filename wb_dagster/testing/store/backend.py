"""The server's state in one object: database, run/history/file stores and the viewer account.

Example:
    >>> import tempfile, pathlib
    >>> backend = Backend.open(pathlib.Path(tempfile.mkdtemp()), api_key="k" * 40)
    >>> backend.viewer_username, backend.default_entity
    ('local-user', 'local-user')
    >>> backend.close()
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from wb_dagster.testing.server_compat import ServerCompat
from wb_dagster.testing.store.artifacts import ArtifactStore
from wb_dagster.testing.store.console_logs import ConsoleLogStore
from wb_dagster.testing.store.database import Store
from wb_dagster.testing.store.files import FileStore
from wb_dagster.testing.store.history import HistoryStore
from wb_dagster.testing.store.runs import RunStore
from wb_dagster.testing.store.stop_flags import StopFlags

DEFAULT_USERNAME = "local-user"


def new_api_key() -> str:
    """A random key the official SDK accepts (40 word characters)."""
    return secrets.token_hex(20)


@dataclass
class Backend:
    """Everything a request handler needs to read or change the server's data."""

    store: Store
    runs: RunStore
    history: HistoryStore
    files: FileStore
    console: ConsoleLogStore
    stops: StopFlags
    api_key: str
    artifacts: ArtifactStore
    # which newer W&B API features the server pretends to lack (a test control)
    compat: ServerCompat = field(default_factory=ServerCompat)

    @classmethod
    def open(cls, data_dir: Path, api_key: str | None = None) -> Backend:
        """Open (or create) the data directory; the key is kept there so a restart reuses it."""
        store = Store(data_dir)
        key = api_key or store.get_setting("api_key") or new_api_key()
        store.set_setting("api_key", key)
        files = FileStore(store)
        backend = cls(
            store,
            RunStore(store),
            HistoryStore(store),
            files,
            ConsoleLogStore(store, files),
            StopFlags(store),
            key,
            ArtifactStore(store),
        )
        if store.get_setting("viewer") is None:
            backend.set_viewer(DEFAULT_USERNAME, DEFAULT_USERNAME)
        return backend

    @property
    def viewer_username(self) -> str:
        return self.store.get_setting("viewer") or DEFAULT_USERNAME

    @property
    def default_entity(self) -> str:
        return self.store.get_setting("default_entity") or self.viewer_username

    def set_viewer(
        self, username: str, default_entity: str, name: str | None = None, email: str | None = None
    ) -> None:
        """Set the account the API key belongs to and its default entity."""
        self.runs.ensure_user(username, name or username, email)
        self.store.set_setting("viewer", username)
        self.store.set_setting("default_entity", default_entity)
        with self.store.write() as conn:
            conn.execute("INSERT OR IGNORE INTO entities(name) VALUES (?)", (default_entity,))

    def close(self) -> None:
        self.store.close()
