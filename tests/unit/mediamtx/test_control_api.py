from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from livestream_operator.mediamtx.control_api import (
    BreakerState,
    CircuitBreaker,
    MediaMTXClient,
    MediaMTXError,
    PathInfo,
    Refused,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def state(b: CircuitBreaker) -> BreakerState:
    # A function call, so that mypy does not keep the property narrowed across calls.
    return b.state


def test_breaker_opens_after_5_failures_in_10s_and_half_opens_after_30s() -> None:
    clock = Clock()
    b = CircuitBreaker(clock=clock)
    for _ in range(4):
        b.record_failure()
        clock.now += 2
    assert state(b) is BreakerState.CLOSED
    assert b.allow()
    b.record_failure()
    assert state(b) is BreakerState.OPEN
    assert not b.allow()
    clock.now += 30
    assert b.allow()  # the single trial call
    assert not b.allow()
    b.record_failure()
    assert state(b) is BreakerState.OPEN
    clock.now += 30
    assert b.allow()
    b.record_success()
    assert state(b) is BreakerState.CLOSED


def test_failures_outside_the_window_do_not_count() -> None:
    clock = Clock()
    b = CircuitBreaker(clock=clock)
    for _ in range(10):
        b.record_failure()
        clock.now += 3
    assert state(b) is BreakerState.CLOSED


def test_path_info_reads_1_20_and_older_fields() -> None:
    new = PathInfo.from_api(
        {"name": "live/a/in", "available": True, "source": {"type": "rtmpConn", "id": "x"}}
    )
    old = PathInfo.from_api({"name": "live/a/in", "ready": True, "source": None})
    assert new == PathInfo("live/a/in", True, "rtmpConn", "x")
    assert old.available


def test_an_always_available_path_on_its_slate_is_not_available() -> None:
    # out with spec.inputLoss.fill Slate: available all the time, online with a worker.
    slate = {"name": "live/a/out", "available": True, "online": False, "source": None}
    worker = {**slate, "online": True, "source": {"type": "rtspSession", "id": "w"}}
    assert not PathInfo.from_api(slate).available
    assert PathInfo.from_api(worker) == PathInfo("live/a/out", True, "rtspSession", "w")


@pytest.mark.parametrize(
    ("verb", "status", "outcome"),
    [
        ("add", 200, None),
        ("add", 400, Refused),  # a config MediaMTX will not take: an answer
        ("patch", 401, MediaMTXError),  # its auth call failed: not a refusal
        ("add", 500, MediaMTXError),
        ("delete", 404, None),  # gone already
        ("patch", 404, MediaMTXError),
    ],
)
async def test_path_changes_tell_refusals_from_trouble(
    verb: str, status: int, outcome: type[Exception] | None
) -> None:
    seen: list[tuple[str, str]] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append((request.method, request.path))
        return web.json_response({"status": "error" if status != 200 else "ok"}, status=status)

    app = web.Application()
    app.router.add_route("*", "/v3/config/paths/{verb}/{name:.*}", answer)
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        client = MediaMTXClient(str(server.make_url("")), session)
        call = client.change_path_conf(verb, "live/cam/in", {"record": True})
        if outcome is None:
            await call
        else:
            with pytest.raises(outcome) as info:
                await call
            assert (outcome is Refused) == isinstance(info.value, Refused)
    method = {"add": "POST", "patch": "PATCH", "delete": "DELETE"}[verb]
    assert seen == [(method, f"/v3/config/paths/{verb}/live/cam/in")]
