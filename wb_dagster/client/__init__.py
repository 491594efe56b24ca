"""Lean W&B public-API client over ``requests`` (no Dagster, no ``wandb``, pandas on first use).

Drop-in for the parts of ``wandb.Api`` the W&B public-API guide uses, plus columnar bulk paths:
``Run.history_table()`` (full unsampled history as Arrow), ``Runs.to_table()`` (run table in one
pass), ``Run.write_history_parquet()`` (bounded memory).

Example:
    >>> from wb_dagster.client import WandbClient, CommError
    >>> client = WandbClient(api_key="k" * 40, base_url="http://127.0.0.1:9", entity="team")
    >>> client.base_url
    'http://127.0.0.1:9'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wb_dagster.client.api import WandbClient
from wb_dagster.client.artifacts import Artifact, ArtifactFile, Artifacts
from wb_dagster.client.changes import Change, RunUpdate
from wb_dagster.client.console_logs import ConsoleLogLine, ConsoleLogs
from wb_dagster.client.errors import AuthenticationError, CommError, NotFoundError, RateLimitError
from wb_dagster.client.files import File, Files
from wb_dagster.client.histogram import histogram, is_histogram
from wb_dagster.client.history_scan import HistoryScan
from wb_dagster.client.projects import Project, Projects
from wb_dagster.client.run_listing import Runs
from wb_dagster.client.runs import Run
from wb_dagster.client.summary import Summary
from wb_dagster.client.sweeps import Sweep

if TYPE_CHECKING:
    from wb_dagster.client.history_export import HistoryExport

__all__ = [
    "Artifact",
    "ArtifactFile",
    "Artifacts",
    "AuthenticationError",
    "Change",
    "CommError",
    "ConsoleLogLine",
    "ConsoleLogs",
    "File",
    "Files",
    "HistoryExport",
    "HistoryScan",
    "NotFoundError",
    "Project",
    "Projects",
    "RateLimitError",
    "Run",
    "RunUpdate",
    "Runs",
    "Summary",
    "Sweep",
    "WandbClient",
    "histogram",
    "is_histogram",
]


def __getattr__(name: str) -> Any:
    # HistoryExport lives with the pyarrow-based history export, which loads on first use
    if name == "HistoryExport":
        from wb_dagster.client.history_export import HistoryExport

        return HistoryExport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
