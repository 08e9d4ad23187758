"""Fixtures for the media tests: real MediaMTX, ffmpeg, GStreamer; no cluster.

A missing prerequisite skips with the reason, except with CI=true, where it
fails: CI must never pass by skipping the media plane.
"""

from __future__ import annotations

import asyncio
import shutil
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from livestream_operator.api import stream_keys
from livestream_operator.api.v1alpha1 import InputLossFill, LiveStream
from livestream_operator.kube import Kube, core_path
from livestream_operator.mediamtx.control_api import MediaMTXClient
from livestream_operator.mediamtx.path_sync import PathConfigSync
from tests.conftest import require
from tests.support.kube_fixtures import create_ls, get_ls
from tests.support.media_files import backup_file, primary_file
from tests.support.ports import free_port
from tests.support.processes import INTERNAL
from tests.support.waiting import wait_for_async

from .media_support import (
    HookReceiver,
    MediaMTX,
    Proc,
    ProjectProc,
    apply_path_entries,
    build_mediamtx,
    forwarder_proc,
    livestream,
    publisher_args,
    worker_proc,
)


@pytest.fixture(scope="session")
def media_tools() -> None:
    for tool in ("ffmpeg", "ffprobe"):
        require(shutil.which(tool) is not None, f"{tool} is not installed (apt install ffmpeg)")


@pytest.fixture(scope="session")
def gstreamer(media_tools: None) -> None:
    try:
        import gi

        gi.require_version("Gst", "1.0")
        from gi.repository import Gst
    except (ImportError, ValueError) as exc:
        require(
            False,
            f"PyGObject/GStreamer bindings unavailable: {exc} "
            "(pip install -e '.[media]'; apt install gir1.2-gstreamer-1.0)",
        )
        return
    Gst.init(None)
    from livestream_operator.api.v1alpha1 import WorkerMode
    from livestream_operator.worker.pipeline import required_factories

    missing = [
        "|".join(alts)
        for mode in WorkerMode
        for alts in required_factories(mode)
        if not any(Gst.ElementFactory.find(f) for f in alts)
    ]
    require(
        not missing,
        f"GStreamer elements missing: {missing} "
        "(apt install gstreamer1.0-plugins-{good,bad} gstreamer1.0-libav)",
    )


@pytest.fixture(scope="session")
def media(media_tools: None) -> Path:
    """720p30 H.264 + 1 kHz AAC, pre-encoded: publishers send it with -c copy, so
    that no encoder competes with the chain for the CPU (and adds its own gaps)."""
    return primary_file()


@pytest.fixture(scope="session")
def backup_media(media_tools: None) -> Path:
    """The same with SMPTE bars: a backup publisher a viewer tells apart."""
    return backup_file()


@pytest.fixture(scope="session")
def mediamtx_bin() -> Path:
    try:
        return build_mediamtx()
    except Exception as exc:  # build failures are a missing prerequisite too
        require(False, f"MediaMTX is not available: {exc}")
        raise


@pytest.fixture
def hooks() -> Iterator[HookReceiver]:
    receiver = HookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def mediamtx_factory(
    mediamtx_bin: Path, tmp_path: Path, hooks: HookReceiver, media_tools: None
) -> Iterator[Callable[..., MediaMTX]]:
    started: list[MediaMTX] = []

    def start(hook_url: str | None = None) -> MediaMTX:
        mtx = MediaMTX(
            mediamtx_bin, tmp_path / f"mediamtx{len(started)}", hook_url=hook_url or hooks.url
        )
        started.append(mtx)
        return mtx.start()

    yield start
    for mtx in started:
        mtx.stop()


@pytest.fixture
def mediamtx(mediamtx_factory: Callable[..., MediaMTX]) -> MediaMTX:
    """MediaMTX with charts/livestream-operator/files/mediamtx.yml on free ports."""
    return mediamtx_factory()


@pytest.fixture
def mtx_with(mediamtx_factory: Callable[..., MediaMTX]) -> Callable[[str], MediaMTX]:
    """Factory: MediaMTX whose hooks go to `hook_url`, a receiver the test started."""
    return mediamtx_factory


@pytest.fixture
def destination(mediamtx_factory: Callable[..., MediaMTX]) -> MediaMTX:
    """A second MediaMTX standing in for a third-party RTMP destination (YouTube,
    Twitch): forwarders push to `destination.rtmp(...)`, and `session()` tells
    whether the incoming publish session stayed the same."""
    return mediamtx_factory()


@pytest.fixture
def filled(mediamtx: MediaMTX) -> MediaMTX:
    """MediaMTX with live/cam/out's always-available entry, as the operator applies it."""
    assert apply_path_entries(mediamtx, livestream("cam", InputLossFill.SLATE)) == 1
    return mediamtx


class Processes:
    """Starts publishers, workers and forwarders; kills every one at teardown."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Proc] = []

    def publisher(self, url: str, **kwargs: object) -> Proc:
        """ffmpeg testsrc 1280x720@30 + sine, libx264 veryfast zerolatency g=30 + AAC."""
        proc = Proc(
            publisher_args(url, **kwargs),  # type: ignore[arg-type]
            self.log_dir / f"publisher-{len(self.started)}.log",
        )
        self.started.append(proc)
        return proc.start()

    def worker(
        self, input_url: str, output_url: str, mode: str = "bypass", **env: str
    ) -> ProjectProc:
        proc = worker_proc(self.log_dir, input_url, output_url, mode, extra_env=env)
        self.started.append(proc)
        return proc.start()

    def forwarder(self, input_url: str, destination: str, name: str, **env: str) -> ProjectProc:
        proc = forwarder_proc(self.log_dir, input_url, destination, name, extra_env=env)
        self.started.append(proc)
        return proc.start()

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            proc.stop(timeout=5)


@pytest.fixture
def procs(tmp_path: Path, media_tools: None) -> Iterator[Processes]:
    processes = Processes(tmp_path)
    yield processes
    processes.stop_all()


@pytest.fixture
def publisher(procs: Processes) -> Callable[..., Proc]:
    """Factory: publisher(url, sine_hz=1000, video='h264', audio='aac', fmt='flv')."""
    return procs.publisher


def dump_logs(*procs: Proc) -> str:
    return "\n".join(f"--- {p.log_path.name}\n{p.output()[-3000:]}" for p in procs)


# MediaMTX asking the real receiver (auth, recording, snapshots).


async def receiver_ready(url: str) -> None:
    """Until the receiver's key view has loaded, and the Secrets just made with it."""

    async def ready() -> bool:
        try:
            with await asyncio.to_thread(urllib.request.urlopen, f"{url}/readyz", None, 2):
                return True
        except OSError:
            return False

    await wait_for_async(ready, 20, what="the receiver's key view")
    await asyncio.sleep(0.5)  # key Secrets made just before arrive through the watch


@pytest.fixture
async def keyed(
    keyed_receiver: str,
    playback_port: int,
    namespace: str,
    kube: Kube,
    mediamtx_bin: Path,
    tmp_path: Path,
    media_tools: None,
) -> AsyncIterator[tuple[MediaMTX, str]]:
    """MediaMTX whose auth is the receiver's, and a key for stream `cam`."""
    url = keyed_receiver
    key = stream_keys.generate_key()
    await kube.request(
        "POST", core_path(namespace, "secrets"), stream_keys.to_secret("cam", key, namespace)
    )

    await receiver_ready(url)
    mtx = MediaMTX(
        mediamtx_bin,
        tmp_path / "mtx",
        hook_url=url,
        auth_url=f"{url}/v1/mediamtx/auth",
        playback_port=playback_port,
    )
    mtx_start = asyncio.to_thread(mtx.start)
    await mtx_start
    yield mtx, key
    mtx.stop()


@pytest.fixture
def playback_port() -> int:
    return free_port()


@pytest.fixture
def keyed_receiver(namespace: str, start_receiver: Callable[..., str], playback_port: int) -> str:
    """The receiver `keyed` points MediaMTX at; override it for other settings."""
    return start_receiver(namespace, LSO_MEDIAMTX_PLAYBACK_URL=f"http://127.0.0.1:{playback_port}")


@pytest.fixture
async def sync(
    keyed: tuple[MediaMTX, str],
) -> AsyncIterator[tuple[PathConfigSync, dict[str, LiveStream]]]:
    """The operator's recording sync, in-process, over a cache the test fills."""
    mtx, _ = keyed
    streams: dict[str, LiveStream] = {}
    async with aiohttp.ClientSession() as session:
        client = MediaMTXClient(
            f"http://127.0.0.1:{mtx.api_port}",
            session,
            auth=aiohttp.BasicAuth("lso-operator", INTERNAL["LSO_OPERATOR_PASSWORD"]),
        )
        yield PathConfigSync(client, streams, recheck=3600), streams


async def publish_recorded(
    kube: Kube,
    namespace: str,
    keyed: tuple[MediaMTX, str],
    sync: tuple[PathConfigSync, dict[str, LiveStream]],
    procs: Processes,
    recording: dict[str, Any],
) -> tuple[dict[str, Any], str]:
    """A Persistent LiveStream `cam` with `recording`, published with its key, and
    its entries applied by the recording sync: (its manifest, the publisher's
    source id)."""
    mtx, key = keyed
    recording_sync, cache = sync
    manifest = {
        "apiVersion": "media.livestream-operator.dev/v1alpha1",
        "kind": "LiveStream",
        "metadata": {"name": "cam"},
        "spec": {"streamId": "cam", "lifecycle": "Persistent", "recording": recording},
    }
    await create_ls(kube, namespace, manifest)
    procs.publisher(mtx.rtmp("live/cam/in") + f"?key={key}")
    source = (await asyncio.to_thread(mtx.wait_available, "live/cam/in", 20))["source"]["id"]
    cache["cam"] = LiveStream.model_validate(await get_ls(kube, namespace, "cam"))
    assert await recording_sync.once() == 2  # in and out get entries (out: record off)
    return manifest, str(source)
