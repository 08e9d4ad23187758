"""Process mode's stage against a real socket: the fault backend on 127.0.0.1
(tests/support/fault_backend.py), no GStreamer. Fragments go in as a pipeline
would hand them over; what comes out is what the pipeline would be given."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from livestream_operator.api.pod_contract import WorkerProcessing
from livestream_operator.api.v1alpha1 import MixMode
from livestream_operator.worker.fragments import Pcm
from livestream_operator.worker.metrics import WorkerMetrics
from livestream_operator.worker.processing import ProcessingStage
from tests.support.fault_backend import FaultBackend, Refuse
from tests.support.waiting import wait_for

FRAGMENT_MS = 100
SAMPLES = 48_000 * FRAGMENT_MS // 1000


class Output:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.got: list[tuple[int, Pcm]] = []

    def __call__(self, pts_ns: int, pcm: Pcm) -> None:
        with self.lock:
            self.got.append((pts_ns, pcm))

    def pts(self) -> list[int]:
        with self.lock:
            return [p for p, _ in self.got]

    def silent(self) -> list[bool]:
        """Per fragment out: is it the (silent) original rather than the tone?"""
        with self.lock:
            return [not np.any(pcm) for _, pcm in self.got]


@pytest.fixture
def backend() -> Iterator[FaultBackend]:
    with FaultBackend(token="t0k") as b:
        yield b


def _stage(
    backend: FaultBackend, *, deadline_ms: int = 300, token: str = "t0k"
) -> tuple[ProcessingStage, WorkerMetrics, Output]:
    cfg = WorkerProcessing(
        backend_url=backend.url,
        fragment_ms=FRAGMENT_MS,
        deadline_ms=deadline_ms,
        max_in_flight=2,
        mix=MixMode.REPLACE,
        duck_db=-12,
    )
    metrics = WorkerMetrics("s", "process")
    stage = ProcessingStage("s", cfg, token, metrics)
    out = Output()
    stage.attach(out)
    stage.start()
    return stage, metrics, out


def _feed(stage: ProcessingStage, count: int, start: int = 0) -> None:
    """`count` silent fragments, in real time (the tone answers are not silent)."""
    silence = np.zeros((SAMPLES, 2), dtype=np.int16).tobytes()
    for i in range(start, start + count):
        stage.submit(i * FRAGMENT_MS * 1_000_000, silence)
        time.sleep(FRAGMENT_MS / 1000)


def _sample(metrics: WorkerMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def _connected(metrics: WorkerMetrics) -> bool:
    return _sample(metrics, "worker_backend_connected") == 1


def test_answers_go_out_in_order_with_their_timestamps(backend: FaultBackend) -> None:
    stage, metrics, out = _stage(backend)
    try:
        wait_for(lambda: _connected(metrics), 5, "a connection")
        backend.jitter_s = 0.15  # answers out of order
        _feed(stage, 20)
        wait_for(lambda: len(out.pts()) == 20, 5, "every fragment out")
        assert out.pts() == [i * FRAGMENT_MS * 1_000_000 for i in range(20)]
        assert not any(out.silent())  # every one processed
        assert stage.report().state.value == "Processing"
    finally:
        stage.stop()


def test_a_slow_backend_falls_back_at_the_deadline_and_stays_in_order(
    backend: FaultBackend,
) -> None:
    stage, metrics, out = _stage(backend)
    try:
        wait_for(lambda: _connected(metrics), 5, "a connection")
        backend.delay_s = 0.5  # deadline 0.3 s
        _feed(stage, 10)
        wait_for(lambda: len(out.pts()) == 10, 5, "every fragment out")
        assert out.pts() == sorted(out.pts())
        assert all(out.silent())  # the original audio
        report = stage.report()
        assert report.state.value == "Fallback"
        assert report.reason in ("Deadline", "BreakerOpen", "InflightLimit")
    finally:
        stage.stop()


def test_a_wrong_token_reaches_the_status(backend: FaultBackend) -> None:
    stage, _, out = _stage(backend, token="wrong")
    try:
        _feed(stage, 5)
        wait_for(lambda: len(out.pts()) == 5, 5, "every fragment out")
        assert all(out.silent())
        report = stage.report()
        assert report.state.value == "Fallback"
        assert report.message is not None
        assert "HTTP 401" in report.message
        assert "t0k" not in report.model_dump_json()
    finally:
        stage.stop()


def test_a_refused_hello_says_why_in_the_status(backend: FaultBackend) -> None:
    backend.refuse = Refuse.HELLO
    stage, _, out = _stage(backend)
    try:
        _feed(stage, 5)
        wait_for(lambda: len(out.pts()) == 5, 5, "every fragment out")
        message = stage.report().message or ""
        assert "refused by the fault backend" in message
    finally:
        stage.stop()


def test_a_backend_that_drops_every_connection_opens_the_breaker(
    backend: FaultBackend,
) -> None:
    """It accepts, then drops each connection at the first fragment: the worker
    must back off, not reconnect for every fragment."""
    backend.drop_after = 0
    stage, metrics, _ = _stage(backend)
    try:
        _feed(stage, 30)
        assert backend.connections <= 8, backend.connections
        assert _sample(metrics, "worker_fallback_fragments_total", reason="breaker_open") > 0
    finally:
        stage.stop()


def test_a_new_pipeline_does_not_wait_behind_the_old_ones_fragments(
    backend: FaultBackend,
) -> None:
    stage, metrics, out = _stage(backend, deadline_ms=1000)
    try:
        wait_for(lambda: _connected(metrics), 5, "a connection")
        backend.delay_s = 5.0
        _feed(stage, 4)  # in flight at the backend, or waiting for a slot
        backend.delay_s = 0.0
        fresh = Output()
        stage.attach(fresh)
        _feed(stage, 3, start=100)
        wait_for(lambda: len(fresh.pts()) == 3, 5, "the new pipeline's fragments")
        assert len(out.pts()) == 0  # the old pipeline got nothing after it left
    finally:
        stage.stop()
