"""``python -m wb_dagster.testing``: the local W&B-compatible server's own command line.

``wb-dagster server`` runs it as a child process (the Dagster layer never imports this
package); the options and the first JSON line are described in :mod:`wb_dagster.testing.cli`.

Example:
    >>> build_parser().parse_args([]).host
    '127.0.0.1'
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from wb_dagster.testing.cli import run_server


def build_parser(prog: str = "wb-dagster server") -> argparse.ArgumentParser:
    """The server's options (``prog`` names the command in the help)."""
    parser = argparse.ArgumentParser(
        prog=prog, description="run the local W&B-compatible server in the foreground"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--data", default=None, help="directory for the SQLite file and blobs")
    parser.add_argument("--seed", choices=["demo", "none"], default="none")
    parser.add_argument("--api-key", default=None, help="key clients must send (default: random)")
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every response")
    parser.add_argument(
        "--heartbeat-timeout",
        type=float,
        default=None,
        help="mark running runs without a heartbeat for this many seconds as crashed (off)",
    )
    parser.add_argument(
        "--stop-on-stdin-eof",
        action="store_true",
        help="stop when stdin closes (a parent holding the pipe takes the server along, dying)",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow binding a non-loopback address (the server has no TLS; loopback by default)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and serve until SIGINT/SIGTERM; the exit status."""
    return run_server(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
