"""status.input against real media: an ffmpeg publisher through MediaMTX, the
receiver's hooks and the operator's resync, compared with what ffprobe sees of
the same publish."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from livestream_operator.kube import Kube, KubeError
from tests.media.conftest import Processes
from tests.media.media_support import MediaMTX, ffprobe_streams, stream_of
from tests.support.kube_fixtures import get_ls
from tests.support.processes import Process
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.media


@pytest.fixture
def mtx_with(
    mediamtx_bin: Path, tmp_path: Path, media_tools: None
) -> Iterator[Callable[[str], MediaMTX]]:
    started: list[MediaMTX] = []

    def start(hook_url: str) -> MediaMTX:
        mtx = MediaMTX(mediamtx_bin, tmp_path / f"mtx{len(started)}", hook_url=hook_url)
        started.append(mtx)
        return mtx.start()

    yield start
    for mtx in started:
        mtx.stop()


def _level(ffprobe_level: int) -> str:
    """ffprobe's H.264 level_idc (31) as MediaMTX spells it (3.1)."""
    major, minor = divmod(ffprobe_level, 10)
    return f"{major}.{minor}" if minor else str(major)


def _inbound_bytes(mtx: MediaMTX, path: str) -> int:
    url = f"http://127.0.0.1:{mtx.api_port}/v3/paths/get/{path}"
    with urllib.request.urlopen(url, timeout=5) as resp:
        return int(json.loads(resp.read())["inboundBytes"])


@pytest.mark.parametrize(
    ("size", "fps"),
    [("1280x720", 30), ("640x360", 25)],
)
async def test_input_properties_match_ffprobes_view_of_the_publisher(
    kube: Kube,
    namespace: str,
    start_receiver: Callable[..., str],
    start_operator: Callable[..., Process],
    mtx_with: Callable[[str], MediaMTX],
    procs: Processes,
    size: str,
    fps: int,
) -> None:
    mtx = mtx_with(start_receiver(namespace))
    start_operator(namespace, f"http://127.0.0.1:{mtx.api_port}", LSO_RESYNC_SECONDS="1")
    procs.publisher(mtx.rtmp("live/props/in"), size=size, fps=fps)
    await asyncio.to_thread(mtx.wait_available, "live/props/in", 20)

    async def measured() -> dict[str, Any] | None:
        try:
            ls = await get_ls(kube, namespace, "props")
        except KubeError:
            return None
        found = (ls.get("status") or {}).get("input") or {}
        return found if "bitrateKbps" in found else None

    got = await wait_for_async(measured, 20, what="status.input with a bitrate")
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
    assert got["audio"] == {
        "codec": audio["codec_name"].upper(),
        "sampleRate": int(audio["sample_rate"]),
        "channels": int(audio["channels"]),
    }
    # The bitrate against MediaMTX's own byte count over five seconds.
    start = await asyncio.to_thread(_inbound_bytes, mtx, "live/props/in")
    await asyncio.sleep(5)
    kbps = (await asyncio.to_thread(_inbound_bytes, mtx, "live/props/in") - start) * 8 / 5 / 1000
    assert 0.6 * kbps <= got["bitrateKbps"] <= 1.6 * kbps, (got["bitrateKbps"], kbps)
