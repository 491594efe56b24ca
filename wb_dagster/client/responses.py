"""Reading W&B's HTTP answers: retry hints, error messages (cut to a bounded size), HTML pages
and connection failures in words. Pure functions; :mod:`wb_dagster.client.transport` uses them.

Example:
    >>> parse_retry_after("1.5"), bounded("x" * 10, limit=4)
    (1.5, 'xxxx... [cut: 10 characters in all]')
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

# the server's own text in one error message (a GraphQL error can be megabytes long)
MAX_ERROR_CHARS = 2000


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` / ``RateLimit-Reset`` value (delta or HTTP date).

    Example:
        >>> parse_retry_after("2"), parse_retry_after("soon")
        (2.0, None)
    """
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


def error_messages(body: Any) -> list[str]:
    """Messages from a GraphQL or W&B backend error body (``errors`` list or ``error`` field)."""
    if not isinstance(body, dict):
        return []
    out: list[str] = []
    errors = body.get("errors")
    if isinstance(errors, list):
        for err in errors:
            if isinstance(err, dict):
                msg = str(err.get("message", err))
                path = err.get("path")
                if path:
                    msg = f"{'.'.join(str(p) for p in path)}: {msg}"
                out.append(msg)
            else:
                out.append(str(err))
    error = body.get("error")
    if isinstance(error, dict):
        out.append(str(error.get("message", error)))
    elif error:
        out.append(str(error))
    return out


def bounded(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was when cut.

    Example:
        >>> bounded("x" * 10, limit=4)
        'xxxx... [cut: 10 characters in all]'
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [cut: {len(text)} characters in all]"


def is_html(resp: requests.Response) -> bool:
    """True when the answer says it is an HTML page (a proxy or UI, not the API)."""
    return resp.headers.get("Content-Type", "").lower().startswith("text/html")


def root_cause(exc: BaseException) -> str:
    """The innermost exception's text (urllib3 wraps the useful part several levels deep)."""
    seen: set[int] = set()
    while True:
        inner = exc.__cause__ or exc.__context__
        if inner is None and exc.args and isinstance(exc.args[0], BaseException):
            inner = exc.args[0]
        reason = getattr(exc, "reason", None)
        if inner is None and isinstance(reason, BaseException):
            inner = reason
        if inner is None or id(inner) in seen:
            return f"{type(exc).__name__}: {exc}"[:200]
        seen.add(id(exc))
        exc = inner


def connection_problem(exc: BaseException, url: str) -> str:
    """Why a connection failed, in words (no URL query strings, never the key)."""
    text = repr(exc)
    host = urlsplit(url).netloc
    if "NameResolutionError" in text or "Name or service not known" in text:
        return f"the host name of {host} does not resolve"
    if "refused" in text:
        return f"{host} refused the connection (nothing listens there?)"
    if "reset" in text.lower():
        return f"{host} reset the connection"
    return type(exc).__name__


def w_and_b_error(resp: requests.Response) -> bool:
    """True when the body is a W&B/GraphQL error (the API is there and refused the request)."""
    try:
        return bool(error_messages(resp.json()))
    except ValueError:
        return False


def body_summary(resp: requests.Response) -> str:
    """The error text of an answer: W&B's messages, else the start of the body (bounded)."""
    try:
        messages = error_messages(resp.json())
    except ValueError:
        messages = []
    if messages:
        return bounded("; ".join(messages))
    text = (resp.text or "").strip().replace("\n", " ")
    return bounded(text, 200) or resp.reason or ""


def retry_after(resp: requests.Response) -> float | None:
    """The wait a ``429``/``503`` asks of this call (``Retry-After`` / ``RateLimit-Reset``)."""
    pause: float | None = None
    if resp.status_code in (429, 503):
        pause = parse_retry_after(resp.headers.get("Retry-After"))
    remaining = resp.headers.get("RateLimit-Remaining")
    if remaining is not None and remaining.strip() in ("0", "0.0"):
        reset = parse_retry_after(resp.headers.get("RateLimit-Reset"))
        if reset is not None:
            pause = max(pause or 0.0, reset)
    return pause
