"""MediaMTX's hooks end to end: real MediaMTX with the project config, real ffmpeg
publishers, the real mtx-hook wrapper and receiver, a real API server; and the
operator's resync against the real Control API."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from livestream_operator.kube import Kube, KubeError
from tests.media.conftest import Processes
from tests.media.media_support import MediaMTX
from tests.support.kube_fixtures import get_ls
from tests.support.ports import free_port
from tests.support.processes import Process
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.media


async def ingest(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    try:
        ls = await get_ls(kube, namespace, name)
    except KubeError:
        return {}
    return dict((ls.get("status") or {}).get("ingest") or {})


async def test_publish_and_stop_deliver_ready_and_not_ready(
    kube: Kube,
    namespace: str,
    start_receiver: Callable[..., str],
    mtx_with: Callable[[str], MediaMTX],
    procs: Processes,
) -> None:
    mtx = mtx_with(start_receiver(namespace))
    pub = procs.publisher(mtx.rtmp("live/hk/in") + "?lang=es&key=s3cret")
    path = await asyncio.to_thread(mtx.wait_available, "live/hk/in")

    got = await wait_for_async(lambda: _available(kube, namespace, "hk"), 15, what="ready event")
    assert got["path"] == "live/hk/in"
    assert got["sourceType"] == path["source"]["type"] == "rtmpConn"
    assert got["sourceId"] == path["source"]["id"]
    assert "lang=es" in got["query"]
    assert "s3cret" not in str(got)
    assert got["instance"] == mtx.instance  # the MediaMTX that has the publisher

    pub.stop()
    gone = await wait_for_async(lambda: _unavailable(kube, namespace, "hk"), 15, what="not-ready")
    assert gone["unavailableSince"]


async def _available(kube: Kube, namespace: str, name: str) -> dict[str, Any] | None:
    got = await ingest(kube, namespace, name)
    return got if got.get("available") else None


async def _unavailable(kube: Kube, namespace: str, name: str) -> dict[str, Any] | None:
    got = await ingest(kube, namespace, name)
    return got if got and not got.get("available") else None


async def test_a_replacing_publisher_is_told_apart_by_source_id(
    kube: Kube,
    namespace: str,
    start_receiver: Callable[..., str],
    mtx_with: Callable[[str], MediaMTX],
    procs: Processes,
) -> None:
    mtx = mtx_with(start_receiver(namespace))
    procs.publisher(mtx.rtmp("live/swap/in"))
    first = (await asyncio.to_thread(mtx.wait_available, "live/swap/in"))["source"]["id"]
    await wait_for_async(
        lambda: _source_is(kube, namespace, "swap", first), 15, what="first source"
    )

    procs.publisher(mtx.rtmp("live/swap/in"))  # MediaMTX hands the path to the newcomer

    async def replaced() -> str | None:
        info = mtx.path("live/swap/in") or {}
        source = (info.get("source") or {}).get("id")
        return source if info.get("available") and source and source != first else None

    second = await wait_for_async(replaced, 20, what="the second publisher to take over")
    await wait_for_async(lambda: _source_is(kube, namespace, "swap", second), 15, what="new source")
    # The old source's not-ready (raced against the new ready) never ends the stream.
    await asyncio.sleep(2)
    now = await ingest(kube, namespace, "swap")
    assert now["available"] is True
    assert now["sourceId"] == second
    assert "unavailableSince" not in now


async def _source_is(kube: Kube, namespace: str, name: str, source: str) -> bool:
    got = await ingest(kube, namespace, name)
    return bool(got.get("available") and got.get("sourceId") == source)


async def test_resync_finds_a_stream_published_while_the_receiver_was_down(
    kube: Kube,
    namespace: str,
    start_operator: Callable[..., Process],
    mtx_with: Callable[[str], MediaMTX],
    procs: Processes,
) -> None:
    # Hooks go to a port where nothing listens: every event is lost.
    mtx = mtx_with(f"http://127.0.0.1:{free_port()}")
    start_operator(namespace, f"http://127.0.0.1:{mtx.api_port}", LSO_RESYNC_SECONDS="2")
    procs.publisher(mtx.rtmp("live/missed/in"))
    path = await asyncio.to_thread(mtx.wait_available, "live/missed/in")
    got = await wait_for_async(
        lambda: _available(kube, namespace, "missed"),
        10,
        what="a LiveStream within one resync interval",
    )
    assert got["sourceId"] == path["source"]["id"]
