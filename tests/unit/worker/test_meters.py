"""Meters: the counters' counts into Prometheus, and the A/V offset gauge."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from livestream_operator.api.v1alpha1 import OutputProtocol
from livestream_operator.worker.meters import SAMPLE_BUFFERS, Meters
from livestream_operator.worker.metrics import WorkerMetrics


class Counts:
    """What each `identity` counter has let through so far (its `stats`)."""

    def __init__(self) -> None:
        self.now: dict[str, tuple[int, int]] = {}

    def read(self, element: Any) -> tuple[int, int]:
        return self.now.get(element, (0, 0))


def meters(protocol: OutputProtocol) -> tuple[Meters, Counts, WorkerMetrics]:
    counts = Counts()
    metrics = WorkerMetrics("s", "bypass")
    return Meters(metrics, protocol, counts.read, now), counts, metrics


def now(f: Callable[..., Any], *args: Any) -> None:
    """Run a deferred call at once (the main loop's idle_add, in a test)."""
    f(*args)


def value(metrics: WorkerMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_polls_move_only_new_counts_into_the_metrics() -> None:
    m, counts, metrics = meters(OutputProtocol.RTMP)
    m.count("video_in", m.input("video"))
    m.count("video_out", m.frames_out("video"))
    m.count("mux_out", m.mux_out)
    counts.now = {"video_in": (30, 60_000), "video_out": (30, 60_000), "mux_out": (31, 60_500)}
    m.poll()
    counts.now["video_in"] = (45, 90_000)
    m.poll()
    m.poll()  # nothing new
    assert value(metrics, "lso_worker_input_frames_total", track="video") == 45
    assert value(metrics, "lso_worker_input_bytes_total", track="video") == 90_000
    assert value(metrics, "lso_worker_output_frames_total", track="video") == 30
    # RTMP: the bytes out are flvmux's, not the tracks'.
    assert value(metrics, "lso_worker_output_bytes_total") == 60_500


def test_rtsp_counts_the_tracks_bytes_as_the_output() -> None:
    m, counts, metrics = meters(OutputProtocol.RTSP)
    m.count("video_out", m.frames_out("video"))
    m.count("audio_out", m.frames_out("audio"))
    counts.now = {"video_out": (30, 60_000), "audio_out": (47, 9_400)}
    m.poll()
    assert value(metrics, "lso_worker_output_frames_total", track="audio") == 47
    assert value(metrics, "lso_worker_output_bytes_total") == 69_400


def test_last_input_moves_only_when_input_frames_came() -> None:
    m, counts, _ = meters(OutputProtocol.RTSP)
    m.count("audio_in", m.input("audio"))
    m.poll()
    assert m.last_input == 0.0
    counts.now = {"audio_in": (1, 200)}
    m.poll()
    first = m.last_input
    assert first > 0
    m.poll()
    assert m.last_input == first


def test_cleared_counters_are_polled_no_more() -> None:
    m, counts, metrics = meters(OutputProtocol.RTSP)
    m.count("video_in", m.input("video"))
    m.clear()
    counts.now = {"video_in": (5, 500)}
    m.poll()
    assert value(metrics, "lso_worker_input_frames_total", track="video") == 0


def feed(add: Callable[[tuple[str, int] | None], bool], offset_ns: int) -> list[bool]:
    """Video and audio frames in turn, each audio frame `offset_ns` after the video
    frame before it (av_offset's arithmetic is test_pipeline's)."""
    answers = []
    for i in range(SAMPLE_BUFFERS):
        t = 1_000_000_000
        answers.append(add(("video", t) if i % 2 == 0 else ("audio", t + offset_ns)))
    return answers


def test_one_sample_sets_the_gauge_after_sample_buffers_frames() -> None:
    m, _, metrics = meters(OutputProtocol.RTMP)
    assert not m.sampling
    add = m.begin_sample()
    assert m.sampling
    assert not add(None)  # an FLV script tag or a frame without a time: not counted
    answers = feed(add, 40_000_000)
    assert answers == [False] * (SAMPLE_BUFFERS - 1) + [True]
    assert not m.sampling
    assert value(metrics, "worker_av_sync_delta_ms") == 40.0
    assert add(("video", 0))  # the other probes of this sample leave on their next frame


def test_the_gauge_is_smoothed_across_samples() -> None:
    m, _, metrics = meters(OutputProtocol.RTSP)
    feed(m.begin_sample(), 40_000_000)
    feed(m.begin_sample(), 0)
    assert value(metrics, "worker_av_sync_delta_ms") == 40.0 + 0.3 * (0.0 - 40.0)


def test_a_sample_of_one_track_leaves_the_gauge_alone() -> None:
    m, _, metrics = meters(OutputProtocol.RTMP)
    add = m.begin_sample()
    for i in range(SAMPLE_BUFFERS):
        add(("video", i))
    assert not m.sampling
    assert value(metrics, "worker_av_sync_delta_ms") == 0.0


def test_two_tracks_feeding_one_sample_from_their_threads() -> None:
    m, _, metrics = meters(OutputProtocol.RTSP)
    add = m.begin_sample()
    start = threading.Barrier(2)

    def track(media: str, offset: int) -> None:
        start.wait()
        for i in range(SAMPLE_BUFFERS):
            add((media, i * 20_000_000 + offset))

    threads = [
        threading.Thread(target=track, args=("video", 0)),
        threading.Thread(target=track, args=("audio", 0)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not m.sampling
    gauge = value(metrics, "worker_av_sync_delta_ms")
    assert gauge is not None
    assert abs(gauge) <= SAMPLE_BUFFERS * 20
