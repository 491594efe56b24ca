"""The ``demo`` seed: a deterministic CIFAR-like W&B project that docs, demo and tests rely on.

Contents (every value below is an input tests may use as the expected value):

* Viewer / entity ``wb-demo`` (user ``wb-demo``, "Demo User"), project ``cifar``.
* 12 runs ``cifar000`` .. ``cifar011`` (:data:`DEMO_RUNS`), created two hours apart from
  2024-03-01T09:00:00Z: ``cifar000``-``cifar008`` ``finished``, ``cifar009`` ``running`` (its
  history is live, **not exported**), ``cifar010`` ``crashed``, ``cifar011`` ``failed``.
* Config (:func:`demo_config`): ``experiment_name`` (``foo``/``bar``/``baz``), ``lr``,
  ``batch_size``, ``optimizer``, ``n_conv_layers``, the nested dict ``augmentation``
  ``{"flip": bool, "crop_padding": int}`` and the internal ``_wandb`` key.
* History (:func:`demo_history`): ``num_steps`` rows (>= 2000), steps ``0..num_steps-1``, each
  with ``_step``, ``_runtime`` (0.5 s per step) and ``_timestamp``. Training steps carry
  ``loss``, ``Loss`` (= 10 x loss) and ``accuracy``; every step ``s % 100 == 99`` is an
  evaluation row carrying **only** ``val_acc`` (so ``history(keys=["loss", "val_acc"])`` is
  empty: W&B's all-keys rule); steps ``s % 500 == 0`` also carry ``grad_hist``, a histogram
  ``{"_type": "histogram", "values": [...], "bins": [...]}``; ``cifar002`` has
  ``loss = NaN`` at step 777 (:data:`DEMO_NAN`).
* Summary (:func:`demo_summary`): the last value of every history key, ``best_val_acc``
  (max ``val_acc``), ``_step``, ``_runtime``, ``_timestamp`` and ``_wandb.runtime``.
* System metrics (:func:`demo_events`): 40 event rows per run with ``system.cpu``,
  ``system.memory``, ``system.disk./.usageGB``, ``system.network.sent``, ``system.gpu.0.gpu``.
* Files (:func:`demo_files`): ``config.yaml``, ``wandb-summary.json``, ``wandb-metadata.json``
  (``program``, ``args``, ``git.commit`` ...), ``output.log``, a binary ``model-best.h5`` and
  ``media/images/sample_0.png``, ``media/images/sample_1.png``.
* Sweep ``cifarswp`` (:data:`DEMO_SWEEP_ID`, state ``FINISHED``, ``method: bayes``,
  ``metric: {name: val_acc, goal: maximize}``) with runs ``cifar003``-``cifar008``.

Example:
    >>> DEMO_ENTITY, DEMO_PROJECT, DEMO_RUNNING_RUN, DEMO_SWEEP_ID
    ('wb-demo', 'cifar', 'cifar009', 'cifarswp')
    >>> len(demo_history(DEMO_RUNS_BY_ID["cifar000"]))
    2000
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from wb_dagster.testing.seeds.builder import SeedBuilder

DEMO_ENTITY = "wb-demo"
DEMO_PROJECT = "cifar"
DEMO_USERNAME = "wb-demo"
DEMO_USER_FULL_NAME = "Demo User"
DEMO_USER_EMAIL = "demo@example.com"
DEMO_SWEEP_ID = "cifarswp"
DEMO_RUNNING_RUN = "cifar009"
DEMO_CRASHED_RUN = "cifar010"
DEMO_FAILED_RUN = "cifar011"
DEMO_NAN = ("cifar002", 777, "loss")  # (run id, step, key) of the NaN value
DEMO_START = datetime(2024, 3, 1, 9, 0, 0, tzinfo=UTC)
DEMO_PROGRAM = "/home/demo/cifar/train.py"
DEMO_GIT_REMOTE = "https://github.com/wb-demo/cifar.git"
DEMO_SWEEP_CONFIG: dict[str, Any] = {
    "name": "cifar-bayes",
    "method": "bayes",
    "metric": {"name": "val_acc", "goal": "maximize"},
    "program": "train.py",
    "parameters": {
        "lr": {"min": 0.0001, "max": 0.1},
        "batch_size": {"values": [32, 64, 128]},
        "optimizer": {"values": ["adam", "sgd"]},
    },
}
DEMO_FILE_NAMES = (
    "config.yaml",
    "media/images/sample_0.png",
    "media/images/sample_1.png",
    "model-best.h5",
    "output.log",
    "wandb-metadata.json",
    "wandb-summary.json",
)
DEMO_WANDB_CONFIG = {
    "cli_version": "0.31.0",
    "python_version": "3.11.9",
    "t": {"1": [1, 55], "2": [1, 55], "3": [13, 16], "4": "3.11.9", "5": "0.31.0"},
}


@dataclass(frozen=True)
class DemoRun:
    """The inputs of one demo run."""

    run_id: str
    display_name: str
    state: str
    experiment_name: str
    lr: float
    batch_size: int
    optimizer: str
    n_conv_layers: int
    flip: bool
    crop_padding: int
    tags: tuple[str, ...]
    job_type: str
    sweep: str | None
    num_steps: int
    index: int

    @property
    def group(self) -> str:
        return f"exp-{self.experiment_name}"

    @property
    def commit(self) -> str:
        return hashlib.sha1(f"wb-demo-commit-{self.index}".encode()).hexdigest()

    @property
    def created_at(self) -> datetime:
        return DEMO_START + timedelta(hours=2 * self.index)

    @property
    def runtime(self) -> float:
        return (self.num_steps - 1) * 0.5

    @property
    def heartbeat_at(self) -> datetime:
        return self.created_at + timedelta(seconds=self.runtime)

    @property
    def path(self) -> str:
        return f"{DEMO_ENTITY}/{DEMO_PROJECT}/{self.run_id}"


_S = DEMO_SWEEP_ID
# fmt: off
DEMO_RUNS: tuple[DemoRun, ...] = (
    DemoRun("cifar000", "baseline-foo-1", "finished", "foo", 0.1, 64, "sgd", 2, False, 0, ("baseline",), "train", None, 2000, 0),  # noqa: E501
    DemoRun("cifar001", "baseline-bar-1", "finished", "bar", 0.01, 128, "adam", 3, True, 4, ("baseline", "augmented"), "train", None, 2050, 1),  # noqa: E501
    DemoRun("cifar002", "baseline-baz-1", "finished", "baz", 0.001, 32, "adam", 4, True, 2, ("baseline",), "train", None, 2100, 2),  # noqa: E501
    DemoRun("cifar003", "sweep-foo-1", "finished", "foo", 0.05, 64, "sgd", 3, False, 0, ("sweep",), "sweep", _S, 2000, 3),  # noqa: E501
    DemoRun("cifar004", "sweep-bar-1", "finished", "bar", 0.003, 128, "adam", 4, True, 4, ("sweep", "augmented"), "sweep", _S, 2000, 4),  # noqa: E501
    DemoRun("cifar005", "sweep-baz-1", "finished", "baz", 0.02, 32, "sgd", 2, True, 2, ("sweep",), "sweep", _S, 2000, 5),  # noqa: E501
    DemoRun("cifar006", "sweep-foo-2", "finished", "foo", 0.0005, 64, "adam", 5, False, 0, ("sweep",), "sweep", _S, 2000, 6),  # noqa: E501
    DemoRun("cifar007", "sweep-bar-2", "finished", "bar", 0.008, 128, "adam", 3, True, 4, ("sweep", "augmented"), "sweep", _S, 2000, 7),  # noqa: E501
    DemoRun("cifar008", "sweep-baz-2", "finished", "baz", 0.07, 32, "sgd", 4, False, 2, ("sweep",), "sweep", _S, 2000, 8),  # noqa: E501
    DemoRun("cifar009", "resnet-foo-live", "running", "foo", 0.004, 64, "adam", 6, True, 4, ("resnet", "augmented"), "train", None, 2100, 9),  # noqa: E501
    DemoRun("cifar010", "resnet-bar-crash", "crashed", "bar", 0.03, 128, "sgd", 5, False, 0, ("resnet",), "train", None, 2000, 10),  # noqa: E501
    DemoRun("cifar011", "resnet-baz-diverged", "failed", "baz", 0.9, 32, "sgd", 6, False, 2, ("resnet", "diverged"), "eval", None, 2000, 11),  # noqa: E501
)
# fmt: on
DEMO_RUNS_BY_ID: dict[str, DemoRun] = {r.run_id: r for r in DEMO_RUNS}
DEMO_SWEEP_RUNS: tuple[str, ...] = tuple(r.run_id for r in DEMO_RUNS if r.sweep)


def demo_config(run: DemoRun) -> dict[str, Any]:
    """The run's config as logged (unwrapped; the server stores it wrapped in ``value``)."""
    return {
        "experiment_name": run.experiment_name,
        "lr": run.lr,
        "batch_size": run.batch_size,
        "optimizer": run.optimizer,
        "n_conv_layers": run.n_conv_layers,
        "augmentation": {"flip": run.flip, "crop_padding": run.crop_padding},
        "_wandb": DEMO_WANDB_CONFIG,
    }


def _quality(run: DemoRun) -> float:
    # a smooth, deterministic "how good is this run" in (0, 1)
    return 0.55 + 0.4 * math.exp(-((math.log10(run.lr) + 2.3) ** 2)) - 0.01 * (run.index % 3)


def _histogram(run: DemoRun, step: int) -> dict[str, Any]:
    values = [(run.index + step // 500 + k) % 7 + 1 for k in range(4)]
    bins = [round(-1.0 + 0.5 * k, 6) for k in range(5)]
    return {"_type": "histogram", "values": values, "bins": bins}


@cache
def _history(run_id: str) -> tuple[tuple[tuple[str, Any], ...], ...]:
    run = DEMO_RUNS_BY_ID[run_id]
    q = _quality(run)
    start = run.created_at.timestamp()
    rows = []
    for s in range(run.num_steps):
        runtime = s * 0.5
        row: dict[str, Any] = {"_step": s, "_runtime": runtime, "_timestamp": start + runtime}
        if s % 100 == 99:
            row["val_acc"] = round(q * (1 - math.exp(-(s + 1) / 600)), 6)
        else:
            loss = round(2.3 * math.exp(-s * q / 700) + 0.05 * math.sin(s / 13) ** 2, 6)
            if (run.run_id, s, "loss") == DEMO_NAN:
                loss = float("nan")
            row["loss"] = loss
            row["Loss"] = round(loss * 10, 5)
            row["accuracy"] = round(min(0.999, q * (1 - math.exp(-s / 400))), 6)
            if s % 500 == 0:
                row["grad_hist"] = _histogram(run, s)
        rows.append(tuple(row.items()))
    return tuple(rows)


def demo_history(run: DemoRun) -> list[dict[str, Any]]:
    """Every history row of the run, in step order (fresh dicts each call)."""
    return [dict(items) for items in _history(run.run_id)]


def demo_summary(run: DemoRun) -> dict[str, Any]:
    """The run summary: last value of each history key plus ``best_val_acc``."""
    summary: dict[str, Any] = {}
    best = -math.inf
    for row in demo_history(run):
        summary.update(row)
        if "val_acc" in row:
            best = max(best, row["val_acc"])
    summary["best_val_acc"] = best
    summary["_wandb"] = {"runtime": int(run.runtime)}
    return summary


def demo_events(run: DemoRun) -> list[dict[str, Any]]:
    """System-metric rows (one per 25 s of runtime, 40 rows)."""
    start = run.created_at.timestamp()
    rows = []
    for i in range(40):
        runtime = 25.0 * i
        rows.append(
            {
                "system.cpu": round(20 + 5 * ((run.index + i) % 9), 2),
                "system.memory": round(30 + 0.5 * i, 2),
                "system.disk./.usageGB": round(100 + 0.1 * i, 3),
                "system.network.sent": 1000 * i + run.index,
                "system.gpu.0.gpu": (run.index * 7 + i * 3) % 100,
                "_runtime": runtime,
                "_timestamp": start + runtime,
                "_wandb": True,
            }
        )
    return rows


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def _model_bytes(run: DemoRun) -> bytes:
    out = bytearray(b"\x89HDF\r\n\x1a\n")
    block = f"model-{run.run_id}".encode()
    while len(out) < 4096 + 512 * run.index:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[: 4096 + 512 * run.index])


def demo_metadata(run: DemoRun) -> dict[str, Any]:
    """Contents of ``wandb-metadata.json``."""
    return {
        "os": "Linux-6.1.0-x86_64-with-glibc2.36",
        "python": "CPython 3.11.9",
        "startedAt": run.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "program": DEMO_PROGRAM,
        "args": [
            "--lr",
            str(run.lr),
            "--batch-size",
            str(run.batch_size),
            "--optimizer",
            run.optimizer,
        ],
        "git": {"remote": DEMO_GIT_REMOTE, "commit": run.commit},
        "host": f"gpu-node-{run.index % 3:02d}",
        "executable": "/usr/bin/python3",
        "cpu_count": 8,
        "username": DEMO_USERNAME,
    }


def demo_files(run: DemoRun) -> dict[str, bytes]:
    """Every file of the run: name -> bytes."""
    config = {"wandb_version": 1}
    config.update(
        {k: {"desc": None, "value": v} for k, v in demo_config(run).items()}  # type: ignore[misc]
    )
    log = "".join(
        f"epoch {e}: loss={demo_summary(run)['loss']:.4f}\n" if e == 9 else f"epoch {e}: ok\n"
        for e in range(10)
    )
    return {
        "config.yaml": yaml.safe_dump(config, sort_keys=True).encode(),
        "wandb-summary.json": json.dumps(demo_summary(run)).encode(),
        "wandb-metadata.json": json.dumps(demo_metadata(run), indent=2).encode(),
        "output.log": log.encode(),
        "model-best.h5": _model_bytes(run),
        "media/images/sample_0.png": _png(4, 4, (run.index * 20 % 256, 80, 160)),
        "media/images/sample_1.png": _png(8, 8, (200, run.index * 20 % 256, 40)),
    }


def build_demo(seed: SeedBuilder) -> None:
    """Write the demo seed through a :class:`~wb_dagster.testing.seeds.builder.SeedBuilder`."""
    from wb_dagster.testing.store.history_rows import rows_to_table

    seed.viewer(DEMO_USERNAME, DEMO_ENTITY, DEMO_USER_FULL_NAME, DEMO_USER_EMAIL)
    project = f"{DEMO_ENTITY}/{DEMO_PROJECT}"
    seed.project(project, created_at=DEMO_START - timedelta(days=1))
    seed.create_sweep(
        project,
        DEMO_SWEEP_ID,
        DEMO_SWEEP_CONFIG,
        state="FINISHED",
        run_count_expected=len(DEMO_SWEEP_RUNS),
        created_at=DEMO_START,
    )
    for run in DEMO_RUNS:
        ref = seed.create_run(
            project,
            run.run_id,
            display_name=run.display_name,
            state="running",
            config=demo_config(run),
            tags=run.tags,
            group=run.group,
            job_type=run.job_type,
            sweep=run.sweep,
            commit=run.commit,
            username=DEMO_USERNAME,
            host=demo_metadata(run)["host"],
            program=DEMO_PROGRAM,
            notes=f"{run.experiment_name} with {run.optimizer}",
            created_at=run.created_at,
        )
        history = demo_history(run)
        if run.state == "running":
            seed.append_history(ref, history)
        else:
            seed.add_exported_history(ref, rows_to_table(history))
        seed.log_system_metrics(ref, demo_events(run))
        for name, data in demo_files(run).items():
            seed.add_file(ref, name, data)
        seed.update_run(
            ref,
            state=run.state,
            summary=demo_summary(run),
            heartbeat_at=run.heartbeat_at,
        )
