"""Test control: make the server answer like an older W&B server that lacks newer API fields.

The official SDK keeps fallbacks for older W&B servers, and so must our client:

* ``legacy_sweeps``: ``Sweep`` has only ``id name state bestLoss config`` (plus ``runs`` and
  ``project``), ``Project.sweeps`` takes no ``filters`` and the ``SWEEPS_QUERY_FILTERING``
  feature is off. The SDK then retries ``GetSweep`` as ``GetSweepLegacy`` and strips
  ``filters`` from ``GetSweeps`` (sweep filtering needs W&B server 0.81.4, ``sweeps.py``).
* ``legacy_delete_run``: ``DeleteRunInput`` has no ``deleteArtifacts`` (the SDK sends it only
  when the caller asks to delete artifacts, because older backends lack it).

A query that uses a missing field or argument fails validation (HTTP 400 with GraphQL
``errors``), as on a server whose schema predates it. Default: everything present. Set with
``POST /_control/compat`` ``{"legacy_sweeps": true}`` (``GET`` reads it, ``DELETE`` resets).

Example:
    >>> compat = ServerCompat(legacy_sweeps=True)
    >>> sorted(compat.missing_features())
    ['SWEEPS_QUERY_FILTERING']
    >>> ServerCompat().is_default, compat.is_default
    (True, False)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLInputObjectType, GraphQLObjectType, GraphQLSchema

NEWER_SWEEP_FIELDS = (
    "displayName",
    "method",
    "description",
    "createdAt",
    "updatedAt",
    "runCount",
    "runCountExpected",
    "controllerRunName",
)


@dataclass(frozen=True)
class ServerCompat:
    """Which newer W&B API features this server pretends to lack."""

    legacy_sweeps: bool = False
    legacy_delete_run: bool = False

    @property
    def is_default(self) -> bool:
        return self == ServerCompat()

    def missing_features(self) -> frozenset[str]:
        """Server features (``serverInfo.features``) an older server would not report."""
        return frozenset({"SWEEPS_QUERY_FILTERING"} if self.legacy_sweeps else ())

    def features(self, names: Iterable[str]) -> list[dict[str, Any]]:
        """``serverInfo.features`` entries: ``names`` without the missing ones."""
        missing = self.missing_features()
        return [{"name": n, "isEnabled": True} for n in names if n not in missing]

    def strip(self, schema: GraphQLSchema) -> GraphQLSchema:
        """Remove the missing fields from ``schema`` (a freshly built one, changed in place)."""
        if self.legacy_sweeps:
            sweep = schema.type_map["Sweep"]
            project = schema.type_map["Project"]
            assert isinstance(sweep, GraphQLObjectType) and isinstance(project, GraphQLObjectType)
            for name in NEWER_SWEEP_FIELDS:
                sweep.fields.pop(name, None)
            project.fields["sweeps"].args.pop("filters", None)
        if self.legacy_delete_run:
            delete_input = schema.type_map["DeleteRunInput"]
            assert isinstance(delete_input, GraphQLInputObjectType)
            delete_input.fields.pop("deleteArtifacts", None)
        return schema
