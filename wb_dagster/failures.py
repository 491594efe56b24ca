"""W&B client errors as Dagster failures: one clear message, no traceback from inside the client.

An asset step that fails talking to W&B raises :class:`dagster.Failure` whose description says
what the step was doing and what the client reported (what was asked, what went wrong, what to
do). Errors a retry cannot fix (unknown entity/project/run/sweep/file, rejected API key, invalid
paths) disable the step's retry policy, so a wrong setting fails at once instead of after the
retry delays; transient ones (retry budget spent on 429/5xx/timeouts) keep it.

Example:
    >>> import dagster as dg
    >>> from wb_dagster.client import NotFoundError
    >>> try:
    ...     with wandb_failures("reading run t/p/x"):
    ...         raise NotFoundError("Could not find run t/p/x: check the run id.")
    ... except dg.Failure as failure:
    ...     print(failure.description, failure.allow_retries)
    reading run t/p/x: Could not find run t/p/x: check the run id. False
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import dagster as dg
import pyarrow as pa

from wb_dagster.client import AuthenticationError, CommError, NotFoundError

# retrying cannot fix these: the setting or the data has to change first
_PERMANENT = (NotFoundError, AuthenticationError)


def is_permanent(exc: BaseException) -> bool:
    """Whether retrying cannot fix ``exc`` (unknown run or project, rejected key).

    Example:
        >>> is_permanent(NotFoundError("Could not find run t/p/x.")), is_permanent(OSError())
        (True, False)
    """
    return isinstance(exc, _PERMANENT)


@contextlib.contextmanager
def wandb_failures(what: str) -> Iterator[None]:
    """Turn a :class:`CommError` (or an invalid path's ``ValueError``) into ``dg.Failure``."""
    try:
        yield
    except CommError as exc:
        cause = exc.exc
        raise dg.Failure(
            description=f"{what}: {exc.message}",
            metadata={
                "error": type(exc).__name__,
                "cause": type(cause).__name__ if cause is not None else "",
            },
            allow_retries=not is_permanent(exc),
        ) from None
    except ValueError as exc:
        if isinstance(exc, pa.ArrowException):
            raise  # a data/storage problem, not a setting: keep its traceback
        # path parsing and argument checks of the client: the configuration must change
        raise dg.Failure(
            description=f"{what}: {exc}", metadata={"error": "ValueError"}, allow_retries=False
        ) from None
