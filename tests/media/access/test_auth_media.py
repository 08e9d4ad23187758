"""Stream keys with real parts: MediaMTX asking the real receiver (keys from a
real API server), real ffmpeg publishers in both URL forms, the real worker with
its internal credentials, and readers without any."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from livestream_operator.api import stream_keys
from tests.media.conftest import Processes
from tests.media.media_support import MediaMTX
from tests.support.processes import INTERNAL
from tests.support.waiting import WaitTimeout

pytestmark = pytest.mark.media


async def _available(mtx: MediaMTX, path: str, timeout: float = 20) -> bool:
    try:
        await asyncio.to_thread(mtx.wait_available, path, timeout)
    except (WaitTimeout, TimeoutError):
        return False
    return True


async def test_publishers_need_the_key_in_either_url_form(
    keyed: tuple[MediaMTX, str], procs: Processes
) -> None:
    mtx, key = keyed
    wrong = procs.publisher(mtx.rtmp("live/cam/in") + "?key=sk_" + "A" * 43)
    assert not await _available(mtx, "live/cam/in", timeout=6)
    wrong.stop()
    # OBS's form: stream key "in?key=sk_...".
    obs = procs.publisher(mtx.rtmp("live/cam/in") + f"?key={key}")
    assert await _available(mtx, "live/cam/in")
    obs.stop()
    await asyncio.to_thread(mtx.wait_unavailable, "live/cam/in")
    # RTMP user/password: ?user=...&pass=sk_...
    userpass = procs.publisher(mtx.rtmp("live/cam/in") + f"?user=publisher&pass={key}")
    assert await _available(mtx, "live/cam/in")
    userpass.stop()


async def test_the_worker_reads_and_publishes_with_its_credentials_and_nobody_else_reads_in(
    keyed: tuple[MediaMTX, str], procs: Processes, gstreamer: None
) -> None:
    mtx, key = keyed
    procs.publisher(mtx.rtmp("live/cam/in") + f"?key={key}")
    assert await _available(mtx, "live/cam/in")
    worker = procs.worker(
        mtx.rtsp("live/cam/in"),
        mtx.rtmp("live/cam/out"),
        LSO_MEDIA_USER="lso-worker",
        LSO_MEDIA_PASSWORD=INTERNAL["LSO_WORKER_PASSWORD"],
    )
    assert await _available(mtx, "live/cam/out", timeout=30), worker.log_path.read_text()[-3000:]
    # The worker's password never reaches its log.
    assert INTERNAL["LSO_WORKER_PASSWORD"] not in worker.log_path.read_text()

    probe = [
        "ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-timeout", "5000000",
        "-show_streams", mtx.rtsp("live/cam/in"),
    ]  # fmt: skip
    outsider = await asyncio.to_thread(subprocess.run, probe, capture_output=True, timeout=30)
    assert outsider.returncode != 0  # no credentials: MediaMTX refuses
    assert b"401" in outsider.stderr or b"Unauthorized" in outsider.stderr


async def test_the_control_api_answers_only_the_operator(keyed: tuple[MediaMTX, str]) -> None:
    mtx, _ = keyed
    url = f"http://127.0.0.1:{mtx.api_port}/v3/paths/list"
    with pytest.raises(urllib.error.HTTPError) as err:
        await asyncio.to_thread(urllib.request.urlopen, url, None, 5)
    assert err.value.code == 401
    basic = base64.b64encode(f"lso-operator:{INTERNAL['LSO_OPERATOR_PASSWORD']}".encode())
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {basic.decode()}"})
    with await asyncio.to_thread(urllib.request.urlopen, request, None, 5) as resp:
        assert resp.status == 200


async def test_an_unreachable_receiver_lets_nobody_in(
    mediamtx_bin: Path, tmp_path: Path, procs: Processes, media_tools: None
) -> None:
    """Fail closed: with no receiver to ask, MediaMTX refuses, and says so in its log."""
    dead = "http://127.0.0.1:9/v1/mediamtx/auth"
    mtx = MediaMTX(mediamtx_bin, tmp_path / "mtx", auth_url=dead)
    mtx.start()
    try:
        pub = procs.publisher(mtx.rtmp("live/cam/in") + f"?key={stream_keys.generate_key()}")
        assert pub.proc is not None
        code = await asyncio.to_thread(pub.proc.wait, 20)  # refused: ffmpeg gives up
        assert code != 0
        assert "failed to authenticate" in mtx.log(), mtx.log()[-2000:]
    finally:
        mtx.stop()
