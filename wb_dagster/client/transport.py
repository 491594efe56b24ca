"""HTTP transport: one ``requests.Session``, bounded concurrency, shared pacing, bounded retries.

Every request the client makes goes through :class:`Transport`:

* one connection pool sized to ``max_concurrency`` and a semaphore that bounds in-flight requests;
* an optional ``max_requests_per_s`` shared by all threads of a client (:class:`RateGate`);
* retries driven by a ``urllib3`` :class:`~urllib3.util.Retry` (counting, exponential backoff with
  jitter) under a total time budget. A ``429``/``503``'s ``Retry-After`` (or, with
  ``RateLimit-Remaining: 0``, its ``RateLimit-Reset``) delays only the call that received it,
  and only within that call's budget: a wait longer than the budget left fails the call at once
  with :class:`~wb_dagster.client.errors.RateLimitError`, other calls are not held back;
* each attempt's timeout and the retries end within a caller's
  :func:`~wb_dagster.client.deadline.time_budget`, if one is set; only idempotent calls are retried
  after the request may have reached the server (GraphQL queries, GETs, PUTs of the same bytes);
  a mutation is retried only when the server provably did not process it (``429``, connect errors);
* GraphQL ``errors`` and HTTP statuses mapped to :mod:`wb_dagster.client.errors`; the server's
  text in a message is cut to ``responses.MAX_ERROR_CHARS`` characters (and says so).

The API key is attached only to URLs under the API base URL (signed storage URLs never get it)
and never appears in a message, a log line or a repr.

Example:
    >>> t = Transport(api_key="x" * 40, base_url="http://127.0.0.1:9")
    >>> t.is_api_url("http://127.0.0.1:9/files/a"), t.is_api_url("https://storage.example/a")
    (True, False)
    >>> "x" * 40 in repr(t)
    False
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, NamedTuple
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError
from urllib3.util import Retry, parse_url

from wb_dagster.client.deadline import current_deadline
from wb_dagster.client.errors import (
    AuthenticationError,
    CommError,
    NotFoundError,
    RateLimitError,
    TimeBudgetExceeded,
)
from wb_dagster.client.pooled_get import PooledGet
from wb_dagster.client.responses import (
    body_summary,
    bounded,
    connection_problem,
    error_messages,
    is_html,
    retry_after,
    root_cause,
    w_and_b_error,
)

log = logging.getLogger(__name__)

USER_AGENT = "W&B Public Client (wb-dagster 0.1.0)"
# statuses that mean "your request is wrong": retrying cannot help (wandb-core agrees)
_FATAL_STATUSES = frozenset({400, 401, 403, 404, 409, 410, 413, 422, 501})
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# an attempt with less time than this left is not started: it could only time out
_MIN_ATTEMPT_S = 0.05


@dataclass(frozen=True)
class RetrySettings:
    """How hard to retry: total time budget, attempt cap and backoff shape (seconds).

    Example:
        >>> RetrySettings(budget_s=5.0).budget_s
        5.0
    """

    budget_s: float = 60.0
    max_retries: int = 12
    backoff_factor: float = 0.5
    backoff_max: float = 20.0
    backoff_jitter: float = 0.25

    def new_retry(self) -> Retry:
        # allowed_methods=None: idempotency is decided per call by Transport, not by HTTP verb,
        # because GraphQL queries and mutations are both POSTs
        return Retry(
            total=self.max_retries,
            connect=self.max_retries,
            read=self.max_retries,
            status=self.max_retries,
            other=self.max_retries,
            backoff_factor=self.backoff_factor,
            backoff_max=self.backoff_max,
            backoff_jitter=self.backoff_jitter,
            status_forcelist=_RETRY_STATUSES,
            allowed_methods=None,
            respect_retry_after_header=True,
            raise_on_status=False,
        )


class RateGate:
    """Client-wide pacing shared by all threads: an optional cap on requests per second.

    Server-requested waits (``Retry-After``) are not shared: they belong to the call that got
    them (see the module docstring).

    Example:
        >>> gate = RateGate(max_requests_per_s=None)
        >>> gate.wait(deadline=time.monotonic() + 1)
    """

    def __init__(self, max_requests_per_s: float | None = None) -> None:
        self._lock = threading.Lock()
        self._interval = 1.0 / max_requests_per_s if max_requests_per_s else 0.0
        self._next_slot = 0.0

    def wait(self, deadline: float) -> None:
        """Block until this request's slot (never past ``deadline``)."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_slot)
            self._next_slot = start + self._interval
        delay = min(start, deadline) - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class _Retryable(Exception):
    """Internal: one attempt failed in a way that may be retried."""

    def __init__(
        self,
        message: str,
        *,
        exc: BaseException | None = None,
        response: requests.Response | None = None,
        retry_after: float | None = None,
        processed: bool = True,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exc = exc
        self.response = response
        self.retry_after = retry_after
        # False when the server provably did not act on the request (safe even for mutations)
        self.processed = processed


class Streamed(NamedTuple):
    """What :meth:`Transport.download_to` wrote: bytes, their md5, the answer's ``ETag``.

    >>> Streamed(3, bytes(16), '"abc"').etag
    '"abc"'
    """

    size: int
    md5: bytes
    etag: str | None


class Transport:
    """Sends GraphQL and file requests to one W&B deployment (see module docstring)."""

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str,
        timeout: float = 30.0,
        max_concurrency: int = 16,
        download_concurrency: int = 64,
        retry: RetrySettings | None = None,
        verify: bool | str = True,
        max_requests_per_s: float | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.graphql_url = f"{self.base_url}/graphql"
        self.timeout = timeout
        self.retry = retry or RetrySettings()
        self.gate = RateGate(max_requests_per_s)
        self._api_key = api_key
        self._slots = threading.BoundedSemaphore(max(1, max_concurrency))
        self.download_concurrency = max(1, download_concurrency)
        self._download_slots = threading.BoundedSemaphore(self.download_concurrency)
        self._base = urlsplit(self.base_url)
        self.session = requests.Session()
        self.session.verify = verify
        # passed on every request too: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override
        # a session's verify=False or CA path (psf/requests#3829)
        self.verify = verify
        self.session.headers.update(
            {
                "User-Agent": USER_AGENT,
                "Use-Admin-Privileges": "true",
                "Accept-Encoding": "gzip",
            }
        )
        # our own loop retries (see _call); the adapter only pools connections
        adapter = HTTPAdapter(
            pool_connections=4,
            pool_maxsize=max(1, max_concurrency, self.download_concurrency),
            max_retries=0,
        )
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._pooled = PooledGet(self.session, verify)
        self.stats: dict[str, int] = {"requests": 0, "retries": 0}

    def __repr__(self) -> str:
        return f"Transport(base_url={self.base_url!r})"

    def close(self) -> None:
        self.session.close()
        self._pooled.clear()

    # -- helpers -----------------------------------------------------------------------------

    def is_api_url(self, url: str) -> bool:
        """True when ``url`` is under the API base URL (only those get the API key)."""
        parts = urlsplit(url)
        return (
            parts.scheme == self._base.scheme
            and parts.netloc == self._base.netloc
            and parts.path.startswith(self._base.path)
        )

    def absolute(self, url: str, what: str = "a request") -> str:
        """Resolve a server-relative URL (``/files/...``) against the base URL; anything but a
        well-formed http(s) URL fails at once, before any request (no retry would help):

        >>> transport = Transport(api_key=None, base_url="http://127.0.0.1:9")
        >>> transport.absolute("s3://b/k", "reading k")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        wb_dagster.client.errors.CommError: reading k: 's3://b/k' is not an http(s) URL ...
        """
        if url.startswith("/"):
            return f"{self.base_url}{url}"
        try:
            parts = parse_url(url)
        except ValueError:  # urllib3's LocationParseError: a bad host or port
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.host:
            raise CommError(
                f"{what}: {url!r} is not an http(s) URL this client can fetch (malformed, or "
                "another store's: read that with the store's own client)"
            )
        return url

    def _auth(self, url: str) -> tuple[str, str] | None:
        if self._api_key and self.is_api_url(url):
            return ("api", self._api_key)
        return None

    def _auth_header(self, url: str) -> dict[str, str]:
        auth = self._auth(url)
        if auth is None:
            return {}
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode("latin-1")).decode("ascii")
        return {"Authorization": f"Basic {token}"}  # what requests' HTTPBasicAuth sends

    @contextmanager
    def _slot(self) -> Iterator[None]:
        with self._slots:
            self.stats["requests"] += 1
            yield

    @contextmanager
    def _download_slot(self) -> Iterator[None]:
        # storage GETs have their own, larger bound: W&B serves them from signed storage URLs,
        # not the rate-limited API, and a many-file artifact waits on latency, not on W&B
        with self._download_slots:
            self.stats["requests"] += 1
            yield

    # -- the retry loop ----------------------------------------------------------------------

    def _call(self, what: str, attempt: Callable[[float], Any], *, idempotent: bool) -> Any:
        """Run ``attempt(timeout)`` until it returns, retrying within the budget."""
        started = time.monotonic()
        deadline = started + self.retry.budget_s
        budget = current_deadline()
        bound_by_caller = budget is not None and budget[0] < deadline
        if budget is not None and bound_by_caller:
            deadline = budget[0]
        retry = self.retry.new_retry()
        attempts = 0
        while True:
            self.gate.wait(deadline)
            remaining = deadline - time.monotonic()
            if bound_by_caller and remaining < _MIN_ATTEMPT_S:
                raise self._out_of_time(what, attempts, started, None)
            attempts += 1
            try:
                return attempt(max(_MIN_ATTEMPT_S, min(self.timeout, remaining)))
            except _Retryable as failure:
                if failure.processed and not idempotent:
                    raise CommError(
                        f"{what} failed: {failure.message}. The request may or may not have been "
                        "applied, so it was not retried automatically; check the current state "
                        "before repeating it.",
                        exc=failure.exc,
                    ) from failure.exc
                try:
                    raw = failure.response.raw if failure.response is not None else None
                    retry = retry.increment(method="POST", url=what, response=raw)
                except MaxRetryError:
                    raise self._give_up(what, failure, attempts, started) from failure.exc
                wait = retry.get_backoff_time()
                if failure.retry_after is not None:
                    wait = max(wait, failure.retry_after)
                if time.monotonic() + wait >= deadline:
                    if bound_by_caller and failure.response is None:
                        raise self._out_of_time(what, attempts, started, failure) from failure.exc
                    raise self._give_up(what, failure, attempts, started) from failure.exc
                self.stats["retries"] += 1
                log.info("%s: %s; retrying in %.1f s", what, failure.message, wait)
                if wait > 0:
                    time.sleep(wait)

    def _out_of_time(
        self, what: str, attempts: int, started: float, failure: _Retryable | None
    ) -> TimeBudgetExceeded:
        budget = current_deadline()
        last = f": {failure.message}" if failure is not None else ""
        return TimeBudgetExceeded(
            f"{what} did not finish within the caller's time budget of "
            f"{budget[1] if budget else 0:g} s ({attempts} attempt(s) in "
            f"{time.monotonic() - started:.1f} s{last}); {self.base_url} answers too slowly "
            "for it. The rest is read on a later call.",
            exc=failure.exc if failure is not None else None,
        )

    def _give_up(self, what: str, failure: _Retryable, attempts: int, started: float) -> CommError:
        spent = time.monotonic() - started
        message = (
            f"{what} failed after {attempts} attempt(s) in {spent:.1f} s "
            f"(retry budget {self.retry.budget_s:g} s): {failure.message}. "
        )
        status = failure.response.status_code if failure.response is not None else None
        if status == 429:
            return RateLimitError(
                message + "W&B is rate limiting this API key; lower max_concurrency, set "
                "max_requests_per_s, or raise retry_budget_s.",
                exc=failure.exc,
                retry_after=failure.retry_after,
            )
        return CommError(
            message + f"Check that {self.base_url} is reachable and healthy, or raise "
            "retry_budget_s / timeout.",
            exc=failure.exc,
        )

    def _check_status(self, what: str, resp: requests.Response) -> None:
        """Raise the right error for a non-2xx response (``_Retryable`` when worth retrying)."""
        status = resp.status_code
        if 200 <= status < 300:
            return
        wait = retry_after(resp)
        detail = f"HTTP {status}: {body_summary(resp)}"
        exc = requests.HTTPError(detail, response=resp)
        if status == 401 and not self._api_key and self.is_api_url(resp.url):
            raise AuthenticationError(
                f"{what}: no API key was given and {self.base_url} requires one ({detail}). "
                "Set WANDB_API_KEY or pass api_key=.",
                exc=exc,
            )
        if status == 401:
            raise AuthenticationError(
                f"{what}: the API key was rejected by {self.base_url} ({detail}). Set a valid "
                "key with WANDB_API_KEY or api_key=.",
                exc=exc,
            )
        if is_html(resp) and self.is_api_url(resp.url):
            raise CommError(
                f"{what}: {self.base_url} answered HTTP {status} with an HTML page, not the W&B "
                "API: check base_url / WANDB_BASE_URL (the API host, e.g. https://api.wandb.ai).",
                exc=exc,
            )
        if status == 403:
            raise AuthenticationError(
                f"{what}: permission denied by {self.base_url} ({detail}). Check that this API "
                "key's user can access the entity and project.",
                exc=exc,
            )
        if status == 404 and resp.url == self.graphql_url and not w_and_b_error(resp):
            raise CommError(
                f"{what}: there is no W&B API at {self.graphql_url} ({detail}). base_url must "
                "be the API host, such as https://api.wandb.ai (set base_url= or "
                "WANDB_BASE_URL).",
                exc=exc,
            )
        if status == 404:
            raise NotFoundError(f"{what}: not found ({detail}).", exc=exc)
        if status in _FATAL_STATUSES or (400 <= status < 500 and status != 429):
            raise CommError(f"{what}: the server refused the request ({detail}).", exc=exc)
        raise _Retryable(detail, exc=exc, response=resp, retry_after=wait, processed=status != 429)

    # -- GraphQL -----------------------------------------------------------------------------

    def graphql(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        what: str,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        """POST a GraphQL document and return its ``data`` (raises on any ``errors``).

        ``what`` names the operation for messages (e.g. ``"fetching run e/p/abc"``).
        """
        payload = json.dumps({"query": query, "variables": dict(variables or {})})
        url = self.graphql_url

        def attempt(timeout: float) -> dict[str, Any]:
            resp = self._send("POST", url, timeout, data=payload, what=what)
            self._check_status(what, resp)
            try:
                body = resp.json()
            except ValueError as exc:
                if is_html(resp):
                    raise CommError(
                        f"{what}: {self.base_url} answered with an HTML page, not the W&B API: "
                        "check base_url / WANDB_BASE_URL (the API host, e.g. "
                        "https://api.wandb.ai).",
                        exc=exc,
                    ) from exc
                raise _Retryable(
                    f"the response was not valid JSON ({bounded(resp.text or '', 80)!r})", exc=exc
                ) from exc
            if not isinstance(body, dict):
                raise _Retryable("the response was not a JSON object")
            messages = error_messages(body)
            if messages:
                text = bounded("; ".join(messages))
                raise CommError(
                    f"{what}: the W&B API returned an error: {text}",
                    exc=_GraphQLError(text, body.get("errors") if len(text) < 10_000 else None),
                )
            data = body.get("data")
            if not isinstance(data, dict):
                raise _Retryable("the response had no data")
            return data

        return self._call(what, attempt, idempotent=idempotent)

    def post_json(self, url: str, body: Mapping[str, Any], *, what: str) -> Any:
        """POST a JSON body to a non-GraphQL API route (``file_stream``); return the JSON reply.

        Retried like reads: callers only send bodies that are safe to repeat.
        """
        url = self.absolute(url, what)
        payload = json.dumps(dict(body), allow_nan=True)

        def attempt(timeout: float) -> Any:
            resp = self._send("POST", url, timeout, data=payload, what=what)
            self._check_status(what, resp)
            try:
                return resp.json()
            except ValueError:
                return None

        return self._call(what, attempt, idempotent=True)

    def _send(
        self, method: str, url: str, timeout: float, *, what: str, **kwargs: Any
    ) -> requests.Response:
        headers = kwargs.pop("headers", None) or {}
        if "data" in kwargs and isinstance(kwargs["data"], str):
            headers.setdefault("Content-Type", "application/json")
        with self._failures(url, timeout, what), self._slot():
            resp = self.session.request(
                method,
                url,
                timeout=timeout,
                verify=self.verify,
                auth=self._auth(url),
                headers=headers,
                **kwargs,
            )
            if not kwargs.get("stream"):
                _ = resp.content  # read the body while holding the slot
            return resp

    @contextmanager
    def _failures(self, url: str, timeout: float, what: str) -> Iterator[None]:
        """``requests``' exceptions as ``_Retryable`` (worth retrying) or ``CommError``."""
        try:
            yield
        except requests.ConnectTimeout as exc:
            raise _Retryable(
                f"connect timeout after {timeout:.1f} s", exc=exc, processed=False
            ) from exc
        except requests.Timeout as exc:
            raise _Retryable(f"no response within {timeout:.1f} s", exc=exc) from exc
        except requests.exceptions.SSLError as exc:
            # a certificate or protocol mismatch does not heal by retrying
            raise CommError(
                f"{what}: TLS handshake with {urlsplit(url).netloc} failed ({root_cause(exc)}). "
                "If the server speaks plain HTTP use an http:// base URL; if it uses a private "
                "CA pass verify='/path/to/ca.pem'.",
                exc=exc,
            ) from exc
        except requests.ConnectionError as exc:
            # a refused/unresolvable connection never reached the server; a reset may have
            processed = "NewConnectionError" not in repr(exc) and "refused" not in repr(exc)
            raise _Retryable(
                f"connection error ({connection_problem(exc, url)})", exc=exc, processed=processed
            ) from exc
        except (
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ) as exc:
            raise _Retryable(f"response body cut off ({type(exc).__name__})", exc=exc) from exc
        except requests.RequestException as exc:
            raise _Retryable(f"request error ({type(exc).__name__})", exc=exc) from exc

    # -- files ---------------------------------------------------------------------------------

    def get_bytes(self, url: str, *, what: str) -> bytes:
        """GET a whole (small or parquet) file into memory."""
        url = self.absolute(url, what)

        auth = self._auth_header(url)

        def attempt(timeout: float) -> bytes:
            with self._failures(url, timeout, what), self._download_slot():
                got = self._pooled.get(url, timeout, auth)
            if isinstance(got, bytes):
                return got
            self._check_status(what, got)
            return got.content

        return self._call(what, attempt, idempotent=True)

    def download_to(self, url: str, fileobj: IO[bytes], *, what: str) -> Streamed:
        """Stream a GET into ``fileobj`` (rewritten on retry); return its size, md5, ETag."""
        url = self.absolute(url, what)

        def attempt(timeout: float) -> Streamed:
            fileobj.seek(0)
            fileobj.truncate()
            digest = hashlib.md5(usedforsecurity=False)
            size = 0
            with self._download_slot():
                try:
                    resp = self.session.get(
                        url,
                        timeout=timeout,
                        auth=self._auth(url),
                        stream=True,
                        verify=self.verify,
                    )
                    with resp:
                        self._check_status(what, resp)
                        etag = resp.headers.get("ETag")
                        for chunk in resp.iter_content(chunk_size=1 << 20):
                            digest.update(chunk)
                            fileobj.write(chunk)
                            size += len(chunk)
                except (requests.RequestException, OSError) as exc:
                    raise _Retryable(
                        f"download interrupted ({type(exc).__name__})", exc=exc
                    ) from exc
            fileobj.flush()
            return Streamed(size, digest.digest(), etag)

        return self._call(what, attempt, idempotent=True)

    def put_file(self, url: str, path: str, headers: Mapping[str, str], *, what: str) -> None:
        """PUT a local file's bytes (idempotent: the same bytes every attempt)."""
        url = self.absolute(url, what)

        def attempt(timeout: float) -> None:
            with open(path, "rb") as fh:
                resp = self._send("PUT", url, timeout, what=what, data=fh, headers=dict(headers))
            self._check_status(what, resp)

        self._call(what, attempt, idempotent=True)


class _GraphQLError(Exception):
    """The ``errors`` of a GraphQL response (kept on ``CommError.exc``; ``None`` when huge)."""

    def __init__(self, text: str, errors: Any) -> None:
        super().__init__(text)
        self.messages = [text]
        self.errors = errors
