"""The logged `gst-launch-1.0` equivalent of the worker pipeline is a valid pipeline."""

from __future__ import annotations

import pytest

from livestream_operator.api.v1alpha1 import WorkerMode
from livestream_operator.worker.pipeline import launch_line

pytestmark = pytest.mark.media


@pytest.mark.parametrize("mode", list(WorkerMode))
def test_launch_line_parses(gstreamer: None, mode: WorkerMode) -> None:
    from gi.repository import Gst

    pipeline = Gst.parse_launch(
        launch_line(mode, "rtsp://127.0.0.1:1/live/a/in", "rtmp://127.0.0.1:1/live/a/out")
    )
    names = {e.get_factory().get_name() for e in pipeline.children}
    assert {"rtspsrc", "flvmux", "h264parse"} <= names
    assert ("audiotestsrc" in names) == (mode is WorkerMode.TONE)
