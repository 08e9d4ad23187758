"""The controller's side of process mode: when it asks a worker for its report,
and that nothing a worker answers (or fails to) breaks a reconcile."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import aiohttp
import pytest

from livestream_operator.api.pod_contract import PROCESSING_PATH, WORKER_METRICS_PORT
from livestream_operator.api.v1alpha1 import LiveStream, ProcessingState
from livestream_operator.kube import Kube
from livestream_operator.reconcile import pods as manifests
from livestream_operator.reconcile.controller import Controller
from livestream_operator.reconcile.observed import ObservedPod
from livestream_operator.settings import Settings

from .test_plan import LIVE_IN, ls, running

REPORT = {"state": "Fallback", "reason": "Deadline", "since": "2026-11-21T06:00:02Z"}
PROCESS = {"mode": "process", "processing": {"backend": {"url": "ws://dsp:8080/"}}}


class FakeResponse:
    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body = status, body

    async def read(self) -> bytes:
        return self.body


class FakeSession:
    """Answers GETs with `answer`: a (status, body) pair, or an exception to raise."""

    def __init__(self, answer: tuple[int, bytes] | Exception) -> None:
        self.answer = answer
        self.urls: list[str] = []

    @asynccontextmanager
    async def get(self, url: str, timeout: aiohttp.ClientTimeout) -> AsyncIterator[FakeResponse]:
        self.urls.append(url)
        assert timeout.total == 1.0
        if isinstance(self.answer, Exception):
            raise self.answer
        yield FakeResponse(*self.answer)


def controller(session: FakeSession, livestream: LiveStream, ip: str | None) -> Controller:
    c = Controller(cast(Kube, None), Settings(), session=cast(aiohttp.ClientSession, session))
    c.livestreams[livestream.key] = livestream
    pod: dict[str, Any] = running(manifests.worker_pod(livestream, Settings()))
    if ip:
        pod["status"]["podIP"] = ip
    c.pods[livestream.key] = {pod["metadata"]["name"]: ObservedPod.parse(pod)}
    return c


async def test_a_running_worker_is_asked_at_its_pod_ip() -> None:
    session = FakeSession((200, json.dumps(REPORT).encode()))
    body = ls(ingest=LIVE_IN, worker=PROCESS)
    got = await controller(session, body, "10.0.0.7")._processing_report(body)
    assert got is not None
    assert (got.state, got.reason) == (ProcessingState.FALLBACK, "Deadline")
    assert session.urls == [f"http://10.0.0.7:{WORKER_METRICS_PORT}{PROCESSING_PATH}"]


async def test_asked_once_per_poll_interval() -> None:
    session = FakeSession((200, json.dumps(REPORT).encode()))
    body = ls(ingest=LIVE_IN, worker=PROCESS)
    c = controller(session, body, "10.0.0.7")
    assert await c._processing_report(body) is not None
    # The reconcile its own status write wakes keeps the stored status instead.
    assert await c._processing_report(body) is None
    assert len(session.urls) == 1


@pytest.mark.parametrize(
    "answer",
    [
        aiohttp.ClientConnectionError("refused"),
        TimeoutError(),
        (503, b"starting"),
        (200, b"not json"),
        (200, b'{"state": "Dancing", "since": "x"}'),
        (200, json.dumps({**REPORT, "extra": 1}).encode()),
    ],
)
async def test_any_failure_is_no_report(answer: tuple[int, bytes] | Exception) -> None:
    body = ls(ingest=LIVE_IN, worker=PROCESS)
    assert await controller(FakeSession(answer), body, "10.0.0.7")._processing_report(body) is None


async def test_only_process_mode_workers_with_an_ip_are_asked() -> None:
    session = FakeSession((200, json.dumps(REPORT).encode()))
    tone = ls(ingest=LIVE_IN, worker={"mode": "tone"})
    assert await controller(session, tone, "10.0.0.7")._processing_report(tone) is None
    body = ls(ingest=LIVE_IN, worker=PROCESS)
    assert await controller(session, body, None)._processing_report(body) is None
    assert session.urls == []
