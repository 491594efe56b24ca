"""Exceptions raised by :mod:`wb_dagster.client`.

They mirror ``wandb.errors``: every failure talking to W&B is a :class:`CommError` whose ``exc``
attribute holds the underlying exception (as the W&B public-API guide describes), with
subclasses for the cases callers usually branch on.

Example:
    >>> from wb_dagster.client import CommError, NotFoundError
    >>> issubclass(NotFoundError, CommError)
    True
"""

from __future__ import annotations


class CommError(Exception):
    """A request to the W&B API failed; ``exc`` is the underlying exception (or None).

    Example:
        >>> err = CommError("Could not find run e/p/x", exc=KeyError("x"))
        >>> err.message, type(err.exc).__name__
        ('Could not find run e/p/x', 'KeyError')
    """

    def __init__(self, message: str, exc: BaseException | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exc = exc

    def __str__(self) -> str:
        return self.message


class AuthenticationError(CommError):
    """The API key was missing or rejected (HTTP 401), or access was denied (HTTP 403).

    Example (``client`` connected to the local server with the demo seed):
        >>> from wb_dagster.client import WandbClient
        >>> stranger = WandbClient(api_key="w" * 40, base_url=client.base_url)
        >>> try:
        ...     stranger.viewer()
        ... except AuthenticationError as err:
        ...     "WANDB_API_KEY" in str(err)
        True
    """


class NotFoundError(CommError, LookupError):
    """The entity, project, run, sweep or file asked for does not exist (or is not visible).

    Example (``client`` connected to the local server with the demo seed):
        >>> try:
        ...     client.run("wb-demo/cifar/no-such-run")
        ... except NotFoundError as err:
        ...     str(err).split(":")[0]
        'Could not find run wb-demo/cifar/no-such-run'
    """


class RateLimitError(CommError):
    """W&B kept answering HTTP 429 until the retry budget ran out.

    ``retry_after`` is the last server-suggested wait in seconds, if any.

    Example:
        >>> err = RateLimitError("listing runs of e/p: still HTTP 429 after 60 s", retry_after=2.0)
        >>> isinstance(err, CommError), err.retry_after
        (True, 2.0)
    """

    def __init__(
        self, message: str, exc: BaseException | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, exc)
        self.retry_after = retry_after


class TimeBudgetExceeded(CommError):
    """A call did not finish within the caller's :func:`~wb_dagster.client.deadline.time_budget`.

    Raised instead of waiting longer: a sensor tick stops here and keeps what it has read.

    Example:
        >>> issubclass(TimeBudgetExceeded, CommError)
        True
    """


def unexpected_shape(base_url: str, what: str, detail: str) -> CommError:
    """The error for an answer from ``base_url`` that is JSON but not shaped like W&B's.

    Example:
        >>> err = unexpected_shape("http://h", "fetching run e/p/x", "project.run is a list")
        >>> err.message.startswith("fetching run e/p/x: unexpected response from http://h")
        True
    """
    return CommError(
        f"{what}: unexpected response from {base_url} ({detail}). Check that base_url "
        "is a W&B API server; if it is, the server version may not be supported."
    )
