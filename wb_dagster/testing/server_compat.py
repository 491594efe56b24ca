"""Test control: make the server answer like an older W&B server that lacks newer API fields.

The official SDK keeps fallbacks for older W&B servers, and so must our client:

* ``lacks_sweep_filters``: ``Project.sweeps`` takes no ``filters`` and the
  ``SWEEPS_QUERY_FILTERING`` feature is off (W&B servers before 0.81.4, says the SDK's
  ``sweeps.py``): the SDK then strips ``filters`` from ``GetSweeps``, and refuses a filtered
  listing.
* ``lacks_sweep_fields``: ``Sweep`` has only ``id name state bestLoss config`` (plus ``runs``
  and ``project``), the fields of the SDK's ``GetSweepLegacy``, which it retries with when
  ``GetSweep`` fails.
* ``lacks_delete_artifacts``: ``DeleteRunInput`` has no ``deleteArtifacts`` (the SDK sends it
  only when the caller asks to delete artifacts, because older backends lack it).

A query that uses a missing field or argument fails validation (HTTP 400 with GraphQL
``errors``), as on a server whose schema predates it. Default: everything present. Set with
``POST /_control/compat`` ``{"lacks_sweep_filters": true}`` (``GET`` reads it, ``DELETE`` resets).

Example:
    >>> compat = ServerCompat(lacks_sweep_filters=True)
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

    lacks_sweep_filters: bool = False
    lacks_sweep_fields: bool = False
    lacks_delete_artifacts: bool = False

    @property
    def is_default(self) -> bool:
        return self == ServerCompat()

    def missing_features(self) -> frozenset[str]:
        """Server features (``serverInfo.features``) an older server would not report."""
        return frozenset({"SWEEPS_QUERY_FILTERING"} if self.lacks_sweep_filters else ())

    def features(self, names: Iterable[str]) -> list[dict[str, Any]]:
        """``serverInfo.features`` entries: ``names`` without the missing ones."""
        missing = self.missing_features()
        return [{"name": n, "isEnabled": True} for n in names if n not in missing]

    def strip(self, schema: GraphQLSchema) -> GraphQLSchema:
        """Remove the missing fields from ``schema`` (a freshly built one, changed in place)."""
        if self.lacks_sweep_filters:
            project = schema.type_map["Project"]
            assert isinstance(project, GraphQLObjectType)
            project.fields["sweeps"].args.pop("filters", None)
        if self.lacks_sweep_fields:
            sweep = schema.type_map["Sweep"]
            assert isinstance(sweep, GraphQLObjectType)
            for name in NEWER_SWEEP_FIELDS:
                sweep.fields.pop(name, None)
        if self.lacks_delete_artifacts:
            delete_input = schema.type_map["DeleteRunInput"]
            assert isinstance(delete_input, GraphQLInputObjectType)
            delete_input.fields.pop("deleteArtifacts", None)
        return schema
