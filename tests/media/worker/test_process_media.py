"""Process mode with real streams: MediaMTX, an ffmpeg publisher (1 kHz sine), the
worker, and a processing backend: the project's own (`livestream-operator
backend`), or the fault-injecting test backend for what a real one cannot be
made to do on demand."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.media.conftest import Processes, dump_logs
from tests.media.media_support import (
    BackendProc,
    MediaMTX,
    ProjectProc,
    backend_proc,
    decode_audio,
    dominant_frequency,
    ffprobe_streams,
    fps,
    stream_of,
)
from tests.support.fault_backend import FaultBackend, Garbage
from tests.support.ports import free_port
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.media, pytest.mark.usefixtures("gstreamer")]

RATE = 8000  # analysis rate of decoded audio
PROCESSED = "worker_processed_fragments_total"
OUT_FRAMES = 'lso_worker_output_frames_total{track="video"}'


def _fallbacks(metrics: dict[str, float]) -> float:
    return sum(v for k, v in metrics.items() if k.startswith("worker_fallback_fragments_total"))


def _backend(tmp_path: Path, kind: str, port: int = 0) -> BackendProc:
    return backend_proc(tmp_path / f"backend-{kind}-{port or 'any'}.log", kind, port)


@pytest.fixture
def tone_backend(tmp_path: Path) -> Iterator[BackendProc]:
    proc = _backend(tmp_path, "tone")
    yield proc
    proc.stop(timeout=5)


@pytest.fixture
def fault_backend() -> Iterator[FaultBackend]:
    backend = FaultBackend()
    backend.start()
    yield backend
    backend.stop()


def _processing(url: str, **overrides: Any) -> str:
    spec = {
        "backendUrl": url,
        "fragmentMs": 500,
        "deadlineMs": 1000,
        "maxInFlight": 4,
        "mix": "replace",
        "duckDb": -12,
        **overrides,
    }
    return json.dumps(spec)


def _start(mtx: MediaMTX, procs: Processes, sid: str, processing: str, **env: str) -> ProjectProc:
    pub = procs.publisher(mtx.rtmp(f"live/{sid}/in"), sine_hz=1000)
    mtx.wait_available(f"live/{sid}/in", 40)
    worker = procs.worker(
        mtx.rtsp(f"live/{sid}/in"),
        mtx.rtsp(f"live/{sid}/out"),
        "process",
        LSO_PROCESSING=processing,
        **env,
    )
    try:
        mtx.wait_available(f"live/{sid}/out", 60)
    except TimeoutError:
        pytest.fail(f"live/{sid}/out never became available\n{dump_logs(pub, worker)}")
    return worker


def _report(worker: ProjectProc) -> dict[str, Any]:
    with urllib.request.urlopen(
        f"http://127.0.0.1:{worker.metrics_port}/v1/processing", timeout=2
    ) as resp:
        body: dict[str, Any] = json.load(resp)
    return body


def _out_frequency(mtx: MediaMTX, sid: str, seconds: float = 2.0) -> float:
    samples = decode_audio(mtx.rtsp(f"live/{sid}/out"), seconds, RATE)
    assert len(samples) > RATE // 2, "no audio decoded from the output"
    return dominant_frequency(samples[RATE // 4 :], RATE)


def _wait_frequency(mtx: MediaMTX, sid: str, freq: float, timeout: float = 30) -> None:
    """Until out's audio is `freq`: what a viewer hears lags the worker by its hold."""
    wait_for(
        lambda: abs(_out_frequency(mtx, sid) - freq) <= 10,
        timeout,
        f"live/{sid}/out to carry {freq:g} Hz",
        interval=0.5,
    )


def _av_delta(mtx: MediaMTX, sid: str, packets: int = 400) -> float:
    """How far out's audio is ahead of its video (s), as a reader receives them.

    Packets in arrival order: at each one, the newest audio timestamp minus the
    newest video timestamp; the median over the second half of the read (a
    reader's first video packets, before a key frame, have no timestamp).
    """
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-read_intervals",
         f"%+#{packets}", "-show_entries", "packet=codec_type,pts_time", "-of", "csv=p=0",
         mtx.rtsp(f"live/{sid}/out")],
        capture_output=True, text=True, timeout=40, check=False,
    )  # fmt: skip
    newest: dict[str, float] = {}
    deltas = []
    for line in proc.stdout.splitlines():
        kind, _, pts = line.strip().partition(",")
        try:
            newest[kind] = float(pts.strip(","))
        except ValueError:
            continue
        if "audio" in newest and "video" in newest:
            deltas.append(newest["audio"] - newest["video"])
    assert len(deltas) > packets // 4, proc.stderr[-1000:]
    return statistics.median(deltas[len(deltas) // 2 :])


def _frames_advance(worker: ProjectProc, frames: int = 60, timeout: float = 20.0) -> None:
    start = worker.metrics().get(OUT_FRAMES, 0.0)
    wait_for(
        lambda: worker.metrics().get(OUT_FRAMES, 0.0) > start + frames,
        timeout,
        "output video frames to keep advancing",
    )


def test_tone_backend_replaces_the_audio_and_leaves_the_video_untouched(
    mediamtx: MediaMTX, procs: Processes, tone_backend: BackendProc
) -> None:
    sid = "proctone"
    worker = _start(mediamtx, procs, sid, _processing(tone_backend.url))
    in_url, out_url = mediamtx.rtsp(f"live/{sid}/in"), mediamtx.rtsp(f"live/{sid}/out")

    assert dominant_frequency(decode_audio(in_url, 1.5, RATE), RATE) == pytest.approx(1000, abs=10)
    assert _out_frequency(mediamtx, sid) == pytest.approx(440, abs=10)

    v_in, out = stream_of(ffprobe_streams(in_url), "video"), ffprobe_streams(out_url)
    v_out = stream_of(out, "video")
    assert (v_out["codec_name"], v_out.get("profile")) == (v_in["codec_name"], v_in.get("profile"))
    assert (v_out["width"], v_out["height"]) == (v_in["width"], v_in["height"])
    assert fps(v_out) == pytest.approx(fps(v_in), abs=0.5)
    assert stream_of(out, "audio")["codec_name"] == "aac"
    assert abs(_av_delta(mediamtx, sid)) < 0.1

    metrics = worker.metrics()
    assert metrics[PROCESSED] > 4
    assert metrics["worker_backend_connected"] == 1
    assert metrics["worker_backend_rtt_seconds_count"] > 0
    report = _report(worker)
    assert report["state"] == "Processing", report
    assert worker.metrics()[PROCESSED] >= metrics[PROCESSED]
    assert tone_backend.metrics().get("lso_backend_sessions", 0) == 1


def _loudness(url: str, seconds: float) -> float:
    """Integrated loudness (LUFS) of `seconds` of the stream, by ffmpeg's ebur128."""
    proc = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-rtsp_transport", "tcp", "-i", url,
         "-t", str(seconds), "-vn", "-af", "ebur128", "-f", "null", "-"],
        capture_output=True, text=True, timeout=seconds + 30, check=False,
    )  # fmt: skip
    found = re.findall(r"I:\s+(-?[\d.]+) LUFS", proc.stderr)
    assert found, proc.stderr[-2000:]
    return float(found[-1])


def test_loudness_backend_brings_out_to_the_target(
    mediamtx: MediaMTX, procs: Processes, tmp_path: Path
) -> None:
    backend = _backend(tmp_path, "loudness")
    try:
        sid = "procloud"
        target = -30.0
        _start(
            mediamtx,
            procs,
            sid,
            _processing(backend.url, params={"targetLufs": str(target)}),
        )
        measured_in = _loudness(mediamtx.rtsp(f"live/{sid}/in"), 4)
        assert abs(measured_in - target) > 5, "the input is already at the target"
        time.sleep(4)  # the backend's measurement window fills and its gain settles
        assert _loudness(mediamtx.rtsp(f"live/{sid}/out"), 8) == pytest.approx(target, abs=1.0)
    finally:
        backend.stop(timeout=5)


def test_backend_slower_than_the_deadline_falls_back_to_the_original_audio(
    mediamtx: MediaMTX, procs: Processes, fault_backend: FaultBackend
) -> None:
    fault_backend.delay_s = 2.0  # deadline 1 s
    sid = "procslow"
    worker = _start(mediamtx, procs, sid, _processing(fault_backend.url))
    assert _out_frequency(mediamtx, sid) == pytest.approx(1000, abs=10)
    wait_for(lambda: _fallbacks(worker.metrics()) > 4, 20, "fallback fragments")
    report = _report(worker)
    assert report["state"] == "Fallback", report
    assert report["reason"] in ("Deadline", "BreakerOpen"), report
    _frames_advance(worker)
    assert worker.metrics()["lso_worker_reconnects_total"] == 0  # the stream never stopped
    assert abs(_av_delta(mediamtx, sid)) < 0.1

    fault_backend.delay_s = 0.0  # the backend recovers: so does processing
    wait_for(lambda: _report(worker)["state"] == "Processing", 60, "processing to resume")
    _wait_frequency(mediamtx, sid, 440)


def test_backend_killed_and_restarted_the_stream_continues_and_processing_resumes(
    mediamtx: MediaMTX, procs: Processes, tmp_path: Path
) -> None:
    port = free_port()
    backend = _backend(tmp_path, "tone", port)
    sid = "prockill"
    worker = _start(mediamtx, procs, sid, _processing(backend.url))
    assert _out_frequency(mediamtx, sid) == pytest.approx(440, abs=10)

    backend.stop(timeout=5, sig=9)
    wait_for(lambda: _report(worker)["state"] == "Fallback", 20, "the worker to fall back")
    _wait_frequency(mediamtx, sid, 1000)
    _frames_advance(worker)
    # The breaker: nothing is sent to a dead backend, fragments fall back at once.
    metrics = worker.metrics()
    assert metrics['worker_fallback_fragments_total{reason="breaker_open"}'] > 0
    assert metrics["worker_inflight_fragments"] == 0

    backend = _backend(tmp_path, "tone", port)
    try:
        wait_for(lambda: _report(worker)["state"] == "Processing", 45, "processing to resume")
        _wait_frequency(mediamtx, sid, 440)
        assert worker.metrics()["lso_worker_reconnects_total"] == 0
    finally:
        backend.stop(timeout=5)


@pytest.mark.parametrize("fault", ["garbage", "drop"])
def test_broken_backend_answers_never_stop_the_stream(
    mediamtx: MediaMTX, procs: Processes, fault_backend: FaultBackend, fault: str
) -> None:
    if fault == "garbage":
        fault_backend.garbage = Garbage.CYCLE
    else:
        fault_backend.drop_after = 3  # frames per connection, then an abrupt close
    sid = f"proc{fault}"
    worker = _start(mediamtx, procs, sid, _processing(fault_backend.url))
    if fault == "garbage":
        wait_for(lambda: _fallbacks(worker.metrics()) > 4, 30, "fallback fragments")
        metrics = worker.metrics()
        invalid = metrics['worker_fallback_fragments_total{reason="invalid_answer"}']
        errors = metrics.get('worker_backend_errors_total{kind="invalid_frame"}', 0)
        assert invalid + errors > 0
        _wait_frequency(mediamtx, sid, 1000)
    else:
        # Dropped between answers: the worker reconnects at once and keeps processing.
        wait_for(lambda: fault_backend.drops >= 3, 30, "three dropped connections")
        assert fault_backend.connections > 3
        before = worker.metrics()[PROCESSED]
        wait_for(lambda: worker.metrics()[PROCESSED] > before + 4, 20, "processing to go on")
    _frames_advance(worker)
    assert worker.metrics()["lso_worker_reconnects_total"] == 0
    assert worker.alive()


def test_av_offset_stays_bounded_over_a_long_run_with_a_jittery_backend(
    mediamtx: MediaMTX, procs: Processes, fault_backend: FaultBackend
) -> None:
    """Answers vary from instant to most of the deadline; duck mix. The offset a
    reader sees must not grow (a drift of 1 ms/s would show as 60 ms)."""
    fault_backend.jitter_s = 0.6
    sid = "proclong"
    worker = _start(
        mediamtx, procs, sid, _processing(fault_backend.url, mix="duck", deadlineMs=1000)
    )
    first = _av_delta(mediamtx, sid)
    time.sleep(60)
    last = _av_delta(mediamtx, sid)
    assert abs(first) < 0.1
    assert abs(last) < 0.1
    assert abs(last - first) < 0.05
    metrics = worker.metrics()
    assert abs(metrics["worker_av_sync_delta_ms"]) < 150
    assert metrics[PROCESSED] > 100
    assert metrics["lso_worker_reconnects_total"] == 0
