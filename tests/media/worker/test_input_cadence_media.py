"""The worker's measure of its input video (GET /v1/input): frame rate and
keyframe interval against ffprobe's view of the same publish."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from tests.media.conftest import Processes
from tests.media.media_support import (
    MediaMTX,
    ProjectProc,
    ffprobe_streams,
    fps,
    keyframe_interval,
    stream_of,
)
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.media, pytest.mark.usefixtures("gstreamer")]


def _report(worker: ProjectProc) -> dict[str, Any]:
    url = f"http://127.0.0.1:{worker.metrics_port}/v1/input"
    with urllib.request.urlopen(url, timeout=2) as resp:
        found: dict[str, Any] = json.loads(resp.read())
    return found


@pytest.mark.parametrize(("rate", "gop"), [(30, 60), (25, 25)])
def test_frame_rate_and_keyframe_interval_match_ffprobe(
    mediamtx: MediaMTX, procs: Processes, rate: int, gop: int
) -> None:
    sid = f"cadence{rate}"
    procs.publisher(mediamtx.rtmp(f"live/{sid}/in"), fps=rate, gop=gop)
    mediamtx.wait_available(f"live/{sid}/in", 40)
    worker = procs.worker(mediamtx.rtsp(f"live/{sid}/in"), mediamtx.rtsp(f"live/{sid}/out"))
    mediamtx.wait_available(f"live/{sid}/out", 60)
    wait_for(lambda: "keyframeInterval" in _report(worker), 30, "the worker's first sample")
    got = _report(worker)

    src = mediamtx.rtsp(f"live/{sid}/in")
    want_fps = fps(stream_of(ffprobe_streams(src), "video"))
    assert got["frameRate"] == pytest.approx(want_fps, abs=0.05)
    assert got["keyframeInterval"] == pytest.approx(keyframe_interval(src), abs=0.01)
    assert got["keyframeInterval"] == pytest.approx(gop / rate, abs=0.01)
    metrics = worker.metrics()
    assert metrics["worker_input_frame_rate"] == got["frameRate"]
    assert metrics["worker_input_keyframe_interval_seconds"] == got["keyframeInterval"]
