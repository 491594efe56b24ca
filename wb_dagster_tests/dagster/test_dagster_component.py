"""WandbProjectComponent loaded from YAML: assets, EnvVar key (not in the snapshot), overrides."""

import dagster as dg
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster.components.testing import create_defs_folder_sandbox
from dagster_shared.serdes import serialize_value

from wb_dagster.component import WandbProjectComponent

SECRET = "c0mp0nent" + "q" * 40


def _yaml(**attributes):
    return {
        "type": "wb_dagster.component.WandbProjectComponent",
        "attributes": {"entity": "wb-demo", "project": "cifar", **attributes},
    }


def test_yaml_component_builds_the_project_graph_with_the_key_as_envvar(monkeypatch, tmp_path):
    monkeypatch.setenv("MY_TEAM_WANDB_KEY", SECRET)
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(
            component_cls=WandbProjectComponent,
            defs_yaml_contents=_yaml(
                api_key_env="MY_TEAM_WANDB_KEY",
                storage_dir=str(tmp_path),
                key_prefix=["ml", "wandb"],
                sensor_running=True,
            ),
        )
        with sandbox.load_component_and_build_defs(defs_path=path) as (component, defs):
            assert isinstance(component, WandbProjectComponent)
            keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
            assert keys == {
                f"ml/wandb/cifar/{k}"
                for k in (
                    "project",
                    "runs",
                    "run_history",
                    "run_system_metrics",
                    "sweep_best_model",
                )
            }
            sensor = defs.resolve_sensor_def("wandb_wb_demo__cifar__run_sensor")
            assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
            text = serialize_value(RepositorySnap.from_def(defs.get_repository_def()))
            assert SECRET not in text and "MY_TEAM_WANDB_KEY" in text


class OwnedComponent(WandbProjectComponent):
    def get_asset_spec(self, props):
        return super().get_asset_spec(props).replace_attributes(owners=["team:ml"])


def test_python_subclass_overrides_specs(tmp_path):
    comp = OwnedComponent(entity="wb-demo", project="cifar", storage_dir=str(tmp_path))
    defs = comp.build_defs(None)  # type: ignore[arg-type]
    graph = defs.resolve_asset_graph()
    runs = graph.get(dg.AssetKey(["wandb", "cifar", "runs"]))
    assert runs.owners == ["team:ml"]
