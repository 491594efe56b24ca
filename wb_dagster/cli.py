"""The ``wb-dagster`` command line: ``server`` (local W&B-compatible server) and ``demo``.

``wb-dagster server [options]`` runs the server's own command line (``python -m
wb_dagster.testing``, see :mod:`wb_dagster.server_process`) with the same options; ``wb-dagster
server --help`` lists them.

Example:
    >>> _build_parser().parse_args(["demo", "--output", "out"]).output
    'out'
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from wb_dagster.server_process import run_in_foreground

SERVER = "server"


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wb-dagster", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    # listed for the help only: its options belong to the server, which parses them itself
    sub.add_parser(
        SERVER,
        add_help=False,
        help="run the local W&B-compatible server in the foreground (options: server --help)",
    )
    demo = sub.add_parser(
        "demo", help="run the main job: W&B demo project -> Dagster assets, on Dagster's daemon"
    )
    demo.add_argument("--output", default=None, help="storage root for the parquet files")
    demo.add_argument(
        "--keep-ui",
        action="store_true",
        help="keep Dagster's UI and daemon running after the demo, until Ctrl-C",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wb-dagster`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == [SERVER]:
        return run_in_foreground(args[1:])
    parsed = _build_parser().parse_args(args)
    from wb_dagster.demo.run import run_demo

    return run_demo(output=parsed.output, keep_ui=parsed.keep_ui)


if __name__ == "__main__":
    sys.exit(main())
