"""A Control API client per MediaMTX instance: each call reaches the instance named."""

from __future__ import annotations

from contextlib import AsyncExitStack

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import REGISTRY

from livestream_operator.mediamtx.control_api import MediaMTXClient
from livestream_operator.mediamtx.instances import Clients
from livestream_operator.settings import Settings

CIRCUIT = "livestream_mediamtx_circuit_open"


def _control_api(kicked: list[str]) -> web.Application:
    async def kick(request: web.Request) -> web.Response:
        kicked.append(request.match_info["id"])
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/v3/rtmpconns/kick/{id}", kick)
    return app


async def test_a_kick_goes_to_the_instance_the_publisher_is_on() -> None:
    on_a: list[str] = []
    on_b: list[str] = []
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(TestServer(_control_api(on_a)))
        b = await stack.enter_async_context(TestServer(_control_api(on_b)))
        session = await stack.enter_async_context(aiohttp.ClientSession())
        clients = Clients(
            {
                "m-0": MediaMTXClient(str(a.make_url("")), session),
                "m-1": MediaMTXClient(str(b.make_url("")), session),
            }
        )
        assert await clients.kick("m-1", "rtmpConn", "c1")
        assert await clients.kick("", "rtmpConn", "c0")  # its hooks did not say: the default
        assert await clients.kick("m-9", "rtmpConn", "c2")  # a Pod no longer configured
    assert (on_a, on_b) == (["c0", "c2"], ["c1"])


async def test_each_instance_has_its_own_client_and_circuit() -> None:
    settings = Settings(
        mediamtx_instances=["lso-mediamtx-0", "lso-mediamtx-1"],
        mediamtx_domain="lso-mediamtx-pods.media.svc",
    )
    async with aiohttp.ClientSession() as session:
        clients = Clients.connect(settings.instances(), session, timeout=2, auth=None)
    a, b = clients["lso-mediamtx-0"], clients["lso-mediamtx-1"]
    assert b.base_url == "http://lso-mediamtx-1.lso-mediamtx-pods.media.svc:9997"
    for _ in range(5):
        a.breaker.record_failure()
    assert not a.breaker.allow()
    assert b.breaker.allow()
    assert REGISTRY.get_sample_value(CIRCUIT, {"instance": "lso-mediamtx-0"}) == 1
    assert REGISTRY.get_sample_value(CIRCUIT, {"instance": "lso-mediamtx-1"}) == 0


async def test_no_instances_is_todays_one_client() -> None:
    async with aiohttp.ClientSession() as session:
        clients = Clients.connect(Settings().instances(), session, timeout=2, auth=None)
    assert list(clients) == [""]
    assert clients.on("lso-mediamtx-7d9f").base_url == "http://mediamtx:9997"
    assert REGISTRY.get_sample_value(CIRCUIT, {"instance": ""}) == 0
