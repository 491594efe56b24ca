"""Projects kept apart (issue 18, D3/D10): same project name under two entities, names that
reduce alike (``my-proj``/``my_proj``) and names Dagster refuses (``my runs``, ``проект``,
``a+b``), all in one ``Definitions``, one Dagster instance and one storage root.

Expected run ids come from the official SDK's listing of each project; expected asset keys,
paths and definition names are the literal strings ``docs/configuration.md`` documents.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from wb_dagster.defs import build_wandb_defs
from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.inprocess import QUIET_RUN_CONFIG, assets_of, evaluate_sensor, launch_requests
from wb_dagster_tests.support.clients import make_sdk_api

KEY_ENV = "WB_DAGSTER_ISOLATION_KEY"

# (entity, project) -> (asset-key / storage-path parts, definition-name fragment)
PROJECTS: dict[tuple[str, str], tuple[tuple[str, str], str]] = {
    ("team-a", "cifar"): (("team-a", "cifar"), "team_a__cifar"),
    ("team-b", "cifar"): (("team-b", "cifar"), "team_b__cifar"),
    ("team-a", "my-proj"): (("team-a", "my-proj"), "team_a__my_proj"),
    ("team-a", "my_proj"): (("team-a", "my_proj"), "team_a__my_proj__h6d3ecd0b"),
    ("team-a", "my runs"): (("team-a", "my.20runs"), "team_a__my_runs__he8a05148"),
    ("team-a", "проект"): (
        ("team-a", ".d0.bf.d1.80.d0.be.d0.b5.d0.ba.d1.82"),
        "team_a__x__h298c16ad",
    ),
    ("team-a", "a+b"): (("team-a", "a.2bb"), "team_a__a_b__hd7644079"),
}
# the per-run assets go through the sensors for these (each tick launches Dagster runs)
SENSED = [("team-a", "cifar"), ("team-b", "cifar"), ("team-a", "my_proj"), ("team-a", "my runs")]


@pytest.fixture
def wb(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalWandbServer]:
    with LocalWandbServer(seed=None) as srv:
        monkeypatch.setenv(KEY_ENV, srv.api_key)
        for i, (entity, project) in enumerate(PROJECTS):
            for n in range(2):
                run = srv.seed.create_run(f"{entity}/{project}", f"r{i}x{n}", config={"i": i})
                srv.seed.append_history(run, [{"loss": 1.0 + i}, {"loss": 0.5 + n}])
                srv.seed.finish_run(run)
        yield srv


def _defs(srv: LocalWandbServer, root: Path) -> dg.Definitions:
    return dg.Definitions.merge(
        *[
            build_wandb_defs(
                entity=entity,
                project=project,
                api_key=dg.EnvVar(KEY_ENV),
                base_url=srv.base_url,
                storage_dir=str(root),
            )
            for entity, project in PROJECTS
        ]
    )


def test_projects_share_one_definitions_instance_and_storage_root(
    wb: LocalWandbServer, tmp_path: Path, instance: dg.DagsterInstance, sdk_env: object
) -> None:
    api = make_sdk_api(wb)
    expected = {p: {r.id for r in api.runs(f"{p[0]}/{p[1]}")} for p in PROJECTS}
    assert all(len(ids) == 2 for ids in expected.values())
    assert len(set().union(*expected.values())) == 2 * len(PROJECTS)

    root = tmp_path / "store"
    defs = _defs(wb, root)
    dg.Definitions.validate_loadable(defs)
    assert set(defs.resources or {}) == {"wandb", "wandb_io_manager"}
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    for parts, _ in PROJECTS.values():
        assert f"wandb/{parts[0]}/{parts[1]}/runs" in keys
    names = {s.name for s in defs.sensors or []}
    assert names >= {f"wandb_{name}__run_sensor" for _, name in PROJECTS.values()}

    # every run table in one Dagster run, into one storage root
    runs_keys = [dg.AssetKey(["wandb", *parts, "runs"]) for parts, _ in PROJECTS.values()]
    result = dg.materialize(
        assets_of(defs),
        selection=runs_keys,
        instance=instance,
        resources=dict(defs.resources or {}),
        run_config=QUIET_RUN_CONFIG,
    )
    assert result.success
    for project, (parts, _) in PROJECTS.items():
        table = pq.read_table(root / "wandb" / parts[0] / parts[1] / "runs.parquet")
        assert set(table.column("id").to_pylist()) == expected[project], project

    # the per-run assets through each project's own sensor, partitions and storage folder
    for project in SENSED:
        parts, name = PROJECTS[project]
        sensor = f"wandb_{name}__run_sensor"
        launched = launch_requests(
            defs, sensor, evaluate_sensor(defs, sensor, instance, None), instance
        )
        assert launched.results and all(r.success for r in launched.results)
        assert set(instance.get_dynamic_partitions(f"wandb_runs__{name}")) == expected[project]
        folder = root / "wandb" / parts[0] / parts[1] / "run_history"
        assert {f.stem for f in folder.glob("*.parquet")} == expected[project], project
        for run_id in expected[project]:
            steps = pq.read_table(folder / f"{run_id}.parquet").column("_step").to_pylist()
            assert steps == [0, 1]
