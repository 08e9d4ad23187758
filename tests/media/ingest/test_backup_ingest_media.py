"""Primary/backup ingest with real parts: MediaMTX asking the real receiver, two
real ffmpeg publishers with the same stream key, the real operator deciding the
failover from the hooks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from livestream_operator.kube import Kube, livestreams_path
from tests.media.conftest import Processes
from tests.media.media_support import MediaMTX
from tests.support.kube_fixtures import events_of, get_ls
from tests.support.processes import Process
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.media


async def _status(kube: Kube, namespace: str) -> dict[str, Any]:
    return dict((await get_ls(kube, namespace, "cam")).get("status") or {})


async def test_a_keyed_backup_publisher_takes_over_when_the_primary_goes_and_hands_back(
    keyed: tuple[MediaMTX, str],
    procs: Processes,
    kube: Kube,
    namespace: str,
    start_operator: Callable[..., Process],
) -> None:
    mtx, key = keyed
    start_operator(namespace)
    primary = procs.publisher(mtx.rtmp("live/cam/in") + f"?key={key}")
    await asyncio.to_thread(mtx.wait_available, "live/cam/in")
    # A backup without the key is refused, with it admitted while the primary is live.
    procs.publisher(mtx.rtmp("live/cam/backup"))
    procs.publisher(mtx.rtmp("live/cam/backup") + f"?key={key}")
    info = await asyncio.to_thread(mtx.wait_available, "live/cam/backup")

    async def backup_recorded() -> dict[str, Any] | None:
        status = await _status(kube, namespace)
        seen = status.get("backup") or {}
        return status if seen.get("available") and status.get("failover") else None

    status = await wait_for_async(backup_recorded, 20, what="status.backup and status.failover")
    assert status["backup"]["sourceId"] == info["source"]["id"]
    assert status["backup"]["path"] == "live/cam/backup"
    assert status["failover"] == {"active": "Primary"}
    assert key not in str(status)

    primary.stop()

    async def on_backup() -> dict[str, Any] | None:
        status = await _status(kube, namespace)
        return status if (status.get("failover") or {}).get("active") == "Backup" else None

    # failoverAfterSeconds (3) after the primary's not-ready; the stream stays live.
    status = await wait_for_async(on_backup, 15, what="the failover")
    assert status["failover"]["reason"] == "PrimaryOffline"
    assert status["ingest"]["available"] is False
    assert "graceDeadline" not in status
    await switches(kube, namespace, 1)

    # The primary returns: back to it once it has been live failbackHoldSeconds.
    await kube.request(
        "PATCH",
        livestreams_path(namespace, "cam"),
        {"spec": {"ingest": {"failbackHoldSeconds": 2}}},
        content_type="application/merge-patch+json",
    )
    procs.publisher(mtx.rtmp("live/cam/in") + f"?key={key}")

    async def on_primary() -> dict[str, Any] | None:
        status = await _status(kube, namespace)
        return status if (status.get("failover") or {}).get("active") == "Primary" else None

    status = await wait_for_async(on_primary, 20, what="the failback")
    assert status["failover"]["reason"] == "PrimaryRecovered"
    await switches(kube, namespace, 2)
    procs.stop_all()

    async def both_gone() -> dict[str, Any] | None:
        status = await _status(kube, namespace)
        return status if status.get("graceDeadline") else None

    # Both publishers gone: now the grace period runs.
    await wait_for_async(both_gone, 15, what="the grace period")


async def switches(kube: Kube, namespace: str, count: int) -> None:
    """Until `count` InputSwitched Events are there: the operator posts each one
    just after the status write the test saw."""

    async def there() -> bool:
        return len(await events_of(kube, namespace, "InputSwitched")) == count

    await wait_for_async(there, 5, what=f"{count} InputSwitched Events")
