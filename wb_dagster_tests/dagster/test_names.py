"""``wb_dagster.names``: every W&B name maps to a key part and a definition name Dagster
accepts, reversibly (key parts) and without collisions (both); seeded random names."""

from __future__ import annotations

import random
import re

import dagster as dg
import pytest

from wb_dagster.names import key_part, name_from_key_part, project_name
from wb_dagster.project import WandbProjectAssetsSpec

ALPHABET = "ab-_. +é€проект💥0" + "AZ"
TRICKY = ["my-proj", "my_proj", "my.proj", "my proj", "my--proj", "my__proj", "-x", "x-", "..", "."]


def _names(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    return [
        "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 8))) for _ in range(n)
    ] + TRICKY


def test_key_parts_are_dagster_safe_reversible_and_distinct() -> None:
    names = set(_names(18, 3000))
    parts = {key_part(n) for n in names}
    assert len(parts) == len(names)
    for name in names:
        part = key_part(name)
        assert re.fullmatch(r"[A-Za-z0-9_.-]+", part), name
        assert ".." not in part and part not in {".", ".."}
        assert name_from_key_part(part) == name


def test_definition_names_are_valid_and_distinct() -> None:
    pairs = {(e, p) for e in ["team-a", "team_a", "t"] for p in _names(7, 1000)}
    names = {project_name(e, p) for e, p in pairs}
    assert len(names) == len(pairs)
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", n) for n in names)
    # the plain form is unchanged from earlier releases (stored partitions and cursors)
    assert project_name("wb-demo", "cifar") == "wb_demo__cifar"


@pytest.mark.parametrize("bad", ["", " ", "a/b", "a:b", "a?b"])
def test_names_w_and_b_refuses_are_refused_with_a_clear_error(bad: str) -> None:
    with pytest.raises(dg.DagsterInvalidDefinitionError, match="project"):
        WandbProjectAssetsSpec.build(entity="team", project=bad)
