"""The receiver's HTTP contract through aiohttp's test client.

The API server is stood in for by a small in-memory store with the same
create/409 and resourceVersion semantics, and server-side apply's for writers
that keep to their fields; the real one is in the integration tier.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from livestream_operator.api.ownership import FieldManager, owned_part, stored_after
from livestream_operator.api.v1alpha1 import LiveStream, LiveStreamStatus
from livestream_operator.ingest.receiver import make_app
from livestream_operator.kube import KubeError
from livestream_operator.settings import Settings

TOKEN = "hook-token-for-tests"


class MemoryAPI:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.rv = 0
        self.up = True
        self.applied: list[tuple[FieldManager, dict[str, Any]]] = []  # each apply's status

    def _bump(self, body: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        body["metadata"]["resourceVersion"] = str(self.rv)
        return copy.deepcopy(body)

    async def get_livestream(self, namespace: str, name: str) -> LiveStream:
        if name not in self.objects:
            raise KubeError(404, "NotFound", name)
        return LiveStream.model_validate(self.objects[name])

    async def create_livestream(self, namespace: str, livestream: LiveStream) -> LiveStream:
        body = livestream.manifest()
        name = body["metadata"]["name"]
        if name in self.objects:
            raise KubeError(409, "AlreadyExists", name)
        self.objects[name] = copy.deepcopy(body)
        return LiveStream.model_validate(self._bump(self.objects[name]))

    async def apply_livestream_status(
        self,
        read: LiveStream,
        manager: FieldManager,
        status: LiveStreamStatus,
        *,
        conditional: bool = True,
    ) -> LiveStream:
        name = read.metadata.name
        obj = self.objects.get(name)
        if obj is None:
            raise KubeError(404, "NotFound", name)
        if conditional and read.metadata.resource_version != obj["metadata"]["resourceVersion"]:
            raise KubeError(409, "Conflict", name)
        self.applied.append((manager, owned_part(status, manager)))
        stored = LiveStreamStatus.model_validate(obj.get("status") or {})
        obj["status"] = stored_after(stored, manager, status).wire()
        return LiveStream.model_validate(self._bump(obj))

    async def healthy(self) -> bool:
        return self.up


class Client(TestClient[web.Request, web.Application]):
    """aiohttp's test client, with the in-memory API server behind the app."""

    api: MemoryAPI


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    api = MemoryAPI()
    app = make_app(api, Settings(hook_token=TOKEN))
    async with Client(TestServer(app), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        c.api = api
        yield c


async def test_ready_creates_then_updates(client: Client) -> None:
    body = {"path": "live/cam/in", "query": "", "sourceType": "rtmpConn", "sourceId": "1"}
    resp = await client.post(
        "/v1/mediamtx/events/ready", json=body, headers={"X-Request-Id": "abc"}
    )
    assert resp.status == 201
    assert resp.headers["X-Request-Id"] == "abc"
    assert (await resp.json())["result"] == "created"
    resp = await client.post("/v1/mediamtx/events/ready", json=body)
    assert (await resp.json())["result"] == "unchanged"
    assert list(client.api.objects) == ["cam"]


@pytest.mark.parametrize(
    ("raw", "ctype", "status", "slug"),
    [
        (b"{", "application/json", 400, "invalid-json"),
        (b"[]", "application/json", 422, "invalid-event"),
        (b'{"path": "x/y"}', "application/json", 422, "invalid-path"),
        (b'{"path": ""}', "application/json", 422, "invalid-event"),
        (
            b'{"path": "live/a/in", "instance": "Not_A_Pod"}',
            "application/json",
            422,
            "invalid-event",
        ),
        (b'{"path": "live/a/in", "instance": 1}', "application/json", 422, "invalid-event"),
        (b'{"path": "live/a/in"}', "text/plain", 415, "unsupported-media-type"),
    ],
)
async def test_bad_requests_get_problem_details(
    client: Client, raw: bytes, ctype: str, status: int, slug: str
) -> None:
    resp = await client.post("/v1/mediamtx/events/ready", data=raw, headers={"Content-Type": ctype})
    assert resp.status == status
    assert resp.content_type == "application/problem+json"
    problem = json.loads(await resp.text())
    assert problem["type"].endswith(slug)
    assert problem["status"] == status
    assert problem["detail"]
    assert client.api.objects == {}


async def test_unknown_route_is_problem_json(client: Client) -> None:
    resp = await client.post("/v1/mediamtx/events/started", json={})
    assert resp.status == 404
    assert resp.content_type == "application/problem+json"


async def test_api_down_is_503_so_the_wrapper_retries(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: Any, **__: Any) -> Any:
        raise KubeError(500, "InternalError", "etcd down")

    monkeypatch.setattr(client.api, "get_livestream", broken)
    monkeypatch.setattr(client.api, "create_livestream", broken)
    resp = await client.post("/v1/mediamtx/events/ready", json={"path": "live/a/in"})
    assert resp.status == 503
    assert "etcd" not in await resp.text()  # no internals leak to the caller


async def test_health_endpoints(client: Client) -> None:
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200
    client.api.up = False
    assert (await client.get("/readyz")).status == 503
    metrics = await (await client.get("/metrics")).text()
    assert "livestream_hook_handling_seconds" in metrics


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x"]
)
async def test_hook_calls_without_the_token_are_refused(
    client: Client, authorization: str | None
) -> None:
    body = {"path": "live/cam/in", "query": "", "sourceType": "rtmpConn", "sourceId": "1"}
    headers = {"Authorization": authorization or ""}
    resp = await client.post("/v1/mediamtx/events/ready", json=body, headers=headers)
    assert resp.status == 401
    assert resp.content_type == "application/problem+json"
    assert client.api.objects == {}  # nothing was created


async def test_auth_without_views_refuses(client: Client) -> None:
    resp = await client.post("/v1/mediamtx/auth", json={"action": "publish", "path": "live/a/in"})
    assert resp.status == 503  # fail closed: MediaMTX refuses the publish


async def test_every_hook_write_carries_all_of_the_ingest_writers_fields(client: Client) -> None:
    """Server-side apply removes what a manager leaves out: each write is the whole
    of status.ingest and status.output as the event makes them of what was read."""
    ready = {"path": "live/cam/in", "query": "", "sourceType": "rtmpConn", "sourceId": "1"}
    await client.post("/v1/mediamtx/events/ready", json=ready)
    out = {"path": "live/cam/out", "query": "", "sourceType": "rtspSession", "sourceId": "w"}
    await client.post("/v1/mediamtx/events/ready", json=out)
    await client.post("/v1/mediamtx/events/not-ready", json=ready)
    assert [manager for manager, _ in client.api.applied] == [FieldManager.INGEST] * 3
    _, last = client.api.applied[-1]
    assert set(last) == {"ingest", "output"}
    assert last["ingest"]["path"] == "live/cam/in"  # the not-ready sets only what ends
    assert (last["ingest"]["sourceId"], last["ingest"]["available"]) == ("1", False)
    assert last["output"]["available"] is True
