"""A local W&B-compatible server ("moto for W&B"): test W&B pipelines without an account.

It speaks the protocol of W&B's public API as the official ``wandb`` SDK uses it (GraphQL at
``/graphql``, file and parquet downloads), stores data in SQLite under a data directory, and
adds test controls: fault rules, latency, request stats and fast seeding.

Example:
    >>> from wb_dagster.testing import LocalWandbServer
    >>> with LocalWandbServer(seed="demo") as srv:   # wandb.Api(api_key=srv.api_key,
    ...     srv.entity                                #   overrides={"base_url": srv.base_url})
    'wb-demo'

Never imports :mod:`wb_dagster.client` (two independent readings of the protocol).
"""

from __future__ import annotations

from wb_dagster.testing.faults import FaultRule
from wb_dagster.testing.seeds.builder import RunRef, SeedBuilder
from wb_dagster.testing.server import LocalWandbServer

__all__ = ["FaultRule", "LocalWandbServer", "RunRef", "SeedBuilder"]
