"""The operator against a real API server: Pods, phases, grace, restarts, resync.

No kubelet runs, so where a test needs a running Pod it patches the Pod's status
the way a kubelet would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from livestream_operator.api.ownership import FieldManager
from livestream_operator.kube import Kube, KubeError, core_path
from tests.integration.ingest.test_receiver import ev, post
from tests.support.fake_mediamtx import FakeMediaMTX
from tests.support.kube_fixtures import apply_status, create_ls, events_of, get_ls
from tests.support.processes import Process
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.integration
LS_API = "/apis/media.livestream-operator.dev/v1alpha1"


@pytest.fixture
def hooks_url(
    namespace: str,
    start_receiver: Callable[..., str],
    start_operator: Callable[..., Process],
) -> str:
    """The operator and a hook receiver on the test's namespace; the receiver's URL."""
    start_operator(namespace)
    return start_receiver(namespace)


def ts(delta: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def pods(kube: Kube, namespace: str) -> dict[str, dict[str, Any]]:
    items = await kube.list_pods(namespace, "app.kubernetes.io/managed-by=livestream-operator")
    return {p["metadata"]["name"]: p for p in items if not p["metadata"].get("deletionTimestamp")}


async def phase(kube: Kube, namespace: str, name: str) -> str | None:
    try:
        ls = await get_ls(kube, namespace, name)
    except KubeError:
        return None
    return (ls.get("status") or {}).get("phase")


async def set_running(
    kube: Kube,
    namespace: str,
    pod: str,
    ready: dict[str, bool] | None = None,
    started_ago: float = 0,
) -> None:
    """Do what a kubelet would: mark the Pod's containers running (and ready)."""
    body = await kube.request("GET", core_path(namespace, "pods", pod))
    statuses = []
    for c in body["spec"]["containers"]:
        ok = True if ready is None else ready.get(c["name"], False)
        statuses.append(
            {
                "name": c["name"],
                "ready": ok,
                "restartCount": 0,
                "image": c["image"],
                "imageID": "",
                "started": True,
                "state": {"running": {"startedAt": ts(-started_ago)}},
            }
        )
    await kube.request(
        "PATCH",
        core_path(namespace, "pods", pod) + "/status",
        {
            "status": {
                "phase": "Running",
                "containerStatuses": statuses,
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True" if all(s["ready"] for s in statuses) else "False",
                    }
                ],
            }
        },
        content_type="application/merge-patch+json",
    )


async def test_ready_event_creates_a_restricted_worker_pod(
    kube: Kube,
    namespace: str,
    start_receiver: Callable[..., str],
    start_operator: Callable[..., Process],
) -> None:
    start_operator(
        namespace, LSO_MEDIAMTX_RTSP_URL="rtsp://mtx:8554", LSO_MEDIAMTX_RTMP_URL="rtmp://mtx:1935"
    )
    url = start_receiver(namespace)
    await post(url, "ready", ev("cam", "s1"))
    got = await wait_for_async(lambda: pods(kube, namespace), what="worker pod")
    pod = got["cam-worker"]
    ls = await get_ls(kube, namespace, "cam")
    owner = pod["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"], owner["controller"]) == (
        "LiveStream",
        ls["metadata"]["uid"],
        True,
    )
    labels = pod["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "worker"
    assert labels["app.kubernetes.io/instance"] == "cam"
    assert labels["media.livestream-operator.dev/stream"] == "cam"
    container = pod["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["LSO_INPUT_URL"] == "rtsp://mtx:8554/live/cam/in"
    assert env["LSO_OUTPUT_URL"] == "rtsp://mtx:8554/live/cam/out"
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["resources"]["limits"]["memory"] == "256Mi"
    assert await wait_for_async(lambda: _phase_is(kube, namespace, "cam", "Starting"))


async def _phase_is(kube: Kube, namespace: str, name: str, want: str) -> bool:
    return await phase(kube, namespace, name) == want


async def test_phases_follow_pods_and_output(kube: Kube, namespace: str, hooks_url: str) -> None:
    await post(hooks_url, "ready", ev("cam", "s1"))
    await wait_for_async(lambda: pods(kube, namespace), what="worker pod")
    await set_running(kube, namespace, "cam-worker")
    await post(hooks_url, "ready", ev("cam", "w1", role="out"))
    await wait_for_async(lambda: _phase_is(kube, namespace, "cam", "Live"), what="Live")
    ls = await get_ls(kube, namespace, "cam")
    conds = {c["type"]: c["status"] for c in ls["status"]["conditions"]}
    assert conds == {
        "Ready": "True",
        "IngestAvailable": "True",
        "WorkerReady": "True",
        "OutputAvailable": "True",
        "InputLoss": "False",
    }
    assert ls["status"]["worker"]["state"] == "Ready"
    assert ls["status"]["observedGeneration"] == ls["metadata"]["generation"]
    events = await kube.request("GET", core_path(namespace, "events"))
    reasons = {e["reason"] for e in events["items"]}
    assert {"PhaseStarting", "PhaseLive"} <= reasons


async def test_grace_expiry_deletes_an_ephemeral_stream_and_its_pods(
    kube: Kube,
    namespace: str,
    start_receiver: Callable[..., str],
    start_operator: Callable[..., Process],
) -> None:
    start_operator(namespace)
    url = start_receiver(namespace, LSO_DEFAULT_GRACE_SECONDS="2")
    await post(url, "ready", ev("cam", "s1"))
    await wait_for_async(lambda: pods(kube, namespace), what="worker pod")
    await post(url, "not-ready", ev("cam", "s1"))
    await wait_for_async(lambda: _phase_is(kube, namespace, "cam", "Reconnecting"), what="grace")
    ls = await get_ls(kube, namespace, "cam")
    assert ls["status"]["graceDeadline"]
    # Never earlier than the grace period...
    await asyncio.sleep(1.0)
    assert await phase(kube, namespace, "cam") == "Reconnecting"
    # ...and then it is gone, with its Pods (garbage collector, via ownerReferences).
    await wait_for_async(lambda: _gone(kube, namespace, "cam"), 15, what="LiveStream deleted")
    await wait_for_async(lambda: _no_pods(kube, namespace), 30, what="pods collected")


async def _gone(kube: Kube, namespace: str, name: str) -> bool:
    try:
        await get_ls(kube, namespace, name)
    except KubeError as exc:
        return exc.not_found
    return False


async def _no_pods(kube: Kube, namespace: str) -> bool:
    return not await pods(kube, namespace)


async def test_reconnect_within_grace_keeps_the_same_worker_pod(
    kube: Kube,
    namespace: str,
    start_receiver: Callable[..., str],
    start_operator: Callable[..., Process],
) -> None:
    start_operator(namespace)
    url = start_receiver(namespace, LSO_DEFAULT_GRACE_SECONDS="3")
    await post(url, "ready", ev("cam", "s1"))
    first = (await wait_for_async(lambda: pods(kube, namespace)))["cam-worker"]["metadata"]["uid"]
    await post(url, "not-ready", ev("cam", "s1"))
    await wait_for_async(lambda: _phase_is(kube, namespace, "cam", "Reconnecting"))
    await post(url, "ready", ev("cam", "s2"))
    await wait_for_async(lambda: _phase_is(kube, namespace, "cam", "Starting"))
    await asyncio.sleep(4)  # past the old deadline
    now = await pods(kube, namespace)
    assert now["cam-worker"]["metadata"]["uid"] == first
    assert await phase(kube, namespace, "cam") == "Starting"


async def test_persistent_stream_goes_idle_and_comes_back(
    kube: Kube, namespace: str, hooks_url: str
) -> None:
    await create_ls(
        kube,
        namespace,
        {
            "apiVersion": "media.livestream-operator.dev/v1alpha1",
            "kind": "LiveStream",
            "metadata": {"name": "show"},
            "spec": {"streamId": "show", "lifecycle": "Persistent", "gracePeriodSeconds": 1},
        },
    )
    await wait_for_async(lambda: _phase_is(kube, namespace, "show", "Pending"), what="Pending")
    assert await pods(kube, namespace) == {}
    await post(hooks_url, "ready", ev("show", "s1"))
    await wait_for_async(lambda: pods(kube, namespace), what="worker")
    await post(hooks_url, "not-ready", ev("show", "s1"))
    await wait_for_async(lambda: _phase_is(kube, namespace, "show", "Idle"), what="Idle")
    await wait_for_async(lambda: _no_pods(kube, namespace), what="pods removed")
    assert not await _gone(kube, namespace, "show")
    await post(hooks_url, "ready", ev("show", "s2"))
    await wait_for_async(lambda: pods(kube, namespace), what="worker again")


async def test_deleted_worker_pod_is_recreated(kube: Kube, namespace: str, hooks_url: str) -> None:
    await post(hooks_url, "ready", ev("cam", "s1"))
    old = (await wait_for_async(lambda: pods(kube, namespace)))["cam-worker"]["metadata"]["uid"]
    await kube.request(
        "DELETE", core_path(namespace, "pods", "cam-worker"), {"gracePeriodSeconds": 0}
    )

    async def replaced() -> bool:
        p = (await pods(kube, namespace)).get("cam-worker")
        return p is not None and p["metadata"]["uid"] != old

    await wait_for_async(replaced, what="a new worker pod")


async def test_forwarder_has_a_container_per_destination_with_state(
    kube: Kube, namespace: str, hooks_url: str
) -> None:
    await kube.request(
        "POST",
        core_path(namespace, "secrets"),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "dests"},
            "stringData": {"yt": "rtmp://a.example/live/KEY1", "tw": "rtmp://b.example/app/KEY2"},
        },
    )
    await create_ls(
        kube,
        namespace,
        {
            "apiVersion": "media.livestream-operator.dev/v1alpha1",
            "kind": "LiveStream",
            "metadata": {"name": "show"},
            "spec": {
                "streamId": "show",
                "lifecycle": "Persistent",
                "forwarder": {
                    "destinations": [
                        {"name": "youtube", "urlSecretRef": {"name": "dests", "key": "yt"}},
                        {"name": "twitch", "urlSecretRef": {"name": "dests", "key": "tw"}},
                    ]
                },
            },
        },
    )
    await post(hooks_url, "ready", ev("show", "s1"))
    got = await wait_for_async(lambda: _has(kube, namespace, "show-forwarder"), what="forwarder")
    containers = got["spec"]["containers"]
    assert [c["name"] for c in containers] == ["dest-youtube", "dest-twitch"]
    url_env = next(e for e in containers[0]["env"] if e["name"] == "LSO_DESTINATION_URL")
    assert url_env["valueFrom"]["secretKeyRef"] == {"name": "dests", "key": "yt"}
    assert "KEY1" not in str(got)  # the key stays in the Secret
    # youtube delivers; twitch has been running 30 s without ever becoming ready.
    await set_running(
        kube, namespace, "show-forwarder", ready={"dest-youtube": True}, started_ago=30
    )

    async def states() -> dict[str, str] | None:
        ls = await get_ls(kube, namespace, "show")
        dests = ((ls.get("status") or {}).get("forwarder") or {}).get("destinations") or []
        out = {d["name"]: d["state"] for d in dests}
        return out if out == {"youtube": "Active", "twitch": "Failing"} else None

    await wait_for_async(states, what="per-destination state")
    ls = await get_ls(kube, namespace, "show")
    assert ls["status"]["forwarder"]["ready"] == "1/2"
    assert "KEY" not in str(ls)


async def _has(kube: Kube, namespace: str, name: str) -> dict[str, Any] | None:
    return (await pods(kube, namespace)).get(name)


async def test_operator_killed_mid_way_leaves_one_worker_per_stream(
    kube: Kube,
    namespace: str,
    start_receiver: Callable[..., str],
    start_operator: Callable[..., Process],
) -> None:
    url = start_receiver(namespace)
    op = start_operator(namespace)
    streams = [f"s{i}" for i in range(30)]
    sending = asyncio.gather(*(post(url, "ready", ev(s, "x")) for s in streams))
    await asyncio.sleep(0.3)
    op.kill()  # SIGKILL while events and reconciles are in flight
    await sending
    start_operator(namespace)

    async def converged() -> bool:
        return set(await pods(kube, namespace)) == {f"{s}-worker" for s in streams}

    await wait_for_async(converged, 30, what="one worker per stream")
    # All Pods are owned by their own LiveStream; nothing extra appears later.
    await asyncio.sleep(2)
    final = await pods(kube, namespace)
    assert len(final) == len(streams)
    for name, pod in final.items():
        assert pod["metadata"]["ownerReferences"][0]["name"] == name.removesuffix("-worker")


async def test_resync_creates_a_livestream_for_a_missed_hook(
    kube: Kube,
    namespace: str,
    fake_mediamtx: FakeMediaMTX,
    start_operator: Callable[..., Process],
) -> None:
    start_operator(namespace, fake_mediamtx.url)
    fake_mediamtx.publish("live/missed/in", "abc")  # the receiver never heard of it
    ls = await wait_for_async(lambda: _get(kube, namespace, "missed"), 10, what="LiveStream")
    assert ls["spec"]["streamId"] == "missed"
    await wait_for_async(lambda: _has(kube, namespace, "missed-worker"), what="worker")
    # And a path that vanished without a not-ready starts the grace period.
    fake_mediamtx.unpublish("live/missed/in")
    await wait_for_async(lambda: _phase_is(kube, namespace, "missed", "Reconnecting"), 10)


async def test_open_circuit_ends_nothing(
    kube: Kube,
    namespace: str,
    fake_mediamtx: FakeMediaMTX,
    start_receiver: Callable[..., str],
    start_operator: Callable[..., Process],
) -> None:
    url = start_receiver(namespace)
    await post(url, "ready", ev("cam", "s1"))
    fake_mediamtx.failing = True  # MediaMTX's API is down; the path looks "gone"
    start_operator(namespace, fake_mediamtx.url)
    await wait_for_async(lambda: fake_mediamtx.requests >= 5, 15, what="resync attempts")
    await asyncio.sleep(2)
    ls = await get_ls(kube, namespace, "cam")
    assert ls["status"]["ingest"]["available"] is True
    assert ls["status"]["phase"] == "Starting"


async def _get(kube: Kube, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return await get_ls(kube, namespace, name)
    except KubeError:
        return None


async def test_missing_destination_secret_is_a_condition_and_one_event(
    kube: Kube, namespace: str, start_operator: Callable[..., Process]
) -> None:
    start_operator(namespace)
    await create_ls(
        kube,
        namespace,
        {
            "apiVersion": "media.livestream-operator.dev/v1alpha1",
            "kind": "LiveStream",
            "metadata": {"name": "show"},
            "spec": {
                "streamId": "show",
                "lifecycle": "Persistent",
                "forwarder": {
                    "destinations": [
                        {"name": "youtube", "urlSecretRef": {"name": "keys", "key": "youtube"}}
                    ]
                },
            },
        },
    )
    # What the receiver writes on a ready hook (its own tests cover that part).
    ingest = {"available": True, "sourceId": "s1", "availableSince": ts()}
    await apply_status(kube, namespace, "show", FieldManager.INGEST, {"ingest": ingest})
    await wait_for_async(lambda: _has(kube, namespace, "show-forwarder"), what="forwarder")

    async def kubelet_says(message: str, restarts: int) -> None:
        """What a kubelet reports for a container whose secretKeyRef cannot be resolved."""
        await kube.request(
            "PATCH",
            core_path(namespace, "pods", "show-forwarder") + "/status",
            {
                "status": {
                    "phase": "Pending",
                    "containerStatuses": [
                        {
                            "name": "dest-youtube",
                            "ready": False,
                            "restartCount": restarts,
                            "image": "forwarder",
                            "imageID": "",
                            "state": {
                                "waiting": {
                                    "reason": "CreateContainerConfigError",
                                    "message": message,
                                }
                            },
                        }
                    ],
                }
            },
            content_type="application/merge-patch+json",
        )

    async def condition() -> dict[str, Any] | None:
        ls = await get_ls(kube, namespace, "show")
        conds = {c["type"]: c for c in (ls.get("status") or {}).get("conditions") or []}
        cond = conds.get("DestinationsHealthy")
        return cond if cond and cond["reason"] == "SecretNotFound" else None

    async def secret_events() -> list[dict[str, Any]]:
        return await events_of(kube, namespace, "SecretNotFound")

    await kubelet_says('secret "keys" not found', 0)
    cond = await wait_for_async(condition, what="DestinationsHealthy=False SecretNotFound")
    assert cond["status"] == "False"
    assert "youtube" in cond["message"]
    assert '"keys"' in cond["message"]
    got = await wait_for_async(secret_events, what="the SecretNotFound Event")
    # The kubelet keeps retrying; later reconciles post nothing more.
    await kubelet_says('secret "keys" not found', 1)
    await asyncio.sleep(2)
    got = await secret_events()
    assert len(got) == 1
    assert got[0]["type"] == "Warning"
    assert got[0]["involvedObject"]["name"] == "show"
    assert got[0]["message"] == cond["message"]
