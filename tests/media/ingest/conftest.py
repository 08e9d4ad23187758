"""Fixtures of the ingest media tests: MediaMTX asking the real receiver."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from livestream_operator.api import stream_keys
from livestream_operator.api.v1alpha1 import LiveStream
from livestream_operator.ingest.mediamtx_api import MediaMTXClient
from livestream_operator.ingest.recording_sync import RecordingSync
from livestream_operator.kube import Kube, core_path
from tests.media.conftest import Processes
from tests.media.media_support import MediaMTX, free_port
from tests.support.kube_fixtures import create_ls, get_ls
from tests.support.processes import INTERNAL
from tests.support.waiting import wait_for_async


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
) -> AsyncIterator[tuple[RecordingSync, dict[str, LiveStream]]]:
    """The operator's recording sync, in-process, over a cache the test fills."""
    mtx, _ = keyed
    streams: dict[str, LiveStream] = {}
    async with aiohttp.ClientSession() as session:
        client = MediaMTXClient(
            f"http://127.0.0.1:{mtx.api_port}",
            session,
            auth=aiohttp.BasicAuth("lso-operator", INTERNAL["LSO_OPERATOR_PASSWORD"]),
        )
        yield RecordingSync(client, streams, recheck=3600), streams


async def publish_recorded(
    kube: Kube,
    namespace: str,
    keyed: tuple[MediaMTX, str],
    sync: tuple[RecordingSync, dict[str, LiveStream]],
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
