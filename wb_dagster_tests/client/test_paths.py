"""Path parsing accepts every form wandb.Api accepts (and names what is missing)."""

from __future__ import annotations

import pytest

from wb_dagster.client.paths import ObjectPath, app_url, parse_object_path, parse_project_path


@pytest.mark.parametrize(
    "path",
    [
        "ent/proj/runs/abc",
        "ent/proj/abc",
        "ent/proj:abc",
        "/ent/proj/runs/abc/",
        " ent/proj/abc ",
        "https://wandb.ai/ent/proj/runs/abc",
        "ent/proj/sweeps/abc",
    ],
)
def test_full_paths(path: str) -> None:
    assert parse_object_path(path) == ObjectPath("ent", "proj", "abc")


def test_partial_paths_use_defaults() -> None:
    assert parse_object_path("proj/abc", default_entity="me") == ObjectPath("me", "proj", "abc")
    assert parse_object_path("proj:abc", default_entity="me") == ObjectPath("me", "proj", "abc")
    assert parse_object_path("abc", default_entity="me", default_project="p") == ObjectPath(
        "me", "p", "abc"
    )


@pytest.mark.parametrize(
    ("path", "message"),
    [("proj/abc", "missing entity"), ("abc", "missing project"), ("", "no run or sweep id")],
)
def test_missing_parts_are_named(path: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_object_path(path)


def test_project_paths() -> None:
    assert parse_project_path("ent/proj") == ("ent", "proj")
    assert parse_project_path("proj", default_entity="me") == ("me", "proj")
    with pytest.raises(ValueError, match="missing entity"):
        parse_project_path("proj")
    with pytest.raises(ValueError, match="entity/project"):
        parse_project_path("a/b/c")


def test_app_url_matches_sdk_rules() -> None:
    assert app_url("https://api.wandb.ai") == "https://forge.coreweave.com/wandb"
    assert app_url("https://api.forge.coreweave.com/") == "https://forge.coreweave.com/wandb"
    assert app_url("https://api.acme.example") == "https://app.acme.example"
    assert app_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
