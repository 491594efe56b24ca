"""MongoDB-style run filters and ``order`` strings, translated to SQL over the ``runs`` table.

Supported vocabulary (what W&B documents for ``api.runs(filters=..., order=...)``):

* operators ``$and $or $nor $eq $ne $gt $gte $lt $lte $in $nin $exists $regex`` and implicit
  equality ``{"field": value}``;
* fields ``name`` (the run id), ``displayName``/``display_name``, ``state``,
  ``createdAt``/``created_at``, ``heartbeatAt``/``heartbeat_at``/``updatedAt``, ``group``,
  ``jobType``/``job_type``, ``sweep``, ``username``, ``host``, ``commit``, ``tags`` (array
  semantics: ``{"tags": "x"}`` = has tag x, ``$in``/``$nin`` = has any/none, ``null`` = no tags),
  ``config.X`` and ``config.X.value`` (both read the stored ``{"value": ...}`` wrapping; more
  segments go into nested dicts), ``summary_metrics.X`` and ``duration`` (seconds);
* times are compared as instants: ISO-8601 strings (any offset, ``Z``; no zone = UTC) or epoch
  seconds; with ``whole_seconds`` (W&B's behaviour, the server's default) both sides are
  truncated to whole seconds, as the server shows them, and epoch numbers are refused (they fail
  on W&B);
* order ``+key``/``-key`` (no sign = ascending) on ``created_at``, ``heartbeat_at``, ``name``,
  ``display_name``, ``state``, ``group``, ``job_type``, ``sweep``, ``config.X(.value)`` and
  ``summary_metrics.X``; missing values sort last, ties are broken by insertion order.

Anything else raises :class:`FilterError` with a message saying what is wrong.

Example:
    >>> sql = compile_filters('{"$or": [{"config.experiment_name": "foo"}, {"state": "failed"}]}')
    >>> print(sql.where)
    ((json_extract(r.config, '$."experiment_name".value') IS ?) OR (r.state IS ?))
    >>> sql.params
    ['foo', 'failed']
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from wb_dagster.testing.store.database import parse_time


class FilterError(ValueError):
    """An invalid ``filters`` or ``order`` value (the message says what to change)."""


@dataclass
class SqlFragment:
    """A SQL boolean expression with its positional parameters."""

    where: str = "1"
    params: list[Any] = field(default_factory=list)


_COLUMNS: dict[str, str] = {
    "name": "r.name",
    "displayName": "r.display_name",
    "display_name": "r.display_name",
    "state": "r.state",
    "group": "r.group_name",
    "jobType": "r.job_type",
    "job_type": "r.job_type",
    "sweep": "r.sweep_name",
    "sweepName": "r.sweep_name",
    "username": "r.username",
    "host": "r.host",
    "commit": "r.commit_hash",
    "description": "r.description",
    "notes": "r.notes",
}
_TIME_COLUMNS: dict[str, str] = {
    "createdAt": "r.created_at",
    "created_at": "r.created_at",
    "heartbeatAt": "r.heartbeat_at",
    "heartbeat_at": "r.heartbeat_at",
    "updatedAt": "r.heartbeat_at",
    "updated_at": "r.heartbeat_at",
}
_COMPARISONS = {"$eq": "IS", "$ne": "IS NOT", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_SECOND_BOUNDS = {"$gt": (">", ".999999Z"), "$gte": (">=", ""), "$lt": ("<", ""),
                  "$lte": ("<=", ".999999Z")}  # fmt: skip
_OPERATORS = sorted([*_COMPARISONS, "$in", "$nin", "$exists", "$regex", "$and", "$or", "$nor"])
_KNOWN_FIELDS = sorted(
    [*_COLUMNS, *_TIME_COLUMNS, "tags", "duration", "config.<key>", "summary_metrics.<key>"]
)


def _json_path(segments: list[str]) -> str:
    for seg in segments:
        if not seg or '"' in seg or "'" in seg:
            raise FilterError(f"invalid key segment {seg!r} in a config/summary path")
    return "$" + "".join(f'."{seg}"' for seg in segments)


def _config_expr(rest: str) -> str:
    segments = rest.split(".")
    head, tail = segments[0], segments[1:]
    if tail and tail[0] == "value":
        tail = tail[1:]
    path = _json_path([head]) + ".value" + (_json_path(tail)[1:] if tail else "")
    return f"json_extract(r.config, '{path}')"


def _summary_expr(rest: str) -> str:
    whole = f"json_extract(r.summary, '{_json_path([rest])}')"
    if "." not in rest:
        return whole
    # "a.b" may be a key containing a dot or a nested dict: try the literal key first
    nested = f"json_extract(r.summary, '{_json_path(rest.split('.'))}')"
    return f"COALESCE({whole}, {nested})"


@dataclass(frozen=True)
class _Field:
    expr: str
    is_time: bool = False
    is_tags: bool = False
    whole_seconds: bool = False
    column: str = ""


def _resolve_field(name: str, whole_seconds: bool = False) -> _Field:
    if name in _COLUMNS:
        return _Field(_COLUMNS[name])
    if name in _TIME_COLUMNS:
        column = _TIME_COLUMNS[name]
        if whole_seconds:  # stored with microseconds, compared as served: whole seconds
            expr = f"substr({column}, 1, 19)"
            return _Field(expr, is_time=True, whole_seconds=True, column=column)
        return _Field(column, is_time=True)
    if name == "tags":
        return _Field("r.tags", is_tags=True)
    if name == "duration":
        return _Field(_summary_expr("_wandb.runtime"))
    for prefix in ("config.",):
        if name.startswith(prefix) and len(name) > len(prefix):
            return _Field(_config_expr(name[len(prefix) :]))
    for prefix in ("summary_metrics.", "summaryMetrics.", "summary."):
        if name.startswith(prefix) and len(name) > len(prefix):
            return _Field(_summary_expr(name[len(prefix) :]))
    if name in {"_step", "_runtime", "_timestamp"}:
        return _Field(_summary_expr(name))
    hint = " (filter the run id with 'name')" if name == "id" else ""
    raise FilterError(
        f"unknown run filter field {name!r}{hint}; known fields: {', '.join(_KNOWN_FIELDS)}"
    )


def _scalar(value: Any, fld: _Field, where: str) -> Any:
    if isinstance(value, dict | list):
        raise FilterError(f"{where}: expected a scalar value, got {json.dumps(value)}")
    if fld.is_time and value is not None:
        if fld.whole_seconds and not isinstance(value, str):
            raise FilterError(
                f"{where}: {json.dumps(value)} is not a time string; W&B compares times as "
                "ISO-8601 strings such as '2023-11-05T17:46:36' (UTC) and fails on numbers"
            )
        try:
            parsed = parse_time(value)
        except ValueError as exc:
            raise FilterError(f"{where}: {exc}") from exc
        return parsed[:19] if fld.whole_seconds else parsed
    return value


def _tags_condition(op: str, value: Any) -> SqlFragment:
    exists = "EXISTS (SELECT 1 FROM json_each(r.tags) WHERE json_each.value = ?)"
    if op == "$eq":
        if value is None:
            return SqlFragment("json_array_length(r.tags) = 0")
        return SqlFragment(exists, [value])
    if op == "$ne":
        if value is None:
            return SqlFragment("json_array_length(r.tags) > 0")
        return SqlFragment(f"NOT {exists}", [value])
    if op in {"$in", "$nin"}:
        if not isinstance(value, list):
            raise FilterError(f"tags {op}: expected a list of tags, got {json.dumps(value)}")
        marks = ", ".join("?" for _ in value) or "NULL"
        any_of = f"EXISTS (SELECT 1 FROM json_each(r.tags) WHERE json_each.value IN ({marks}))"
        return SqlFragment(any_of if op == "$in" else f"NOT {any_of}", list(value))
    if op == "$exists":
        return SqlFragment("json_array_length(r.tags) " + ("> 0" if value else "= 0"))
    if op == "$regex":
        return SqlFragment(
            "EXISTS (SELECT 1 FROM json_each(r.tags) WHERE regexp(?, json_each.value))", [value]
        )
    raise FilterError(f"operator {op} is not supported on tags; use $eq $ne $in $nin $exists")


def _field_condition(name: str, op: str, value: Any, whole_seconds: bool) -> SqlFragment:
    fld = _resolve_field(name, whole_seconds)
    where = f"filter on {name!r} with {op}"
    if fld.is_tags:
        return _tags_condition(op, value)
    if op in _COMPARISONS:
        value = _scalar(value, fld, where)
        if value is None and op not in {"$eq", "$ne"}:
            raise FilterError(f"{where}: cannot compare with null")
        if fld.whole_seconds and op in _SECOND_BOUNDS:
            # on the stored column (indexed): a second's stored values lie in [v, v + ".999999Z"]
            cmp, suffix = _SECOND_BOUNDS[op]
            return SqlFragment(f"{fld.column} {cmp} ?", [value + suffix])
        return SqlFragment(f"{fld.expr} {_COMPARISONS[op]} ?", [value])
    if op in {"$in", "$nin"}:
        if not isinstance(value, list):
            raise FilterError(f"{where}: expected a list, got {json.dumps(value)}")
        values = [_scalar(v, fld, where) for v in value]
        non_null = [v for v in values if v is not None]
        marks = ", ".join("?" for _ in non_null) or "NULL"
        cond = f"{fld.expr} IN ({marks})"
        if None in values:
            cond = f"({cond} OR {fld.expr} IS NULL)"
        return SqlFragment(cond if op == "$in" else f"NOT {cond}", non_null)
    if op == "$exists":
        return SqlFragment(f"{fld.expr} IS " + ("NOT NULL" if value else "NULL"))
    if op == "$regex":
        if not isinstance(value, str):
            raise FilterError(f"{where}: the pattern must be a string")
        return SqlFragment(f"regexp(?, {fld.expr})", [value])
    if op == "$options":
        return SqlFragment("1")
    raise FilterError(f"unsupported operator {op!r} in {where}; supported: {', '.join(_OPERATORS)}")


def _combine(parts: list[SqlFragment], joiner: str) -> SqlFragment:
    if not parts:
        return SqlFragment("1" if joiner == "AND" else "0")
    if len(parts) == 1:
        return parts[0]
    where = "(" + f" {joiner} ".join(f"({p.where})" for p in parts) + ")"
    return SqlFragment(where, [v for p in parts for v in p.params])


def _compile_node(node: Any, secs: bool) -> SqlFragment:
    if not isinstance(node, dict):
        raise FilterError(f"a filter must be a JSON object, got {json.dumps(node)}")
    parts: list[SqlFragment] = []
    for key, value in node.items():
        if key in {"$and", "$or", "$nor"}:
            if not isinstance(value, list):
                raise FilterError(
                    f"{key} expects a list of filter objects, got {json.dumps(value)}"
                )
            subs = [_compile_node(v, secs) for v in value]
            if key == "$and":
                parts.append(_combine(subs, "AND"))
            elif key == "$or":
                parts.append(_combine(subs, "OR"))
            else:
                inner = _combine(subs, "OR")
                parts.append(SqlFragment(f"NOT {inner.where}", inner.params))
        elif key.startswith("$"):
            raise FilterError(
                f"unsupported top-level operator {key!r}; supported: $and $or $nor, or a field name"
            )
        elif isinstance(value, dict) and value and all(k.startswith("$") for k in value):
            conds = [_field_condition(key, op, v, secs) for op, v in value.items()]
            parts.append(_combine(conds, "AND"))
        else:
            parts.append(_field_condition(key, "$eq", value, secs))
    return _combine(parts, "AND")


def compile_filters(
    filters: str | dict[str, Any] | None, *, whole_seconds: bool = False
) -> SqlFragment:
    """Translate a filters JSON string (or dict) into a SQL condition on ``runs r``."""
    if filters is None or filters == "":
        return SqlFragment()
    if isinstance(filters, str):
        text = filters
        try:
            filters = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FilterError(f"filters is not valid JSON ({exc}): {text[:200]!r}") from exc
    if filters in (None, {}):
        return SqlFragment()
    return _compile_node(filters, whole_seconds)


@dataclass(frozen=True)
class Order:
    """A parsed ``order`` string: one sort expression, its direction, and the original text."""

    expr: str
    descending: bool
    text: str


_ORDER_COLUMNS = {
    **{k: v for k, v in _TIME_COLUMNS.items()},
    "name": "r.name",
    "display_name": "r.display_name",
    "displayName": "r.display_name",
    "state": "r.state",
    "group": "r.group_name",
    "job_type": "r.job_type",
    "jobType": "r.job_type",
    "sweep": "r.sweep_name",
}


def parse_order(order: str | None) -> Order:
    """Parse ``"+created_at"``, ``"-summary_metrics.val_acc"``, ``"-config.lr.value"``...

    >>> parse_order("-config.lr.value").expr
    'json_extract(r.config, \\'$."lr".value\\')'
    """
    text = (order or "+created_at").strip()
    descending = text.startswith("-")
    key = text[1:] if text[:1] in "+-" else text
    if key in _ORDER_COLUMNS:
        return Order(_ORDER_COLUMNS[key], descending, text)
    if key.startswith("config.") and len(key) > 7:
        return Order(_config_expr(key[7:]), descending, text)
    for prefix in ("summary_metrics.", "summaryMetrics.", "summary."):
        if key.startswith(prefix) and len(key) > len(prefix):
            return Order(_summary_expr(key[len(prefix) :]), descending, text)
    raise FilterError(
        f"unsupported order {text!r}; use +/- followed by one of "
        f"{', '.join(sorted(_ORDER_COLUMNS))}, config.<key>, summary_metrics.<key>"
    )


def order_by_sql(order: Order) -> str:
    """ORDER BY clause: missing values last, then the value, then insertion order (pk)."""
    direction = "DESC" if order.descending else "ASC"
    return f"({order.expr}) IS NULL ASC, ({order.expr}) {direction}, r.pk {direction}"


def encode_cursor(order: Order, value: Any, pk: int) -> str:
    """An opaque cursor naming the position just after the run (value, pk) in this order."""
    raw = json.dumps([order.text, value, pk], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def cursor_condition(order: Order, cursor: str) -> SqlFragment:
    """SQL selecting the runs strictly after ``cursor`` (keyset pagination, stable under edits)."""
    try:
        text, value, pk = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        pk = int(pk)
    except (ValueError, TypeError) as exc:
        raise FilterError(
            f"invalid cursor {cursor!r}: pass the cursor of the last edge of the previous page"
        ) from exc
    if text != order.text:
        raise FilterError(
            f"cursor was made for order {text!r} but this query orders by {order.text!r}; "
            "restart paging from the first page"
        )
    cmp = "<" if order.descending else ">"
    expr = f"({order.expr})"
    if value is None:
        return SqlFragment(f"({expr} IS NULL AND r.pk {cmp} ?)", [pk])
    return SqlFragment(
        f"({expr} IS NULL OR {expr} {cmp} ? OR ({expr} = ? AND r.pk {cmp} ?))",
        [value, value, pk],
    )
