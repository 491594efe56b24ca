"""Issue 7, item 4: the bad-input catalogue (the table is ``docs/bad-input.md``).

Each case is something a user can get wrong or a server can send; each must end in a specific,
actionable error of our own (a ``CommError`` subclass, a ``ValueError`` naming the argument, or a
Dagster ``Failure`` / definition error) whose message is asserted here, never a traceback from
deep inside a library, never the API key; the "nothing lost" cases (odd keys and values, empty
projects, runs without history) must keep every value.
"""

from __future__ import annotations

import http.server
import math
import re
import socket
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest

from wb_dagster.client import AuthenticationError, CommError, NotFoundError, WandbClient
from wb_dagster.defs import build_wandb_defs
from wb_dagster.resource import WandbResource
from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.support.loopback_http import serving

from .demo_assets import BEST, HISTORY, RUNS, failure_message, fast_client, make_defs, materialize

P = "wb-demo/cifar"
ODD = f"{P}/odd001"
ODD_ROWS = [
    {"_step": 0, "a.b": 1.0, "a/b": 2.0, "ключ": 3.0, "emoji😀": 4.0, "nan": math.nan},
    {"_step": 1, "inf": math.inf, "ninf": -math.inf, "huge": "x" * 200_000, "a.b": 5.0},
]


@pytest.fixture(scope="module")
def srv() -> Iterator[LocalWandbServer]:
    """The demo seed plus an empty project, a run without history and a run with odd keys."""
    with LocalWandbServer(seed="demo") as server:
        seed = server.seed
        seed.project("wb-demo/empty")
        seed.create_run(P, "nohist01", state="finished")
        seed.create_run(P, "odd001", config={"a.b": 1, "dir/name": "x", "ключ": "значение"})
        seed.append_history(ODD, ODD_ROWS)
        seed.finish_run(ODD)
        yield server


class Plain(http.server.BaseHTTPRequestHandler):
    """A web server that is not W&B: HTML pages for everything."""

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"<html><body>Welcome to my blog</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def not_wandb() -> Iterator[str]:
    with serving(Plain) as url:
        yield url


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()  # nothing listens there now
    return port


def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``*.invalid`` fail locally, so no DNS query leaves the machine."""
    real = socket.getaddrinfo

    def fake(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def quick(srv: LocalWandbServer, **kwargs: Any) -> WandbClient:
    kwargs.setdefault("retry_budget_s", 0.6)
    return fast_client(srv, **kwargs)


def other(base_url: str, **kwargs: Any) -> WandbClient:
    return WandbClient(
        api_key="k" * 40, base_url=base_url, retry_budget_s=0.6, backoff_factor=0.01, **kwargs
    )


def dagster_run(srv: LocalWandbServer, tmp: Path, key: dg.AssetKey, partition: str | None,
                run_config: dict[str, Any] | None = None, **resource: Any) -> None:  # fmt: skip
    """Materialize ``key`` and raise the step's user-facing failure (as ``dg.Failure``)."""
    with dg.instance_for_test() as instance:
        if partition and key == BEST:
            instance.add_dynamic_partitions("wandb_sweeps__wb_demo__cifar", [partition])
        elif partition:
            instance.add_dynamic_partitions("wandb_runs__wb_demo__cifar", [partition])
        result = materialize(make_defs(srv, tmp, **resource), instance, [key], partition,
                             run_config)  # fmt: skip
        if not result.success:
            raise dg.Failure(failure_message(result))


def component(tmp: Path, **attributes: Any) -> None:
    """Load a ``defs.yaml`` of the component with ``attributes`` (as ``dg`` would)."""
    from dagster.components.testing import create_defs_folder_sandbox

    from wb_dagster.component import WandbProjectComponent

    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(
            component_cls=WandbProjectComponent,
            defs_yaml_contents={"type": "wb_dagster.component.WandbProjectComponent",
                                "attributes": attributes},
        )  # fmt: skip
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            defs.resolve_asset_graph()


def sweep_without_metric(srv: LocalWandbServer) -> str:
    srv.seed.create_sweep(P, "nometric", {"method": "grid", "parameters": {"lr": {"values": [1]}}})
    srv.seed.update_run(f"{P}/cifar000", sweep="nometric")
    return "nometric"


Case = tuple[str, Callable[..., Any], type[BaseException], str]

# (id, action(srv, tmp, not_wandb, monkeypatch), error type, message regex)
CASES: list[Case] = [
    # -- malformed paths
    ("run-path-too-long", lambda s, *_: quick(s).run("a/b/c/d/e"), ValueError,
     r"Invalid path 'a/b/c/d/e': expected entity/project/runs/<id>"),
    ("run-path-empty", lambda s, *_: quick(s).run(""), ValueError,
     r"Invalid path '': no run or sweep id"),
    ("run-path-slashes", lambda s, *_: quick(s).run("///"), ValueError,
     r"Invalid path '///': no run or sweep id"),
    ("run-path-no-project", lambda s, *_: quick(s, entity="wb-demo").run("abc123"), ValueError,
     r"Invalid path 'abc123' \(missing project\): use entity/project/abc123"),
    ("sweep-path-too-long", lambda s, *_: quick(s).sweep(f"{P}/sweeps/x/y"), ValueError,
     r"Invalid path 'wb-demo/cifar/sweeps/x/y'"),
    ("project-path-too-long", lambda s, *_: quick(s).runs("a/b/c"), ValueError,
     r"Invalid project path 'a/b/c': expected entity/project"),
    ("runs-no-project", lambda s, *_: quick(s).runs(None), ValueError,
     r"runs\(\) needs a project path: 'entity/project'"),
    # -- unknown things
    ("unknown-entity", lambda s, *_: quick(s).run("nobody/cifar/cifar001"), NotFoundError,
     r"Could not find run nobody/cifar/cifar001: check the entity, project and run id"),
    ("unknown-project", lambda s, *_: quick(s).run("wb-demo/nope/cifar001"), NotFoundError,
     r"Could not find run wb-demo/nope/cifar001"),
    ("unknown-run", lambda s, *_: quick(s).run(f"{P}/nope"), NotFoundError,
     r"Could not find run wb-demo/cifar/nope"),
    ("display-name-not-id", lambda s, *_: quick(s).run(f"{P}/baseline-foo-1"), NotFoundError,
     r"the id is the short id in the run's URL, not its display name"),
    ("unknown-sweep", lambda s, *_: quick(s).sweep(f"{P}/nope"), NotFoundError,
     r"Could not find sweep wb-demo/cifar/nope: check the entity, project and sweep id"),
    ("unknown-file", lambda s, *_: quick(s).run(f"{P}/cifar001").file("nope.txt"), NotFoundError,
     r"Run wb-demo/cifar/cifar001 has no file named 'nope.txt': list them with run.files\(\)"),
    ("runs-unknown-project", lambda s, *_: len(quick(s).runs("wb-demo/nope")), NotFoundError,
     r"Could not find project wb-demo/nope: check the entity and project names"),
    ("runs-unknown-entity", lambda s, *_: len(quick(s).runs("nobody/cifar")), NotFoundError,
     r"Could not find project nobody/cifar"),
    ("sweeps-unknown-project", lambda s, *_: quick(s).sweeps("wb-demo/nope"), NotFoundError,
     r"Could not find project wb-demo/nope"),
    # -- invalid filters and orders
    ("filter-bad-operator", lambda s, *_: len(quick(s).runs(P, filters={"state": {"$bogus": 1}})),
     CommError, r"listing runs of wb-demo/cifar: .*unsupported operator '\$bogus'.*supported: "),
    ("filter-not-object", lambda s, *_: len(quick(s).runs(P, filters=["state"])),  # type: ignore
     CommError, r"listing runs of wb-demo/cifar: .*a filter must be a JSON object"),
    ("filter-and-not-list", lambda s, *_: len(quick(s).runs(P, filters={"$and": "x"})),
     CommError, r"\$and expects a list of filter objects"),
    ("filter-on-id", lambda s, *_: len(quick(s).runs(P, filters={"id": "cifar001"})),
     CommError, r"unknown run filter field 'id' \(filter the run id with 'name'\)"),
    ("order-unknown", lambda s, *_: len(quick(s).runs(P, order="sideways")), CommError,
     r"unsupported order 'sideways'; use \+/- followed by one of"),
    ("history-keys-not-list",
     lambda s, *_: quick(s).run(f"{P}/cifar001").scan_history(keys="loss"),  # type: ignore
     ValueError, r"keys must be a list of strings"),
    ("files-names-and-pattern",
     lambda s, *_: quick(s).run(f"{P}/cifar001").files(names=["a"], pattern="%"),
     ValueError, r"pass either names or pattern to files\(\), not both"),
    ("download-exists", lambda s, t, *_: [
        quick(s).run(f"{P}/cifar001").file("config.yaml").download(str(t)).close(),
        quick(s).run(f"{P}/cifar001").file("config.yaml").download(str(t))],
     ValueError, r"config.yaml already exists: pass replace=True to overwrite it or exist_ok"),
    # -- API key
    ("api-key-missing", lambda s, *_: WandbClient(api_key=None, base_url=s.base_url).run(
        f"{P}/cifar001"), AuthenticationError,
     r"fetching run wb-demo/cifar/cifar001: no API key was given .* Set WANDB_API_KEY"),
    ("api-key-invalid", lambda s, *_: WandbClient(api_key="z" * 40, base_url=s.base_url).run(
        f"{P}/cifar001"), AuthenticationError,
     r"the API key was rejected by http://127\.0\.0\.1:\d+ .*Set a valid key with WANDB_API_KEY"),
    # -- wrong base URL
    ("api-key-invisible-character", lambda s, *_: WandbClient(
        api_key=s.api_key + "\u200b", base_url=s.base_url), ValueError,
     r"The W&B API key has a character that cannot be sent \(U\+200B at position 40\): copy"),
    ("base-url-is-the-key", lambda s, *_: WandbClient(api_key=None, base_url=s.api_key),
     ValueError, r"Invalid W&B base URL \(not shown: it looks like an API key\)"),
    ("base-url-no-scheme", lambda *_: WandbClient(api_key="k" * 40, base_url="api.wandb.ai"),
     ValueError, r"Invalid W&B base URL 'api.wandb.ai': expected http\(s\)://host\[:port\]"),
    ("base-url-wrong-scheme", lambda *_: WandbClient(api_key="k" * 40, base_url="ftp://h"),
     ValueError, r"Invalid W&B base URL 'ftp://h'"),
    ("base-url-unresolvable", lambda s, t, n, mp: [no_dns(mp), other(  # type: ignore[func-returns-value]
        "http://wandb.example.invalid").run(f"{P}/cifar001")], CommError,
     r"fetching run .* failed after .*the host name of wandb.example.invalid does not resolve"),
    ("base-url-refused", lambda *_: other(f"http://127.0.0.1:{closed_port()}").run(
        f"{P}/cifar001"), CommError,
     r"failed after .*127\.0\.0\.1:\d+ refused the connection .*Check that http://127"),
    ("base-url-not-wandb", lambda s, t, n, mp: other(n).run(f"{P}/cifar001"), CommError,
     r"fetching run .*answered with an HTML page, not the W&B API: check base_url"),
    ("base-url-tls-on-plain-http", lambda s, *_: other(s.base_url.replace("http:", "https:"))
     .run(f"{P}/cifar001"), CommError,
     r"TLS handshake with 127\.0\.0\.1:\d+ failed .*use an http:// base URL"),
    # -- unexpected response shapes
    ("shape-runs-edges", lambda s, *_: [s.add_faults([{"match": "Runs", "status": 200, "count": 1,
     "body": {"data": {"project": {"runCount": 1, "runs": "oops"}}}}]), len(quick(s).runs(P))],
     CommError, r"listing runs of wb-demo/cifar: unexpected response from .*edges is not a list"),
    ("shape-run-node", lambda s, *_: [s.add_faults([{"match": "Runs", "status": 200, "count": 1,
     "body": {"data": {"project": {"runCount": 1, "runs": {"edges": [{"node": 5}]}}}}}]),
     len(quick(s).runs(P))], CommError, r"unexpected response .*a run node is not an object"),
    ("shape-run-list", lambda s, *_: [s.add_faults([{"match": "Run", "status": 200, "count": 1,
     "body": {"data": {"project": {"run": [1, 2]}}}}]), quick(s).run(f"{P}/cifar002")],
     CommError, r"fetching run wb-demo/cifar/cifar002: unexpected response .*not an object"),
    ("graphql-error-body", lambda s, *_: [s.add_faults([{"match": "Run", "status": 200,
     "count": 1, "body": {"errors": [{"message": "query too complex"}]}}]),
     quick(s).run(f"{P}/cifar003")], CommError,
     r"fetching run wb-demo/cifar/cifar003: the W&B API returned an error: query too complex"),
    # -- Dagster: definitions, component YAML, resource and run config
    ("defs-include-unknown", lambda *_: build_wandb_defs(entity="e", project="p",
                                                          include=["nope"]),
     dg.DagsterInvalidDefinitionError, r"include=...\) got \['nope'\]; choose from"),
    ("component-missing-project", lambda s, t, *_: component(t, entity="wb-demo"), Exception,
     r"project"),
    ("component-api-key-in-yaml", lambda s, t, *_: component(
        t, entity="wb-demo", project="cifar", api_key=s.api_key), Exception,
     r"api_key is not an attribute: keep the W&B API key out of defs.yaml; .* api_key_env"),
    ("component-key-as-api-key-env", lambda s, t, *_: component(
        t, entity="wb-demo", project="cifar", api_key_env=s.api_key), Exception,
     r"api_key_env must be the upper-case name of an environment variable .* not the key"),
    ("component-templated-key-as-api-key-env", lambda s, t, *_: component(
        t, entity="wb-demo", project="cifar", api_key_env="{{ env.WB_DAGSTER_RELIABILITY_KEY }}"),
     Exception, r"api_key_env must be the upper-case name of an environment variable"),
    ("defs-plain-string-key", lambda s, *_: build_wandb_defs(
        entity="wb-demo", project="cifar", api_key=s.api_key), dg.DagsterInvalidDefinitionError,
     r"give the W&B API key as dg.EnvVar\('WANDB_API_KEY'\) .* stored in Dagster's snapshots"),
    ("component-unknown-attribute", lambda s, t, *_: component(
        t, entity="wb-demo", project="cifar", sensor_intreval_seconds=60), Exception,
     r"sensor_intreval_seconds"),
    ("component-include-unknown", lambda s, t, *_: component(
        t, entity="wb-demo", project="cifar", include=["runs", "modelz"]), Exception,
     r"got \['modelz'\]; choose from"),
    ("resource-timeout-not-number", lambda *_: WandbResource(timeout="soon"),  # type: ignore
     Exception, r"timeout"),
    ("resource-bad-base-url", lambda s, t, *_: dagster_run(s, t, RUNS, None, base_url="wandb"),
     dg.Failure, r"refreshing the run table of wb-demo/cifar: Invalid W&B base URL 'wandb'"),
    ("resource-wrong-key", lambda s, t, mp_, mp: [mp.setenv(
        "WB_DAGSTER_RELIABILITY_KEY", "w" * 40), dagster_run(s, t, RUNS, None)], dg.Failure,  # type: ignore[func-returns-value]
     r"refreshing the run table of wb-demo/cifar: .*the API key was rejected"),
    ("asset-deleted-run", lambda s, t, *_: dagster_run(s, t, HISTORY, "gone0001"), dg.Failure,
     r"exporting run wb-demo/cifar/gone0001: Could not find run .*deleted in W&B; delete the "
     r"partition"),
    ("best-model-bad-goal", lambda s, t, *_: dagster_run(s, t, BEST, "cifarswp", {"ops": {
        "wandb_wb_demo__cifar__sweep_best_model": {"config": {"goal": "biggest"}}}}),
     dg.Failure, r"goal must be 'minimize' or 'maximize', got 'biggest'"),
    ("best-model-no-metric", lambda s, t, *_: dagster_run(s, t, BEST, sweep_without_metric(s)),
     dg.Failure, r"The sweep declares no metric and none was configured: set "
     r"SweepBestModelConfig\(metric=..., goal=...\)"),
    ("best-model-no-file", lambda s, t, *_: dagster_run(s, t, BEST, "cifarswp", {"ops": {
        "wandb_wb_demo__cifar__sweep_best_model": {"config": {"file_pattern": "*.onnx"}}}}),
     dg.Failure, r"has no file matching '\*.onnx'; set file_pattern"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "action", "error", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_a_specific_actionable_error(
    case: str,
    action: Callable[..., Any],
    error: type[BaseException],
    message: str,
    srv: LocalWandbServer,
    not_wandb: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WB_DAGSTER_RELIABILITY_KEY", srv.api_key)
    try:
        with pytest.raises(error) as raised:
            action(srv, tmp_path, not_wandb, monkeypatch)
    finally:
        srv.clear_faults()
    text = str(raised.value) if not isinstance(raised.value, dg.Failure) else (
        raised.value.description or "")  # fmt: skip
    if raised.value.__cause__ is not None:  # what `dg check defs` prints under the tree
        text += f"\n{raised.value.__cause__}"
    assert re.search(message, text), text
    text += "".join(traceback.format_exception(raised.value)) + repr(raised.value)
    assert srv.api_key not in text and "w" * 40 not in text and "z" * 40 not in text
    # our own error types, not a library's exception leaking out of the client
    assert type(raised.value).__module__.split(".")[0] in ("wb_dagster", "builtins", "dagster",
                                                           "pydantic", "pydantic_core",
                                                           "dagster_shared")  # fmt: skip


# -- nothing lost: odd keys and values, empty projects, runs without history ------------------


def test_keys_with_dots_slashes_unicode_huge_values_nan_inf_are_kept(srv: LocalWandbServer) -> None:
    table = quick(srv).run(ODD).history_table()
    rows = {r["_step"]: r for r in table.to_pylist()}
    assert rows[0]["a.b"] == 1.0 and rows[0]["a/b"] == 2.0
    assert rows[0]["ключ"] == 3.0 and rows[0]["emoji😀"] == 4.0
    assert math.isnan(rows[0]["nan"])
    assert rows[1]["inf"] == math.inf and rows[1]["ninf"] == -math.inf
    assert rows[1]["huge"] == "x" * 200_000
    runs = quick(srv).runs(P, filters={"name": "odd001"}).to_table().to_pylist()
    assert runs[0]["config.a.b"] == 1 and runs[0]["config.ключ"] == "значение"
    assert runs[0]["config.dir/name"] == "x"


def test_odd_keys_survive_the_run_history_asset(
    srv: LocalWandbServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WB_DAGSTER_RELIABILITY_KEY", srv.api_key)
    dagster_run(srv, tmp_path, HISTORY, "odd001")
    stored = pq.read_table(
        tmp_path / "wandb" / "wb-demo" / "cifar" / "run_history" / "odd001.parquet"
    )
    rows = {r["_step"]: r for r in stored.to_pylist()}
    assert {"a.b", "a/b", "ключ", "emoji😀", "nan", "inf", "ninf", "huge"} <= set(
        stored.schema.names
    )
    assert rows[1]["inf"] == math.inf and rows[1]["huge"] == "x" * 200_000
    assert math.isnan(rows[0]["nan"])


def test_empty_project_and_run_without_history(
    srv: LocalWandbServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = quick(srv)
    empty = client.runs("wb-demo/empty").to_table()
    assert empty.num_rows == 0 and empty.column_names[:3] == ["id", "name", "state"]
    assert client.sweeps("wb-demo/empty") == []
    history = client.run(f"{P}/nohist01").history_table()
    assert history.num_rows == 0 and history.column_names == ["_step"]
    monkeypatch.setenv("WB_DAGSTER_RELIABILITY_KEY", srv.api_key)
    dagster_run(srv, tmp_path, HISTORY, "nohist01")
    stored = pq.read_table(
        tmp_path / "wandb" / "wb-demo" / "cifar" / "run_history" / "nohist01.parquet"
    )
    assert stored.num_rows == 0


def test_catalogue_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "bad-input.md").read_text()
    missing = [c[0] for c in CASES if f"`{c[0]}`" not in doc]
    assert not missing, missing
    assert len(CASES) >= 40
