"""The worker with real streams: MediaMTX + ffmpeg publisher + `livestream-operator worker`."""

from __future__ import annotations

import statistics
import time

import pytest

from tests.media.conftest import Processes, dump_logs
from tests.media.media_support import (
    HookReceiver,
    MediaMTX,
    Proc,
    ProjectProc,
    decode_audio,
    dominant_frequency,
    ffprobe_streams,
    fps,
    packet_times,
    stream_of,
)
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.media, pytest.mark.usefixtures("gstreamer")]

OUT_FRAMES = 'lso_worker_output_frames_total{track="video"}'
RECONNECTS = "lso_worker_reconnects_total"
# rtsp: the operator's default output; rtmp: still selectable.
PROTOCOLS = ["rtsp", "rtmp"]


def _out(mtx: MediaMTX, sid: str, protocol: str = "rtsp") -> str:
    return mtx.rtsp(f"live/{sid}/out") if protocol == "rtsp" else mtx.rtmp(f"live/{sid}/out")


def _start(
    mtx: MediaMTX,
    procs: Processes,
    sid: str,
    mode: str = "bypass",
    protocol: str = "rtsp",
    **publisher: object,
) -> tuple[Proc, ProjectProc]:
    pub = procs.publisher(mtx.rtmp(f"live/{sid}/in"), **publisher)
    mtx.wait_available(f"live/{sid}/in", 40)
    worker = procs.worker(mtx.rtsp(f"live/{sid}/in"), _out(mtx, sid, protocol), mode)
    try:
        mtx.wait_available(f"live/{sid}/out", 60)
    except TimeoutError:
        pytest.fail(f"live/{sid}/out never became available\n{dump_logs(pub, worker)}")
    return pub, worker


def _quiet(worker: ProjectProc) -> None:
    """Nothing went wrong: no warning or error line."""
    loud = [e for e in worker.logs() if e.get("level") in ("warning", "error")]
    assert not loud, dump_logs(worker)


def _frames_advance(worker: ProjectProc, timeout: float = 20.0) -> None:
    start = worker.metrics().get(OUT_FRAMES, 0.0)
    wait_for(
        lambda: worker.metrics().get(OUT_FRAMES, 0.0) > start + 30,
        timeout,
        "output video frames to keep advancing",
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_bypass_remuxes_h264_aac_unchanged(
    mediamtx: MediaMTX, procs: Processes, hooks: HookReceiver, protocol: str
) -> None:
    sid = f"bypass{protocol}"
    pub, worker = _start(mediamtx, procs, sid, protocol=protocol)
    src = ffprobe_streams(mediamtx.rtsp(f"live/{sid}/in"))
    out = ffprobe_streams(mediamtx.rtsp(f"live/{sid}/out"))

    v_in, v_out = stream_of(src, "video"), stream_of(out, "video")
    a_in, a_out = stream_of(src, "audio"), stream_of(out, "audio")
    assert v_out["codec_name"] == "h264"
    assert (v_out["width"], v_out["height"]) == (v_in["width"], v_in["height"]) == (1280, 720)
    assert fps(v_out) == pytest.approx(fps(v_in), abs=0.5)
    assert fps(v_out) == pytest.approx(30, abs=0.5)
    assert v_out.get("profile") == v_in.get("profile")  # no re-encode
    assert a_out["codec_name"] == "aac"
    assert a_out["sample_rate"] == a_in["sample_rate"]
    assert a_out["channels"] == a_in["channels"]

    # Frames keep flowing, both in the worker's counters and for a reader.
    _frames_advance(worker)
    video = packet_times(mediamtx.rtsp(f"live/{sid}/out"), 200)["video"]
    assert len(video) >= 60, f"only {len(video)} video packets among 200"
    assert max(video) - min(video) > 1.5, "video timestamps do not advance"
    metrics = worker.metrics()
    assert metrics['lso_worker_state{lso_worker_state="running"}'] == 1
    assert worker.healthz() == 200  # the Pod is ready while output flows
    assert metrics["lso_worker_output_bytes_total"] > 0
    assert metrics['lso_worker_input_frames_total{track="audio"}'] > 0
    assert metrics['lso_worker_output_frames_total{track="audio"}'] > 0
    wait_for(
        lambda: worker.metrics().get("worker_av_sync_delta_ms", 0) != 0,
        10,
        "an A/V offset sample",
    )
    assert abs(worker.metrics()["worker_av_sync_delta_ms"]) < 200
    assert worker.metrics()[RECONNECTS] == 0
    flowing = [e for e in worker.logs() if e.get("msg") == "output flowing"]
    assert [e["protocol"] for e in flowing] == [protocol]
    _quiet(worker)

    # The project config runs mtx-hook for both paths.
    wait_for(
        lambda: {f"live/{sid}/in", f"live/{sid}/out"} <= set(hooks.paths("ready")),
        20,
        "ready hooks for in and out",
    )

    assert worker.stop(timeout=10) == 0, dump_logs(worker)
    assert any(e.get("msg") == "worker exiting" for e in worker.logs())
    assert pub.alive()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_tone_replaces_audio_and_keeps_video(
    mediamtx: MediaMTX, procs: Processes, protocol: str
) -> None:
    sid = f"tone{protocol}"
    _, worker = _start(mediamtx, procs, sid, mode="tone", protocol=protocol, sine_hz=1000)
    in_url, out_url = mediamtx.rtsp(f"live/{sid}/in"), mediamtx.rtsp(f"live/{sid}/out")

    rate = 8000
    assert dominant_frequency(decode_audio(in_url, 2, rate), rate) == pytest.approx(1000, abs=10)
    out_audio = decode_audio(out_url, 3, rate)
    assert len(out_audio) > rate, "no audio decoded from the output"
    assert dominant_frequency(out_audio[rate // 2 :], rate) == pytest.approx(440, abs=10)

    v_in = stream_of(ffprobe_streams(in_url), "video")
    out = ffprobe_streams(out_url)
    v_out = stream_of(out, "video")
    assert stream_of(out, "audio")["codec_name"] == "aac"
    assert v_out["codec_name"] == "h264"
    assert (v_out["width"], v_out["height"]) == (v_in["width"], v_in["height"])
    assert fps(v_out) == pytest.approx(fps(v_in), abs=0.5)

    # A/V in sync: audio and video timestamps read back from the output cover
    # the same stretch of time (a misplaced tone would be offset by seconds).
    packets = packet_times(out_url, 200)
    video, audio = packets["video"], packets["audio"]
    assert video
    assert audio
    assert abs(statistics.median(audio) - statistics.median(video)) < 0.5
    metrics = worker.metrics()
    assert abs(metrics["worker_av_sync_delta_ms"]) < 500
    # Paced in real time (RTSP: a clocksync), not racing ahead of the video.
    frames = metrics['lso_worker_output_frames_total{track="audio"}']
    seconds = metrics[OUT_FRAMES] / 30
    assert frames / seconds == pytest.approx(44100 / 1024, rel=0.25)
    # The input's audio is not even set up in tone mode.
    assert metrics.get('lso_worker_input_frames_total{track="audio"}', 0) == 0
    assert metrics['lso_worker_output_frames_total{track="audio"}'] > 0


def test_tone_accepts_input_audio_it_cannot_pass_through(
    mediamtx: MediaMTX, procs: Processes
) -> None:
    sid = "toneopus"
    pub = procs.publisher(mediamtx.rtsp(f"live/{sid}/in"), audio="opus", fmt="rtsp", size="640x360")
    mediamtx.wait_available(f"live/{sid}/in", 40)
    worker = procs.worker(mediamtx.rtsp(f"live/{sid}/in"), mediamtx.rtsp(f"live/{sid}/out"), "tone")
    try:
        info = mediamtx.wait_available(f"live/{sid}/out", 60)
    except TimeoutError:
        pytest.fail(dump_logs(pub, worker))
    # Video first, and AAC as MPEG4-GENERIC (not LATM), as RTMP readers need it.
    assert [t["codec"] for t in info["tracks2"]] == ["H264", "MPEG-4 Audio"]


def test_worker_survives_publisher_reconnect(mediamtx: MediaMTX, procs: Processes) -> None:
    sid = "drop"
    pub, worker = _start(mediamtx, procs, sid)
    pid = worker.pid
    pub.stop()
    mediamtx.wait_unavailable(f"live/{sid}/in", 20)
    mediamtx.wait_unavailable(f"live/{sid}/out", 30)
    time.sleep(3)  # the publisher is away for a few seconds (< 10 s)
    assert worker.alive()

    procs.publisher(mediamtx.rtmp(f"live/{sid}/in"))
    _assert_resumed(mediamtx, worker, sid, pid)


def _assert_resumed(mediamtx: MediaMTX, worker: ProjectProc, sid: str, pid: int) -> None:
    """The same worker process reconnected on its own and output flows again."""
    mediamtx.wait_available(f"live/{sid}/in", 40)
    try:
        mediamtx.wait_available(f"live/{sid}/out", 60)
    except TimeoutError:
        pytest.fail(dump_logs(worker))
    assert worker.alive()
    assert worker.pid == pid
    assert worker.metrics()[RECONNECTS] >= 1
    _frames_advance(worker)


def test_worker_recovers_from_mediamtx_restart(mediamtx: MediaMTX, procs: Processes) -> None:
    sid = "restart"
    pub, worker = _start(mediamtx, procs, sid)
    pid = worker.pid
    mediamtx.restart()
    pub.stop()  # its RTMP session died with the server
    procs.publisher(mediamtx.rtmp(f"live/{sid}/in"))
    _assert_resumed(mediamtx, worker, sid, pid)


def test_worker_waits_for_its_input_and_stops_on_sigterm(
    mediamtx: MediaMTX, procs: Processes
) -> None:
    sid = "absent"
    worker = procs.worker(mediamtx.rtsp(f"live/{sid}/in"), mediamtx.rtsp(f"live/{sid}/out"))
    # MediaMTX holds each DESCRIBE for its runOnDemandStartTimeout (10 s), then
    # refuses it (400); the worker asks again at once.
    wait_for(
        lambda: worker.metrics().get(RECONNECTS, 0) >= 2,
        45,
        "the worker to retry while nobody publishes",
    )
    assert worker.alive()
    metrics = worker.metrics()
    assert metrics['lso_worker_errors_total{kind="input"}'] >= 2
    assert metrics['lso_worker_state{lso_worker_state="running"}'] == 0
    assert worker.healthz() == 503  # not ready while there is nothing to process
    # Waiting is not an error storm: one line at info, no warning or error.
    waiting = [e for e in worker.logs() if str(e.get("msg", "")).startswith("input not available")]
    assert [e["level"] for e in waiting if e["level"] != "debug"] == ["info"], dump_logs(worker)
    _quiet(worker)
    started = time.monotonic()
    assert worker.stop(timeout=10) == 0, dump_logs(worker)
    assert time.monotonic() - started < 5


def test_worker_started_before_the_publisher_connects_once(
    mediamtx: MediaMTX, procs: Processes
) -> None:
    """The operator starts the worker on the publisher's auth call, ~2 s before
    an RTMP publish is available: MediaMTX holds the worker's DESCRIBE until it
    is, and the worker's first attempt goes through."""
    sid = "early"
    t0 = time.monotonic()
    worker = procs.worker(mediamtx.rtsp(f"live/{sid}/in"), mediamtx.rtsp(f"live/{sid}/out"))
    time.sleep(3)
    assert not mediamtx.available(f"live/{sid}/in")
    pub = procs.publisher(mediamtx.rtmp(f"live/{sid}/in"))
    t_pub = time.monotonic()
    try:
        mediamtx.wait_available(f"live/{sid}/out", 30)
    except TimeoutError:
        pytest.fail(dump_logs(pub, worker))
    t_out = time.monotonic()
    _frames_advance(worker)
    metrics = worker.metrics()
    assert metrics[RECONNECTS] == 0, dump_logs(worker)  # connected once
    assert sum(v for k, v in metrics.items() if k.startswith("lso_worker_errors_total")) == 0
    assert worker.healthz() == 200
    assert [e["msg"] for e in worker.logs()].count("output flowing") == 1
    _quiet(worker)
    print(
        f"early connect: out available {t_out - t0:.2f} s after the worker started, "
        f"{t_out - t_pub:.2f} s after the publisher"
    )


@pytest.mark.parametrize(
    ("video", "audio", "label"),
    [
        ("h265", "aac", "H.265/HEVC"),
        ("h264", "opus", "Opus"),
    ],
)
def test_worker_rejects_unsupported_codec(
    mediamtx: MediaMTX, procs: Processes, video: str, audio: str, label: str
) -> None:
    sid = f"bad{video}{audio}"
    pub = procs.publisher(
        mediamtx.rtsp(f"live/{sid}/in"),
        video=video,
        audio=audio,
        fmt="rtsp",
        size="320x240",
        fps=15,
    )
    mediamtx.wait_available(f"live/{sid}/in", 40)
    worker = procs.worker(mediamtx.rtsp(f"live/{sid}/in"), mediamtx.rtsp(f"live/{sid}/out"))

    gauge = f'lso_worker_unsupported_input{{codec="{label}"}}'
    seen_gauge = False
    deadline = time.monotonic() + 60
    while worker.alive() and time.monotonic() < deadline:
        seen_gauge = seen_gauge or worker.metrics().get(gauge) == 1
        time.sleep(0.1)
    assert not worker.alive(), "worker kept running on unsupported input"
    assert worker.wait(5) == 3, dump_logs(worker, pub)
    errors = [e for e in worker.logs() if e.get("level") == "error"]
    assert any(e.get("codec") == label and label in e["msg"] for e in errors), dump_logs(worker)
    assert seen_gauge, f"{gauge} was never 1"
    assert not mediamtx.available(f"live/{sid}/out")
