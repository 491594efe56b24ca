"""``api.project(...).sweeps(filters=...)`` of the official SDK against the local server."""

from __future__ import annotations

import pytest

from wb_dagster.testing.seeds.demo import DEMO_ENTITY, DEMO_PROJECT, DEMO_SWEEP_ID

PATH = f"{DEMO_ENTITY}/{DEMO_PROJECT}"


def test_sdk_lists_and_filters_sweeps(server, sdk_api):
    server.seed.create_sweep(PATH, "swp-running", {"method": "grid", "parameters": {}})
    server.seed.create_sweep(PATH, "swp-other", {"method": "random", "parameters": {}})

    project = sdk_api.project(DEMO_PROJECT, entity=DEMO_ENTITY)
    every = project.sweeps()
    assert sorted(s.id for s in every) == sorted([DEMO_SWEEP_ID, "swp-running", "swp-other"])
    assert len(every) == 3

    running = project.sweeps(filters={"state": "RUNNING"})
    assert sorted(s.id for s in running) == ["swp-other", "swp-running"]
    finished = project.sweeps(filters={"$or": [{"state": "FINISHED"}, {"name": "nope"}]})
    assert [s.id for s in finished] == [DEMO_SWEEP_ID]


def test_invalid_sweep_filter_names_the_field(server, sdk_api):
    with pytest.raises(Exception, match="sweep filter field 'bestLoss' is not supported"):
        list(sdk_api.project(DEMO_PROJECT, entity=DEMO_ENTITY).sweeps(filters={"bestLoss": 1}))
