"""The resync over two real MediaMTX instances: it finds a publisher on either,
records the instance it is on, and an instance that is away ends nothing of its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from livestream_operator.ingest.conditional_writer import ConditionalWriter
from livestream_operator.ingest.resync import Resync
from livestream_operator.kube import Kube
from livestream_operator.mediamtx.control_api import MediaMTXClient
from livestream_operator.mediamtx.instances import Clients
from livestream_operator.settings import Settings
from tests.support.kube_fixtures import get_ls

from ..conftest import Processes
from ..media_support import MediaMTX

A, B = "mtx-a", "mtx-b"


async def test_the_resync_covers_every_instance_and_one_away_ends_nothing_there(
    mediamtx_factory: Callable[[], MediaMTX], procs: Processes, kube: Kube, namespace: str
) -> None:
    a, b = mediamtx_factory(), mediamtx_factory()
    show = procs.publisher(a.rtmp("live/show/in"))
    procs.publisher(b.rtmp("live/cam/in"))
    a.wait_available("live/show/in")
    b.wait_available("live/cam/in")

    async def ingest(name: str) -> dict[str, Any]:
        return dict((await get_ls(kube, namespace, name))["status"]["ingest"])

    async with aiohttp.ClientSession() as session:
        clients = Clients(
            {
                A: MediaMTXClient(f"http://127.0.0.1:{a.api_port}", session, timeout=1),
                B: MediaMTXClient(f"http://127.0.0.1:{b.api_port}", session, timeout=1),
            }
        )
        cache: dict[str, Any] = {}
        writer = ConditionalWriter(kube, namespace, Settings(namespace=namespace))
        resync = Resync(clients, writer, cache, interval=1)

        async def once() -> int:
            cache.clear()  # the operator's cache, as its watch would have it
            cache.update({ls.metadata.name: ls for ls in await kube.list_livestreams(namespace)})
            return await resync.once()

        # Both publishes were missed (no receiver): the resync creates each stream
        # and records the instance its publisher is on.
        assert await once() == 2
        cam, on_a = await ingest("cam"), await ingest("show")
        assert (cam["available"], cam["instance"]) == (True, B)
        assert (on_a["available"], on_a["instance"]) == (True, A)
        assert cam["sourceId"] == b.session("live/cam/in")

        # A goes away with its publisher's path: nothing is ended on a guess, on
        # A or on B.
        show.stop()
        a.stop()
        assert await once() == 0
        assert (await ingest("show"))["available"] is True
        assert (await ingest("cam"))["available"] is True

        # Back, without the publisher: A now says the stream is gone, and it ends.
        a.start()
        assert await once() == 1
        assert (await ingest("show"))["available"] is False
        assert (await ingest("cam"))["available"] is True
