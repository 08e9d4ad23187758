"""The attempt's GStreamer-bound roles on real elements, without a network: the
output links each branch to its pad, a track after it is late, and a finished
attempt lets go of its pipeline (no C closure keeps it alive)."""

from __future__ import annotations

import dataclasses
import gc
import logging
import weakref
from typing import Any

import pytest

from livestream_operator.api.pod_contract import WorkerProcessing
from livestream_operator.api.v1alpha1 import MixMode, OutputProtocol, WorkerMode
from livestream_operator.worker.config import WorkerConfig
from livestream_operator.worker.metrics import WorkerMetrics

pytestmark = pytest.mark.media

# Port 1 on loopback: nothing listens, and nothing here connects before PLAYING.
INPUT = "rtsp://127.0.0.1:1/live/roles/in"
OUTPUTS = {
    OutputProtocol.RTSP: "rtsp://127.0.0.1:1/live/roles/out",
    OutputProtocol.RTMP: "rtmp://127.0.0.1:1/live/roles/out",
}


def config(protocol: OutputProtocol, mode: WorkerMode = WorkerMode.BYPASS) -> WorkerConfig:
    return WorkerConfig(INPUT, OUTPUTS[protocol], mode, "roles", media_user="lso-worker")


def roles(protocol: OutputProtocol) -> tuple[Any, Any, Any]:
    """A graph with a video and an audio branch (two counters), its meters, its output."""
    from gi.repository import GLib

    from livestream_operator.worker.graph import Graph, identity_stats, make
    from livestream_operator.worker.meters import Meters
    from livestream_operator.worker.output import Output
    from livestream_operator.worker.pipeline import counter, counter_name

    cfg = config(protocol)
    graph = Graph(cfg, protocol)
    meters = Meters(WorkerMetrics("roles", "bypass"), protocol, identity_stats, GLib.idle_add)
    for media in ("video", "audio"):
        branch = make(counter(counter_name(media, "out")))
        graph.pipeline.add(branch)
        graph.add_branch(media, branch)
    return graph, meters, Output(cfg, protocol, graph, meters, lambda: False)


def peers(element: Any) -> dict[str, str]:
    return {p.get_name(): p.get_peer().get_parent().get_name() for p in element.sinkpads}


def test_rtsp_output_announces_video_first_each_track_payloaded(gstreamer: None) -> None:
    graph, _, output = roles(OutputProtocol.RTSP)
    with output.admission() as late:
        assert not late
    output.build(lambda: False)
    sink, mux = output.parts()
    assert (sink.get_name(), mux) == ("out", None)
    assert output.ready
    # Requested newest last: rtspclientsink announces sink_1 (video) first.
    assert peers(sink) == {"sink_0": "audio_out", "sink_1": "video_out"}
    payloaders = {p.get_name(): p.get_property("payloader") for p in sink.sinkpads}
    assert payloaders["sink_0"].get_factory().get_name() == "rtpmp4gpay"
    assert payloaders["sink_1"].get_factory().get_name() == "rtph264pay"
    assert sink.get_property("user-id") == "lso-worker"  # on the element, not in the URL
    assert "lso-worker" not in sink.get_property("location")
    with output.admission() as late:
        assert late  # built: a track now cannot join
    graph.release()


def test_rtmp_output_muxes_the_tracks_and_counts_what_leaves(gstreamer: None) -> None:
    graph, meters, output = roles(OutputProtocol.RTMP)
    output.build(lambda: False)
    sink, mux = output.parts()
    assert mux.get_factory().get_name() == "flvmux"
    templates = {
        p.get_pad_template().name_template: p.get_peer().get_parent().get_name()
        for p in mux.sinkpads
    }
    assert templates == {"video": "video_out", "audio": "audio_out"}
    # RTMP carries the credentials in the query (MediaMTX's ?user=&pass=).
    assert sink.get_property("location").endswith("/live/roles/out?user=lso-worker&pass=")
    meters.poll()  # the mux_out counter is registered and readable
    graph.release()


def test_a_stopped_attempt_builds_no_output(gstreamer: None) -> None:
    graph, _, output = roles(OutputProtocol.RTSP)
    output.build(lambda: True)
    assert output.parts() == (None, None)
    assert not output.ready
    graph.release()


@pytest.mark.parametrize("mode", list(WorkerMode))
def test_a_finished_attempt_is_let_go(gstreamer: None, mode: WorkerMode) -> None:
    from livestream_operator.worker.attempt import Attempt, StreamLog
    from livestream_operator.worker.errors import Outcome
    from livestream_operator.worker.processing import ProcessingStage

    cfg = config(OutputProtocol.RTSP, mode)
    stage = None
    if mode is WorkerMode.PROCESS:
        processing = WorkerProcessing(
            backend_url="ws://127.0.0.1:1/v1/audio",
            fragment_ms=500,
            deadline_ms=1000,
            max_in_flight=4,
            mix=MixMode.REPLACE,
            duck_db=-12,
        )
        cfg = dataclasses.replace(cfg, processing=processing)
        stage = ProcessingStage("roles", processing, "", WorkerMetrics("roles", mode.value))
    outcomes: list[Outcome] = []
    log = StreamLog(logging.getLogger("test.roles"), {})
    attempt = Attempt(cfg, WorkerMetrics("roles", mode.value), log, outcomes.append, stage)
    attempt.start()
    attempt.stop()
    assert [o.kind for o in outcomes] == [None]
    alive = weakref.ref(attempt)
    del attempt
    gc.collect()
    assert alive() is None
