"""WandbResource: the key stays out of snapshots and reprs; picklable; one client per process."""

import pickle

import dagster as dg
import pytest
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster_shared.serdes import serialize_value

from wb_dagster.defs import build_wandb_defs
from wb_dagster.resource import WandbResource

SECRET = "s3cr3t" + "k" * 40


def snapshot_text(defs: dg.Definitions) -> str:
    return serialize_value(RepositorySnap.from_def(defs.get_repository_def()))


def test_envvar_key_never_enters_the_repository_snapshot(monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", SECRET)
    defs = build_wandb_defs(entity="team", project="proj", storage_dir="/tmp/unused")
    text = snapshot_text(defs)
    assert SECRET not in text
    assert "WANDB_API_KEY" in text  # only the variable's name is recorded


def test_plain_string_key_would_leak_which_is_why_build_wandb_defs_refuses_it():
    # the control: a hand-built resource with a plain string is in the snapshot (Dagster stores
    # resource config), so the snapshot test above can fail
    by_hand = dg.Definitions(resources={"wandb": WandbResource(api_key=SECRET)})
    assert SECRET in snapshot_text(by_hand)
    for kwargs in ({"api_key": SECRET}, {"resource": WandbResource(api_key=SECRET)}):
        with pytest.raises(dg.DagsterInvalidDefinitionError, match=r"dg\.EnvVar") as raised:
            build_wandb_defs(entity="team", project="proj", storage_dir="/tmp/x", **kwargs)
        assert SECRET not in str(raised.value)


def test_repr_and_str_hide_the_key():
    resource = WandbResource(api_key=SECRET, base_url="http://127.0.0.1:1", entity="team")
    assert SECRET not in repr(resource) and SECRET not in str(resource)
    assert "team" in repr(resource)


def test_envvar_resolves_at_run_time_and_client_is_shared_per_process(monkeypatch):
    monkeypatch.setenv("MY_WANDB_KEY", SECRET)
    resource = WandbResource(api_key=dg.EnvVar("MY_WANDB_KEY"), base_url="http://127.0.0.1:1")
    with resource.process_config_and_initialize_cm() as live:
        first, second = live.get_client(), live.get_client()
        assert first is second
        assert first.api_key_set
        assert SECRET not in repr(first)
    # an unresolved EnvVar (e.g. a sensor built outside a run) reads the variable too
    assert resource.get_client() is first


def test_every_setting_reaches_the_client_and_separates_the_cached_clients():
    base = {"api_key": SECRET, "base_url": "http://127.0.0.1:1"}
    default = WandbResource(**base).get_client()
    tuned = WandbResource(**base, max_concurrency=4, download_concurrency=8).get_client()
    assert tuned is not default
    assert (default.max_concurrency, default.transport.download_concurrency) == (16, 64)
    assert (tuned.max_concurrency, tuned.transport.download_concurrency) == (4, 8)


def test_resource_pickles_without_its_client(monkeypatch):
    resource = WandbResource(api_key=SECRET, base_url="http://127.0.0.1:1", entity="team")
    client = resource.get_client()
    clone = pickle.loads(pickle.dumps(resource))
    assert clone.entity == "team" and clone.base_url == "http://127.0.0.1:1"
    assert clone.get_client() is client  # same process, same configuration: same client
    by_name = pickle.loads(pickle.dumps(WandbResource(api_key=dg.EnvVar("WANDB_API_KEY"))))
    assert isinstance(by_name.api_key, dg.EnvVar) and SECRET.encode() not in pickle.dumps(by_name)


def test_missing_envvar_fails_with_the_variable_name(monkeypatch):
    monkeypatch.delenv("ABSENT_WANDB_KEY", raising=False)
    resource = WandbResource(api_key=dg.EnvVar("ABSENT_WANDB_KEY"))
    with (
        pytest.raises(Exception, match="ABSENT_WANDB_KEY"),
        resource.process_config_and_initialize_cm(),
    ):
        pass
