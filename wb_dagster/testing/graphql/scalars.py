"""The custom scalars of the schema (``JSONString``, ``JSON``, ``Int64``, ``DateTime``,
``Duration``): how each is read from a request and written to a reply.

``JSONString`` travels as a JSON-encoded string, ``Int64`` accepts integral floats (the SDK
sends ``1.0`` for ``1``), the rest pass through.

Example:
    >>> from graphql import build_schema
    >>> schema = build_schema("scalar JSONString scalar JSON scalar Int64 scalar DateTime "
    ...                       "scalar Duration type Query { x: Int64 }")
    >>> configure_scalars(schema)
    >>> schema.type_map["Int64"].parse_value(2.0), schema.type_map["JSONString"].serialize({})
    (2, '{}')
"""

from __future__ import annotations

import json
from typing import Any

from graphql import GraphQLError, GraphQLScalarType, GraphQLSchema
from graphql.language import ast as gql_ast
from graphql.utilities import value_from_ast_untyped


def _json_string_out(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _json_string_in(value: Any) -> Any:
    return value


def _literal(node: gql_ast.ValueNode, variables: dict[str, Any] | None = None) -> Any:
    return value_from_ast_untyped(node, variables)


def _int64_in(value: Any) -> int:
    if isinstance(value, bool):
        raise GraphQLError(f"Int64 cannot represent {value!r}")
    if isinstance(value, float):
        if not value.is_integer():
            raise GraphQLError(f"Int64 cannot represent non-integer {value!r}")
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise GraphQLError(f"Int64 cannot represent {value!r}") from exc


def _int64_literal(node: gql_ast.ValueNode, variables: dict[str, Any] | None = None) -> int:
    return _int64_in(value_from_ast_untyped(node, variables))


def configure_scalars(schema: GraphQLSchema) -> None:
    """Give ``schema``'s custom scalars their serializers and parsers (in place)."""

    def setup(name: str, serialize: Any, parse_value: Any, parse_literal: Any) -> None:
        scalar = schema.type_map[name]
        assert isinstance(scalar, GraphQLScalarType)
        scalar.serialize = serialize  # type: ignore[method-assign]
        scalar.parse_value = parse_value  # type: ignore[method-assign]
        scalar.parse_literal = parse_literal  # type: ignore[method-assign]

    setup("JSONString", _json_string_out, _json_string_in, _literal)
    setup("JSON", lambda v: v, lambda v: v, _literal)
    setup("Int64", int, _int64_in, _int64_literal)
    setup("DateTime", str, str, _literal)
    setup("Duration", lambda v: v, lambda v: v, _literal)
