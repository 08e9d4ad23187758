"""status.input against real media: an ffmpeg publisher through MediaMTX, the
receiver's hooks, the operator's resync and a real worker the operator asks,
compared with what ffprobe sees of the same publish."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from livestream_operator.api.pod_contract import WORKER_METRICS_PORT
from livestream_operator.kube import Kube, KubeError, core_path
from tests.media.conftest import Processes
from tests.media.media_support import MediaMTX, ffprobe_streams, fps, keyframe_interval, stream_of
from tests.support.kube_fixtures import get_ls
from tests.support.processes import Process
from tests.support.waiting import wait_for_async

pytestmark = [pytest.mark.media, pytest.mark.usefixtures("gstreamer")]


def _level(ffprobe_level: int) -> str:
    """ffprobe's H.264 level_idc (31) as MediaMTX spells it (3.1)."""
    major, minor = divmod(ffprobe_level, 10)
    return f"{major}.{minor}" if minor else str(major)


async def _worker_runs_here(kube: Kube, namespace: str) -> None:
    """No kubelet: the operator's worker Pod is marked running at 127.0.0.1, where
    the test's own worker process listens on the Pod's port."""

    async def pod() -> bool:
        got = await kube.list_pods(namespace, "app.kubernetes.io/managed-by=livestream-operator")
        return bool(got)

    await wait_for_async(pod, 20, what="the worker Pod")
    (worker,) = await kube.list_pods(namespace, "app.kubernetes.io/managed-by=livestream-operator")
    name = worker["metadata"]["name"]
    await kube.request(
        "PATCH",
        core_path(namespace, "pods", name) + "/status",
        {"status": {"phase": "Running", "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}]}},
        content_type="application/merge-patch+json",
    )


def _inbound_bytes(mtx: MediaMTX, path: str) -> int:
    url = f"http://127.0.0.1:{mtx.api_port}/v3/paths/get/{path}"
    with urllib.request.urlopen(url, timeout=5) as resp:
        return int(json.loads(resp.read())["inboundBytes"])


@pytest.mark.parametrize(
    ("size", "rate", "gop"),
    [("1280x720", 30, 60), ("640x360", 25, 25)],
)
async def test_input_properties_match_ffprobes_view_of_the_publisher(
    kube: Kube,
    namespace: str,
    start_receiver: Callable[..., str],
    start_operator: Callable[..., Process],
    mtx_with: Callable[[str], MediaMTX],
    procs: Processes,
    size: str,
    rate: int,
    gop: int,
) -> None:
    mtx = mtx_with(start_receiver(namespace))
    start_operator(namespace, f"http://127.0.0.1:{mtx.api_port}", LSO_RESYNC_SECONDS="1")
    procs.publisher(mtx.rtmp("live/props/in"), size=size, fps=rate, gop=gop)
    await asyncio.to_thread(mtx.wait_available, "live/props/in", 20)
    await _worker_runs_here(kube, namespace)
    procs.worker(
        mtx.rtsp("live/props/in"),
        mtx.rtsp("live/props/out"),
        LSO_METRICS_PORT=str(WORKER_METRICS_PORT),
        # As the operator starts it for a stream with the default fill: out's
        # always-available entry takes only the audio format it declares.
        LSO_FILL="Slate",
    )

    async def measured() -> dict[str, Any] | None:
        try:
            ls = await get_ls(kube, namespace, "props")
        except KubeError:
            return None
        found = (ls.get("status") or {}).get("input") or {}
        return found if {"bitrateKbps", "keyframeInterval"} <= set(found) else None

    # The worker's first sample: 5 s after its output flows, then two seconds of GOPs.
    got = await wait_for_async(measured, 45, what="status.input, the worker's part too")
    streams = await asyncio.to_thread(ffprobe_streams, mtx.rtsp("live/props/in"))
    video, audio = stream_of(streams, "video"), stream_of(streams, "audio")
    width, height = (int(n) for n in size.split("x"))
    assert (video["width"], video["height"]) == (width, height)
    assert got["video"] == {
        "codec": video["codec_name"].upper(),
        "profile": video["profile"],
        "level": _level(int(video["level"])),
        "width": width,
        "height": height,
        "resolution": size,
    }
    src = mtx.rtsp("live/props/in")
    assert got["frameRate"] == pytest.approx(fps(video), abs=0.01)
    assert got["keyframeInterval"] == pytest.approx(keyframe_interval(src), abs=0.01)
    assert got["audio"] == {
        "codec": audio["codec_name"].upper(),
        "sampleRate": int(audio["sample_rate"]),
        "channels": int(audio["channels"]),
    }
    # The bitrate against MediaMTX's own byte count over ten seconds.
    start = await asyncio.to_thread(_inbound_bytes, mtx, "live/props/in")
    await asyncio.sleep(10)
    kbps = (await asyncio.to_thread(_inbound_bytes, mtx, "live/props/in") - start) * 8 / 10 / 1000
    assert 0.6 * kbps <= got["bitrateKbps"] <= 1.6 * kbps, (got["bitrateKbps"], kbps)
