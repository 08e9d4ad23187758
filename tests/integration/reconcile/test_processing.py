"""Process mode against a real API server: the worker Pod's processing contract,
status.processing following the worker's reports, and the backend credentials.

No kubelet runs: the test marks the worker running at 127.0.0.1, where a
stand-in for the worker's processing endpoint answers (the real one is tested in
the media tier).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from livestream_operator.api.ownership import FieldManager
from livestream_operator.api.pod_contract import (
    PROCESSING_PATH,
    WORKER_METRICS_PORT,
    WorkerProcessing,
)
from livestream_operator.kube import Kube, core_path
from tests.integration.reconcile.test_operator import pods, ts
from tests.integration.reconcile.test_warm_pool import warm_up
from tests.support.kube_fixtures import apply_status, condition_of, create_ls, events_of, get_ls
from tests.support.processes import Process
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.integration
FIELD = "spec.worker.processing.backend.credentialsSecretRef"
# Reports change within one poll interval (PROCESSING_POLL_SECONDS) and a reconcile.
FOLLOW = 15


def process_ls(name: str, credentials: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "media.livestream-operator.dev/v1alpha1",
        "kind": "LiveStream",
        "metadata": {"name": name},
        "spec": {
            "streamId": name,
            "lifecycle": "Persistent",
            "worker": {
                "mode": "process",
                "processing": {
                    "backend": {
                        "service": {"name": "loudness", "port": 8080, "path": "/v1/audio"},
                        "credentialsSecretRef": credentials,
                        "params": {"targetLufs": "-16"},
                    },
                    "deadlineMs": 800,
                },
            },
        },
    }


class Reports:
    """The worker's processing endpoint: answers with whatever `now` holds."""

    def __init__(self) -> None:
        self.now: dict[str, Any] = {"state": "Starting", "since": ts()}
        self.asked = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.asked += 1
        return web.json_response(self.now)


@pytest.fixture
async def reports() -> AsyncIterator[Reports]:
    stub = Reports()
    app = web.Application()
    app.router.add_get(PROCESSING_PATH, stub.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", WORKER_METRICS_PORT).start()
    yield stub
    await runner.cleanup()


async def publishing(kube: Kube, namespace: str, name: str) -> None:
    """What the receiver writes on a ready hook (its own tests cover that part)."""
    ingest = {"available": True, "sourceId": "s1", "availableSince": ts()}
    await apply_status(kube, namespace, name, FieldManager.INGEST, {"ingest": ingest})


async def kubelet_reports(kube: Kube, namespace: str, pod: str, status: dict[str, Any]) -> None:
    await kube.request(
        "PATCH",
        core_path(namespace, "pods", pod) + "/status",
        {"status": status},
        content_type="application/merge-patch+json",
    )


async def condition(kube: Kube, namespace: str, name: str) -> dict[str, Any] | None:
    return await condition_of(kube, namespace, name, "Processing")


async def test_status_follows_the_workers_processing_reports(
    kube: Kube,
    namespace: str,
    start_operator: Callable[..., Process],
    reports: Reports,
) -> None:
    start_operator(namespace)
    await create_ls(kube, namespace, process_ls("show", {"name": "backend-token", "key": "token"}))
    await publishing(kube, namespace, "show")
    got = await wait_for_async(lambda: _worker(kube, namespace), what="worker pod")
    env = {e["name"]: e for e in got["spec"]["containers"][0]["env"]}
    told = WorkerProcessing.model_validate_json(env["LSO_PROCESSING"]["value"])
    assert told.backend_url == f"ws://loudness.{namespace}.svc:8080/v1/audio"
    assert (told.deadline_ms, told.params) == (800, {"targetLufs": "-16"})
    assert env["LSO_BACKEND_TOKEN"] == {
        "name": "LSO_BACKEND_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "backend-token", "key": "token"}},
    }
    # The status is written after the Pod is created.
    cond = await wait_for_async(
        lambda: _reason_is(kube, namespace, "Starting"), what="Processing=False Starting"
    )
    assert cond["status"] == "False"

    # The backend misses its deadlines: the original audio goes out.
    reports.now = {
        "state": "Fallback",
        "reason": "Deadline",
        "message": "no answer within 800 ms",
        "since": ts(),
        "fragments": 12,
        "fallbackFragments": 3,
    }
    await warm_up(kube, namespace, got)  # Running and Ready at 127.0.0.1, like a warm worker

    async def in_state(state: str) -> dict[str, Any] | None:
        ls = await get_ls(kube, namespace, "show")
        processing = (ls.get("status") or {}).get("processing") or {}
        return ls if processing.get("state") == state else None

    ls = await wait_for_async(lambda: in_state("Fallback"), FOLLOW, what="Fallback")
    processing = ls["status"]["processing"]
    assert processing["reason"] == "Deadline"
    assert "fragments" not in processing  # counts are metrics: no status write per poll
    cond = await condition(kube, namespace, "show")
    assert cond is not None
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "False",
        "Deadline",
        "no answer within 800 ms",
    )
    # Still falling back, now with the breaker open: the condition follows the
    # reason; one Warning, not one per poll or per reason.
    reports.now = {**reports.now, "reason": "BreakerOpen", "fragments": 22}
    await wait_for_async(
        lambda: _reason(kube, namespace, "BreakerOpen"), FOLLOW, what="the next report in status"
    )
    (warning,) = await events_of(kube, namespace, "ProcessingFallback")
    assert warning["type"] == "Warning"
    assert warning["message"] == "Deadline: no answer within 800 ms"
    assert warning["involvedObject"]["name"] == "show"

    # The backend keeps up again.
    reports.now = {"state": "Processing", "since": ts(), "fragments": 30, "fallbackFragments": 13}
    await wait_for_async(lambda: in_state("Processing"), FOLLOW, what="Processing")
    cond = await condition(kube, namespace, "show")
    assert cond is not None
    assert (cond["status"], cond["reason"]) == ("True", "Processing")
    (resumed,) = await wait_for_async(
        lambda: events_of(kube, namespace, "ProcessingResumed"), what="ProcessingResumed"
    )
    assert resumed["type"] == "Normal"
    assert len(await events_of(kube, namespace, "ProcessingFallback")) == 1


async def _reason_is(kube: Kube, namespace: str, reason: str) -> dict[str, Any] | None:
    cond = await condition(kube, namespace, "show")
    return cond if cond and cond["reason"] == reason else None


async def _worker(kube: Kube, namespace: str) -> dict[str, Any] | None:
    return (await pods(kube, namespace)).get("show-worker")


async def _reason(kube: Kube, namespace: str, want: str) -> bool:
    ls = await get_ls(kube, namespace, "show")
    return bool(((ls.get("status") or {}).get("processing") or {}).get("reason") == want)


async def test_the_internal_secret_is_refused_as_backend_credentials(
    kube: Kube, namespace: str, start_operator: Callable[..., Process]
) -> None:
    start_operator(namespace, LSO_INTERNAL_SECRET="lso-internal")
    await create_ls(
        kube, namespace, process_ls("show", {"name": "lso-internal", "key": "pool-token"})
    )
    await publishing(kube, namespace, "show")

    cond = await wait_for_async(
        lambda: _reason_is(kube, namespace, "CredentialsRefused"),
        what="Processing=False CredentialsRefused",
    )
    assert cond["status"] == "False"
    assert FIELD in cond["message"]
    (warning,) = await wait_for_async(
        lambda: events_of(kube, namespace, "CredentialsRefused"),
        what="the CredentialsRefused Event",
    )
    assert warning["type"] == "Warning"
    # Published to, it cannot run: Failed, with the reason.
    ls = await wait_for_async(lambda: _failed(kube, namespace), what="phase Failed")
    assert FIELD in ls["status"]["message"]
    # Later reconciles (a status write wakes one) neither make a worker nor post again.
    ingest = {"available": True, "sourceId": "s2", "availableSince": ts()}
    await apply_status(kube, namespace, "show", FieldManager.INGEST, {"ingest": ingest})
    await asyncio.sleep(2)
    assert await pods(kube, namespace) == {}
    assert len(await events_of(kube, namespace, "CredentialsRefused")) == 1


async def _failed(kube: Kube, namespace: str) -> dict[str, Any] | None:
    ls = await get_ls(kube, namespace, "show")
    return ls if (ls.get("status") or {}).get("phase") == "Failed" else None


async def test_a_missing_backend_secret_is_named_on_the_processing_condition(
    kube: Kube, namespace: str, start_operator: Callable[..., Process]
) -> None:
    start_operator(namespace)
    await create_ls(kube, namespace, process_ls("show", {"name": "backend-token", "key": "token"}))
    await publishing(kube, namespace, "show")
    got = await wait_for_async(lambda: _worker(kube, namespace), what="worker pod")
    container = got["spec"]["containers"][0]
    # What a kubelet reports for a container whose secretKeyRef cannot be resolved.
    await kubelet_reports(
        kube,
        namespace,
        "show-worker",
        {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": container["name"],
                    "ready": False,
                    "restartCount": 0,
                    "image": container["image"],
                    "imageID": "",
                    "state": {
                        "waiting": {
                            "reason": "CreateContainerConfigError",
                            "message": 'secret "backend-token" not found',
                        }
                    },
                }
            ],
        },
    )

    cond = await wait_for_async(
        lambda: _reason_is(kube, namespace, "SecretNotFound"),
        what="Processing=False SecretNotFound",
    )
    assert cond["status"] == "False"
    assert '"backend-token"' in cond["message"]
    assert FIELD in cond["message"]
    (warning,) = await wait_for_async(
        lambda: events_of(kube, namespace, "SecretNotFound"), what="the SecretNotFound Event"
    )
    assert warning["type"] == "Warning"
    assert warning["message"] == cond["message"]
