"""No module of ``wb_dagster`` is longer than 600 lines (a longer one holds several concepts)."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "wb_dagster"
MAX_LINES = 600


def test_no_module_is_longer_than_600_lines() -> None:
    lengths = {
        str(path.relative_to(PACKAGE)): len(path.read_text().splitlines())
        for path in sorted(PACKAGE.rglob("*.py"))
    }
    assert len(lengths) > 40
    too_long = {name: n for name, n in lengths.items() if n > MAX_LINES}
    assert not too_long, f"modules over {MAX_LINES} lines (path: lines): {too_long}"
