"""Retry policy of the transport against a scripted loopback HTTP server (no W&B semantics)."""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler

import pytest

from wb_dagster.client import AuthenticationError, CommError, NotFoundError, RateLimitError
from wb_dagster.client.deadline import time_budget
from wb_dagster.client.errors import TimeBudgetExceeded
from wb_dagster.client.responses import parse_retry_after
from wb_dagster.client.transport import RateGate, RetrySettings, Transport
from wb_dagster_tests.support.loopback_http import serving

KEY = "k" * 40
OK: tuple[int, dict[str, str], str] = (200, {}, json.dumps({"data": {"ok": True}}))


class Script:
    """Responses to serve in order (the last one repeats), and what was received."""

    def __init__(self) -> None:
        self.responses: list[tuple[int, dict[str, str], str]] = [OK]
        self.received: list[dict[str, str]] = []
        self.lock = threading.Lock()
        self.delay_s = 0.0  # how long the server thinks before answering

    def next(self) -> tuple[int, dict[str, str], str]:
        with self.lock:
            return self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]


@pytest.fixture
def scripted() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            script.received.append(dict(self.headers))
            time.sleep(script.delay_s)
            status, headers, body = script.next()
            if status == 0:  # connection reset: RST instead of an answer
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
                self.close_connection = True
                return
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            data = body.encode()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_GET = _serve

    with serving(Handler) as url:
        yield url, script


def make(url: str, budget: float = 10.0) -> Transport:
    return Transport(
        api_key=KEY,
        base_url=url,
        timeout=2.0,
        retry=RetrySettings(budget_s=budget, backoff_factor=0.05, backoff_max=0.2),
    )


def test_query_retries_5xx_then_succeeds(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.responses = [(500, {}, "boom"), (502, {}, "bad gateway"), OK]
    t = make(url)
    assert t.graphql("query { ok }", what="probe") == {"ok": True}
    assert len(script.received) == 3
    assert script.received[0]["Authorization"].startswith("Basic ")
    assert script.received[0]["User-Agent"].startswith("W&B Public Client")


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/hostname",
        "s3://bucket/key",
        "gs://b/k",
        "http://127.0.0.1:notaport/x",
        "http://[bad/x",
        "http:///x",
    ],
)
def test_a_url_no_http_client_fetches_fails_at_once(url: str, tmp_path) -> None:
    t = make("http://127.0.0.1:9", budget=30.0)
    with pytest.raises(CommError, match=rf"reading k: '{re.escape(url)}' is not an http\(s\) URL"):
        t.get_bytes(url, what="reading k")
    with (
        (tmp_path / "out").open("wb") as out,
        pytest.raises(CommError, match=rf"reading k: '{re.escape(url)}' is not an http\(s\) URL"),
    ):
        t.download_to(url, out, what="reading k")
    assert t.stats["retries"] == 0  # before: 8 attempts over the whole budget


def test_retry_after_is_honoured(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.responses = [(429, {"Retry-After": "1"}, "slow down"), OK]
    t = make(url)
    started = time.monotonic()
    assert t.graphql("query { ok }", what="probe") == {"ok": True}
    assert time.monotonic() - started >= 0.95


def test_retry_after_http_date(scripted: tuple[str, Script]) -> None:
    assert 0 <= (parse_retry_after(formatdate(time.time() + 2, usegmt=True)) or 0) <= 2.1
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("nonsense") is None


def test_mutation_is_not_retried_after_5xx(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.responses = [(500, {}, "boom"), OK]
    with pytest.raises(CommError, match="not retried automatically"):
        make(url).graphql("mutation { x }", what="deleting run e/p/r", idempotent=False)
    assert len(script.received) == 1


def test_mutation_is_retried_after_429(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.responses = [(429, {"Retry-After": "0"}, ""), OK]
    assert make(url).graphql("mutation { x }", what="m", idempotent=False) == {"ok": True}


def test_rate_limit_exhaustion_raises_rate_limit_error(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.responses = [(429, {"Retry-After": "0.2"}, "")]
    started = time.monotonic()
    with pytest.raises(RateLimitError, match="rate limiting") as err:
        make(url, budget=1.0).graphql("query { ok }", what="listing runs of e/p")
    assert time.monotonic() - started < 2.0
    assert KEY not in str(err.value)
    assert "listing runs of e/p" in str(err.value)


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, AuthenticationError), (403, AuthenticationError), (404, NotFoundError)],
)
def test_fatal_statuses_are_not_retried(
    scripted: tuple[str, Script], status: int, error: type[Exception]
) -> None:
    url, script = scripted
    script.responses = [(status, {}, json.dumps({"errors": [{"message": "nope"}]})), OK]
    with pytest.raises(error, match="nope"):
        make(url).graphql("query { ok }", what="probe")
    assert len(script.received) == 1


def test_graphql_errors_raise_with_message(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    body = {"data": None, "errors": [{"message": "run not found", "path": ["project", "run"]}]}
    script.responses = [(200, {}, json.dumps(body))]
    with pytest.raises(CommError, match=r"project\.run: run not found") as err:
        make(url).graphql("query { ok }", what="probe")
    assert err.value.exc is not None


def test_malformed_json_is_retried_for_queries(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.responses = [(200, {}, "{not json"), OK]
    assert make(url).graphql("query { ok }", what="probe") == {"ok": True}


def test_unreachable_server_fails_within_budget() -> None:
    t = make("http://127.0.0.1:9", budget=1.5)  # port 9 (discard) is closed on loopback
    started = time.monotonic()
    with pytest.raises(CommError, match="retry budget"):
        t.graphql("query { ok }", what="probe")
    assert time.monotonic() - started < 3.0


def test_key_only_sent_to_api_host(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    t = make(url)
    other = url.replace("127.0.0.1", "localhost")
    t.get_bytes(f"{other}/signed/file", what="download")
    t.get_bytes(f"{url}/files/x", what="download")
    assert "Authorization" not in script.received[0]
    assert "Authorization" in script.received[1]
    assert KEY not in repr(t)


def test_rate_gate_spaces_requests() -> None:
    gate = RateGate(max_requests_per_s=20)
    started = time.monotonic()
    for _ in range(4):
        gate.wait(deadline=started + 5)
    assert time.monotonic() - started >= 3 * 0.05 - 0.01


@pytest.mark.parametrize(
    "headers",
    [{"Retry-After": "30"}, {"RateLimit-Remaining": "0", "RateLimit-Reset": "30"}],
    ids=["retry-after", "ratelimit-reset"],
)
def test_a_long_rate_limit_wait_holds_only_the_call_that_got_it(
    scripted: tuple[str, Script], headers: dict[str, str]
) -> None:
    """Issue 18 D4: one 429 asking for 30 s used to pause the whole (process-wide) client, so
    later calls waited out their budget and then failed with "no response within 0.5 s"."""
    url, script = scripted
    script.responses = [(429, headers, "slow down"), OK]
    t = make(url, budget=3.0)
    started = time.monotonic()
    with pytest.raises(RateLimitError, match="rate limiting") as err:
        t.graphql("query { ok }", what="listing runs of e/p")
    # the wait asked for is longer than this call's budget: it fails at once, saying so
    assert time.monotonic() - started < 1.0
    assert err.value.retry_after == 30.0
    started = time.monotonic()
    for _ in range(3):
        assert t.graphql("query { ok }", what="fetching run e/p/r") == {"ok": True}
    assert time.monotonic() - started < 1.0


def test_a_huge_graphql_error_is_cut_in_the_message(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    huge = "x" * 20_000_000
    script.responses = [(200, {}, json.dumps({"data": None, "errors": [{"message": huge}]}))]
    with pytest.raises(CommError) as err:
        make(url).graphql("query { ok }", what="probe")
    text = str(err.value)
    assert len(text) < 3000
    assert "[cut: 20000000 characters in all]" in text
    assert len(str(err.value.exc)) < 3000


def test_a_huge_error_page_is_cut_in_the_message(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.responses = [(400, {}, json.dumps({"error": "y" * 5_000_000}))]
    with pytest.raises(CommError, match="refused") as err:
        make(url).graphql("query { ok }", what="probe")
    assert len(str(err.value)) < 3000 and "characters in all" in str(err.value)


def test_a_call_ends_within_the_callers_time_budget(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.delay_s = 5.0  # each answer comes after 5 s: within timeout and retry budget
    t = make(url, budget=30.0)
    t.timeout = 30.0
    started = time.monotonic()
    with time_budget(1.0), pytest.raises(TimeBudgetExceeded, match="time budget of 1 s"):
        t.graphql("query { ok }", what="listing runs of e/p")
    assert time.monotonic() - started < 1.5


def test_connection_resets_are_retried_for_queries_only(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.responses = [(0, {}, ""), (0, {}, ""), OK]
    assert make(url).graphql("query { ok }", what="probe") == {"ok": True}
    script.responses = [(0, {}, ""), OK]
    with pytest.raises(CommError, match="may or may not have been applied"):
        make(url).graphql("mutation { x }", what="m", idempotent=False)
