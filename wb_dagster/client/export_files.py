"""Download a run's history export and make sure it is a parquet file before anyone parses it.

A signed storage URL may answer with something else than the file (an HTML login or error page
from a proxy, a truncated body); parsing that gives a bare ``ArrowInvalid`` that names nothing.
These helpers check parquet's magic bytes (``PAR1`` at both ends) and raise a
:class:`~wb_dagster.client.errors.CommError` naming the run and the URL (without its query
string, which holds the signature).

Example:
    >>> try:
    ...     check_parquet(b"<html>login</html>", run="e/p/r", url="https://s.example/x?sig=1")
    ... except CommError as err:
    ...     str(err)[:78]
    'the history export of run e/p/r from https://s.example/x is not a parquet file'
"""

from __future__ import annotations

import os
from typing import IO, TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from wb_dagster.client.errors import CommError

if TYPE_CHECKING:
    from wb_dagster.client.transport import Transport

MAGIC = b"PAR1"


def _shown(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def check_parquet(head: bytes, *, run: object, url: str, tail: bytes | None = None) -> None:
    """Raise :class:`CommError` unless ``head`` (and ``tail``) carry parquet's magic bytes.

    ``tail`` defaults to the end of ``head`` (pass the whole file when it is in memory).
    """
    end = head[-len(MAGIC) :] if tail is None else tail
    if len(head) >= 2 * len(MAGIC) and head.startswith(MAGIC) and end == MAGIC:
        return
    raise CommError(
        f"the history export of run {run} from {_shown(url)} is not a parquet file (it starts "
        f"with {head[:40]!r}); the storage URL answered with something else, such as an HTML "
        "page from a proxy. Retry; if it persists, check the network path to the storage host."
    )


def fetch_export(transport: Transport, url: str, *, run: object) -> bytes:
    """The export at ``url`` in memory, checked to be parquet."""
    data = transport.get_bytes(url, what=f"downloading history export of {run}")
    check_parquet(data, run=run, url=url)
    return data


def download_export(transport: Transport, url: str, fh: IO[bytes], *, run: object) -> None:
    """Stream the export at ``url`` into the open file ``fh``, checked to be parquet."""
    transport.download_to(url, fh, what=f"downloading history export of {run}")
    fh.flush()
    with open(fh.name, "rb") as check:
        head = check.read(64)
        size = os.fstat(check.fileno()).st_size
        check.seek(max(0, size - len(MAGIC)))
        tail = check.read(len(MAGIC))
    check_parquet(head, run=run, url=url, tail=tail if size >= 2 * len(MAGIC) else b"")
