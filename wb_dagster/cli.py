"""The ``wb-dagster`` command line: ``server`` (local W&B-compatible server) and ``demo``."""

from __future__ import annotations

import argparse
import sys


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wb-dagster", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    server = sub.add_parser("server", help="run the local W&B-compatible server in the foreground")
    server.add_argument("--host", default="127.0.0.1")
    server.add_argument("--port", type=int, default=0, help="0 picks a free port")
    server.add_argument("--data", default=None, help="directory for the SQLite file and blobs")
    server.add_argument("--seed", choices=["demo", "none"], default="none")
    server.add_argument("--api-key", default=None, help="key clients must send (default: random)")
    server.add_argument("--latency-ms", type=int, default=0, help="added to every response")
    server.add_argument(
        "--heartbeat-timeout",
        type=float,
        default=None,
        help="mark running runs without a heartbeat for this many seconds as crashed (off)",
    )
    server.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow binding a non-loopback address (the server has no TLS; loopback by default)",
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``wb-dagster`` console script."""
    args = _build_parser().parse_args(argv)
    if args.command == "server":
        from wb_dagster.testing.cli import run_server

        return run_server(args)
    from wb_dagster.demo import run_demo

    return run_demo(output=args.output, keep_ui=args.keep_ui)


if __name__ == "__main__":
    sys.exit(main())
