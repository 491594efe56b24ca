"""The webserver GraphQL the daemon tests read: sensor ticks, and turning a schedule on.

What a user sees (and does) in the UI, asked of a running ``dagster dev``
(:class:`wb_dagster.dagster_process.DagsterProcess`).
"""

from __future__ import annotations

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
