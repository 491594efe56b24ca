"""GETs of stored files straight on the urllib3 pool ``requests`` would use.

``Session.request`` spends about 0.4 ms of CPU per call (environment and proxy lookups,
hooks, cookies, building a ``Response``), more than a small file's whole GET on loopback; a
1,000-file artifact is CPU-bound on it. :class:`PooledGet` resolves once per host what
``requests`` resolves per call (the session's headers, ``REQUESTS_CA_BUNDLE``, proxies) and
sends each GET on the adapter's own connection pool. What it cannot do as ``requests`` would,
it leaves to ``requests``:

* a host reached through a proxy, or a session holding cookies: the whole GET goes through
  ``Session.request``;
* an answer that is not 2xx (errors, redirects): it becomes a ``requests.Response`` (redirects
  followed by the session), so statuses and messages are read as for any other request.

Failures are raised as the ``requests`` exceptions ``requests`` raises for them, so callers
handle one family of errors.

Example:
    >>> import requests
    >>> getter = PooledGet(requests.Session(), verify=True)
    >>> getter.request_target("http://127.0.0.1:9/_artifact_files/ab/a b.txt?x=1")
    '/_artifact_files/ab/a%20b.txt?x=1'
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.utils import requote_uri, select_proxy
from urllib3 import BaseHTTPResponse, HTTPConnectionPool
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    DecodeError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util import Timeout, parse_url


class PooledGet:
    """GET a URL's whole body on the session's pooled connections (see the module docstring).

    ``verify`` is what the caller passes ``requests`` on every request.
    """

    def __init__(self, session: requests.Session, verify: bool | str) -> None:
        self.session = session
        self.verify = verify
        self._lock = threading.Lock()
        # scheme://host:port -> (its connection pool, or None when requests must send the GET;
        # the verify setting requests would use there)
        self._hosts: dict[str, tuple[HTTPConnectionPool | None, Any]] = {}

    def clear(self) -> None:
        """Forget the hosts' pools (after ``session.close()``; the next GET makes new ones, as
        ``requests`` does)."""
        with self._lock:
            self._hosts.clear()

    @staticmethod
    def request_target(url: str) -> str:
        """The path and query sent on the request line, quoted as ``requests`` quotes them."""
        return parse_url(requote_uri(url)).request_uri

    def get(
        self, url: str, timeout: float, headers: Mapping[str, str]
    ) -> bytes | requests.Response:
        """The body of a 2xx answer, else the answer as a ``requests.Response`` (body read).

        ``headers`` are sent on top of the session's (e.g. ``Authorization``).
        """
        pool, verify = self._host(url)
        if pool is None or self.session.cookies:
            return self._via_requests(url, timeout, headers)
        sent = {k: str(v) for k, v in self.session.headers.items()} | dict(headers)
        raw = _open(pool, self.request_target(url), sent, timeout)
        if 200 <= raw.status < 300:
            return _read_all(raw)
        prepared = requests.Request("GET", url, headers=sent).prepare()
        adapter = self.session.get_adapter(url)
        if not isinstance(adapter, HTTPAdapter):
            raise requests.RequestException(f"no HTTP adapter for {url}")
        resp = adapter.build_response(prepared, raw)
        if resp.is_redirect:
            hops = self.session.resolve_redirects(
                resp, prepared, timeout=timeout, verify=verify, proxies={}
            )
            resp = ([resp, *hops])[-1]  # the last hop's answer, as Session.send returns it
        _ = resp.content  # read while the caller holds its slot, like requests' own GETs
        return resp

    def _via_requests(
        self, url: str, timeout: float, headers: Mapping[str, str]
    ) -> requests.Response:
        resp = self.session.get(url, timeout=timeout, verify=self.verify, headers=dict(headers))
        _ = resp.content
        return resp

    def _host(self, url: str) -> tuple[HTTPConnectionPool | None, Any]:
        parsed = parse_url(url)
        key = f"{parsed.scheme}://{parsed.netloc}"
        known = self._hosts.get(key)
        if known is not None:
            return known
        with self._lock:
            if key not in self._hosts:
                self._hosts[key] = self._new_host(url)
            return self._hosts[key]

    def _new_host(self, url: str) -> tuple[HTTPConnectionPool | None, Any]:
        # what Session.request decides for this host on every call: env proxies, CA bundle
        env = self.session.merge_environment_settings(url, {}, None, self.verify, None)
        adapter = self.session.get_adapter(url)
        if select_proxy(url, env["proxies"]) or not isinstance(adapter, HTTPAdapter):
            return None, env["verify"]
        prepared = requests.Request("GET", url).prepare()
        pool = adapter.get_connection_with_tls_context(prepared, env["verify"], None, env["cert"])
        return (pool if isinstance(pool, HTTPConnectionPool) else None), env["verify"]


def _open(
    pool: HTTPConnectionPool, target: str, headers: Mapping[str, str], timeout: float
) -> BaseHTTPResponse:
    """Send the GET; the answer's body is left to read (errors as ``requests`` raises them)."""
    try:
        return pool.urlopen(
            "GET",
            target,
            headers=dict(headers),
            redirect=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=False,
            retries=False,
            timeout=Timeout(connect=timeout, read=timeout),
        )
    except NewConnectionError as exc:  # a subclass of ConnectTimeoutError: refused, unresolved
        raise requests.ConnectionError(exc) from exc
    except ConnectTimeoutError as exc:
        raise requests.ConnectTimeout(exc) from exc
    except ReadTimeoutError as exc:
        raise requests.ReadTimeout(exc) from exc
    except SSLError as exc:
        raise requests.exceptions.SSLError(exc) from exc
    except (ProtocolError, ClosedPoolError, OSError) as exc:
        raise requests.ConnectionError(exc) from exc
    except HTTPError as exc:
        raise requests.RequestException(exc) from exc


def _read_all(raw: BaseHTTPResponse) -> bytes:
    """The whole (decoded) body; the connection goes back to the pool once it is read."""
    try:
        return raw.read(decode_content=True)
    except ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from exc
    except DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from exc
    except ReadTimeoutError as exc:
        raise requests.ConnectionError(exc) from exc
    except SSLError as exc:
        raise requests.exceptions.SSLError(exc) from exc
