"""Issue 7, item 5: secrets, path safety, TLS and the local server's exposure.

* The API key never appears in logs, exceptions (with tracebacks), reprs, Dagster event logs,
  materialization metadata, run config, tick cursors or the repository snapshot, after real
  materializations and sensor ticks, failing ones included.
* Downloads cannot escape their destination (``../``, absolute names, symlinks), neither through
  the client nor through the ``sweep_best_model`` asset.
* TLS verification is on by default (a self-signed loopback server is refused) and turning it off
  logs a warning.
* The local server binds loopback by default, rejects requests without the key, refuses a
  non-loopback bind without ``--allow-remote``, and its control endpoints need the key when
  called from another host.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import logging
import os
import ssl
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import requests
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster_shared.serdes import serialize_value
from starlette.types import Message, Scope

from wb_dagster.client import CommError, WandbClient
from wb_dagster.testing import LocalWandbServer
from wb_dagster.testing.seeds.demo import DEMO_SWEEP_ID
from wb_dagster_tests.inprocess import evaluate_sensor, launch_requests

from .demo_assets import (
    BEST,
    HISTORY,
    KEY_ENV,
    RUN_SENSOR,
    RUNS,
    SWEEP_SENSOR,
    fast_client,
    fast_resource,
    make_defs,
    materialize,
)


def secret_forms(key: str) -> list[str]:
    """The key as it could leak: plain, and inside a Basic auth header."""
    return [key, base64.b64encode(f"api:{key}".encode()).decode()]


def test_api_key_never_leaks_through_a_pipeline_with_failures(
    wb: LocalWandbServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    store = tmp_path / "store"
    defs = make_defs(wb, store, retry_budget_s=0.5)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        # real ticks and materializations of every asset
        for sensor in (RUN_SENSOR, SWEEP_SENSOR):
            tick = evaluate_sensor(defs, sensor, instance, None)
            texts.append(str(tick.cursor))
            launched = launch_requests(defs, sensor, tick, instance)
            assert all(r.success for r in launched.results)
        assert materialize(defs, instance, [RUNS]).success
        # failures: permanent 5xx, a rejected key, and a failing sensor tick
        wb.seed.finish_run("wb-demo/cifar/cifar009")
        wb.add_faults([{"match": "POST /graphql", "status": 503}])
        assert not materialize(defs, instance, [RUNS]).success
        with pytest.raises(CommError) as tick_error:
            evaluate_sensor(defs, RUN_SENSOR, instance, tick.cursor)
        texts.append("".join(traceback.format_exception(tick_error.value)))
        wb.clear_faults()
        bad = make_defs(wb, store, retry_budget_s=0.5)
        os.environ[KEY_ENV], real_key = "x" * 40, os.environ[KEY_ENV]
        try:
            result = materialize(bad, instance, [HISTORY], "cifar000")
            assert not result.success
        finally:
            os.environ[KEY_ENV] = real_key
        with pytest.raises(CommError) as client_error:
            WandbClient(api_key=wb.api_key, base_url=wb.base_url, retry_budget_s=0.3).run(
                "wb-demo/cifar/nope"
            )
        texts.append("".join(traceback.format_exception(client_error.value)))

        # everything Dagster recorded: event logs (with step errors), run configs and tags
        for record in instance.get_run_records():
            run = record.dagster_run
            texts += [repr(run.run_config), repr(run.tags)]
            texts += [serialize_value(e) for e in instance.all_logs(run.run_id)]
        texts.append(serialize_value(RepositorySnap.from_def(defs.get_repository_def())))
    # reprs of every object holding the key
    resource = fast_resource(wb)
    client = resource.get_client()
    texts += [repr(resource), str(resource), repr(client), repr(client.transport), repr(wb)]
    texts += [caplog.text, *capfd.readouterr()]
    blob = "\n".join(texts)
    assert len(blob) > 100_000  # the scan really covered the runs' logs
    assert "HTTP 503" in blob and "rejected" in blob  # ... including the failures
    for form in secret_forms(wb.api_key):
        assert form not in blob


def test_resource_with_a_plain_string_key_keeps_it_out_of_reprs(wb: LocalWandbServer) -> None:
    resource = fast_resource(wb, api_key=wb.api_key)  # not an EnvVar: still never printed
    for text in (repr(resource), str(resource), repr(resource.get_client())):
        assert wb.api_key not in text


# -- downloads stay inside their destination ------------------------------------------------------

EVIL = ["../evil.txt", "../../etc/evil.txt", "/tmp/abs-evil.txt", "media/../../evil.txt"]


@pytest.mark.parametrize("name", EVIL)
def test_file_names_cannot_escape_the_download_root(
    name: str, wb: LocalWandbServer, tmp_path: Path
) -> None:
    wb.seed.add_file("wb-demo/cifar/cifar001", name, b"pwned")
    root = tmp_path / "a" / "b" / "root"
    root.mkdir(parents=True)
    (f,) = [f for f in fast_client(wb).run("wb-demo/cifar/cifar001").files() if f.name == name]
    with pytest.raises(ValueError, match="would be written outside"):
        f.download(root=str(root))
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    assert not Path("/tmp/abs-evil.txt").exists()


def test_symlink_inside_the_root_cannot_redirect_a_download(
    wb: LocalWandbServer, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "media").symlink_to(outside, target_is_directory=True)
    f = fast_client(wb).run("wb-demo/cifar/cifar001").file("media/images/sample_0.png")
    with pytest.raises(ValueError, match="would be written outside"):
        f.download(root=str(root))
    assert list(outside.rglob("*")) == []


def test_best_model_asset_refuses_escaping_file_names(
    wb: LocalWandbServer, tmp_path: Path, instance: Any
) -> None:
    best_run = fast_client(wb).sweep(f"wb-demo/cifar/{DEMO_SWEEP_ID}").best_run()
    assert best_run is not None
    best = f"wb-demo/cifar/{best_run.id}"
    wb.seed.add_file(best, "../../../model-best.evil", b"pwned")
    store = tmp_path / "store"
    instance.add_dynamic_partitions("wandb_sweeps__wb_demo__cifar", [DEMO_SWEEP_ID])
    config = {"ops": {"wandb_wb_demo__cifar__sweep_best_model": {"config": {"file_pattern": "*"}}}}
    result = materialize(make_defs(wb, store), instance, [BEST], DEMO_SWEEP_ID, config)
    assert not result.success
    assert not [p for p in tmp_path.rglob("*.evil")]


# -- TLS -----------------------------------------------------------------------------------------


@pytest.fixture
def self_signed_server(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate (not trusted by default)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b'{"data": {"viewer": {"entity": "tls-ok"}}}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_tls_is_verified_by_default_and_opting_out_warns(
    self_signed_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = "k" * 40
    assert WandbClient(api_key=key, base_url=self_signed_server).transport.session.verify is True
    assert WandbResource_default_verify() is True
    with pytest.raises(
        CommError, match=r"TLS handshake with 127\.0\.0\.1:\d+ failed .*CERTIFICATE"
    ):
        WandbClient(api_key=key, base_url=self_signed_server, retry_budget_s=0.5).viewer()
    caplog.set_level(logging.WARNING)
    insecure = WandbClient(api_key=key, base_url=self_signed_server, verify=False)
    assert "TLS certificate verification is OFF" in caplog.text
    assert self_signed_server in caplog.text and key not in caplog.text
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # urllib3's InsecureRequestWarning, as the user chose
        assert insecure.viewer() == {"entity": "tls-ok"}


def WandbResource_default_verify() -> bool:
    from wb_dagster.resource import WandbResource

    return bool(WandbResource().verify)


# -- the local server's exposure -------------------------------------------------------------------


def test_local_server_is_loopback_and_needs_the_key(wb: LocalWandbServer) -> None:
    assert wb.base_url.startswith("http://127.0.0.1:")
    query = {"query": "query Viewer { viewer { entity } }"}
    url = f"{wb.base_url}/graphql"
    assert requests.post(url, json=query, timeout=10).status_code == 401
    assert requests.post(url, json=query, auth=("api", "w" * 40), timeout=10).status_code == 401
    ok = requests.post(url, json=query, auth=("api", wb.api_key), timeout=10)
    assert ok.json() == {"data": {"viewer": {"entity": "wb-demo"}}}
    stream = f"{wb.base_url}/files/wb-demo/cifar/cifar009/file_stream"
    assert requests.post(stream, json={"files": {}}, timeout=10).status_code == 401


def test_cli_refuses_a_non_loopback_bind_without_allow_remote(
    capfd: pytest.CaptureFixture[str],
) -> None:
    from wb_dagster.cli import main
    from wb_dagster.testing.__main__ import build_parser

    assert build_parser().parse_args([]).host == "127.0.0.1"
    # `wb-dagster server` runs the server's own command line in a child process
    assert main(["server", "--host", "0.0.0.0", "--port", "0"]) == 2
    err = capfd.readouterr().err
    assert "refusing to bind '0.0.0.0'" in err and "--allow-remote" in err


def test_control_endpoints_need_the_key_from_another_host(wb: LocalWandbServer) -> None:
    """Calls the ASGI app with a non-loopback peer address (nothing leaves the machine)."""
    import asyncio

    from wb_dagster.testing.app import build_app

    assert wb.state is not None
    app = build_app(wb.state)

    def call(client: tuple[str, int], auth: str | None) -> int:
        headers = [(b"host", b"wb")]
        if auth:
            headers.append((b"authorization", f"Basic {auth}".encode()))
        scope: Scope = {
            "type": "http", "method": "GET", "path": "/_control/stats", "raw_path": b"",
            "query_string": b"", "headers": headers, "client": client, "server": ("wb", 80),
            "scheme": "http", "http_version": "1.1", "root_path": "",
        }  # fmt: skip
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            sent.append(message)

        async def call() -> None:
            await app(scope, receive, send)

        asyncio.run(call())
        return int(sent[0]["status"])

    good = base64.b64encode(f"api:{wb.api_key}".encode()).decode()
    assert call(("10.1.2.3", 5000), None) == 401
    assert call(("10.1.2.3", 5000), good) == 200
    assert call(("127.0.0.1", 5000), None) == 200
    assert call(("::1", 5000), None) == 200
