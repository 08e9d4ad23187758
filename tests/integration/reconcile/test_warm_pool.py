"""The warm worker pool against a real API server: refills, claims, and claims
that stay single across operator restarts.

No kubelet runs: the test marks pool Pods running and ready at 127.0.0.1, where
a stand-in for the workers' assignment endpoint answers (the real one is tested
in the media tier, the whole path on kind).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from livestream_operator.api.pod_contract import ASSIGNMENT_PATH, WORKER_METRICS_PORT
from livestream_operator.kube import Kube, core_path
from tests.integration.ingest.test_receiver import ev, post
from tests.integration.reconcile.test_operator import pods
from tests.support.processes import Process
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.integration
POOL = "media.livestream-operator.dev/pool"
TOKEN = "pool-token-for-tests"


@pytest.fixture
async def assignments() -> AsyncIterator[list[dict[str, Any]]]:
    """What the operator told the workers: each assignment body, in order."""
    seen: list[dict[str, Any]] = []

    async def assign(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"title": "Unauthorized"}, status=401)
        seen.append(await request.json())
        return web.json_response({"assigned": True})

    app = web.Application()
    app.router.add_post(ASSIGNMENT_PATH, assign)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", WORKER_METRICS_PORT).start()
    yield seen
    await runner.cleanup()


async def pool_pods(kube: Kube, namespace: str, state: str) -> dict[str, dict[str, Any]]:
    items = await kube.list_pods(namespace, f"{POOL}={state}")
    return {p["metadata"]["name"]: p for p in items if not p["metadata"].get("deletionTimestamp")}


async def warm_up(kube: Kube, namespace: str, pod: dict[str, Any]) -> None:
    """What the kubelet would report for a started pool worker."""
    container = pod["spec"]["containers"][0]
    await kube.request(
        "PATCH",
        core_path(namespace, "pods", pod["metadata"]["name"]) + "/status",
        {
            "status": {
                "phase": "Running",
                "podIP": "127.0.0.1",
                "containerStatuses": [
                    {
                        "name": container["name"],
                        "ready": True,
                        "restartCount": 0,
                        "image": container["image"],
                        "imageID": "",
                        "started": True,
                        "state": {"running": {"startedAt": "2026-12-01T00:00:00Z"}},
                    }
                ],
                "conditions": [{"type": "Ready", "status": "True"}],
            }
        },
        content_type="application/merge-patch+json",
    )


async def warm_pool(kube: Kube, namespace: str, size: int) -> dict[str, dict[str, Any]]:
    async def filled() -> dict[str, dict[str, Any]] | None:
        idle = await pool_pods(kube, namespace, "idle")
        return idle if len(idle) == size else None

    idle: dict[str, dict[str, Any]] = await wait_for_async(
        filled, 20, what=f"{size} idle pool Pods"
    )
    for pod in idle.values():
        await warm_up(kube, namespace, pod)
    await asyncio.sleep(0.5)  # the watch delivers them ready
    return idle


def owners(claimed: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    return {n: [o["name"] for o in p["metadata"]["ownerReferences"]] for n, p in claimed.items()}


async def test_a_new_stream_claims_a_warm_worker_and_the_pool_is_refilled(
    kube: Kube,
    namespace: str,
    start_receiver: Callable[..., str],
    start_operator: Callable[..., Process],
    assignments: list[dict[str, Any]],
) -> None:
    start_operator(namespace, LSO_WORKER_POOL_SIZE="2", LSO_POOL_TOKEN=TOKEN)
    url = start_receiver(namespace)
    idle = await warm_pool(kube, namespace, 2)
    await post(url, "ready", ev("cam", "s1"))

    async def claimed() -> dict[str, dict[str, Any]] | None:
        got = await pool_pods(kube, namespace, "claimed")
        return got or None

    got = await wait_for_async(claimed, 10, what="a claimed pool Pod")
    (name,) = got
    assert name in idle
    assert owners(got) == {name: ["cam"]}
    assert got[name]["metadata"]["labels"]["media.livestream-operator.dev/stream"] == "cam"
    # The pod learnt its stream without a restart, and no worker of its own was made.
    await wait_for_async(lambda: bool(assignments), 10, what="the assignment")
    assert assignments[0]["streamId"] == "cam"
    assert assignments[0]["inputUrl"].endswith("/live/cam/in")
    assert "cam-worker" not in await pods(kube, namespace)
    # The pool is refilled.
    await wait_for_async(
        lambda: _count(kube, namespace, "idle", 2), 10, what="the pool refilled to 2"
    )


async def _count(kube: Kube, namespace: str, state: str, want: int) -> bool:
    return len(await pool_pods(kube, namespace, state)) == want


async def test_claims_stay_single_across_operator_restarts(
    kube: Kube,
    namespace: str,
    start_receiver: Callable[..., str],
    start_operator: Callable[..., Process],
    assignments: list[dict[str, Any]],
) -> None:
    env = {"LSO_WORKER_POOL_SIZE": "4", "LSO_POOL_TOKEN": TOKEN}
    op = start_operator(namespace, **env)
    url = start_receiver(namespace)
    await warm_pool(kube, namespace, 4)
    streams = [f"s{i}" for i in range(6)]  # more streams than warm workers
    sending = asyncio.gather(*(post(url, "ready", ev(s, "x")) for s in streams))
    await asyncio.sleep(0.15)
    op.kill()  # SIGKILL while claims are in flight
    await sending
    op = start_operator(namespace, **env)

    async def one_worker_each() -> dict[str, str] | None:
        workers: dict[str, str] = {}
        for name, pod in (await pods(kube, namespace)).items():
            if pod["metadata"]["labels"].get("app.kubernetes.io/component") != "worker":
                continue
            refs = pod["metadata"].get("ownerReferences") or []
            if not refs:
                continue  # an idle pool Pod
            if len(refs) != 1 or refs[0]["name"] in workers.values():
                return None
            workers[name] = refs[0]["name"]
        return workers if sorted(workers.values()) == streams else None

    before = await wait_for_async(one_worker_each, 30, what="one worker per stream")
    # Restart again: nothing is claimed twice or moved, nothing extra appears.
    op.stop()
    start_operator(namespace, **env)
    await asyncio.sleep(3)
    after = await one_worker_each()
    assert after == before
    claimed = await pool_pods(kube, namespace, "claimed")
    assert claimed  # warm workers served some of the streams
    assert all(len(o) == 1 for o in owners(claimed).values())
    # Every claimed Pod was told one stream only: its owner's.
    told: dict[str, set[str]] = {}
    for body in assignments:
        told.setdefault(body["streamId"], set()).add(body["outputUrl"])
    assert all(len(urls) == 1 for urls in told.values())
