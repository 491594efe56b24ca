"""A small numpy-only training script logged to W&B through the official ``wandb`` SDK.

It trains a tiny two-layer network on a synthetic, CIFAR-shaped problem (10 classes, 3x8x8
"images") in well under a second of compute, and logs what real training scripts log: loss,
accuracy and validation accuracy at custom steps, a nested dict, a NaN, a weight histogram,
summary values and a ``model-best.h5`` file saved with ``run.save``. A small grid sweep is
registered on the server and driven by ``wandb.agent``.

The demo and the tests use it to fill a W&B(-compatible) server with runs written in W&B's own
encoding. The SDK is only needed in the process that logs: :func:`populate_with_sdk` runs this
module as a subprocess with an isolated W&B environment (fresh ``HOME``, ``WANDB_DIR``, ...), so
the calling process never imports ``wandb`` and the user's ``~/.netrc`` is never touched.

Example (needs ``pip install 'wb-dagster[demo]'``)::

    from wb_dagster.testing import LocalWandbServer
    from wb_dagster.demo.training import populate_with_sdk

    with LocalWandbServer(seed="none") as srv:
        logged = populate_with_sdk(srv.base_url, srv.api_key, entity=srv.entity)
        print(logged.run_ids, logged.sweep_id)
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

MODEL_FILE = "model-best.h5"
MODEL_ARTIFACT = "mlp-model"  # the demo's training runs log their best model as its versions
N_CLASSES = 10
IMAGE_SHAPE = (3, 8, 8)
DEMO_PROJECT = "cifar"
# the grid the demo sweep explores (lr x hidden)
SWEEP_GRID: dict[str, list[Any]] = {"lr": [0.02, 0.1], "hidden": [16, 32]}
SWEEP_METRIC = {"name": "val_acc", "goal": "maximize"}


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (logged as the run's config)."""

    lr: float = 0.05
    hidden: int = 32
    epochs: int = 4
    batch_size: int = 50
    log_every: int = 5  # batches between two history rows
    seed: int = 0
    optimizer: dict[str, Any] = field(default_factory=lambda: {"name": "sgd", "momentum": 0.9})


@dataclass
class Dataset:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def make_dataset(seed: int, n_train: int = 1000, n_val: int = 200) -> Dataset:
    """Class prototypes plus noise: learnable, but not instantly."""
    rng = np.random.default_rng(seed + 1000)
    dim = int(np.prod(IMAGE_SHAPE))
    prototypes = rng.normal(0.0, 1.0, size=(N_CLASSES, dim))

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, N_CLASSES, size=n)
        x = prototypes[y] + rng.normal(0.0, 2.5, size=(n, dim))
        return x.astype(np.float32), y

    x_train, y_train = sample(n_train)
    x_val, y_val = sample(n_val)
    return Dataset(x_train, y_train, x_val, y_val)


@dataclass
class Mlp:
    """Two-layer perceptron (ReLU, softmax cross-entropy) trained with momentum SGD."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    velocity: list[np.ndarray]

    @classmethod
    def create(cls, n_in: int, hidden: int, seed: int) -> Mlp:
        rng = np.random.default_rng(seed)
        w1 = rng.normal(0.0, math.sqrt(2.0 / n_in), size=(n_in, hidden))
        w2 = rng.normal(0.0, math.sqrt(2.0 / hidden), size=(hidden, N_CLASSES))
        b1, b2 = np.zeros(hidden), np.zeros(N_CLASSES)
        velocity = [np.zeros_like(p) for p in (w1, b1, w2, b2)]
        return cls(w1=w1, b1=b1, w2=w2, b2=b2, velocity=velocity)

    def params(self) -> list[np.ndarray]:
        return [self.w1, self.b1, self.w2, self.b2]

    def logits(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x @ self.w1 + self.b1, 0.0) @ self.w2 + self.b2

    def loss_and_accuracy(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        probs = _softmax(self.logits(x))
        loss = -np.mean(np.log(probs[np.arange(len(y)), y] + 1e-12))
        return float(loss), float(np.mean(probs.argmax(axis=1) == y))

    def sgd_step(self, x: np.ndarray, y: np.ndarray, lr: float, momentum: float) -> float:
        hidden = np.maximum(x @ self.w1 + self.b1, 0.0)
        probs = _softmax(hidden @ self.w2 + self.b2)
        loss = -np.mean(np.log(probs[np.arange(len(y)), y] + 1e-12))
        grad_logits = probs
        grad_logits[np.arange(len(y)), y] -= 1.0
        grad_logits /= len(y)
        grad_hidden = (grad_logits @ self.w2.T) * (hidden > 0)
        grads = [x.T @ grad_hidden, grad_hidden.sum(0), hidden.T @ grad_logits, grad_logits.sum(0)]
        for param, vel, grad in zip(self.params(), self.velocity, grads, strict=True):
            vel *= momentum
            vel -= lr * grad
            param += vel
        return float(loss)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, w1=self.w1, b1=self.b1, w2=self.w2, b2=self.b2)
        return buffer.getvalue()


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


@dataclass
class EpochEnd:
    """What :func:`train` reports after each epoch (used for summary and model saving)."""

    epoch: int
    step: int
    val_acc: float
    improved: bool
    model: Mlp


def train(
    config: TrainConfig,
    log: Callable[[dict[str, Any], int], None],
    on_epoch_end: Callable[[EpochEnd], None] = lambda _: None,
) -> float:
    """Train with numpy only; call ``log(row, step)`` every ``log_every`` batches.

    Steps are the global batch index (a custom, non-contiguous step axis). Returns the best
    validation accuracy.

    >>> rows = []
    >>> best = train(TrainConfig(epochs=1), lambda row, step: rows.append((step, row)))
    >>> [step for step, _ in rows]
    [4, 9, 14, 19]
    """
    data = make_dataset(config.seed)
    model = Mlp.create(data.x_train.shape[1], config.hidden, config.seed)
    rng = np.random.default_rng(config.seed)
    momentum = float(config.optimizer.get("momentum", 0.0))
    batches = len(data.x_train) // config.batch_size
    best_val_acc, previous_val_loss = -1.0, math.nan
    for epoch in range(config.epochs):
        order = rng.permutation(len(data.x_train))
        for batch in range(batches):
            idx = order[batch * config.batch_size : (batch + 1) * config.batch_size]
            loss = model.sgd_step(data.x_train[idx], data.y_train[idx], config.lr, momentum)
            if (batch + 1) % config.log_every:
                continue
            step = epoch * batches + batch
            _, accuracy = model.loss_and_accuracy(data.x_train[idx], data.y_train[idx])
            val_loss, val_acc = model.loss_and_accuracy(data.x_val, data.y_val)
            log(
                {
                    "epoch": epoch,
                    "loss": loss,
                    "accuracy": accuracy,
                    "val_acc": val_acc,
                    "val": {"loss": val_loss, "acc": val_acc},
                    # NaN on the first row, as real scripts produce for "no previous value"
                    "val_loss_delta": val_loss - previous_val_loss,
                },
                step,
            )
            previous_val_loss = val_loss
        improved = val_acc > best_val_acc
        best_val_acc = max(best_val_acc, val_acc)
        on_epoch_end(EpochEnd(epoch, step, val_acc, improved, model))
    return best_val_acc


# --- logging through the official SDK (only this part imports wandb) ---------------------------


@dataclass
class Ledger:
    """Everything one run logged, in the order it was logged (the tests' expected values)."""

    run_id: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)  # each with its "_step"
    summary: dict[str, Any] = field(default_factory=dict)  # explicit run.summary[...] writes
    files: dict[str, str] = field(default_factory=dict)  # name -> hex md5
    exit_code: int = 0

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))  # NaN is written as the JSON token NaN


def _import_wandb() -> Any:
    try:
        import wandb  # noqa: TID251  (demo-only dependency, imported in the logging process)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "Logging demo runs needs the official W&B SDK, which is not installed. "
            "Install the demo extra: pip install 'wb-dagster[demo]'."
        ) from exc
    return wandb


def sdk_settings(wandb: Any) -> Any:
    """Settings that keep an SDK run short against a local server.

    The file_stream transmit interval must be >= 1 s: wandb-core 0.31 silently falls back to its
    15 s default for smaller values (observed), which would delay heartbeats.
    """
    return wandb.Settings(
        x_file_stream_transmit_interval=1.0,
        x_stats_sampling_interval=1.0,
        heartbeat_seconds=1,
        silent=True,
        console="wrap",
    )


def log_training_run(
    config: TrainConfig,
    *,
    project: str,
    entity: str | None = None,
    mode: str = "online",
    run_id: str | None = None,
    resume: str | None = None,
    name: str | None = None,
    tags: Sequence[str] = (),
    group: str | None = None,
    job_type: str = "train",
    exit_code: int = 0,
    epoch_sleep: float = 0.0,
    ledger_path: Path | None = None,
    ready_path: Path | None = None,
    log_model: bool = False,
) -> Ledger:
    """Train once and log it with ``wandb.init`` (online or offline); returns what was logged.

    ``log_model``: also log the best model as the next version of the ``mlp-model`` artifact
    (``wandb.log_model``)."""
    wandb = _import_wandb()
    run = wandb.init(
        project=project,
        entity=entity,
        id=run_id,
        resume=resume,
        name=name,
        tags=list(tags) or None,
        group=group,
        job_type=job_type,
        mode=mode,
        config=asdict(config),
        settings=sdk_settings(wandb),
    )
    ledger = Ledger(run_id=run.id, config=dict(run.config))
    # a resumed run continues after its last step (the SDK drops rows at older steps)
    offset = int(run.starting_step)
    print(f"training {run.id}: {json.dumps(asdict(config))}", flush=True)  # lands in output.log

    def log(row: dict[str, Any], step: int) -> None:
        run.log(row, step=step + offset)
        ledger.rows.append({**row, "_step": step + offset})
        if ready_path is not None and not ready_path.exists():
            ready_path.write_text(run.id)  # tells a test the run is live (e.g. before SIGKILL)

    def on_epoch_end(end: EpochEnd) -> None:
        weights = wandb.Histogram(end.model.w2.ravel(), num_bins=16)
        run.log({"weights": weights}, step=end.step + 1 + offset)
        ledger.rows.append(
            {"weights": {"_type": "histogram", "values": weights.histogram, "bins": weights.bins}}
            | {"_step": end.step + 1 + offset}
        )
        if end.improved:
            model_path = Path(run.dir) / MODEL_FILE
            model_path.write_bytes(end.model.to_bytes())
            ledger.files[MODEL_FILE] = hashlib.md5(model_path.read_bytes()).hexdigest()
            run.summary["best_val_acc"] = end.val_acc
            run.summary["best_epoch"] = end.epoch
            ledger.summary.update(best_val_acc=end.val_acc, best_epoch=end.epoch)
        if epoch_sleep:
            time.sleep(epoch_sleep)

    train(config, log, on_epoch_end)
    run.save(str(Path(run.dir) / MODEL_FILE), base_path=run.dir, policy="end")
    if log_model:
        run.log_model(path=str(Path(run.dir) / MODEL_FILE), name=MODEL_ARTIFACT)
    run.finish(exit_code=exit_code)
    ledger.exit_code = exit_code
    if ledger_path is not None:
        ledger.write(ledger_path)
    return ledger


def sweep_config(project: str) -> dict[str, Any]:
    """The demo's grid sweep over :data:`SWEEP_GRID` (4 runs), maximizing ``val_acc``."""
    return {
        "name": "cifar-grid",
        "project": project,
        "method": "grid",
        "metric": dict(SWEEP_METRIC),
        "parameters": {key: {"values": list(values)} for key, values in SWEEP_GRID.items()},
    }


def grid_points() -> Iterator[dict[str, Any]]:
    """The grid in the order W&B's grid search enumerates it (last parameter fastest)."""
    keys = list(SWEEP_GRID)
    for values in itertools.product(*(SWEEP_GRID[k] for k in keys)):
        yield dict(zip(keys, values, strict=True))


def run_sweep(
    *, project: str, entity: str | None, ledger_dir: Path | None = None
) -> tuple[str, list[str]]:
    """Register the demo sweep on the server and let ``wandb.agent`` run its grid.

    Returns the sweep id and the ids of its runs; raises ``RuntimeError`` if a trial failed
    (``wandb.agent`` itself only prints trial errors).
    """
    wandb = _import_wandb()
    from wandb.agents import pyagent  # noqa: TID251

    # wandb's agent polls its server every 5 s between runs; its own tests lower this class
    # attribute the same way. Only affects this (demo) process.
    pyagent.Agent.HEARTBEAT_SLEEP_SECONDS = 0.1  # type: ignore[assignment]
    sweep_id = wandb.sweep(sweep_config(project), entity=entity, project=project)
    run_ids: list[str] = []
    finished: list[str] = []

    def trial() -> None:
        run = wandb.init(settings=sdk_settings(wandb), job_type="sweep")
        config = TrainConfig(lr=float(run.config["lr"]), hidden=int(run.config["hidden"]))
        run.config.update({k: v for k, v in asdict(config).items() if k not in SWEEP_GRID})
        ledger = Ledger(run_id=run.id)
        run_ids.append(run.id)

        def log(row: dict[str, Any], step: int) -> None:
            run.log(row, step=step)
            ledger.rows.append({**row, "_step": step})

        model_path = Path(run.dir) / MODEL_FILE

        def keep_best(end: EpochEnd) -> None:
            if end.improved:  # the sweep's best model is what Dagster's sweep_best_model fetches
                model_path.write_bytes(end.model.to_bytes())
                ledger.files[MODEL_FILE] = hashlib.md5(model_path.read_bytes()).hexdigest()

        best = train(config, log, keep_best)
        run.summary["best_val_acc"] = best
        ledger.summary["best_val_acc"] = best
        ledger.config = dict(run.config)
        run.save(str(model_path), base_path=run.dir, policy="end")
        run.finish()
        finished.append(run.id)
        if ledger_dir is not None:
            ledger.write(ledger_dir / f"{run.id}.json")

    expected = len(list(grid_points()))
    wandb.agent(sweep_id, function=trial, entity=entity, project=project, count=expected)
    if len(finished) != expected:
        raise RuntimeError(
            f"The sweep {sweep_id} ran {len(finished)} of its {expected} grid points "
            f"(started: {run_ids}); see the agent's output above."
        )
    return str(sweep_id), finished


# --- running the logging in an isolated subprocess ---------------------------------------------


@dataclass
class PopulateResult:
    """What :func:`populate_with_sdk` logged: run ids (plain runs, then sweep runs), sweep id."""

    run_ids: list[str]
    sweep_id: str | None
    sweep_run_ids: list[str]
    ledgers: dict[str, Ledger]
    wall_time_s: float


def isolated_sdk_env(base_url: str, api_key: str, home: Path) -> dict[str, str]:
    """Environment for an SDK process that leaves no trace outside ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(
        HOME=str(home),
        WANDB_DIR=str(home),
        WANDB_CACHE_DIR=str(home / "cache"),
        WANDB_CONFIG_DIR=str(home / "config"),
        WANDB_DATA_DIR=str(home / "data"),
        WANDB_BASE_URL=base_url,
        WANDB_API_KEY=api_key,
        WANDB_ERROR_REPORTING="false",
        WANDB_SILENT="true",
        WANDB_DISABLE_GIT="true",
    )
    return env


def populate_with_sdk(
    base_url: str,
    api_key: str,
    *,
    entity: str,
    project: str = DEMO_PROJECT,
    runs: int = 2,
    sweep: bool = True,
    workdir: Path | None = None,
    timeout_s: float = 180.0,
) -> PopulateResult:
    """Log ``runs`` training runs and the demo sweep into a W&B server with the official SDK.

    Runs ``python -m wb_dagster.demo.training`` in a subprocess with an isolated environment
    (the API key travels in its environment, never on a command line). Raises
    ``RuntimeError`` with the subprocess output if logging fails.
    """
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="wb-demo-sdk-") as tmp:
        home = Path(workdir) if workdir is not None else Path(tmp)
        ledgers_dir = home / "ledgers"
        ledgers_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "wb_dagster.demo.training", "populate"]
        cmd += ["--project", project, "--entity", entity, "--runs", str(runs)]
        cmd += ["--ledger-dir", str(ledgers_dir)] + ([] if sweep else ["--no-sweep"])
        proc = subprocess.run(
            cmd,
            env=isolated_sdk_env(base_url, api_key, home),
            cwd=home,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"Logging demo runs with the W&B SDK into {base_url} failed "
                f"(exit code {proc.returncode}). Output:\n{proc.stdout}\n{proc.stderr}"
            )
        manifest = json.loads((ledgers_dir / "manifest.json").read_text())
        ledgers = {
            path.stem: Ledger(**json.loads(path.read_text()))
            for path in ledgers_dir.glob("*.json")
            if path.name != "manifest.json"
        }
    return PopulateResult(
        run_ids=manifest["run_ids"],
        sweep_id=manifest["sweep_id"],
        sweep_run_ids=sorted(set(ledgers) - set(manifest["run_ids"])),
        ledgers=ledgers,
        wall_time_s=time.monotonic() - started,
    )


def _populate(args: argparse.Namespace) -> None:
    ledger_dir = Path(args.ledger_dir)
    run_ids = []
    for i in range(args.runs):
        config = TrainConfig(lr=0.05 * (i + 1), seed=i)
        ledger = log_training_run(
            config,
            project=args.project,
            entity=args.entity,
            tags=["demo", "baseline"] if i == 0 else ["demo"],
            group="baselines",
            log_model=True,
        )
        ledger.write(ledger_dir / f"{ledger.run_id}.json")
        run_ids.append(ledger.run_id)
    sweep_id = None
    if args.sweep:
        sweep_id, _ = run_sweep(project=args.project, entity=args.entity, ledger_dir=ledger_dir)
    manifest = {"run_ids": run_ids, "sweep_id": sweep_id}
    (ledger_dir / "manifest.json").write_text(json.dumps(manifest))


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m wb_dagster.demo.training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("run", help="log one training run")
    one.add_argument("--project", default=DEMO_PROJECT)
    one.add_argument("--entity", default=None)
    one.add_argument("--mode", choices=["online", "offline"], default="online")
    one.add_argument("--id", default=None, help="run id (with --resume allow: resume it)")
    one.add_argument("--resume", default=None, choices=["allow", "must", "never"])
    one.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    one.add_argument("--lr", type=float, default=TrainConfig.lr)
    one.add_argument("--seed", type=int, default=TrainConfig.seed)
    one.add_argument("--exit-code", type=int, default=0)
    one.add_argument("--epoch-sleep", type=float, default=0.0, help="seconds to idle per epoch")
    one.add_argument("--ledger", default=None, help="write what was logged to this JSON file")
    one.add_argument("--ready-file", default=None, help="created once the first row is logged")
    many = sub.add_parser("populate", help="log a few runs and the demo sweep")
    many.add_argument("--project", default=DEMO_PROJECT)
    many.add_argument("--entity", default=None)
    many.add_argument("--runs", type=int, default=2)
    many.add_argument("--no-sweep", dest="sweep", action="store_false")
    many.add_argument("--ledger-dir", required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m wb_dagster.demo.training run|populate ...``."""
    args = _build_parser().parse_args(argv)
    if args.command == "populate":
        _populate(args)
        return 0
    config = TrainConfig(lr=args.lr, epochs=args.epochs, seed=args.seed)
    log_training_run(
        config,
        project=args.project,
        entity=args.entity,
        mode=args.mode,
        run_id=args.id,
        resume=args.resume,
        exit_code=args.exit_code,
        epoch_sleep=args.epoch_sleep,
        ledger_path=Path(args.ledger) if args.ledger else None,
        ready_path=Path(args.ready_file) if args.ready_file else None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
