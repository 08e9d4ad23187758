"""A Control API client per MediaMTX instance (api/instances.py says where each is).

Each client has its own circuit breaker, so one instance that is away suspends
the calls to it alone. The first instance is the default: where a stream whose
status names no instance (or one no longer configured) is taken to be.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import aiohttp

from ..api.instances import DEFAULT, Instances, resolve
from .control_api import CircuitBreaker, MediaMTXClient


class Clients(Mapping[str, MediaMTXClient]):
    """Control API clients by instance name, in the instances' order."""

    def __init__(self, clients: Mapping[str, MediaMTXClient]) -> None:
        if not clients:
            raise ValueError("at least one MediaMTX instance")
        self._clients = dict(clients)
        self.names = tuple(self._clients)

    @classmethod
    def of(cls, client: MediaMTXClient | Clients) -> Clients:
        """A lone client is the one default instance (a single-instance release)."""
        return client if isinstance(client, Clients) else cls({DEFAULT: client})

    @classmethod
    def connect(
        cls,
        instances: Instances,
        session: aiohttp.ClientSession,
        *,
        timeout: float,
        auth: aiohttp.BasicAuth | None,
    ) -> Clients:
        return cls(
            {
                i.name: MediaMTXClient(
                    i.api_url,
                    session,
                    timeout=timeout,
                    breaker=CircuitBreaker(instance=i.name),
                    auth=auth,
                )
                for i in instances
            }
        )

    @property
    def default(self) -> str:
        return self.names[0]

    def resolve(self, instance: str) -> str:
        """The configured instance a recorded or reported name means."""
        return resolve(instance, self.names)

    def on(self, instance: str) -> MediaMTXClient:
        """The client of the instance a stream is recorded on ("" or unknown: the
        default)."""
        return self._clients[self.resolve(instance)]

    async def kick(self, instance: str, source_type: str, source_id: str) -> bool:
        """Disconnect a publisher on the instance it is on."""
        return await self.on(instance).kick(source_type, source_id)

    def __getitem__(self, name: str) -> MediaMTXClient:
        return self._clients[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._clients)

    def __len__(self) -> int:
        return len(self._clients)
