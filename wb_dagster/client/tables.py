"""W&B Tables (``wandb.Table``) logged by a run, read back as Arrow tables.

``wandb.log({"preds": wandb.Table(...)})`` stores, at that step, a ``table-file`` value that
points at a run file ``media/table/<key>_<step>_<digest>.table.json`` holding ``columns`` and
row-major ``data``; ``run.summary[key]`` points at the last one logged (or at a table set on the
summary directly). The public API has no DataFrame path for them (wandb#2400): here each is one
md5- and sha256-verified file download, parsed by Arrow.

Column types follow the package's value model (``docs/values.md``,
:mod:`wb_dagster.client.values`), as in history tables: ints, floats, bools, strings and lists
typed; dict cells (media such as ``image-file`` included) and columns whose values mix kinds
(W&B allows them with ``allow_mixed_types=True``) as W&B JSON text.

Example (``client`` connected to a local server where a run logged a Table; see
``wb_dagster_tests/client/test_tables.py``)::

    run = client.run("my-team/cifar/abc123")
    run.table_keys()                 # ['preds']
    run.table("preds").to_pandas()   # the last logged one
    run.table("preds", step=0)       # the one logged at step 0
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from wb_dagster.client.errors import CommError, NotFoundError

if TYPE_CHECKING:
    import pyarrow as pa

    from wb_dagster.client.files import File

TABLE_FILE = "table-file"
STEP_COLUMN = "_step"
DOWNLOAD_THREADS = 8


class TableRun(Protocol):
    """What finding and reading a run's logged Tables uses of the run (a
    :class:`~wb_dagster.client.runs.Run`).

    Example (``client`` connected to the local server with the demo seed):
        >>> run: TableRun = client.run("wb-demo/cifar/cifar001")
        >>> isinstance(table_keys(run.history_keys, run.summary_metrics), list)
        True
    """

    @property
    def history_keys(self) -> dict[str, Any]: ...
    @property
    def summary_metrics(self) -> dict[str, Any]: ...

    def history_table(
        self, keys: Sequence[str] | None = None, min_step: int = 0, max_step: int | None = None
    ) -> pa.Table: ...

    def files(
        self, names: list[str] | None = None, pattern: str | None = None, per_page: int = 50
    ) -> Iterable[File]: ...


@dataclass(frozen=True)
class TableRef:
    """Where one logged Table lives: the run file ``path`` and the step that logged it.

    Example:
        >>> TableRef.from_value("preds", 3, {"_type": "table-file", "path": "media/t.json"})
        TableRef(key='preds', step=3, path='media/t.json', sha256=None, nrows=None)
        >>> TableRef.from_value("loss", 3, 0.5) is None
        True
    """

    key: str
    step: int | None  # None: set on the summary only, not logged at a step
    path: str
    sha256: str | None = None
    nrows: int | None = None

    @classmethod
    def from_value(cls, key: str, step: int | None, value: Any) -> TableRef | None:
        """The reference a history or summary value holds, if it is a logged Table."""
        if isinstance(value, str) and value.startswith("{"):
            value = json.loads(value)
        if not isinstance(value, Mapping) or value.get("_type") != TABLE_FILE:
            return None
        path = value.get("path")
        if not isinstance(path, str) or not path:
            return None
        nrows = value.get("nrows")
        return cls(key, step, path, value.get("sha256"), int(nrows) if nrows is not None else None)


def table_keys(history_keys: Mapping[str, Any], summary: Mapping[str, Any]) -> list[str]:
    """Keys under which the run logged Tables (history ``typeCounts`` or a summary value).

    Example:
        >>> keys = {"keys": {"preds": {"typeCounts": [{"type": "table-file", "count": 2}]},
        ...                  "loss": {"typeCounts": [{"type": "number", "count": 2}]}}}
        >>> table_keys(keys, {"final": {"_type": "table-file", "path": "media/f.json"}})
        ['final', 'preds']
    """
    found = {
        key
        for key, info in (history_keys.get("keys") or {}).items()
        if any(t.get("type") == TABLE_FILE for t in (info or {}).get("typeCounts") or [])
    }
    found |= {k for k, v in summary.items() if TableRef.from_value(k, None, v) is not None}
    return sorted(found)


def history_refs(run: TableRun, key: str) -> list[TableRef]:
    """Every Table logged under ``key`` in the run's history, by step."""
    history = run.history_table(keys=[key])
    if key not in history.column_names:
        return []
    steps = history.column(STEP_COLUMN).to_pylist()
    values = history.column(key).to_pylist()
    refs = (TableRef.from_value(key, s, v) for s, v in zip(steps, values, strict=True))
    return [r for r in refs if r is not None]


def latest_ref(run: TableRun, key: str) -> TableRef:
    """The Table ``run.summary[key]`` points at (the last one logged under ``key``)."""
    ref = TableRef.from_value(key, None, run.summary_metrics.get(key))
    if ref is None:
        logged = history_refs(run, key)
        if not logged:
            raise NotFoundError(
                f"Run {run} logged no wandb.Table under {key!r}; its Tables are under "
                f"{table_keys(run.history_keys, run.summary_metrics)}."
            )
        return logged[-1]
    # the summary value names no step: give it the step whose history value is the same file
    step = next((r.step for r in history_refs(run, key) if r.path == ref.path), None)
    return TableRef(ref.key, step, ref.path, ref.sha256, ref.nrows)


def read_tables(run: TableRun, refs: Sequence[TableRef]) -> list[pa.Table]:
    """The Arrow tables ``refs`` point at, downloaded concurrently, in ``refs`` order."""
    if not refs:
        return []
    names = sorted({r.path for r in refs})
    files = {f.name: f for f in run.files(names=names, per_page=max(50, len(names)))}
    missing = [n for n in names if n not in files]
    if missing:
        raise NotFoundError(
            f"Run {run} has no file {missing[0]!r} for its logged Table {refs[0].key!r}: it "
            "was not uploaded (the run may still be syncing); try again after the run ends."
        )
    with ThreadPoolExecutor(max_workers=min(DOWNLOAD_THREADS, len(names))) as pool:
        contents = dict(zip(names, pool.map(lambda n: files[n].read_bytes(), names), strict=True))
    return [_checked_table(run, ref, contents[ref.path]) for ref in refs]


def _checked_table(run: TableRun, ref: TableRef, data: bytes) -> pa.Table:
    if ref.sha256 and hashlib.sha256(data).hexdigest() != ref.sha256:
        raise CommError(
            f"{ref.path} of run {run} does not match the sha256 logged for Table {ref.key!r} "
            "(the file was replaced?); log the Table again or read it as a run file."
        )
    try:
        return table_from_json(data)
    except ValueError as exc:
        raise CommError(f"{ref.path} of run {run} is not a W&B Table file: {exc}") from exc


def table_from_json(data: bytes | str) -> pa.Table:
    """One ``*.table.json`` (``{"columns": [...], "data": [[...], ...]}``) as an Arrow table.

    Example:
        >>> t = table_from_json('{"columns": ["id", "p"], "data": [[1, 0.5], [2, 1]]}')
        >>> t.schema.types, t.column("p").to_pylist()
        ([DataType(int64), DataType(double)], [0.5, 1.0])
    """
    import pyarrow as pa

    from wb_dagster.client.values import value_array

    doc = json.loads(data)
    if not isinstance(doc, dict) or not isinstance(doc.get("columns"), list):
        raise ValueError("expected a JSON object with 'columns' and 'data'")
    columns = [str(c) for c in doc["columns"]]
    rows = doc.get("data") or []
    if any(not isinstance(r, list) or len(r) != len(columns) for r in rows):
        raise ValueError(f"every row of 'data' must be a list of {len(columns)} cells")
    columns_values = ([row[i] for row in rows] for i in range(len(columns)))
    return pa.table([value_array(v) for v in columns_values], names=columns)


def concat_steps(refs: Sequence[TableRef], tables: Sequence[pa.Table]) -> pa.Table:
    """Tables logged at several steps as one, ``_step`` first (null for a summary-only one).

    Example:
        >>> import pyarrow as pa
        >>> refs = [TableRef("t", 0, "a"), TableRef("t", 1, "b")]
        >>> concat_steps(refs, [pa.table({"x": [1]}), pa.table({"x": [2.5]})]).to_pylist()
        [{'_step': 0, 'x': 1.0}, {'_step': 1, 'x': 2.5}]
    """
    import pyarrow as pa

    from wb_dagster.client.flatten import concat_tables

    stepped = [
        t.add_column(0, STEP_COLUMN, pa.array([ref.step] * t.num_rows, type=pa.int64()))
        for ref, t in zip(refs, tables, strict=True)
    ]
    return concat_tables(stepped)
