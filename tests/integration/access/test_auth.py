"""The auth endpoint as MediaMTX calls it, against a real API server: keys come
from Secrets through a watch, refusals leave Events, revocations take effect."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from livestream_operator.api import stream_keys
from livestream_operator.kube import Kube, KubeError, core_path
from tests.support.kube_fixtures import events_of, get_ls
from tests.support.processes import HOOK_AUTH, INTERNAL
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.integration


async def auth(url: str, **fields: Any) -> tuple[int, dict[str, Any]]:
    body = {"ip": "10.0.0.7", "protocol": "rtmp", "id": "c1", "user": "", "password": ""}
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{url}/v1/mediamtx/auth", json=body | fields) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


async def put_key(kube: Kube, namespace: str, stream_id: str) -> str:
    key = stream_keys.generate_key()
    manifest = stream_keys.to_secret(stream_id, key, namespace)
    name = stream_keys.secret_name(stream_id)
    try:
        await kube.request("POST", core_path(namespace, "secrets"), manifest)
    except KubeError as exc:
        if not exc.already_exists:
            raise
        await kube.request("PUT", core_path(namespace, "secrets", name), manifest)
    return key


async def allowed(url: str, **fields: Any) -> bool:
    status, _ = await auth(url, **fields)
    return status == 200


@pytest.fixture
async def receiver(namespace: str, start_receiver: Callable[..., str]) -> str:
    url = start_receiver(namespace)

    async def ready() -> bool:
        async with aiohttp.ClientSession() as s, s.get(f"{url}/readyz") as resp:
            return resp.status == 200

    await wait_for_async(ready, 20, what="the receiver's key view")
    return url


async def test_a_keyed_publish_is_decided_from_the_watched_secrets(
    kube: Kube, namespace: str, receiver: str
) -> None:
    key = await put_key(kube, namespace, "cam")
    publish = {"action": "publish", "path": "live/cam/in"}
    # The watch delivers the new Secret within moments; then both URL forms pass.
    await wait_for_async(lambda: allowed(receiver, **publish, query=f"key={key}"), 10, what="key")
    assert await allowed(receiver, **publish, user="any", password=key)
    started = time.perf_counter()
    status, problem = await auth(receiver, **publish, query="key=sk_" + "x" * 43)
    assert time.perf_counter() - started < 0.5  # from memory, not the API server
    assert status == 401
    assert problem["type"].endswith("/invalid-stream-key")
    # Nothing was created for the refused publisher.
    with pytest.raises(KubeError) as err:
        await get_ls(kube, namespace, "nobody")
    assert err.value.not_found


async def test_rotation_and_revocation_refuse_the_old_key(
    kube: Kube, namespace: str, receiver: str
) -> None:
    old = await put_key(kube, namespace, "show")
    publish = {"action": "publish", "path": "live/show/in", "query": f"key={old}"}
    await wait_for_async(lambda: allowed(receiver, **publish), 10, what="first key")
    new = await put_key(kube, namespace, "show")  # rotate

    async def old_revoked() -> bool:
        status, problem = await auth(receiver, **publish, id="c2", ip="10.0.0.8")
        return status == 401 and problem["type"].endswith("/stream-key-revoked")

    await wait_for_async(old_revoked, 10, what="the old key to be revoked")
    assert await allowed(receiver, action="publish", path="live/show/in", query=f"key={new}")
    name = stream_keys.secret_name("show")
    await kube.request("DELETE", core_path(namespace, "secrets", name))

    async def new_revoked() -> bool:
        status, _ = await auth(receiver, action="publish", path="live/show/in", query=f"key={new}")
        return status == 401

    await wait_for_async(new_revoked, 10, what="the deleted key to be refused")


async def test_internal_callers_need_their_credentials(namespace: str, receiver: str) -> None:
    op = INTERNAL["LSO_OPERATOR_PASSWORD"]
    assert await allowed(receiver, action="api", user="lso-operator", password=op)
    assert not await allowed(receiver, action="api")
    assert not await allowed(receiver, action="metrics", user="lso-operator", password="x")
    worker = INTERNAL["LSO_WORKER_PASSWORD"]
    read_in = {"action": "read", "path": "live/cam/in"}
    assert await allowed(receiver, **read_in, user="lso-worker", password=worker)
    assert not await allowed(receiver, **read_in)


async def test_refusals_leave_an_event_on_the_livestream(
    kube: Kube, namespace: str, receiver: str
) -> None:
    ready = {"path": "live/ev/in", "query": "", "sourceType": "rtmpConn", "sourceId": "s1"}
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{receiver}/v1/mediamtx/events/ready", json=ready, headers=HOOK_AUTH) as resp,
    ):
        assert resp.status == 201
    await put_key(kube, namespace, "ev")

    async def refused_with_event() -> bool:
        await auth(receiver, action="publish", path="live/ev/in", query="key=wrong")
        return bool(await events_of(kube, namespace, "InvalidStreamKey"))

    await wait_for_async(refused_with_event, 15, what="an InvalidStreamKey Event")


async def test_unauthenticated_hook_calls_change_nothing(
    kube: Kube, namespace: str, receiver: str
) -> None:
    ready = {"path": "live/sneaky/in", "query": "", "sourceType": "rtmpConn", "sourceId": "s1"}
    async with aiohttp.ClientSession() as s:
        for headers in ({}, {"Authorization": "Bearer nope"}):
            async with s.post(
                f"{receiver}/v1/mediamtx/events/ready", json=ready, headers=headers
            ) as resp:
                assert resp.status == 401
    with pytest.raises(KubeError) as err:
        await get_ls(kube, namespace, "sneaky")
    assert err.value.not_found


async def test_an_address_guessing_keys_is_locked_out(
    kube: Kube, namespace: str, receiver: str
) -> None:
    key = await put_key(kube, namespace, "guess")
    right = {"action": "publish", "path": "live/guess/in", "query": f"key={key}", "ip": "10.9.9.9"}
    await wait_for_async(lambda: allowed(receiver, **right, id="ok0"), 10, what="the key")
    for attempt in range(5):
        status, problem = await auth(
            receiver, **right | {"query": "key=wrong", "id": f"w{attempt}"}
        )
        assert problem["type"].endswith("/invalid-stream-key")
    # Now even the right key is refused from that address, at once and saying why...
    status, problem = await auth(receiver, **right, id="ok1")
    assert status == 401
    assert problem["type"].endswith("/too-many-attempts")
    # ...while another address with the right key gets in.
    assert await allowed(receiver, **right | {"ip": "10.9.9.8"}, id="ok0")
