"""The forwarder with real streams: live/<id>/out on one MediaMTX pushed to a
second MediaMTX (the "third-party" sink), next to a forwarder whose
destination is unreachable."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest

from tests.media.conftest import Processes, dump_logs
from tests.media.media_support import MediaMTX, ffprobe_streams, stream_of
from tests.support.ports import free_port
from tests.support.waiting import wait_for

pytestmark = pytest.mark.media


def test_forwarders_are_isolated_and_never_print_the_key(
    mediamtx: MediaMTX, mediamtx_factory: Callable[[], MediaMTX], procs: Processes
) -> None:
    sink = mediamtx_factory()
    out = "live/fwd/out"
    procs.publisher(mediamtx.rtmp(out))  # stands in for the worker's output
    mediamtx.wait_available(out, 40)

    good_key, bad_key = f"sk-{secrets.token_hex(8)}", f"sk-{secrets.token_hex(8)}"
    good = procs.forwarder(mediamtx.rtsp(out), sink.rtmp(f"live/{good_key}/in"), "good")
    bad = procs.forwarder(
        mediamtx.rtsp(out), f"rtmp://127.0.0.1:{free_port()}/app/{bad_key}", "bad"
    )
    try:
        info = sink.wait_available(f"live/{good_key}/in", 60)
    except TimeoutError:
        pytest.fail(dump_logs(good, bad))
    assert [t["codec"] for t in info["tracks2"]] == ["H264", "MPEG-4 Audio"]
    video = stream_of(ffprobe_streams(sink.rtsp(f"live/{good_key}/in")), "video")
    assert (video["width"], video["height"]) == (1280, 720)

    # The unreachable destination keeps restarting ...
    wait_for(
        lambda: bad.metrics().get("lso_forwarder_restarts_total", 0) >= 2,
        60,
        "the bad forwarder to restart twice",
    )
    assert bad.metrics()["lso_forwarder_up"] == 0
    # ... while the good one keeps delivering, without a restart.
    before = (sink.path(f"live/{good_key}/in") or {}).get("inboundBytes", 0)
    wait_for(
        lambda: (sink.path(f"live/{good_key}/in") or {}).get("inboundBytes", 0) > before + 50_000,
        20,
        "bytes to keep reaching the good destination",
    )
    metrics = good.metrics()
    assert metrics["lso_forwarder_up"] == 1
    assert metrics["lso_forwarder_restarts_total"] == 0
    assert metrics["lso_forwarder_output_bytes_total"] > 0
    # Readiness, from which the operator reports each destination: up vs failing.
    assert (good.healthz(), bad.healthz()) == (200, 503)

    assert good.stop(timeout=10) == 0
    assert bad.stop(timeout=10) == 0
    sink.wait_unavailable(f"live/{good_key}/in", 20)

    for proc, key in ((good, good_key), (bad, bad_key)):
        text = proc.output()
        assert key not in text, f"stream key leaked in {proc.log_path.name}"
        assert "/****" in text
    assert any("ffmpeg:" in e.get("msg", "") for e in bad.logs()), "ffmpeg errors not logged"
