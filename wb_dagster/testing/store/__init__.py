"""The server's storage and domain operations: SQLite tables, parquet history, file blobs.

:mod:`.database` is the SQLite database every store shares and :mod:`.backend` opens them all;
the other modules each hold one kind of data (runs, history, files, console logs, artifacts,
sweeps, stop flags) or one operation on them (a file_stream request, a run's lifecycle,
deleting a run, churn). Nothing here imports the HTTP or GraphQL layers.
"""
