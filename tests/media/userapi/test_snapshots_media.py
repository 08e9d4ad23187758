"""Snapshots with real parts: the real receiver (LiveStreams in a real API server,
made live by MediaMTX's real hooks) decoding a real ffmpeg test pattern from a
real MediaMTX, with the worker's credentials, through the receiver's own ffmpeg."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from livestream_operator.api import stream_keys
from livestream_operator.kube import Kube, KubeError, core_path
from tests.media.conftest import Processes, dump_logs
from tests.media.media_support import MediaMTX
from tests.support.kube_fixtures import get_ls
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.media

WIDTH, HEIGHT = 640, 360


@dataclass
class Live:
    mtx: MediaMTX
    key: str
    url: str  # the receiver's
    session: aiohttp.ClientSession

    async def snapshot(
        self, stream_id: str = "cam", key: str | None = None, query: bool = False
    ) -> tuple[int, dict[str, str], bytes, float]:
        """status, headers, body and how long it took; with `query`, the key goes in
        the URL (which the receiver does not take)."""
        key = self.key if key is None else key
        headers = {"Authorization": f"Bearer {key}"} if key and not query else {}
        params = {"key": key} if key and query else {}
        started = time.perf_counter()
        async with self.session.get(
            f"{self.url}/v1/streams/{stream_id}/snapshot", headers=headers, params=params
        ) as resp:
            body = await resp.read()
            return resp.status, dict(resp.headers), body, time.perf_counter() - started


@pytest.fixture
async def live(
    namespace: str,
    kube: Kube,
    start_receiver: Callable[..., str],
    mediamtx_bin: Path,
    tmp_path: Path,
    media_tools: None,
) -> AsyncIterator[Live]:
    """A receiver whose snapshots read a MediaMTX whose hooks and auth are that
    receiver's, and a key for stream `cam`."""
    mtx = MediaMTX(mediamtx_bin, tmp_path / "mtx")  # its ports, before the receiver
    url = start_receiver(namespace, LSO_MEDIAMTX_RTSP_URL=f"rtsp://127.0.0.1:{mtx.rtsp_port}")
    mtx.hook_url, mtx.auth_url = url, f"{url}/v1/mediamtx/auth"
    key = stream_keys.generate_key()
    await kube.request(
        "POST", core_path(namespace, "secrets"), stream_keys.to_secret("cam", key, namespace)
    )
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        here = Live(mtx, key, url, session)

        async def key_known() -> bool:
            # 404 (no LiveStream yet) rather than 403: the key Secret has arrived.
            status, _, _, _ = await here.snapshot()
            return status == 404

        await wait_for_async(key_known, 20, what="the receiver's key view", interval=0.1)
        await asyncio.to_thread(mtx.start)
        yield here
        mtx.stop()


def _probe(jpeg: bytes) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height",
         "-of", "json", "-f", "jpeg_pipe", "-"],
        input=jpeg, capture_output=True, timeout=10, check=True,
    )  # fmt: skip
    streams: list[dict[str, Any]] = json.loads(out.stdout)["streams"]
    assert len(streams) == 1
    return streams[0]


def _gray(jpeg: bytes) -> bytes:
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "jpeg_pipe", "-i", "-",
         "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        input=jpeg, capture_output=True, timeout=10, check=True,
    )  # fmt: skip
    return out.stdout


def _changed(a: bytes, b: bytes) -> float:
    """The share of pixels whose luma differs by more than JPEG noise."""
    assert len(a) == len(b) == WIDTH * HEIGHT
    return sum(1 for x, y in zip(a, b, strict=True) if abs(x - y) > 24) / len(a)


async def _snapshot_time(kube: Kube, namespace: str) -> dict[str, Any] | None:
    try:
        ls = await get_ls(kube, namespace, "cam")
    except KubeError:
        return None
    snap: dict[str, Any] | None = (ls.get("status") or {}).get("snapshot")
    return snap if snap and snap.get("lastTime") else None


async def test_a_snapshot_is_a_current_jpeg_of_the_live_stream(
    live: Live, procs: Processes, kube: Kube, namespace: str
) -> None:
    # Bad ids and streams without a LiveStream: 404 at once, no decode.
    status, headers, body, took = await live.snapshot("-bad")
    assert status == 404
    assert headers["Content-Type"].startswith("application/problem+json")
    status, _, body, _ = await live.snapshot()
    assert status == 404
    assert json.loads(body)["type"].endswith("/unknown-stream")

    pub = procs.publisher(live.mtx.rtmp("live/cam/in") + f"?key={live.key}", size="640x360")

    async def first_picture() -> tuple[int, dict[str, str], bytes, float] | None:
        got = await live.snapshot()
        assert got[0] in (404, 409, 200), got  # no LiveStream, not live yet, live
        return got if got[0] == 200 else None

    try:
        status, headers, first, cold = await wait_for_async(
            first_picture, 20, what="a snapshot of the live stream", interval=0.2
        )
    except AssertionError:
        print(dump_logs(pub))
        raise
    assert headers["Content-Type"] == "image/jpeg"
    assert headers["X-Snapshot-Path"] == "in"  # no worker: the ingest
    assert "max-age=1" in headers["Cache-Control"]
    assert _probe(first) == {"codec_name": "mjpeg", "width": WIDTH, "height": HEIGHT}

    # Within a second: the same picture, without a decode.
    status, again_headers, again, cached = await live.snapshot()
    assert status == 200
    assert again == first
    assert again_headers["X-Snapshot-Time"] == headers["X-Snapshot-Time"]

    # Later: a new picture of a moving pattern.
    await asyncio.sleep(1.6)
    status, later_headers, later, warm = await live.snapshot()
    assert status == 200
    assert later_headers["X-Snapshot-Time"] > headers["X-Snapshot-Time"]
    assert _probe(later)["width"] == WIDTH
    changed = _changed(_gray(first), _gray(later))
    assert changed > 0.005, f"only {changed:.2%} of the pixels changed"
    print(
        f"snapshot latency: first {cold:.3f} s, cached {cached * 1000:.1f} ms, "
        f"new {warm:.3f} s; {len(first)} bytes; {changed:.1%} of pixels changed"
    )
    assert cached < 0.2
    assert warm < 5

    # Without the key, or with it in the URL: refused, no picture.
    status, _, _, _ = await live.snapshot(key="")
    assert status == 401
    status, _, _, _ = await live.snapshot(query=True)
    assert status == 401

    # status.snapshot records it (throttled, in the background).
    recorded = await wait_for_async(
        lambda: _snapshot_time(kube, namespace), 10, what="status.snapshot"
    )
    assert recorded["path"] == "in"

    # The publisher goes: 409 problem+json, answered at once.
    pub.stop()

    async def not_live() -> tuple[int, dict[str, str], bytes, float] | None:
        got = await live.snapshot()
        assert got[3] < 3, f"a snapshot took {got[3]:.1f} s"  # a failed decode, not a hang
        return got if got[0] == 409 else None

    status, headers, body, took = await wait_for_async(
        not_live, 20, what="a 409 once the stream ended", interval=0.2
    )
    assert headers["Content-Type"].startswith("application/problem+json")
    assert json.loads(body)["type"].endswith("/not-live")
    assert took < 0.5
