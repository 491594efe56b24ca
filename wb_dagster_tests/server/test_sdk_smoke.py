"""Smoke test: the official wandb SDK reads a demo run from the local server."""

from wb_dagster.testing.seeds.demo import DEMO_RUNS_BY_ID, demo_config


def test_official_sdk_reads_demo_run_config(demo_sdk_api):
    run = demo_sdk_api.run("wb-demo/cifar/cifar000")
    expected = {k: v for k, v in demo_config(DEMO_RUNS_BY_ID["cifar000"]).items() if k != "_wandb"}
    assert run.config == expected
    assert run.state == "finished"
