"""spec.inputLoss.fillSeconds with the real parts: MediaMTX and its hooks, the
receiver, the operator (its reconcile and its PathConfigSync) against a real API
server. The slate's entry for live/<id>/out is there while the publisher is
gone, and goes fillSeconds after it went, with nothing else happening: the
operator wakes at that deadline by itself."""

from __future__ import annotations

import asyncio
import signal
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest

from livestream_operator.kube import Kube, livestreams_path
from tests.media.conftest import Processes
from tests.media.media_support import MediaMTX
from tests.support.kube_fixtures import condition_of
from tests.support.processes import Process
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.media

OUT = "live/cam/out"
FILL_SECONDS = 3


def out_entry(mtx: MediaMTX) -> dict[str, Any] | None:
    """live/cam/out's own path entry, as `config/paths/get` lists it."""
    found = mtx.api("/v3/config/paths/get/" + urllib.parse.quote(OUT, safe=""))
    return found if isinstance(found, dict) and found.get("name") == OUT else None


async def test_the_slate_ends_fill_seconds_after_the_publisher_went(
    kube: Kube,
    namespace: str,
    start_receiver: Callable[..., str],
    start_operator: Callable[..., Process],
    mtx_with: Callable[[str], MediaMTX],
    procs: Processes,
) -> None:
    mtx = mtx_with(start_receiver(namespace))
    start_operator(namespace, f"http://127.0.0.1:{mtx.api_port}")
    publisher = procs.publisher(mtx.rtmp("live/cam/in"))
    await asyncio.to_thread(mtx.wait_available, "live/cam/in", 20)

    async def created() -> bool:
        return await condition_of(kube, namespace, "cam", "InputLoss") is not None

    await wait_for_async(created, 20, what="the LiveStream, reconciled")
    await kube.request(
        "PATCH",
        livestreams_path(namespace, "cam"),
        {"spec": {"inputLoss": {"fillSeconds": FILL_SECONDS}}},
        content_type="application/merge-patch+json",
    )
    entry = await wait_for_async(lambda: out_entry(mtx), 20, what="out's slate entry")
    assert entry["alwaysAvailable"] is True

    publisher.stop(sig=signal.SIGKILL)
    gone = time.monotonic()

    async def lost() -> bool:
        loss = await condition_of(kube, namespace, "cam", "InputLoss")
        return loss is not None and loss["status"] == "True"

    await wait_for_async(lost, 10, what="the InputLoss condition")
    assert out_entry(mtx) is not None  # the slate plays meanwhile

    await wait_for_async(lambda: out_entry(mtx) is None, 15, what="out's entry to go")
    # Not before fillSeconds (the condition's time is to the second).
    assert time.monotonic() - gone >= FILL_SECONDS - 1

    async def says_so() -> bool:
        loss = await condition_of(kube, namespace, "cam", "InputLoss")
        return loss is not None and "the slate ended at" in loss["message"]

    # The reconcile at the deadline writes it (the sync may have acted first).
    await wait_for_async(says_so, 5, what="InputLoss saying the slate ended")
