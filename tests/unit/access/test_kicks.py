"""Kicks reach the MediaMTX instance the publisher is on: a revoked key's publisher,
and the one a takeover on another instance replaces."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from livestream_operator.access.auth_endpoint import AuthService
from livestream_operator.access.cluster_view import KeyRing, Publishing
from tests.unit.access.test_policy import OPEN

A, B = "lso-mediamtx-0", "lso-mediamtx-1"


class Kicks:
    """The Control API clients' kick, by instance (mediamtx/instances.Clients)."""

    def __init__(self) -> None:
        self.made: list[tuple[str, str, str]] = []

    async def kick(self, instance: str, source_type: str, source_id: str) -> bool:
        self.made.append((instance, source_type, source_id))
        return True


def _live(instance: str, source: str = "c1", backup: dict[str, Any] | None = None) -> Any:
    status: dict[str, Any] = {
        "ingest": {
            "available": True,
            "sourceId": source,
            "sourceType": "rtmpConn",
            "instance": instance,
        }
    }
    if backup is not None:
        status["backup"] = backup
    return {
        "metadata": {"name": "cam"},
        "spec": {"streamId": "cam", "ingest": {"allowTakeover": True}},
        "status": status,
    }


@pytest.fixture
def kicks() -> Kicks:
    return Kicks()


@pytest.fixture
def publishing() -> Publishing:
    publishing = Publishing()
    publishing.apply("LISTED", {"items": [_live(A)]})
    publishing.synced.set()
    return publishing


@pytest.fixture
async def service(kicks: Kicks, publishing: Publishing) -> AuthService:
    keys = KeyRing()
    keys.apply("LISTED", {"items": []})
    keys.synced.set()
    return AuthService(OPEN, keys, publishing, "ns", kicker=kicks)


@pytest.fixture
async def client(service: AuthService) -> AsyncIterator[TestClient[Any, Any]]:
    app = web.Application()
    app.router.add_post("/v1/mediamtx/auth", service.handle)
    async with TestClient(TestServer(app)) as c:
        yield c


async def _publish(client: TestClient[Any, Any], instance: str, source: str) -> None:
    body = {"action": "publish", "path": "live/cam/in", "protocol": "rtmp", "id": source}
    query = f"?instance={instance}" if instance else ""
    resp = await client.post(f"/v1/mediamtx/auth{query}", data=json.dumps(body))
    assert resp.status == 200, await resp.text()


async def _settled(service: AuthService) -> None:
    await asyncio.gather(*service._tasks)


async def test_a_revoked_keys_publishers_are_kicked_where_each_is(
    service: AuthService, publishing: Publishing, kicks: Kicks
) -> None:
    backup = {"available": True, "sourceId": "b1", "sourceType": "srtConn", "instance": B}
    publishing.apply("MODIFIED", _live(A, backup=backup))
    await service.revoked("cam")
    await _settled(service)
    assert sorted(kicks.made) == [(A, "rtmpConn", "c1"), (B, "srtConn", "b1")]


async def test_a_takeover_on_another_instance_kicks_the_current_publisher_there(
    client: TestClient[Any, Any], service: AuthService, kicks: Kicks
) -> None:
    await _publish(client, B, "c2")
    await _settled(service)
    assert kicks.made == [(A, "rtmpConn", "c1")]


async def test_a_takeover_on_the_same_instance_is_mediamtxs_own(
    client: TestClient[Any, Any], service: AuthService, kicks: Kicks
) -> None:
    await _publish(client, A, "c2")  # MediaMTX replaces the publisher itself
    await _publish(client, A, "c1")  # the current publisher reconnecting: no takeover
    await _settled(service)
    assert kicks.made == []


async def test_an_instance_that_does_not_say_kicks_nobody(
    client: TestClient[Any, Any], service: AuthService, publishing: Publishing, kicks: Kicks
) -> None:
    await _publish(client, "", "c2")  # an auth URL without ?instance=
    publishing.apply("MODIFIED", _live(""))  # a publisher whose hooks did not say
    await _publish(client, B, "c3")
    await _settled(service)
    assert kicks.made == []
