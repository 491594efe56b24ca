"""Which runs were asked to stop (``stopRun``) and have not been resumed or rewound since.

The flag reaches the logging process through its file_stream heartbeat (see
:mod:`~wb_dagster.testing.graphql.run_control_mutations`).

Example:
    >>> import tempfile, pathlib
    >>> from wb_dagster.testing.store.database import Store
    >>> flags = StopFlags(Store(pathlib.Path(tempfile.mkdtemp())))
    >>> flags.request(7); flags.is_stopped(7), flags.is_stopped(8)
    (True, False)
    >>> flags.clear(7); flags.is_stopped(7)
    False
"""

from __future__ import annotations

from wb_dagster.testing.store.database import Store

_SCHEMA = "CREATE TABLE IF NOT EXISTS run_stop_requests (run_pk INTEGER PRIMARY KEY);"


class StopFlags:
    """Which runs were asked to stop (``stopRun``) and have not been resumed since."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.conn().executescript(_SCHEMA)

    def request(self, run_pk: int) -> None:
        with self.store.write() as conn:
            conn.execute("INSERT OR IGNORE INTO run_stop_requests(run_pk) VALUES (?)", (run_pk,))

    def clear(self, run_pk: int) -> None:
        with self.store.write() as conn:
            conn.execute("DELETE FROM run_stop_requests WHERE run_pk = ?", (run_pk,))

    def is_stopped(self, run_pk: int) -> bool:
        row = (
            self.store.conn()
            .execute("SELECT 1 FROM run_stop_requests WHERE run_pk = ?", (run_pk,))
            .fetchone()
        )
        return row is not None
