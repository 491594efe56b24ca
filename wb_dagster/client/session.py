"""``WandbSession``: what the client's model objects (runs, files, sweeps, ...) use of the client.

Model objects hold the client they came from only through this Protocol, so they never import
``api.py`` (which builds them) and never reach into the client's private state.
:class:`~wb_dagster.client.api.WandbClient` satisfies it structurally. :class:`RunRef` and
:class:`SweepRef` are the parts of a ``Run`` and a ``Sweep`` that objects linking to one rely on
(a run's files, an artifact's producing run, a run's sweep), so that no module of a model
imports the module of a model it links back to.

Example:
    >>> from wb_dagster.client import WandbClient
    >>> session: WandbSession = WandbClient(api_key="k" * 40, base_url="http://127.0.0.1:9")
    >>> session.app_url
    'http://127.0.0.1:9'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from wb_dagster.client.transport import Transport


class RunRef(Protocol):
    """A run as the objects that belong to it (files, console logs) or point at it (an
    artifact's producer, from :meth:`WandbSession.run`) see it: a
    :class:`~wb_dagster.client.runs.Run`.

    Example (``client`` connected to the local server with the demo seed):
        >>> run: RunRef = client.run("wb-demo/cifar/cifar001")
        >>> run.path, run.client is client
        (['wb-demo', 'cifar', 'cifar001'], True)
    """

    @property
    def client(self) -> WandbSession: ...
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def entity(self) -> str: ...
    @property
    def project(self) -> str: ...
    @property
    def path(self) -> list[str]: ...
    @property
    def url(self) -> str: ...
    @property
    def project_internal_id(self) -> int | None: ...
    @property
    def config(self) -> dict[str, Any]: ...
    @property
    def summary_metrics(self) -> dict[str, Any]: ...


class SweepRef(Protocol):
    """A sweep found by :meth:`WandbSession.sweep` (a :class:`~wb_dagster.client.sweeps.Sweep`).

    Example (``client`` connected to the local server with the demo seed):
        >>> sweep: SweepRef = client.sweep("wb-demo/cifar/cifarswp")
        >>> sweep.id, sweep.state
        ('cifarswp', 'FINISHED')
    """

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def path(self) -> list[str]: ...
    @property
    def url(self) -> str: ...
    @property
    def config(self) -> dict[str, Any]: ...
    @property
    def order(self) -> str | None: ...


class WandbSession(Protocol):
    """The client as its model objects see it: HTTP, settings, defaults and cached lookups.

    Example (``client`` connected to the local server with the demo seed):
        >>> session: WandbSession = client
        >>> session.entity, session.server_feature("NO_SUCH_FLAG")
        ('wb-demo', False)
    """

    @property
    def transport(self) -> Transport:
        """GraphQL requests, uploads and downloads, under the client's limits and retries."""
        ...

    @property
    def base_url(self) -> str:
        """The API server's URL (named in errors about answers not shaped like W&B's)."""
        ...

    @property
    def app_url(self) -> str:
        """The W&B web app's URL (for the ``url`` of runs, sweeps and projects)."""
        ...

    @property
    def max_concurrency(self) -> int:
        """How many requests (history pages, file downloads) may run at once."""
        ...

    @property
    def history_page_rows(self) -> int:
        """Rows asked per live history page."""
        ...

    @property
    def entity(self) -> str | None:
        """The configured entity, else the API key's default entity."""
        ...

    def server_feature(self, name: str) -> bool:
        """Whether the server enables feature flag ``name``."""
        ...

    def run(self, path: str) -> RunRef:
        """The run at ``path`` (cached per client)."""
        ...

    def sweep(self, path: str) -> SweepRef:
        """The sweep at ``path`` (cached per client)."""
        ...

    def forget_run(self, path: Sequence[str]) -> None:
        """Drop every cached copy of the run at ``[entity, project, run_id]``."""
        ...
