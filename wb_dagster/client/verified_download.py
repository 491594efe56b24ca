"""The one rule for bytes fetched from W&B storage (or copied from a file an artifact
references): md5-checked before they count.

A download goes to a temporary file beside its target and is moved into place only when its
md5 equals the one W&B reports (base64, as W&B sends it, or hex); a mismatch raises
``CommError`` naming the file and leaves any earlier copy untouched.

Example:
    >>> import hashlib, io
    >>> digest = stream_md5(io.BytesIO(b"abc"))
    >>> md5_matches(hashlib.md5(b"abc").hexdigest(), digest), md5_matches(None, digest)
    (True, True)
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import os
from collections.abc import Callable
from typing import IO

from wb_dagster.client.errors import CommError
from wb_dagster.client.transport import Transport

SMALL_FILE = 4 << 20  # fetched into memory in one read (fewer Python steps per file)
TEMP_PREFIX = ".wb-download-"  # a download in progress, beside its target


def md5_matches(expected: str | None, digest: bytes) -> bool:
    """W&B reports base64 md5; accept hex too. No expected value -> nothing to check."""
    if not expected:
        return True
    return expected in (base64.b64encode(digest).decode("ascii"), digest.hex())


def stream_md5(fh: IO[bytes]) -> bytes:
    """Raw md5 digest of an open binary file, read in 1 MiB chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in iter(lambda: fh.read(1 << 20), b""):
        digest.update(chunk)
    return digest.digest()


def local_md5_ok(path: str, expected: str | None) -> bool:
    """Whether ``path`` is a file already holding bytes of md5 ``expected`` (resumable downloads).

    Example:
        >>> local_md5_ok("/nonexistent/file", None)
        False
    """
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as fh:
        return md5_matches(expected, stream_md5(fh))


def md5_mismatch(
    what: str, expected: str | None, digest: bytes, size: int, why: str | None = None
) -> CommError:
    """The error of a download whose bytes do not match W&B's md5 (nothing was written).

    Example:
        >>> md5_mismatch("downloading a.txt", "x", bytes(16), 3).message[:48]
        'downloading a.txt: md5 mismatch (expected x, got'
    """
    got = base64.b64encode(digest).decode()
    advice = why or "Try again; if it persists the stored file is corrupt"
    return CommError(
        f"{what}: md5 mismatch (expected {expected}, got {got}, {size} bytes); the file was not "
        f"written. {advice}."
    )


def verified_bytes(transport: Transport, url: str, expected: str | None, *, what: str) -> bytes:
    """GET ``url`` into memory; ``CommError`` unless its md5 is ``expected``."""
    data = transport.get_bytes(url, what=what)
    digest = hashlib.md5(data, usedforsecurity=False).digest()
    if not md5_matches(expected, digest):
        raise md5_mismatch(what, expected, digest, len(data))
    return data


def download_verified(
    transport: Transport,
    url: str,
    path: str,
    expected: str | None,
    *,
    size: int | None,
    what: str,
) -> None:
    """Make ``path`` hold the bytes at ``url`` once their md5 is ``expected``.

    Files up to :data:`SMALL_FILE` (``size``, as W&B reports it) come in one read and are
    written once checked, larger or unknown ones are streamed; either way the bytes reach
    ``path`` only by an atomic rename of a temporary file beside it.
    """
    if size is not None and size <= SMALL_FILE:
        # a small file's bytes are checked before a temporary file exists
        data = verified_bytes(transport, url, expected, what=what)
        _into_place(path, lambda fd: _write_closing(fd, data))
    else:

        def fill(fh: IO[bytes]) -> tuple[int, bytes]:
            streamed = transport.download_to(url, fh, what=what)
            return streamed.size, streamed.md5

        _into_place(path, lambda fd: _fill_verified(fd, fill, expected, what, None))


def download_reference_verified(
    transport: Transport, url: str, path: str, expected: str, *, what: str
) -> None:
    """Make ``path`` hold the bytes of an artifact's http(s) reference ``url`` once the
    answer's ``ETag`` (or, without one, the URL itself) is the digest the SDK logged for it,
    the check the SDK's own download makes; same temporary file and rename.

    With a server: ``download_reference_verified(t, "http://host/a.csv", "a.csv", "d41d8cd9",
    what="downloading a.csv")`` raises ``CommError`` unless the answer's ETag is ``"d41d8cd9"``.
    """

    def write(fd: int) -> None:
        with open(fd, "w+b") as fh:
            etag = transport.download_to(url, fh, what=what).etag
        found = etag.strip('"') if etag else url
        if found != expected:
            raise CommError(
                f"{what}: {url} answers with ETag {found!r}, not the {expected!r} it had when "
                "the artifact was logged: the object changed since. Nothing was written."
            )

    _into_place(path, write)


def copy_verified(source: str, path: str, expected: str | None, *, what: str) -> None:
    """Make ``path`` hold a copy of the local file ``source`` once its md5 is ``expected``
    (an artifact's ``file://`` reference), through the same temporary file and rename.

    Example:
        >>> import base64, hashlib, os, tempfile
        >>> d = tempfile.mkdtemp()
        >>> _ = open(os.path.join(d, "src"), "wb").write(b"abc")
        >>> md5 = base64.b64encode(hashlib.md5(b"abc").digest()).decode()
        >>> copy_verified(os.path.join(d, "src"), os.path.join(d, "copy"), md5, what="copying")
        >>> open(os.path.join(d, "copy"), "rb").read()
        b'abc'
    """

    def fill(out: IO[bytes]) -> tuple[int, bytes]:
        digest, size = hashlib.md5(usedforsecurity=False), 0
        try:
            src = open(source, "rb")  # noqa: SIM115 (closed below; the error names the file)
        except FileNotFoundError as exc:
            raise CommError(
                f"{what}: {source} does not exist here. W&B holds only the reference, not "
                "the bytes: run where that path is mounted.",
                exc=exc,
            ) from exc
        with src:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        return size, digest.digest()

    changed = (
        f"{source} no longer holds the bytes the artifact was logged with (it changed "
        "since, or the reference was logged with checksum=False and cannot be verified)"
    )
    _into_place(path, lambda fd: _fill_verified(fd, fill, expected, what, changed))


def _fill_verified(
    fd: int,
    fill: Callable[[IO[bytes]], tuple[int, bytes]],
    expected: str | None,
    what: str,
    why: str | None,
) -> None:
    """``fill`` the file ``fd`` (it returns the byte count and md5); raise unless md5 matches
    (``why`` explains a mismatch, W&B's corrupt-storage advice when ``None``)."""
    with open(fd, "w+b") as fh:
        got, digest = fill(fh)
        if not md5_matches(expected, digest):
            raise md5_mismatch(what, expected, digest, got, why)


def _into_place(path: str, write: Callable[[int], None]) -> None:
    """``write(fd)`` a new temporary file beside ``path``, then rename it onto ``path``; on
    any failure the temporary file is removed and ``path`` keeps what it held."""
    fd, tmp = _new_temp_beside(path)
    try:
        write(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


_temp_names = itertools.count()
_TEMP_ATTEMPTS = 1000
# as mkstemp's: a new private file, never opened through a symlink (mkstemp's random names
# cost more than a small file's whole download)
_TEMP_FLAGS = (
    os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
)


def _write_closing(fd: int, data: bytes) -> None:
    """Write ``data`` to ``fd`` and close it (no file object: each of its system calls, an
    ``fstat``, ``ioctl`` and ``lseek``, hands the GIL to another download thread)."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _new_temp_beside(path: str) -> tuple[int, str]:
    """A new file (0600) in ``path``'s directory, as ``(fd, name)``."""
    directory = os.path.dirname(path) or "."
    for _ in range(_TEMP_ATTEMPTS):
        tmp = os.path.join(directory, f"{TEMP_PREFIX}{os.getpid()}-{next(_temp_names)}")
        try:
            return os.open(tmp, _TEMP_FLAGS, 0o600), tmp
        except FileExistsError:  # left by an earlier process with the same pid
            continue
    raise FileExistsError(
        f"no free temporary name in {directory} after {_TEMP_ATTEMPTS} tries: remove the "
        f"{TEMP_PREFIX}* files left there by interrupted downloads"
    )
