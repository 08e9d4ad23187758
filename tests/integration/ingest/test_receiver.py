"""Hook receiver -> LiveStream, against the real API server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from livestream_operator.api.naming import resource_name
from livestream_operator.kube import Kube, KubeError
from tests.support.kube_fixtures import get_ls, list_ls
from tests.support.processes import HOOK_AUTH

pytestmark = pytest.mark.integration


async def post(url: str, event: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            f"{url}/v1/mediamtx/events/{event}",
            json=body,
            headers={"X-Request-Id": "t-1", **HOOK_AUTH},
        ) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


def ev(stream: str, source: str, role: str = "in", query: str = "") -> dict[str, str]:
    return {
        "path": f"live/{stream}/{role}",
        "query": query,
        "sourceType": "rtmpConn",
        "sourceId": source,
    }


async def test_ready_creates_livestream_with_ingest_status(
    kube: Kube, namespace: str, start_receiver: Callable[..., str]
) -> None:
    url = start_receiver(namespace)
    status, body = await post(url, "ready", ev("Cam_01", "src-1", query="key=s3cret&lang=es"))
    assert status == 201, body
    assert body["result"] == "created"
    ls = await get_ls(kube, namespace, resource_name("Cam_01"))
    assert ls["spec"]["streamId"] == "Cam_01"
    assert ls["spec"]["lifecycle"] == "Ephemeral"
    ingest = ls["status"]["ingest"]
    assert ingest["available"] is True
    assert ingest["sourceId"] == "src-1"
    assert ingest["path"] == "live/Cam_01/in"
    assert ingest["query"] == "key=redacted&lang=es"  # stream keys never reach the status


async def test_duplicate_and_concurrent_ready_events_yield_one_object(
    kube: Kube, namespace: str, start_receiver: Callable[..., str]
) -> None:
    # Two receiver replicas, as in the chart.
    urls = [start_receiver(namespace), start_receiver(namespace)]
    results = await asyncio.gather(
        *(post(urls[i % 2], "ready", ev("dup", "s1")) for i in range(20))
    )
    assert all(status in (200, 201) for status, _ in results), results
    assert sum(1 for _, b in results if b["result"] == "created") == 1
    items = await list_ls(kube, namespace)
    assert [i["metadata"]["name"] for i in items] == ["dup"]


async def test_stale_not_ready_is_ignored(
    kube: Kube, namespace: str, start_receiver: Callable[..., str]
) -> None:
    url = start_receiver(namespace)
    await post(url, "ready", ev("cam", "old"))
    # A second publisher replaces the first: its ready lands before the old not-ready.
    await post(url, "ready", ev("cam", "new"))
    status, body = await post(url, "not-ready", ev("cam", "old"))
    assert status == 200
    assert body["result"] == "stale"
    ingest = (await get_ls(kube, namespace, "cam"))["status"]["ingest"]
    assert ingest["available"] is True
    assert ingest["sourceId"] == "new"
    assert "unavailableSince" not in ingest


async def test_not_ready_then_ready_clears_grace(
    kube: Kube, namespace: str, start_receiver: Callable[..., str]
) -> None:
    url = start_receiver(namespace)
    await post(url, "ready", ev("cam", "a"))
    await post(url, "not-ready", ev("cam", "a"))
    ingest = (await get_ls(kube, namespace, "cam"))["status"]["ingest"]
    assert ingest["available"] is False
    assert ingest["unavailableSince"]
    await post(url, "ready", ev("cam", "b"))
    ingest = (await get_ls(kube, namespace, "cam"))["status"]["ingest"]
    assert ingest["available"] is True
    assert "unavailableSince" not in ingest


async def test_output_events_mark_output(
    kube: Kube, namespace: str, start_receiver: Callable[..., str]
) -> None:
    url = start_receiver(namespace)
    status, body = await post(url, "ready", ev("nobody", "w", role="out"))
    assert (status, body["result"]) == (200, "ignored")  # no LiveStream: nothing created
    with pytest.raises(KubeError):
        await get_ls(kube, namespace, "nobody")
    await post(url, "ready", ev("cam", "a"))
    await post(url, "ready", ev("cam", "w1", role="out"))
    output = (await get_ls(kube, namespace, "cam"))["status"]["output"]
    assert output == {
        "path": "live/cam/out",
        "available": True,
        "sourceId": "w1",
        "availableSince": output["availableSince"],
    }


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"path": "other/cam/in", "sourceId": "1"}, 422, "path"),
        ({"path": "live/cam/in/extra"}, 422, "path"),
        ({"query": "x"}, 422, "path"),
        ({"path": 5}, 422, "path"),
    ],
)
async def test_bad_events_get_problem_json_and_change_nothing(
    kube: Kube,
    namespace: str,
    start_receiver: Callable[..., str],
    body: dict[str, Any],
    status: int,
    field: str,
) -> None:
    url = start_receiver(namespace)
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{url}/v1/mediamtx/events/ready", json=body, headers=HOOK_AUTH) as resp,
    ):
        assert resp.status == status
        assert resp.content_type == "application/problem+json"
        problem = await resp.json(content_type=None)
    assert problem["status"] == status
    assert any(e["field"] == field for e in problem["errors"])
    assert await list_ls(kube, namespace) == []


async def test_readyz_reports_api_reachable(
    namespace: str, start_receiver: Callable[..., str]
) -> None:
    # Like the kubelet's probe: ready once the stream-key view has loaded; until then a
    # 503 problem, never a hang or a 500.
    url = start_receiver(namespace)
    async with aiohttp.ClientSession() as s:
        for _ in range(100):
            async with s.get(f"{url}/readyz") as resp:
                if resp.status == 200:
                    break
                assert resp.status == 503
                assert resp.content_type == "application/problem+json"
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("/readyz never became ready")
    async with aiohttp.ClientSession() as s, s.get(f"{url}/metrics") as resp:
        text = await resp.text()
    assert "livestream_hook_events_total" in text
