"""Publishing findings back to W&B as a new, finished run (``job_type="analysis"``).

W&B's export guide ends with "sync your findings by creating a new analysis run"
(``wandb.init(job_type="analysis")``). :func:`create_run` does the same without ``wandb``,
through the protocol the official SDK's ``wandb.init()`` speaks (wandb-protocol.md §9):

1. ``UpsertBucket`` with ``name`` (run id), ``modelName``, ``entityName`` creates the run
   (state ``running``) with its config, summary, name, tags, notes, group and job type;
2. ``CreateRunFiles`` + one ``PUT`` per file (files given by path or bytes; pandas DataFrames and
   Arrow tables written as parquet or CSV);
3. one ``file_stream`` request carries the summary (``wandb-summary.json``), the uploaded file
   names and ``complete: true, exitcode: 0``, which W&B turns into state ``finished``.

**Idempotent by run id.** Calling it again with the same ``run_id`` updates that run instead of
creating another: config and summary are *replaced* by the ones given (not merged; ``None``
means empty); name, tags, notes and group are set when given (``None`` keeps the stored value);
the job type is always set; files are uploaded again under their names (overwriting); files of
earlier calls that are not given again are kept (nothing is deleted). Without ``run_id`` a random
8-character id is chosen, as ``wandb.init`` does.

Example (against the local server):
    >>> import pandas as pd
    >>> from wb_dagster.client import WandbClient
    >>> from wb_dagster.testing import LocalWandbServer
    >>> with LocalWandbServer(seed=None) as srv, WandbClient(
    ...     api_key=srv.api_key, base_url=srv.base_url
    ... ) as client:
    ...     board = pd.DataFrame({"run": ["a", "b"], "acc": [0.91, 0.87]})
    ...     run = client.create_run(
    ...         "cifar", name="leaderboard", run_id="leaderboard-v1",
    ...         config={"metric": "acc"}, summary={"best_acc": 0.91},
    ...         tables={"leaderboard": board},
    ...     )
    ...     (run.id, run.job_type, run.state, run.summary["best_acc"],
    ...      [f.name for f in run.files()])
    ('leaderboard-v1', 'analysis', 'finished', 0.91, ['leaderboard.parquet'])
"""

from __future__ import annotations

import io
import os
import secrets
import string
import tempfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from wb_dagster.client.encoding import dumps, encode_value
from wb_dagster.client.errors import CommError
from wb_dagster.client.paths import ObjectPath, parse_project_path
from wb_dagster.client.runs import Run, fetch_run_attrs

if TYPE_CHECKING:
    from wb_dagster.client.files import File
    from wb_dagster.client.session import WandbSession

TABLE_FORMATS = ("parquet", "csv")
# characters wandb.init refuses in a run id, plus the ones that break URL paths
_RESERVED_ID_CHARS = ":;,#?/'\\%"
_ID_ALPHABET = string.ascii_lowercase + string.digits

# A subset of the SDK's run-creating UpsertBucket (wandb-protocol.md §9).
CREATE_RUN = """
mutation UpsertBucket($name: String, $project: String, $entity: String, $groupName: String,
                      $displayName: String, $notes: String, $tags: [String!], $jobType: String,
                      $state: String, $config: JSONString, $summaryMetrics: JSONString) {
    upsertBucket(input: {name: $name, modelName: $project, entityName: $entity,
                         groupName: $groupName, displayName: $displayName, notes: $notes,
                         tags: $tags, jobType: $jobType, state: $state, config: $config,
                         summaryMetrics: $summaryMetrics}) {
        bucket { id name }
        inserted
    }
}
"""

FileContent = bytes | str | os.PathLike[str]


def new_run_id() -> str:
    """A random 8-character run id (lower-case letters and digits, like ``wandb.init``).

    >>> len(new_run_id()), new_run_id() != new_run_id()
    (8, True)
    """
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


def validate_run_id(run_id: str) -> str:
    """``run_id`` if W&B accepts it as a run id, else ``ValueError`` saying why.

    >>> validate_run_id("leaderboard-2024_01")
    'leaderboard-2024_01'
    >>> validate_run_id("a/b")
    Traceback (most recent call last):
    ...
    ValueError: invalid run id 'a/b': it must not contain any of : ; , # ? / ' \\ %
    """
    if not isinstance(run_id, str) or not run_id.strip():
        raise ValueError(f"invalid run id {run_id!r}: it must be a non-empty string")
    if run_id != run_id.strip():
        raise ValueError(f"invalid run id {run_id!r}: it must not start or end with whitespace")
    if any(c in _RESERVED_ID_CHARS for c in run_id):
        chars = " ".join(_RESERVED_ID_CHARS)
        raise ValueError(f"invalid run id {run_id!r}: it must not contain any of {chars}")
    return run_id


def wrap_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The config as ``wandb.init`` sends it: ``{key: {"value": value}}``, values JSON-ready.

    >>> wrap_config({"lr": 0.1, "layers": (64, 32)})
    {'lr': {'value': 0.1}, 'layers': {'value': [64, 32]}}
    """
    return {str(k): {"value": encode_value(v)} for k, v in (config or {}).items()}


def table_bytes(table: Any, format: str = "parquet") -> bytes:
    """A pandas DataFrame or ``pyarrow.Table`` as parquet or CSV bytes.

    Parquet keeps dtypes (and a non-default pandas index); CSV has a header row and includes
    the index only when it is not the default ``RangeIndex``.

    >>> import pandas as pd
    >>> table_bytes(pd.DataFrame({"run": ["a"], "acc": [0.5]}), "csv")
    b'run,acc\\na,0.5\\n'
    """
    import pyarrow as pa

    if format not in TABLE_FORMATS:
        raise ValueError(f"unknown table format {format!r}: use one of {', '.join(TABLE_FORMATS)}")
    if isinstance(table, pa.Table):
        buffer = io.BytesIO()
        if format == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, buffer)
        else:
            import pyarrow.csv as pacsv

            pacsv.write_csv(table, buffer)
        return buffer.getvalue()
    if type(table).__name__ != "DataFrame" or not hasattr(table, "to_csv"):
        raise TypeError(
            f"cannot upload a {type(table).__name__} as a table: pass a pandas DataFrame or a "
            "pyarrow Table (or upload a file with files=)"
        )
    import pandas as pd

    if format == "parquet":
        buffer = io.BytesIO()
        table.to_parquet(buffer, engine="pyarrow")
        return buffer.getvalue()
    keep_index = not isinstance(table.index, pd.RangeIndex)
    return str(table.to_csv(index=keep_index, lineterminator="\n")).encode()


def table_file_name(name: str, format: str = "parquet") -> str:
    """``name`` with the format's extension (kept when already there).

    >>> table_file_name("leaderboard"), table_file_name("t/x.csv", "csv")
    ('leaderboard.parquet', 't/x.csv')
    """
    suffix = f".{format}"
    return name if name.endswith(suffix) else f"{name}{suffix}"


def _write_file(root: str, name: str, content: FileContent) -> str:
    """Write ``content`` (bytes, or a local path to copy) to ``root/name``; return the path."""
    target = os.path.join(root, *name.split("/"))
    if os.path.commonpath([os.path.abspath(root), os.path.abspath(target)]) != os.path.abspath(
        root
    ):
        raise ValueError(f"file name {name!r} must be relative and must not climb with '..'")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if isinstance(content, bytes):
        data = content
    elif isinstance(content, (str, os.PathLike)):
        with open(content, "rb") as fh:
            data = fh.read()
    else:
        raise TypeError(
            f"file {name!r}: give bytes or a local path, not a {type(content).__name__}"
        )
    with open(target, "wb") as fh:
        fh.write(data)
    return target


def upload_files(run: Run, files: Mapping[str, FileContent]) -> list[File]:
    """Upload ``{name in the run: bytes or local path}`` to ``run`` (``CreateRunFiles`` + PUT)."""
    uploaded: list[File] = []
    with tempfile.TemporaryDirectory(prefix="wb-upload-") as root:
        for name, content in files.items():
            path = _write_file(root, name, content)
            uploaded.append(run.upload_file(path, root=root))
    return uploaded


def upload_table(run: Run, table: Any, name: str, format: str = "parquet") -> File:
    """Upload a pandas DataFrame / ``pyarrow.Table`` to ``run`` as ``<name>.<format>``.

    Example (``client`` connected to the local server with the demo seed):
        >>> import pandas as pd
        >>> run = client.run("wb-demo/cifar/cifar000")
        >>> upload_table(run, pd.DataFrame({"lr": [0.1]}), "leaderboard", format="csv").name
        'leaderboard.csv'
    """
    (uploaded,) = upload_files(run, {table_file_name(name, format): table_bytes(table, format)})
    return uploaded


def _run_files(
    files: Mapping[str, FileContent] | None, tables: Mapping[str, Any] | None, table_format: str
) -> dict[str, FileContent]:
    out: dict[str, FileContent] = dict(files or {})
    for name, table in (tables or {}).items():
        file_name = table_file_name(name, table_format)
        if file_name in out:
            raise ValueError(f"{file_name!r} is given both as a file and as a table")
        out[file_name] = table_bytes(table, table_format)
    return out


def create_run(
    client: WandbSession,
    path: str,
    *,
    job_type: str = "analysis",
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    summary: Mapping[str, Any] | None = None,
    tags: Sequence[str] | None = None,
    notes: str | None = None,
    group: str | None = None,
    run_id: str | None = None,
    files: Mapping[str, FileContent] | None = None,
    tables: Mapping[str, Any] | None = None,
    table_format: str = "parquet",
) -> Run:
    """Create (or update, with an existing ``run_id``) a finished run in ``entity/project``.

    ``path`` is ``entity/project`` or ``project`` (then the client's entity). ``files`` maps
    names in the run to bytes or local paths; ``tables`` maps names to pandas DataFrames or
    ``pyarrow`` Tables, uploaded as ``<name>.parquet`` (or ``.csv`` with ``table_format``).
    See the module docstring for the protocol and the update semantics. Usually called as
    ``client.create_run(...)``.
    """
    if not path:
        raise ValueError("create_run() needs a project: 'entity/project' or 'project'")
    default_entity = None if "/" in path.strip("/") else client.entity
    entity, project = parse_project_path(path, default_entity=default_entity)
    run_id = validate_run_id(run_id) if run_id is not None else new_run_id()
    where = ObjectPath(entity, project, run_id)
    summary_json = dumps(encode_value(dict(summary or {})))
    to_upload = _run_files(files, tables, table_format)  # before any request: fail early

    variables: dict[str, Any] = {
        "name": run_id,
        "project": project,
        "entity": entity,
        "jobType": job_type,
        "state": "running",
        "config": dumps(wrap_config(config)),
        "summaryMetrics": summary_json,
    }
    optional = {
        "displayName": name,
        "notes": notes,
        "groupName": group,
        "tags": None if tags is None else [str(t) for t in tags],
    }
    variables.update({k: v for k, v in optional.items() if v is not None})
    data = client.transport.graphql(
        CREATE_RUN, variables, what=f"creating run {where}", idempotent=True
    )
    bucket = (data.get("upsertBucket") or {}).get("bucket") or {}
    if not bucket.get("id"):
        raise CommError(
            f"creating run {where}: the server returned no run. Check that the entity "
            f"{entity!r} exists and this API key may write to it."
        )
    run = Run(client, where, {"id": bucket["id"], "name": run_id})
    if to_upload:
        upload_files(run, to_upload)
    stream_url = "/files/" + "/".join(quote(p, safe="") for p in (entity, project, run_id))
    client.transport.post_json(
        f"{stream_url}/file_stream",
        {
            "files": {"wandb-summary.json": {"offset": 0, "content": [summary_json]}},
            "uploaded": sorted(to_upload),
            "complete": True,
            "exitcode": 0,
        },
        what=f"finishing run {where}",
    )
    return Run(client, where, fetch_run_attrs(client, where))


__all__ = [
    "create_run",
    "new_run_id",
    "table_bytes",
    "table_file_name",
    "upload_files",
    "upload_table",
    "validate_run_id",
    "wrap_config",
]
