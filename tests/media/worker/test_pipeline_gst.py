"""The logged `gst-launch-1.0` equivalent of the worker pipeline is a valid pipeline."""

from __future__ import annotations

import pytest

from livestream_operator.api.v1alpha1 import WorkerMode
from livestream_operator.worker.pipeline import launch_line

pytestmark = pytest.mark.media


@pytest.mark.parametrize("mode", list(WorkerMode))
@pytest.mark.parametrize(
    ("output", "sink"),
    [
        ("rtsp://127.0.0.1:1/live/a/out", "rtspclientsink"),
        ("rtmp://127.0.0.1:1/live/a/out", "flvmux"),
    ],
)
def test_launch_line_parses(gstreamer: None, mode: WorkerMode, output: str, sink: str) -> None:
    from gi.repository import Gst

    pipeline = Gst.parse_launch(launch_line(mode, "rtsp://127.0.0.1:1/live/a/in", output))
    names = {e.get_factory().get_name() for e in pipeline.children}
    assert {"rtspsrc", "h264parse", sink} <= names
    assert ("flvmux" in names) == (sink == "flvmux")
    assert ("audiotestsrc" in names) == (mode is WorkerMode.TONE)
    if sink == "rtspclientsink":
        out = pipeline.get_by_name("out")
        # One request pad per track; the newest (video) is announced first.
        peers = {p.get_name(): p.get_peer().get_parent().get_name() for p in out.sinkpads}
        assert peers == {"sink_0": "audio_out", "sink_1": "video_out"}
