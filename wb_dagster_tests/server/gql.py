"""A tiny GraphQL caller for server tests (plain requests, no SDK start-up cost)."""

from __future__ import annotations

import json
from typing import Any

import requests

from wb_dagster.testing import LocalWandbServer

RUNS_QUERY = """
query Runs($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50,
           $order: String, $filters: JSONString) {
  project(name: $project, entityName: $entity) {
    runCount(filters: $filters)
    runs(filters: $filters, after: $cursor, first: $perPage, order: $order) {
      edges { node { name displayName state createdAt heartbeatAt config summaryMetrics } cursor }
      pageInfo { endCursor hasNextPage }
    }
  }
}
"""


def gql(server: LocalWandbServer, query: str, **variables: Any) -> dict[str, Any]:
    """POST one GraphQL request; returns the JSON reply (data and/or errors)."""
    reply = requests.post(
        f"{server.base_url}/graphql",
        json={"query": query, "variables": variables, "operationName": ""},
        auth=("api", server.api_key),
        timeout=30,
    )
    return reply.json()


def runs_page(
    server: LocalWandbServer,
    project: str,
    filters: dict[str, Any] | None = None,
    order: str | None = None,
    per_page: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    entity, name = project.split("/")
    return gql(
        server,
        RUNS_QUERY,
        project=name,
        entity=entity,
        filters=json.dumps(filters or {}),
        order=order,
        perPage=per_page,
        cursor=cursor,
    )


def all_run_ids(
    server: LocalWandbServer,
    project: str,
    filters: dict[str, Any] | None = None,
    order: str | None = None,
    per_page: int = 50,
) -> list[str]:
    """Every run id of a listing, following cursors."""
    ids: list[str] = []
    cursor = None
    for _ in range(10_000):
        reply = runs_page(server, project, filters, order, per_page, cursor)
        assert "errors" not in reply, reply
        runs = reply["data"]["project"]["runs"]
        ids += [e["node"]["name"] for e in runs["edges"]]
        if not runs["pageInfo"]["hasNextPage"]:
            return ids
        cursor = runs["edges"][-1]["cursor"]
    raise AssertionError("pagination did not end")
