"""Downloads never escape the destination; md5 is checked in W&B's base64 form."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest

from wb_dagster.client.files import safe_join
from wb_dagster.client.verified_download import md5_matches


@pytest.mark.parametrize(
    "name",
    [
        "../x",
        "a/../../x",
        "a/../..",
        "/etc/passwd",
        "\\server\\share\\x",
        "C:\\x",
        "c:x",
        "..\\x",
        "a\\..\\..\\x",
        "",
        ".",
        "a\x00b",
    ],
)
def test_unsafe_names_are_refused(tmp_path: os.PathLike[str], name: str) -> None:
    with pytest.raises(ValueError, match="outside"):
        safe_join(tmp_path, name)


def test_safe_names_stay_inside(tmp_path: os.PathLike[str]) -> None:
    root = os.fspath(tmp_path)
    assert safe_join(root, "media/images/a.png") == os.path.join(root, "media", "images", "a.png")
    assert safe_join(root, "./model.h5") == os.path.join(root, "model.h5")
    assert safe_join(root, "a..b.txt") == os.path.join(root, "a..b.txt")


def test_symlink_escape_is_refused(tmp_path: os.PathLike[str]) -> None:
    root = os.path.join(tmp_path, "root")
    outside = os.path.join(tmp_path, "outside")
    os.makedirs(root)
    os.makedirs(outside)
    os.symlink(outside, os.path.join(root, "link"))
    with pytest.raises(ValueError, match="outside"):
        safe_join(root, "link/x.txt")


def test_md5_forms() -> None:
    digest = hashlib.md5(b"hello").digest()
    assert md5_matches(base64.b64encode(digest).decode(), digest)
    assert md5_matches(digest.hex(), digest)
    assert md5_matches(None, digest)
    assert not md5_matches(base64.b64encode(hashlib.md5(b"other").digest()).decode(), digest)
