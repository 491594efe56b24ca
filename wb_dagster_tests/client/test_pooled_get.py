"""Storage GETs on urllib3's pool (``client/pooled_get.py``) behave as ``requests`` GETs do:
same headers, statuses, redirects, gzip, proxies and cookies (against a scripted server)."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
import requests

from wb_dagster.client import NotFoundError
from wb_dagster.client.transport import RetrySettings, Transport
from wb_dagster_tests.support.loopback_http import serving

KEY = "k" * 40


class Script:
    """Answers by path (``(status, headers, body)``), and what each request carried."""

    def __init__(self) -> None:
        self.answers: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()

    def answer(self, path: str) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            queue = self.answers.get(path) or [(404, {}, b"no such file")]
            return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def scripted() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            script.seen.append((self.path, dict(self.headers)))
            status, headers, body = script.answer(self.path)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serving(Handler) as url:
        yield url, script


def make(url: str) -> Transport:
    retry = RetrySettings(budget_s=5.0, backoff_factor=0.01, backoff_max=0.05)
    return Transport(api_key=KEY, base_url=url, timeout=2.0, retry=retry)


def test_headers_equal_a_requests_get_and_the_key_goes_only_to_the_api(
    scripted: tuple[str, Script],
) -> None:
    url, script = scripted
    script.answers["/files/a%20b.txt"] = [(200, {}, b"abc")]
    t = make(url)
    assert t.get_bytes(f"{url}/files/a b.txt", what="download") == b"abc"
    t.session.get(f"{url}/files/a b.txt", auth=("api", KEY)).close()
    (fast_path, fast), (slow_path, slow) = script.seen
    assert fast_path == slow_path == "/files/a%20b.txt"
    assert {k.lower(): v for k, v in fast.items()} == {k.lower(): v for k, v in slow.items()}
    # the same host under another URL than the API's gets no key
    other = make(f"{url}/api")
    assert other.get_bytes(f"{url}/files/a b.txt", what="download") == b"abc"
    assert "Authorization" not in script.seen[-1][1]


def test_statuses_are_read_as_for_any_request(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.answers["/flaky"] = [(500, {}, b"boom"), (503, {}, b""), (200, {}, b"ok")]
    t = make(url)
    assert t.get_bytes(f"{url}/flaky", what="download") == b"ok"
    assert len(script.seen) == 3
    with pytest.raises(NotFoundError, match="downloading x: not found"):
        t.get_bytes(f"{url}/missing", what="downloading x")


def test_redirects_are_followed_and_drop_the_key_for_another_host(
    scripted: tuple[str, Script],
) -> None:
    url, script = scripted
    other = url.replace("127.0.0.1", "localhost")
    script.answers["/files/moved"] = [(302, {"Location": f"{other}/signed/x"}, b"")]
    script.answers["/signed/x"] = [(200, {}, b"signed bytes")]
    assert make(url).get_bytes(f"{url}/files/moved", what="download") == b"signed bytes"
    assert "Authorization" in script.seen[0][1]
    assert script.seen[1][0] == "/signed/x" and "Authorization" not in script.seen[1][1]


def test_gzip_bodies_are_decoded(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.answers["/z"] = [(200, {"Content-Encoding": "gzip"}, gzip.compress(b"x" * 1000))]
    assert make(url).get_bytes(f"{url}/z", what="download") == b"x" * 1000


def test_a_proxied_host_and_session_cookies_go_through_requests(
    scripted: tuple[str, Script], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, script = scripted
    monkeypatch.setenv("HTTP_PROXY", url)
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    script.answers["http://storage.invalid/f"] = [(200, {}, b"via proxy")]
    assert make(url).get_bytes("http://storage.invalid/f", what="download") == b"via proxy"
    assert script.seen[-1][0] == "http://storage.invalid/f"  # a proxy's absolute form
    monkeypatch.delenv("HTTP_PROXY")
    script.answers["/c"] = [(200, {}, b"c")]
    t = make(url)
    t.session.cookies.set("session", "s1")
    assert t.get_bytes(f"{url}/c", what="download") == b"c"
    assert script.seen[-1][1].get("Cookie") == "session=s1"


def test_a_requests_session_sees_the_same_answers(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.answers["/same"] = [(200, {"Content-Type": "application/octet-stream"}, b"\0" * 9)]
    with requests.Session() as http:
        assert http.get(f"{url}/same").content == make(url).get_bytes(f"{url}/same", what="d")


def test_a_closed_transport_reconnects_as_requests_does(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.answers["/again"] = [(200, {}, b"again")]
    t = make(url)
    assert t.get_bytes(f"{url}/again", what="download") == b"again"
    t.close()
    assert t.get_bytes(f"{url}/again", what="download") == b"again"
