"""The server's GraphQL schema: ``schema.graphql`` + ``schema_artifacts.graphql`` (both next to
this module), with the scalars and the artifact resolvers installed.

Example:
    >>> schema = load_schema()
    >>> "upsertBucket" in schema.mutation_type.fields, load_schema() is schema
    (True, True)
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from graphql import GraphQLSchema, build_schema

from wb_dagster.testing.graphql.artifact_resolvers import artifact_sdl, install_artifact_resolvers
from wb_dagster.testing.graphql.scalars import configure_scalars
from wb_dagster.testing.server_compat import ServerCompat


@lru_cache(maxsize=8)
def load_schema(compat: ServerCompat = ServerCompat()) -> GraphQLSchema:  # noqa: B008
    """The server's schema (without what ``compat`` removes), built once per process."""
    sdl = resources.files("wb_dagster.testing.graphql").joinpath("schema.graphql").read_text()
    schema = build_schema(sdl + artifact_sdl())
    configure_scalars(schema)
    install_artifact_resolvers(schema)
    return compat.strip(schema)
