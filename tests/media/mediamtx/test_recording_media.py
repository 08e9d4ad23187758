"""Recording with real parts: MediaMTX asking the real receiver, a real ffmpeg
publisher with its key, the operator's recording sync against the real Control
API, the real segment hooks into status.recording, and the playback server."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from livestream_operator.api.v1alpha1 import LiveStream, RecordingSpec
from livestream_operator.kube import Kube
from livestream_operator.mediamtx.path_sync import PathConfigSync
from tests.media.conftest import Processes, publish_recorded
from tests.media.media_support import MediaMTX
from tests.support.kube_fixtures import get_ls
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.media

RECORDING = {"enabled": True, "paths": ["in"], "segmentDuration": "2s", "retention": "15s"}


def segments(mtx: MediaMTX) -> list[Path]:
    directory = mtx.recordings / "live" / "cam" / "in"
    return sorted(directory.glob("*.mp4")) if directory.exists() else []


def ffprobe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
        capture_output=True,
        check=True,
        timeout=30,
    )
    return float(json.loads(out.stdout)["format"]["duration"])


async def test_recording_toggles_live_indexes_segments_and_downloads_spans(
    keyed: tuple[MediaMTX, str],
    keyed_receiver: str,
    sync: tuple[PathConfigSync, dict[str, LiveStream]],
    kube: Kube,
    namespace: str,
    procs: Processes,
    tmp_path: Path,
) -> None:
    mtx, key = keyed
    recording, cache = sync

    # On: MediaMTX gets the stream's own entries and records, the publisher stays.
    _, source = await publish_recorded(kube, namespace, keyed, sync, procs, RECORDING)
    await wait_for_async(lambda: len(segments(mtx)) >= 2, 15, what="two segment files")
    assert mtx.path("live/cam/in")["source"]["id"] == source  # type: ignore[index]

    # The index: the segment hooks reach status.recording through the receiver.
    async def indexed() -> dict[str, Any] | None:
        status = (await get_ls(kube, namespace, "cam")).get("status", {})
        paths = (status.get("recording") or {}).get("paths") or []
        return paths[0] if paths and paths[0]["segments"] >= 2 else None

    entry = await wait_for_async(indexed, 15, what="two segments in status.recording")
    assert entry["path"] == "in"
    assert entry["bytes"] > 0
    assert entry["firstSegmentTime"] < entry["lastSegmentTime"]

    # The listing, with the key, and a download of 3 s that plays for 3 s.
    async with aiohttp.ClientSession() as s:
        url = f"{keyed_receiver}/v1/streams/cam/recordings"
        async with s.get(url) as resp:
            assert resp.status == 401
            assert resp.content_type == "application/problem+json"
        headers = {"Authorization": f"Bearer {key}"}
        async with s.get(url, headers=headers) as resp:
            assert resp.status == 200
            listing = await resp.json()
        span = listing["recordings"][0]
        assert span["path"] == "in"
        assert span["duration"] >= 3
        link = span["url"].replace(f"duration={span['duration']:.3f}", "duration=3")
        async with s.get(link) as resp:  # the playback server asks for the key too
            assert resp.status == 401
        async with s.get(link, auth=aiohttp.BasicAuth("any", key)) as resp:
            assert resp.status == 200
            (tmp_path / "span.mp4").write_bytes(await resp.read())
    assert abs(ffprobe_duration(tmp_path / "span.mp4") - 3.0) <= 1.0

    # Off: no new segment after the one that was open, and still the same publisher.
    off = RecordingSpec.model_validate({**RECORDING, "enabled": False})
    cache["cam"] = cache["cam"].model_copy(
        update={"spec": cache["cam"].spec.model_copy(update={"recording": off})}
    )
    assert await recording.once() == 1  # a patch of record only
    await asyncio.sleep(1.5)  # the open segment is closed
    before = {p.name for p in segments(mtx)}
    await asyncio.sleep(5)
    assert {p.name for p in segments(mtx)} <= before
    assert mtx.path("live/cam/in")["source"]["id"] == source  # type: ignore[index]

    # Retention (15 s; MediaMTX cleans every half of it) deletes the oldest.
    oldest = min(before)
    await wait_for_async(
        lambda: oldest not in {p.name for p in segments(mtx)}, 30, what="retention"
    )

    # MediaMTX restarted: its entries are gone, and the next check brings them back.
    await asyncio.to_thread(mtx.restart)
    recording.recheck = 0
    assert await recording.once() == 2
    assert mtx.api("/v3/config/paths/get/live/cam/in")["record"] is False
