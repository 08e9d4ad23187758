"""Per-destination retries against a real API server: status.forwarder follows
each destination container's report, Exhausted turns DestinationsHealthy False
naming the destination with one Warning Event, a steady state writes nothing,
and the retry-now annotation reaches the container (with the operator's token)
once, then is gone.

No kubelet runs: the test marks the forwarder Pod running at a loopback
address of its own, where stand-ins for each container's report and retry
endpoints listen on that container's port (the real forwarder is tested in the
media tier).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from livestream_operator.api.pod_contract import DESTINATION_PATH, RETRY_PATH, forwarder_port
from livestream_operator.kube import Kube, KubeError, core_path, livestreams_path
from livestream_operator.reconcile.destinations import RETRY_ANNOTATION
from tests.integration.reconcile.test_operator import pods, ts
from tests.integration.reconcile.test_processing import publishing
from tests.support.kube_fixtures import create_ls, events_of, get_ls
from tests.support.processes import Process
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.integration
POD_IP = "127.0.0.61"  # the fixed forwarder ports, on an address no other test uses
TOKEN = "forwarder-token-for-tests"
FOLLOW = 15
DESTS = ["youtube", "twitch"]


class Container:
    """One destination container's endpoints: answers with `now`, counts retries."""

    def __init__(self) -> None:
        self.now: dict[str, Any] = {"state": "Connecting", "since": ts()}
        self.retries_asked: list[str | None] = []
        self.asked = 0

    async def report(self, request: web.Request) -> web.Response:
        self.asked += 1
        return web.json_response(self.now)

    async def retry(self, request: web.Request) -> web.Response:
        self.retries_asked.append(request.headers.get("Authorization"))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"title": "Unauthorized"}, status=401)
        self.now = {"state": "Connecting", "since": ts(), "retries": 0}
        return web.json_response({"retried": True, "state": "Connecting"})


@pytest.fixture
async def containers() -> AsyncIterator[dict[str, Container]]:
    stubs = {name: Container() for name in DESTS}
    runners = []
    for index, name in enumerate(DESTS):
        app = web.Application()
        app.router.add_get(DESTINATION_PATH, stubs[name].report)
        app.router.add_post(RETRY_PATH, stubs[name].retry)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, POD_IP, forwarder_port(index)).start()
        runners.append(runner)
    yield stubs
    for runner in runners:
        await runner.cleanup()


def retrying_ls(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "media.livestream-operator.dev/v1alpha1",
        "kind": "LiveStream",
        "metadata": {"name": name},
        "spec": {
            "streamId": name,
            "lifecycle": "Persistent",
            "forwarder": {
                "retry": {"maxRetries": 3, "backoffSeconds": 2, "backoffCapSeconds": 20},
                "destinations": [
                    {"name": d, "urlSecretRef": {"name": "dests", "key": d}} for d in DESTS
                ],
            },
        },
    }


async def kubelet(kube: Kube, namespace: str, pod: dict[str, Any], ready: set[str]) -> None:
    statuses = [
        {
            "name": c["name"],
            "ready": c["name"] in ready,
            "restartCount": 0,
            "image": c["image"],
            "imageID": "",
            "started": True,
            "state": {"running": {"startedAt": ts(-30)}},
        }
        for c in pod["spec"]["containers"]
    ]
    await kube.request(
        "PATCH",
        core_path(namespace, "pods", pod["metadata"]["name"]) + "/status",
        {"status": {"phase": "Running", "podIP": POD_IP, "containerStatuses": statuses}},
        content_type="application/merge-patch+json",
    )


async def destinations(kube: Kube, namespace: str) -> dict[str, dict[str, Any]]:
    ls = await get_ls(kube, namespace, "show")
    dests = ((ls.get("status") or {}).get("forwarder") or {}).get("destinations") or []
    return {d["name"]: d for d in dests}


async def healthy(kube: Kube, namespace: str) -> dict[str, Any]:
    ls = await get_ls(kube, namespace, "show")
    conds = {c["type"]: c for c in (ls.get("status") or {}).get("conditions") or []}
    return dict(conds.get("DestinationsHealthy") or {})


async def test_retry_state_condition_event_and_retry_now_once(
    kube: Kube,
    namespace: str,
    start_operator: Callable[..., Process],
    containers: dict[str, Container],
) -> None:
    start_operator(namespace, LSO_INTERNAL_SECRET="lso-internal", LSO_FORWARDER_TOKEN=TOKEN)
    await create_ls(kube, namespace, retrying_ls("show"))
    await publishing(kube, namespace, "show")

    async def forwarder() -> dict[str, Any] | None:
        return (await pods(kube, namespace)).get("show-forwarder")

    pod = await wait_for_async(forwarder, what="the forwarder Pod")
    for c in pod["spec"]["containers"]:
        env = {e["name"]: e for e in c["env"]}
        assert env["LSO_MAX_RETRIES"]["value"] == "3"
        assert (env["LSO_BACKOFF_SECONDS"]["value"], env["LSO_BACKOFF_CAP_SECONDS"]["value"]) == (
            "2",
            "20",
        )
        ref = env["LSO_FORWARDER_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "lso-internal", "key": "forwarder-token", "optional": True}

    # youtube delivers; twitch is refused and retries.
    containers["youtube"].now = {"state": "Active", "since": ts()}
    containers["twitch"].now = {
        "state": "Retrying",
        "retries": 1,
        "maxRetries": 3,
        "lastError": "rtmp://live.twitch.tv/app/****: Connection refused",
        "lastRetryTime": ts(-1),
        "nextRetryTime": ts(2),
        "since": ts(-1),
    }
    await kubelet(kube, namespace, pod, ready={"dest-youtube"})

    async def twitch_in(state: str) -> dict[str, Any] | None:
        d = (await destinations(kube, namespace)).get("twitch") or {}
        return d if d.get("state") == state else None

    twitch = await wait_for_async(lambda: twitch_in("Retrying"), FOLLOW, what="twitch Retrying")
    assert twitch["retries"] == 1
    assert twitch["lastError"] == "rtmp://live.twitch.tv/app/****: Connection refused"
    assert twitch["nextRetryTime"] == containers["twitch"].now["nextRetryTime"]
    assert (await destinations(kube, namespace))["youtube"]["state"] == "Active"
    assert (await healthy(kube, namespace))["reason"] == "Failing"

    # It gives up.
    containers["twitch"].now = {
        **containers["twitch"].now,
        "state": "Exhausted",
        "retries": 3,
        "nextRetryTime": None,
        "since": ts(),
    }
    await wait_for_async(lambda: twitch_in("Exhausted"), FOLLOW, what="twitch Exhausted")
    cond = await healthy(kube, namespace)
    assert (cond["status"], cond["reason"]) == ("False", "Exhausted")
    assert cond["message"].startswith("destination twitch: exhausted after 3 retries")
    (warning,) = await wait_for_async(
        lambda: events_of(kube, namespace, "DestinationExhausted"), what="DestinationExhausted"
    )
    assert warning["type"] == "Warning"
    assert "destination twitch: gave up after 3 retries" in warning["message"]

    # Steady: youtube Active, twitch Exhausted. Neither is asked; nothing is written.
    await asyncio.sleep(1)
    before = (await get_ls(kube, namespace, "show"))["metadata"]["resourceVersion"]
    asked = {n: c.asked for n, c in containers.items()}
    await asyncio.sleep(8)
    assert (await get_ls(kube, namespace, "show"))["metadata"]["resourceVersion"] == before
    assert {n: c.asked for n, c in containers.items()} == asked
    assert len(await events_of(kube, namespace, "DestinationExhausted")) == 1

    # Retry now: the annotation reaches twitch's container with the token, once.
    await kube.request(
        "PATCH",
        livestreams_path(namespace, "show"),
        {"metadata": {"annotations": {RETRY_ANNOTATION: "twitch"}}},
        content_type="application/merge-patch+json",
    )

    async def annotation_gone() -> bool:
        ls = await get_ls(kube, namespace, "show")
        return RETRY_ANNOTATION not in (ls["metadata"].get("annotations") or {})

    await wait_for_async(annotation_gone, FOLLOW, what="the annotation removed")
    (requested,) = await wait_for_async(
        lambda: events_of(kube, namespace, "RetryRequested"), what="RetryRequested"
    )
    assert requested["message"] == "retry now: twitch (retrying)"
    assert containers["twitch"].retries_asked == [f"Bearer {TOKEN}"]
    assert containers["youtube"].retries_asked == []
    await wait_for_async(lambda: twitch_in("Connecting"), FOLLOW, what="twitch Connecting")

    # It delivers again.
    containers["twitch"].now = {"state": "Active", "since": ts()}
    await kubelet(kube, namespace, pod, ready={"dest-youtube", "dest-twitch"})
    await wait_for_async(lambda: twitch_in("Active"), FOLLOW, what="twitch Active")
    cond = await healthy(kube, namespace)
    assert (cond["status"], cond["reason"]) == ("True", "AllActive")
    ls = await get_ls(kube, namespace, "show")
    assert ls["status"]["forwarder"]["ready"] == "2/2"
    await asyncio.sleep(2)
    assert len(containers["twitch"].retries_asked) == 1  # acted on once

    # A name that is no destination is said so, and the annotation goes all the same.
    await kube.request(
        "PATCH",
        livestreams_path(namespace, "show"),
        {"metadata": {"annotations": {RETRY_ANNOTATION: "nope"}}},
        content_type="application/merge-patch+json",
    )
    await wait_for_async(annotation_gone, FOLLOW, what="the annotation removed again")

    async def two_requests() -> list[dict[str, Any]] | None:
        got = await events_of(kube, namespace, "RetryRequested")
        return got if len(got) == 2 else None

    got = await wait_for_async(two_requests, FOLLOW, what="a second RetryRequested")
    assert any("not destinations of this stream: nope" in e["message"] for e in got)
    # A value changed (or removed) since it was read is not removed: 422, not acted on.
    with pytest.raises(KubeError) as refused:
        await kube.remove_annotation(namespace, "show", RETRY_ANNOTATION, "twitch")
    assert refused.value.status == 422
    assert "KEY" not in str(await get_ls(kube, namespace, "show"))
