"""A full recordings volume, for real: MediaMTX records onto a 3 MiB tmpfs until
it is full. MediaMTX must keep running and keep the stream, and the stream's
status must say StorageFull."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from livestream_operator.api.v1alpha1 import LiveStream
from livestream_operator.kube import Kube
from livestream_operator.mediamtx.path_sync import PathConfigSync
from livestream_operator.reconcile.recording import STORAGE_FULL, recording_condition
from livestream_operator.settings import Settings
from tests.conftest import require
from tests.media.conftest import Processes, publish_recorded
from tests.media.media_support import MediaMTX
from tests.support.kube_fixtures import get_ls
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.media

LOW = 1024 * 1024  # the receiver's and the operator's recording.minFreeBytes


@pytest.fixture
def keyed_receiver(
    namespace: str, start_receiver: Callable[..., str], playback_port: int, tmp_path: Path
) -> Iterator[str]:
    """The ingest conftest's receiver, with MediaMTX's recordings on a tiny tmpfs
    (mounted before `keyed` starts MediaMTX, unmounted after it stops)."""
    volume = tmp_path / "mtx" / "recordings"
    volume.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(volume)],
        capture_output=True,
        check=False,
    )
    require(mounted.returncode == 0, f"mounting a tmpfs needs root: {mounted.stderr!r}")
    try:
        yield start_receiver(
            namespace,
            LSO_MEDIAMTX_PLAYBACK_URL=f"http://127.0.0.1:{playback_port}",
            LSO_RECORDING_MIN_FREE_BYTES=str(LOW),
        )
    finally:
        subprocess.run(["umount", "-l", str(volume)], check=False)


async def test_a_full_volume_is_storage_full_and_mediamtx_keeps_the_stream(
    keyed: tuple[MediaMTX, str],
    sync: tuple[PathConfigSync, dict[str, LiveStream]],
    kube: Kube,
    namespace: str,
    procs: Processes,
) -> None:
    mtx, _ = keyed
    recording = {"enabled": True, "segmentDuration": "1s", "retention": "1h"}
    manifest, source = await publish_recorded(kube, namespace, keyed, sync, procs, recording)

    # The volume fills up; new segments report what is left, down to nothing.
    async def storage_low() -> dict[str, Any] | None:
        status = (await get_ls(kube, namespace, "cam")).get("status", {})
        free = (status.get("recording") or {}).get("freeBytes")
        return status if free is not None and free < LOW else None

    status = await wait_for_async(storage_low, 60, what="freeBytes under the limit")
    stored = LiveStream.model_validate(
        {**manifest, "status": {**status, "recording": {**status["recording"], "applied": True}}}
    )
    condition = recording_condition(stored, Settings(recording_min_free_bytes=LOW))
    assert condition is not None
    assert (condition.ok, condition.reason) == (False, STORAGE_FULL)

    # Full for a while: MediaMTX is still up and still has the same publisher.
    await asyncio.sleep(5)
    assert mtx.proc is not None
    assert mtx.proc.poll() is None, mtx.log()[-2000:]
    info = mtx.path("live/cam/in")
    assert info is not None
    assert info["available"]
    assert info["source"]["id"] == source
