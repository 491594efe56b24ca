"""Done-when 5: importing the client pulls in neither dagster, wandb nor pandas."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
import wb_dagster.client
from wb_dagster import WandbClient, CommError
before = sorted(m for m in ("dagster", "wandb", "pandas") if m in sys.modules)
import pyarrow as pa
from wb_dagster.client.run_listing import run_table
node = {"name": "r1", "displayName": "one", "config": "{}", "summaryMetrics": "{}"}
df = run_table([node]).to_pandas()
after = "pandas" in sys.modules
print(json.dumps({"before": before, "pandas_after_use": after, "rows": len(df)}))
"""


def test_import_client_loads_no_dagster_wandb_or_pandas() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["before"] == []
    assert result["pandas_after_use"] is True
    assert result["rows"] == 1
