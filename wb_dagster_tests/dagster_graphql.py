"""The webserver GraphQL the daemon tests use: sensor ticks, turning a schedule on, and
materializing one partition of an asset.

What a user sees (and does) in the UI, asked of a running ``dagster dev``
(:class:`wb_dagster.dagster_process.DagsterProcess`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wb_dagster.dagster_process import DagsterProcess

REPOSITORIES = """
{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }
"""
SENSOR_TICKS = """
query($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    ... on Sensor { sensorState { ticks(limit: 100) { status timestamp endTimestamp cursor } } }
  }
}
"""
START_SCHEDULE = """
mutation($selector: ScheduleSelector!) {
  startSchedule(scheduleSelector: $selector) {
    __typename
    ... on ScheduleStateResult { scheduleState { status } }
    ... on PythonError { message }
  }
}
"""
LAUNCH_RUN = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on Error { message }
  }
}
"""
# the job the UI launches when assets are materialized from the asset graph or an asset's page
ASSET_JOB = "__ASSET_JOB"


def repository_selector(dagster: DagsterProcess) -> dict[str, str]:
    """The selector of the one repository ``dagster dev`` loaded."""
    (repo,) = dagster.graphql(REPOSITORIES)["repositoriesOrError"]["nodes"]
    return {"repositoryLocationName": repo["location"]["name"], "repositoryName": repo["name"]}


def sensor_ticks(dagster: DagsterProcess, sensor: str) -> list[dict[str, Any]]:
    """The sensor's latest ticks (status, timestamps, cursor), newest first."""
    selector = {**repository_selector(dagster), "sensorName": sensor}
    state = dagster.graphql(SENSOR_TICKS, {"selector": selector})["sensorOrError"]["sensorState"]
    return list(state["ticks"])


def start_schedule(dagster: DagsterProcess, schedule: str) -> None:
    """Turn ``schedule`` on, as the UI's toggle does."""
    selector = {**repository_selector(dagster), "scheduleName": schedule}
    result = dagster.graphql(START_SCHEDULE, {"selector": selector})["startSchedule"]
    assert result["__typename"] == "ScheduleStateResult", result


def materialize_partition(dagster: DagsterProcess, asset_key: Sequence[str], partition: str) -> str:
    """Launch one run materializing ``partition`` of ``asset_key`` (the UI's *Materialize* on
    an asset's partition); the run goes through the instance's run queue. Returns its run id."""
    selector = {
        **repository_selector(dagster),
        "jobName": ASSET_JOB,
        "assetSelection": [{"path": list(asset_key)}],
    }
    params = {
        "selector": selector,
        "runConfigData": {},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
    }
    result = dagster.graphql(LAUNCH_RUN, {"params": params})["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return str(result["run"]["runId"])
