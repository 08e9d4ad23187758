"""The receiver's two listeners: MediaMTX's (hooks and auth) and users' (a
stream's recordings and snapshot), so that a NetworkPolicy can open one alone."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from livestream_operator.ingest.receiver import make_app
from livestream_operator.settings import Settings
from livestream_operator.userapi import app as userapi
from tests.unit.ingest.test_receiver import MemoryAPI


async def _ok(_: web.Request) -> web.Response:
    return web.Response(text="served")


async def not_served(_: web.Request) -> web.Response:
    """For a test of one users' endpoint: the other's handler."""
    raise web.HTTPNotFound


async def test_users_listener_serves_streams_and_nothing_of_mediamtx() -> None:
    async with TestClient(TestServer(userapi.make_app(_ok, _ok))) as client:
        for path in ("/v1/streams/cam/snapshot", "/v1/streams/cam/recordings", "/healthz"):
            assert (await client.get(path)).status == 200
        for path in ("/v1/mediamtx/auth", "/v1/mediamtx/events/ready"):
            resp = await client.post(path, json={})
            assert resp.status == 404
            assert resp.content_type == "application/problem+json"


async def test_hooks_listener_without_user_handlers_has_no_stream_routes() -> None:
    app = make_app(MemoryAPI(), Settings(hook_token="t"))
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/v1/streams/cam/snapshot")).status == 404
        assert (await client.get("/healthz")).status == 200
