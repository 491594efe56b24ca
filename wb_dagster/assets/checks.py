"""Asset checks of the W&B assets, evaluated in the same step as the materialization.

* ``unique_run_ids`` (blocking) on ``runs``: every run id appears once;
* ``history_matches_run`` (WARN) on ``run_history``: stored rows equal the run's
  ``historyLineCount`` and the stored last step equals the run's last step;
* ``best_model_md5`` (blocking) on ``sweep_best_model``: stored bytes have W&B's md5.

Example:
    >>> import tempfile
    >>> from upath import UPath
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     (UPath(tmp) / "model.h5").write_bytes(b"x")
    ...     file_md5(UPath(tmp) / "model.h5").hex()
    1
    '9dd4e461268c8034f5c8564e155c67a6'
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from upath import UPath

from wb_dagster.client.verified_download import stream_md5
from wb_dagster.storage import ParquetSummary

RUNS_UNIQUE_CHECK = "unique_run_ids"
HISTORY_CONSISTENT_CHECK = "history_matches_run"
BEST_MODEL_MD5_CHECK = "best_model_md5"


def history_check(run: Any, stored: ParquetSummary, key: dg.AssetKey) -> dg.AssetCheckEvaluation:
    """``history_matches_run`` of the run's partition: stored rows and last step agree (WARN)."""
    lines = int(getattr(run, "history_line_count", 0) or 0)
    last = int(getattr(run, "last_history_step", -1))
    stored_last = stored.max_step if stored.max_step is not None else -1
    rows_ok = lines == 0 or stored.rows == lines
    return dg.AssetCheckEvaluation(
        check_name=HISTORY_CONSISTENT_CHECK,
        asset_key=key,
        partition=str(run.id),
        passed=rows_ok and stored_last == last,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "stored_rows": stored.rows,
            "history_line_count": lines,
            "stored_last_step": stored_last,
            "run_last_step": last,
        },
    )


def file_md5(path: UPath) -> bytes:
    """Raw md5 digest of a stored file (streamed)."""
    with path.open("rb") as fh:
        return stream_md5(fh)
