"""W11: bulk artifact downloads, ours against the official SDK's ``api.artifact(...).download()``.

Usage (from the repository root)::

    python bench/artifact_download.py                  # 300 versions x 1 file of 100 KB,
                                                       # and 1 version of 1,000 files
    python bench/artifact_download.py --versions 20 --files 50 --latency-ms 0   # smaller

One local server in its own process (``--latency-ms``, default 20), its data directory seeded
beforehand with ``--versions`` versions of one collection (one ``--size-kb`` file each) and one
version of ``--files`` files. Two workloads, each downloaded by both sides into fresh
directories (the
SDK with a fresh artifact cache):

* ``versions``: every version of the collection. SDK: for each, ``api.artifact(name:vN)``
  then ``.download(root)``, the loop of wandb#7006. Ours: ``client.artifacts(type, name)``
  (one request per 100 versions, file lists inline) then ``client.download_artifacts``
  (one pool for every version's manifest, then every file of every version).
* ``files``: the one big version. SDK: ``api.artifact(name).download(root)``; ours:
  ``client.artifact(name).download(root)``.

Prints wall times, the speed-up, requests per artifact (from the server's counters), whether
both sides wrote the same bytes, and two *floors* of the ``files`` workload, the same 1,000
URLs fetched and nothing written: bare ``requests`` GETs on 32 threads (the SDK's stack and
pool size) and bare ``urllib3`` GETs on ours (``download_concurrency``, 64). W&B's protocol has
one storage GET per file, so ours cannot beat the second floor by much: with 20 ms of latency
the ``files`` workload is bound by the CPU each GET and each file write costs on both sides of
loopback, which a loaded machine (other processes on its 2 cores, a busy disk) raises for
both sides.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests
import urllib3

from bench.server_process import BenchServer
from wb_dagster.client import WandbClient
from wb_dagster.testing.store.backend import Backend

PROJECT = "w11"
MANY = "many-versions"
BIG = "many-files"


def seed(data_dir: Path, versions: int, files: int, size: int) -> None:
    """Write the artifacts straight into a data directory the server then serves."""
    backend = Backend.open(data_dir)
    try:
        project_pk = backend.runs.ensure_project(backend.default_entity, PROJECT)
        for i in range(versions):
            data = hashlib.sha256(f"v{i}".encode()).digest() * (size // 32 + 1)
            backend.artifacts.seed_version(project_pk, "dataset", MANY, {"part.bin": data[:size]})
        big = {f"shard/{i:04d}.bin": f"file {i}".encode() * 64 for i in range(files)}
        backend.artifacts.seed_version(project_pk, "dataset", BIG, big)
    finally:
        backend.close()


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def measure(srv: BenchServer, fn: Callable[[], None]) -> tuple[float, int]:
    before = srv.requests_served()
    started = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - started
    return elapsed, srv.requests_served() - before  # (control calls are not counted)


def sdk_env(root: Path) -> None:
    for key in [k for k in os.environ if k.startswith("WANDB_")]:
        del os.environ[key]
    for name in ("home", "cache", "config", "data"):
        (root / name).mkdir(parents=True, exist_ok=True)
    os.environ.update(
        HOME=str(root / "home"),
        WANDB_CACHE_DIR=str(root / "cache"),
        WANDB_CONFIG_DIR=str(root / "config"),
        WANDB_DATA_DIR=str(root / "data"),
        WANDB_SILENT="true",
        WANDB_ERROR_REPORTING="false",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--versions", type=int, default=300)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--size-kb", type=int, default=100)
    parser.add_argument("--latency-ms", type=int, default=20)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="wb-bench-artifacts-"))
    sdk_env(work / "sdk-env")
    import wandb

    started = time.perf_counter()
    seed(work / "server", args.versions, args.files, args.size_kb * 1024)
    print(f"seeded {args.versions} versions + 1 of {args.files} files "
          f"in {time.perf_counter() - started:.1f}s; latency {args.latency_ms} ms")  # fmt: skip
    with BenchServer(latency_ms=args.latency_ms, data_dir=str(work / "server")) as srv:
        collection = f"{srv.entity}/{PROJECT}/{MANY}"
        big = f"{srv.entity}/{PROJECT}/{BIG}:v0"
        api = wandb.Api(api_key=srv.api_key, overrides={"base_url": srv.base_url})
        client = WandbClient(api_key=srv.api_key, base_url=srv.base_url)
        n = args.versions

        def sdk_versions() -> None:
            for i in range(n):
                api.artifact(f"{collection}:v{i}").download(root=str(work / "sdk" / f"v{i}"))

        def ours_versions() -> None:
            arts = list(client.artifacts("dataset", collection))
            client.download_artifacts([(a, str(work / "ours" / a.version)) for a in arts])

        def sdk_files() -> None:
            api.artifact(big).download(root=str(work / "sdk-big"))

        def ours_files() -> None:
            client.artifact(big).download(work / "ours-big")

        urls = [client.transport.absolute(f.url) for f in client.artifact(big).files()]

        def floor_requests() -> None:
            with requests.Session() as http, ThreadPoolExecutor(32) as pool:
                http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=32))
                list(pool.map(lambda u: http.get(u, timeout=60).content, urls))

        threads = client.transport.download_concurrency

        def floor_urllib3() -> None:
            with urllib3.PoolManager(maxsize=threads) as http, ThreadPoolExecutor(threads) as pool:
                list(pool.map(lambda u: http.request("GET", u, retries=False).data, urls))

        rows = []
        for name, count, sdk_fn, ours_fn, sdk_root, ours_root in (
            ("versions", n, sdk_versions, ours_versions, work / "sdk", work / "ours"),
            ("files", 1, sdk_files, ours_files, work / "sdk-big", work / "ours-big"),
        ):
            sdk_s, sdk_req = measure(srv, sdk_fn)
            ours_s, ours_req = measure(srv, ours_fn)
            same = tree_digest(sdk_root) == tree_digest(ours_root)
            rows.append((name, count, sdk_s, sdk_req, ours_s, ours_req, same))
        floor_s, _ = measure(srv, floor_requests)
        floor3_s, _ = measure(srv, floor_urllib3)
        client.close()

    print(f"{'workload':<10} {'artifacts':>9} {'sdk s':>8} {'ours s':>8} {'speed-up':>9} "
          f"{'sdk req/art':>12} {'ours req/art':>13}")  # fmt: skip
    for name, count, sdk_s, sdk_req, ours_s, ours_req, _ in rows:
        print(f"{name:<10} {count:>9} {sdk_s:>8.2f} {ours_s:>8.2f} {sdk_s / ours_s:>8.1f}x "
              f"{sdk_req / count:>12.1f} {ours_req / count:>13.2f}")  # fmt: skip
    print(f"files floor, bare requests GETs on 32 threads: {floor_s:.2f}s (the SDK over it: "
          f"{rows[1][2] / floor_s:.1f}x); bare urllib3 GETs on {threads} threads: "
          f"{floor3_s:.2f}s (ours over it: {rows[1][4] / floor3_s:.1f}x, the SDK over it: "
          f"{rows[1][2] / floor3_s:.1f}x)")  # fmt: skip
    same_all = all(r[-1] for r in rows)
    print(f"results equal across sides: {'yes' if same_all else 'NO'}")
    print("target: >= 5x faster on each workload: "
          + ("met" if all(r[2] / r[4] >= 5 for r in rows) else "NOT met"))  # fmt: skip
    return 0 if same_all else 1


if __name__ == "__main__":
    raise SystemExit(main())
