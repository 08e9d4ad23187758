"""The early signal against a real API server: an allowed publish creates its
LiveStream from the auth call, and the auth call, the ready hook and the resync
report one stream as one LiveStream with one worker, in any order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from livestream_operator.kube import Kube
from tests.integration.access.test_auth import auth, put_key
from tests.integration.ingest.test_receiver import ev, post
from tests.integration.reconcile.test_operator import pods
from tests.support.fake_mediamtx import FakeMediaMTX
from tests.support.kube_fixtures import get_ls
from tests.support.processes import Process
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.integration


async def livestreams(kube: Kube, namespace: str) -> list[str]:
    return [ls.metadata.name for ls in await kube.list_livestreams(namespace)]


async def _status(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    try:
        return dict((await get_ls(kube, namespace, name)).get("status") or {})
    except Exception:
        return {}


@pytest.fixture
async def stack(
    namespace: str,
    fake_mediamtx: FakeMediaMTX,
    start_receiver: Callable[..., str],
    start_operator: Callable[..., Process],
) -> str:
    """Operator (resyncing against the fake MediaMTX every 0.3 s) and an open-mode receiver."""
    start_operator(namespace, fake_mediamtx.url, LSO_RESYNC_SECONDS="0.3")
    url = start_receiver(namespace, LSO_AUTH_MODE="open")

    async def admitted() -> bool:
        status, _ = await auth(url, action="read", path="live/probe/out")
        return status == 200

    await wait_for_async(admitted, 20, what="the receiver's views")
    return url


async def test_an_admitted_publish_shows_up_connecting_with_its_worker(
    kube: Kube, namespace: str, stack: str, fake_mediamtx: FakeMediaMTX
) -> None:
    status, _ = await auth(stack, action="publish", path="live/early/in", id="conn-1")
    assert status == 200
    st = await wait_for_async(
        lambda: _phase(kube, namespace, "early", "Connecting"), 10, what="Connecting"
    )
    assert st["ingest"]["sourceId"] == "conn-1"
    assert st["ingest"]["sourceType"] == "rtmpConn"
    assert st["ingest"]["available"] is False
    await wait_for_async(lambda: _one_worker(kube, namespace, "early"), 10, what="worker")
    # The ready hook of the same connection confirms it; the worker stays the same.
    worker_uid = (await pods(kube, namespace))["early-worker"]["metadata"]["uid"]
    fake_mediamtx.publish("live/early/in", "conn-1")
    await post(stack, "ready", ev("early", "conn-1"))
    st = await wait_for_async(lambda: _phase(kube, namespace, "early", "Starting"), 10)
    assert st["ingest"]["available"] is True
    assert "connectingSince" not in st["ingest"]
    assert (await pods(kube, namespace))["early-worker"]["metadata"]["uid"] == worker_uid


async def _phase(kube: Kube, namespace: str, name: str, want: str) -> dict[str, Any] | None:
    st = await _status(kube, namespace, name)
    return st if st.get("phase") == want else None


async def _one_worker(kube: Kube, namespace: str, name: str) -> bool:
    return set(await pods(kube, namespace)) == {f"{name}-worker"}


@pytest.mark.parametrize(
    "order",
    [
        ("auth", "ready", "resync"),
        ("ready", "auth", "resync"),
        ("resync", "auth", "ready"),
        ("together",),
    ],
)
async def test_any_order_of_auth_ready_and_resync_gives_one_stream_and_one_worker(
    kube: Kube, namespace: str, stack: str, fake_mediamtx: FakeMediaMTX, order: tuple[str, ...]
) -> None:
    stream = "cam"

    async def via_auth() -> None:
        assert (await auth(stack, action="publish", path=f"live/{stream}/in", id="c7"))[0] == 200

    async def via_ready() -> None:
        assert (await post(stack, "ready", ev(stream, "c7")))[0] in (200, 201)

    async def via_resync() -> None:
        fake_mediamtx.publish(f"live/{stream}/in", "c7")

    steps: dict[str, Callable[[], Awaitable[None]]] = {
        "auth": via_auth,
        "ready": via_ready,
        "resync": via_resync,
    }
    if order == ("together",):
        await asyncio.gather(via_auth(), via_ready(), via_resync())
    for step in order if order != ("together",) else ():
        await steps[step]()
        await asyncio.sleep(0.4)  # let each land (the resync runs every 0.3 s)

    async def settled() -> bool:
        st = await _status(kube, namespace, "cam")
        ingest = st.get("ingest") or {}
        return ingest.get("available") is True and await _one_worker(kube, namespace, "cam")

    await wait_for_async(settled, 15, what="one available stream with one worker")
    await asyncio.sleep(1.0)  # nothing more appears later
    assert await livestreams(kube, namespace) == ["cam"]
    assert set(await pods(kube, namespace)) == {"cam-worker"}
    ingest = (await _status(kube, namespace, "cam"))["ingest"]
    assert (ingest["sourceId"], ingest["available"]) == ("c7", True)
    assert "connectingSince" not in ingest


async def test_a_publish_that_never_becomes_available_ends_after_its_grace_period(
    kube: Kube,
    namespace: str,
    fake_mediamtx: FakeMediaMTX,
    start_receiver: Callable[..., str],
    start_operator: Callable[..., Process],
) -> None:
    start_operator(namespace, fake_mediamtx.url, LSO_CONNECT_TIMEOUT_SECONDS="1")
    url = start_receiver(namespace, LSO_AUTH_MODE="open", LSO_DEFAULT_GRACE_SECONDS="1")

    async def created() -> bool:
        await auth(url, action="publish", path="live/flaky/in", id="c1")
        return bool(await livestreams(kube, namespace))

    await wait_for_async(created, 20, what="LiveStream from the auth call")

    async def gone() -> bool:
        return not await livestreams(kube, namespace) and not await pods(kube, namespace)

    await wait_for_async(gone, 20, what="the stream ended (connect bound + grace)")


async def test_keyed_publish_is_announced_and_a_refused_one_is_not(
    kube: Kube,
    namespace: str,
    start_receiver: Callable[..., str],
    start_operator: Callable[..., Process],
) -> None:
    start_operator(namespace)
    url = start_receiver(namespace)
    key = await put_key(kube, namespace, "keyed")

    async def allowed() -> bool:
        publish = {"action": "publish", "path": "live/keyed/in", "id": "k1"}
        return (await auth(url, **publish, query=f"key={key}"))[0] == 200

    await wait_for_async(allowed, 20, what="key view")
    st = await wait_for_async(lambda: _phase(kube, namespace, "keyed", "Connecting"), 10)
    assert key not in str(st)  # the query is stored redacted
    status, _ = await auth(url, action="publish", path="live/other/in", query="key=sk_" + "x" * 43)
    assert status == 401
    await asyncio.sleep(1)
    assert await livestreams(kube, namespace) == ["keyed"]


async def test_early_signal_off_waits_for_the_ready_hook(
    kube: Kube,
    namespace: str,
    start_receiver: Callable[..., str],
) -> None:
    url = start_receiver(namespace, LSO_AUTH_MODE="open", LSO_EARLY_SIGNAL="false")

    async def answered() -> bool:
        return (await auth(url, action="publish", path="live/late/in", id="c1"))[0] == 200

    await wait_for_async(answered, 20, what="auth answer")
    await asyncio.sleep(1)
    assert await livestreams(kube, namespace) == []
