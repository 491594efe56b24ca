"""Artifacts logged by the official SDK against one local server (the ``logged`` fixture's).

The SDK (in a subprocess, as a user's training script) logs, in a ``producer`` run:
``data-set`` v0 (``a.txt``, nested ``sub/b.bin``, metadata, alias ``best``), v1 (``a.txt``
changed, ``best`` moves to it), then the v1 contents again (W&B's dedup: no new version);
``wandb.log_model`` of ``my-model`` (alias ``prod``); ``run.link_model`` into the legacy model
registry as ``reg-model``; ``scratch`` v0 and v1 (for the alias / deletion tests);
``inc-set`` v0 (``a.txt``) and an incremental v1 adding ``b.txt``. A ``consumer`` run uses
``data-set:v0`` and ``my-model:latest`` and links the model into the registry collection
``wandb-registry-model/prod-models`` with alias ``staging``. References (``add_reference``):
``file-refs`` v0 holds ``one.txt`` and ``d/`` as ``file://`` references to files outside W&B
(``external``), ``web/one.txt`` as an ``http://`` reference to the same file served with an
ETag (``web_handler``, as an object store answers), and one stored file; ``mixed-refs`` v0 an
``s3://`` reference (checksum off, so no S3 is asked) beside the same stored file. The
expected values below are the script's inputs, never what the server answers.
"""

from __future__ import annotations

import hashlib
import json
import textwrap
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.support.sdk_process import run_sdk

# path in the artifact -> bytes, per logged version of data-set
DATA_V0 = {"a.txt": b"hello a", "sub/b.bin": bytes(range(256)) * 4}
DATA_V1 = {"a.txt": b"hello a, second take", "sub/b.bin": bytes(range(256)) * 4}
MODEL = {"model.pt": b"weights" * 300}
# files outside W&B that file-refs references (relative to LoggedArtifacts.external)
REFERENCED = {"one.txt": b"one referenced file", "dir/x.txt": b"x" * 300, "dir/y.txt": b"y"}
STORED = {"stored.txt": b"stored in W&B beside the references"}
S3_REF = "s3://some-bucket/key/data.csv"

SCRIPT = textwrap.dedent(
    """
    import json, pathlib, sys
    import wandb

    spec = json.loads(pathlib.Path(sys.argv[1]).read_text())
    out = {}

    def write(root, files):
        for name, hexed in files.items():
            path = pathlib.Path(root) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(bytes.fromhex(hexed))

    run = wandb.init(project="arts", entity=spec["entity"], name="producer")
    out["producer"] = run.id
    versions = []
    for i, files in enumerate(spec["data"]):
        root = f"data{i}"
        write(root, files)
        art = wandb.Artifact("data-set", type="dataset", metadata={"rows": 10 + i})
        art.add_dir(root)
        run.log_artifact(art, aliases=["best"] if i < 2 else None)
        art.wait()
        versions.append(art.version)
    out["data_versions"] = versions
    write("m", spec["model"])
    model = run.log_model(path="m/model.pt", name="my-model", aliases=["prod"])
    run.link_model(path="m/model.pt", registered_model_name="reg-model")
    for i in range(2):
        write(f"s{i}", {"s.txt": (b"scratch %d" % i).hex()})
        art = wandb.Artifact("scratch", type="dataset")
        art.add_file(f"s{i}/s.txt")
        run.log_artifact(art)
        art.wait()
    # incremental: the new version is v0's files plus the added one
    write("inc", {"a.txt": b"first".hex(), "b.txt": b"second".hex()})
    base = wandb.Artifact("inc-set", type="dataset")
    base.add_file("inc/a.txt")
    run.log_artifact(base)
    base.wait()
    more = wandb.Artifact("inc-set", type="dataset", incremental=True)
    more.add_file("inc/b.txt")
    run.log_artifact(more)
    more.wait()
    run.finish()

    run = wandb.init(project="arts", entity=spec["entity"], name="consumer")
    out["consumer"] = run.id
    run.use_artifact("data-set:v0")
    used = run.use_artifact("my-model:latest")
    run.link_artifact(used, "wandb-registry-model/prod-models", aliases=["staging"])
    write("stored", spec["stored"])
    refs = wandb.Artifact("file-refs", type="dataset")
    refs.add_reference("file://" + spec["external"] + "/one.txt")
    refs.add_reference("file://" + spec["external"] + "/dir", name="d")
    refs.add_reference(spec["web"] + "/one.txt", name="web/one.txt")
    refs.add_file("stored/stored.txt")
    run.log_artifact(refs)
    mixed = wandb.Artifact("mixed-refs", type="dataset")
    mixed.add_reference(spec["s3_ref"], name="data.csv", checksum=False)
    mixed.add_file("stored/stored.txt")
    run.log_artifact(mixed)
    refs.wait()
    mixed.wait()
    run.finish()
    pathlib.Path(spec["out"]).write_text(json.dumps(out))
    """
)


@dataclass(frozen=True)
class LoggedArtifacts:
    """The server and what the SDK script reported."""

    server: LocalWandbServer
    entity: str
    producer: str
    consumer: str
    data_versions: list[str]
    # file-upload PUTs the SDK made while logging everything
    uploads: int
    # where the files REFERENCED lie
    external: Path


def _hexed(files: dict[str, bytes]) -> dict[str, str]:
    return {k: v.hex() for k, v in files.items()}


def web_handler(root: Path) -> type[BaseHTTPRequestHandler]:
    """Serves the files under ``root`` with an ``ETag`` (their md5, quoted, as S3 gives)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = (root / self.path.lstrip("/")).resolve()
            if not path.is_file() or not path.is_relative_to(root.resolve()):
                self.send_error(404)
                return
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("ETag", f'"{hashlib.md5(data).hexdigest()}"')
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def log_artifacts(srv: LocalWandbServer, home: Path, web: str) -> LoggedArtifacts:
    """Run the SDK script against ``srv`` (in ``home``; ``web`` serves ``home/external`` with
    :func:`web_handler`) and return what it reported."""
    (home / "log_artifacts.py").write_text(SCRIPT)
    external = home / "external"
    for name, data in REFERENCED.items():
        (external / name).parent.mkdir(parents=True, exist_ok=True)
        (external / name).write_bytes(data)
    spec = {
        "entity": srv.entity,
        "data": [_hexed(DATA_V0), _hexed(DATA_V1), _hexed(DATA_V1)],
        "model": _hexed(MODEL),
        "stored": _hexed(STORED),
        "external": str(external),
        "web": web,
        "s3_ref": S3_REF,
        "out": str(home / "out.json"),
    }
    (home / "spec.json").write_text(json.dumps(spec))
    proc = run_sdk(srv, home, [str(home / "log_artifacts.py"), str(home / "spec.json")], 180)
    assert proc.returncode == 0, proc.stderr
    out = json.loads((home / "out.json").read_text())
    uploads = srv.stats()["by_route"].get("PUT /_artifact_upload", 0)
    return LoggedArtifacts(
        srv, srv.entity, out["producer"], out["consumer"], out["data_versions"], uploads, external
    )
