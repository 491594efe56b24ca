"""The server posing as an older W&B server (``/_control/compat``), and the fallbacks it proves.

The official SDK keeps fallbacks for servers that lack newer fields: ``GetSweepLegacy`` when
``GetSweep`` fails, no ``sweeps(filters:)`` without ``SWEEPS_QUERY_FILTERING``, and
``deleteArtifacts`` sent only when asked. The SDK shows the knob mimics such a server; our
client must survive it the same way. Expected values are the demo seed's literals.
"""

from __future__ import annotations

import pytest
import requests
import wandb.errors

from wb_dagster.client import CommError, NotFoundError
from wb_dagster.testing import LocalWandbServer
from wb_dagster.testing.seeds.demo import DEMO_ENTITY, DEMO_PROJECT, DEMO_SWEEP_ID
from wb_dagster.testing.server_compat import ServerCompat
from wb_dagster_tests.server.gql import gql

PATH = f"{DEMO_ENTITY}/{DEMO_PROJECT}"
SWEEP = f"{PATH}/{DEMO_SWEEP_ID}"
METRIC = {"goal": "maximize", "name": "val_acc"}

# what wandb-core 0.31 sends for a sweep's settings (the string embedded in its binary)
SWEEP_CONFIG_QUERY = """
query SweepConfig ($entity: String!, $project: String!, $sweep: String!) {
    project(name: $project, entityName: $entity) {
        sweep(sweepName: $sweep) { id state config displayName controllerRunName }
    }
}
"""


def test_compat_control_route_sets_reads_and_resets(server: LocalWandbServer) -> None:
    url = f"{server.base_url}/_control/compat"
    assert requests.get(url, timeout=10).json() == {
        "lacks_sweep_filters": False,
        "lacks_sweep_fields": False,
        "lacks_delete_artifacts": False,
    }
    reply = requests.post(url, json={"lacks_sweep_filters": True}, timeout=10)
    assert reply.json()["lacks_sweep_filters"] is True
    assert server.compat == ServerCompat(lacks_sweep_filters=True)
    bad = requests.post(url, json={"lacks_everything": True}, timeout=10)
    assert bad.status_code == 400 and "lacks_delete_artifacts" in bad.text
    requests.delete(url, timeout=10)
    assert server.compat.is_default


def test_wandb_core_sweep_config_query(server: LocalWandbServer) -> None:
    def sweep_config() -> dict:
        return gql(server, SWEEP_CONFIG_QUERY, entity=DEMO_ENTITY, project=DEMO_PROJECT,
                   sweep=DEMO_SWEEP_ID)  # fmt: skip

    sweep = sweep_config()["data"]["project"]["sweep"]
    assert sweep["state"] == "FINISHED"
    assert sweep["controllerRunName"] is None  # W&B's hosted controller: no controller run
    server.compat = ServerCompat(lacks_sweep_fields=True)
    message = sweep_config()["errors"][0]["message"]
    assert "Cannot query field 'displayName' on type 'Sweep'" in message


def test_sdk_lists_sweeps_without_filters_on_a_server_before_0_81_4(
    server: LocalWandbServer, sdk_api
) -> None:
    server.compat = ServerCompat(lacks_sweep_filters=True)
    project = sdk_api.project(DEMO_PROJECT, entity=DEMO_ENTITY)
    assert [(s.id, s.run_count) for s in project.sweeps()] == [(DEMO_SWEEP_ID, 6)]
    with pytest.raises(wandb.errors.UnsupportedError):
        project.sweeps(filters={"state": "RUNNING"})


def test_sdk_reads_a_sweep_with_the_legacy_query(server: LocalWandbServer, sdk_api) -> None:
    server.compat = ServerCompat(lacks_sweep_fields=True)
    server.reset_stats()
    sweep = sdk_api.sweep(SWEEP)
    assert (sweep.state, sweep.config["metric"]) == ("FINISHED", METRIC)
    assert server.stats()["by_operation"].get("GetSweepLegacy") == 1


def test_client_sweep_queries_fall_back_like_the_sdks(server: LocalWandbServer, client) -> None:
    server.seed.create_sweep(PATH, "swp-running", {"method": "grid", "parameters": {}})
    assert [s.id for s in client.sweeps(PATH, filters={"state": "RUNNING"})] == ["swp-running"]
    both = [DEMO_SWEEP_ID, "swp-running"]

    server.compat = ServerCompat(lacks_sweep_filters=True)
    listed = client.sweeps(PATH, per_page=1)
    assert sorted((s.id, s.run_count) for s in listed) == [(DEMO_SWEEP_ID, 6), ("swp-running", 0)]
    with pytest.raises(CommError, match=r"sweep filters need W&B server 0\.81\.4"):
        client.sweeps(PATH, filters={"state": "RUNNING"})

    server.compat = ServerCompat(lacks_sweep_filters=True, lacks_sweep_fields=True)
    client.flush()
    sweep = client.sweep(SWEEP)
    assert (sweep.state, sweep.config["metric"]) == ("FINISHED", METRIC)
    assert sweep.best_run().id == "cifar007"
    assert sweep.run_count is None  # a field the older server does not have
    assert sorted(s.id for s in client.sweeps(PATH, per_page=1)) == both


def test_delete_artifacts_is_sent_only_when_asked(server: LocalWandbServer, client, sdk_api):
    server.compat = ServerCompat(lacks_delete_artifacts=True)
    sdk_api.run(f"{PATH}/cifar000").delete()  # the SDK omits it too
    client.run(f"{PATH}/cifar001").delete()
    with pytest.raises(NotFoundError):
        client.run(f"{PATH}/cifar001")
    with pytest.raises(CommError, match="deleteArtifacts"):
        client.run(f"{PATH}/cifar002").delete(delete_artifacts=True)
    server.compat = ServerCompat()
    client.run(f"{PATH}/cifar002").delete(delete_artifacts=True)
    with pytest.raises(NotFoundError):
        client.run(f"{PATH}/cifar002")
