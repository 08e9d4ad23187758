"""Status ownership by server-side apply, against the real API server: each writer
owns its fields (managedFields shows it), a writer touching another's field is a
409 naming it, never a silent null, and a stale conditional apply is refused."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from livestream_operator.api.ownership import FieldManager
from livestream_operator.api.v1alpha1 import (
    IngestStatus,
    LiveStream,
    LiveStreamStatus,
    Phase,
    RecordingStatus,
)
from livestream_operator.kube import APPLY_PATCH, MERGE_PATCH, Kube, KubeError, livestreams_path
from tests.integration.api.test_crd import _ls
from tests.integration.ingest.test_receiver import ev, post
from tests.support.kube_fixtures import create_ls, get_ls
from tests.support.processes import Process
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.integration

OPERATOR, INGEST = FieldManager.OPERATOR, FieldManager.INGEST
LIVE = IngestStatus(path="live/show/in", available=True, source_id="s1", available_since="t0")


async def _stream(kube: Kube, namespace: str) -> LiveStream:
    await create_ls(kube, namespace, _ls("show", {"streamId": "show", "lifecycle": "Persistent"}))
    return await kube.get_livestream(namespace, "show")


def owners(stored: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    """(manager, operation) -> the status fields it owns, as managedFields shows them."""
    found = {}
    for entry in stored["metadata"].get("managedFields") or []:
        if entry.get("subresource") == "status":
            fields = entry["fieldsV1"].get("f:status", {})
            found[(entry["manager"], entry["operation"])] = {k for k in fields if k != "."}
    return found


async def raw_apply(kube: Kube, namespace: str, manager: str, status: dict[str, Any]) -> None:
    """An apply with any fields: what a writer that breaks the table would send."""
    body = {
        "apiVersion": "media.livestream-operator.dev/v1alpha1",
        "kind": "LiveStream",
        "metadata": {"name": "show"},
        "status": status,
    }
    await kube.request(
        "PATCH",
        livestreams_path(namespace, "show", "status"),
        body,
        query=[("fieldManager", manager)],
        content_type=APPLY_PATCH,
    )


async def test_managed_fields_show_each_writer_owning_its_fields_and_steady_state_writes_nothing(
    kube: Kube,
    namespace: str,
    start_receiver: Callable[..., str],
    start_operator: Callable[..., Process],
) -> None:
    url = start_receiver(namespace)
    start_operator(namespace)
    status, body = await post(url, "ready", ev("show", "s1"))
    assert status == 201, body

    async def reconciled() -> dict[str, Any] | None:
        stored = await get_ls(kube, namespace, "show")
        return stored if (stored.get("status") or {}).get("phase") else None

    await wait_for_async(reconciled, what="the operator's status")
    # Settled: the operator's own write woke a reconcile that wrote nothing.
    await asyncio.sleep(2)
    before = await get_ls(kube, namespace, "show")
    await asyncio.sleep(3)
    after = await get_ls(kube, namespace, "show")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    owned = owners(after)
    assert set(owned) == {("livestream-ingest", "Apply"), ("livestream-operator", "Apply")}
    assert owned[("livestream-ingest", "Apply")] == {"f:ingest"}
    assert {"f:phase", "f:worker", "f:conditions"} <= owned[("livestream-operator", "Apply")]
    assert "f:ingest" not in owned[("livestream-operator", "Apply")]
    # Conditions are a map keyed by type: each one is owned as an item.
    entry = next(e for e in after["metadata"]["managedFields"] if e["manager"] == OPERATOR)
    assert 'k:{"type":"Ready"}' in entry["fieldsV1"]["f:status"]["f:conditions"]


@pytest.mark.parametrize(
    ("manager", "status", "field"),
    [
        (INGEST, {"phase": "Idle"}, ".status.phase"),
        (OPERATOR, {"ingest": {"available": False}}, ".status.ingest.available"),
        (
            FieldManager.RECORDING_SYNC,
            {"recording": {"freeBytes": 1}},
            ".status.recording.freeBytes",
        ),
    ],
)
async def test_a_writer_touching_another_writers_field_is_a_conflict_not_a_null(
    kube: Kube, namespace: str, manager: FieldManager, status: dict[str, Any], field: str
) -> None:
    read = await _stream(kube, namespace)
    owned = LiveStreamStatus(
        phase=Phase.LIVE,
        ingest=LIVE,
        recording=RecordingStatus(paths=[], free_bytes=5000),
    )
    for owner in (OPERATOR, INGEST, FieldManager.RECORDING_INDEX):
        read = await kube.apply_livestream_status(read, owner, owned, conditional=False)
    with pytest.raises(KubeError) as refused:
        await raw_apply(kube, namespace, manager.value, status)
    assert refused.value.manager_conflict
    assert refused.value.field_conflicts == (field,)
    stored = await kube.get_livestream(namespace, "show")
    assert stored.status == read.status  # nothing nulled, nothing changed


async def test_one_writers_apply_never_removes_anothers_fields(kube: Kube, namespace: str) -> None:
    """The old failure mode of a replace patch with a field on the wrong side."""
    read = await _stream(kube, namespace)
    connecting = IngestStatus(path="live/show/in", source_id="s1", connecting_since="t0")
    read = await kube.apply_livestream_status(read, INGEST, LiveStreamStatus(ingest=connecting))
    # The operator's status as plan() builds it: no ingest in it.
    operator = LiveStreamStatus(phase=Phase.CONNECTING, message="analysing")
    read = await kube.apply_livestream_status(read, OPERATOR, operator, conditional=False)
    assert read.status.ingest == connecting
    # The ready hook's status: ingest only, connectingSince gone (its own field).
    read = await kube.apply_livestream_status(read, INGEST, LiveStreamStatus(ingest=LIVE))
    assert read.status.ingest == LIVE
    assert (read.status.phase, read.status.message) == (Phase.CONNECTING, "analysing")
    # The sync's and the index's halves of status.recording stand beside each other.
    sync = LiveStreamStatus(recording=RecordingStatus(applied=False, message="refused"))
    read = await kube.apply_livestream_status(read, FieldManager.RECORDING_SYNC, sync)
    index = LiveStreamStatus(recording=RecordingStatus(free_bytes=7))
    read = await kube.apply_livestream_status(read, FieldManager.RECORDING_INDEX, index)
    assert read.status.recording == RecordingStatus(applied=False, message="refused", free_bytes=7)
    read = await kube.apply_livestream_status(read, FieldManager.RECORDING_SYNC, LiveStreamStatus())
    assert read.status.recording == RecordingStatus(free_bytes=7)


async def test_a_stale_conditional_apply_is_refused(kube: Kube, namespace: str) -> None:
    read = await _stream(kube, namespace)
    await kube.apply_livestream_status(read, INGEST, LiveStreamStatus(ingest=LIVE))
    gone = IngestStatus(available=False, unavailable_since="t1")
    with pytest.raises(KubeError) as refused:  # decided on `read`, which is no longer there
        await kube.apply_livestream_status(read, INGEST, LiveStreamStatus(ingest=gone))
    assert refused.value.conflict
    assert not refused.value.manager_conflict
    assert (await kube.get_livestream(namespace, "show")).status.ingest == LIVE


# ------------------------------------------------ objects an earlier release wrote


async def merge_patch_as_before(kube: Kube, namespace: str, status: dict[str, Any]) -> None:
    """How releases before server-side apply wrote status (operation Update)."""
    await kube.request(
        "PATCH",
        livestreams_path(namespace, "show", "status"),
        {"status": status},
        content_type=MERGE_PATCH,
    )


async def test_fields_an_earlier_release_wrote_move_to_their_writers(
    kube: Kube, namespace: str
) -> None:
    await _stream(kube, namespace)
    await merge_patch_as_before(
        kube,
        namespace,
        {
            "phase": "Connecting",
            "ingest": {"path": "live/show/in", "sourceId": "s1", "connectingSince": "t0"},
            "recording": {"applied": True, "freeBytes": 10},
        },
    )
    old = await get_ls(kube, namespace, "show")
    assert set(owners(old)) == {("OpenAPI-Generator", "Update")}
    # Fields another manager set, even by a merge patch, conflict when an apply
    # changes them: hence the move rather than applying over them.
    with pytest.raises(KubeError) as refused:
        await raw_apply(kube, namespace, INGEST.value, {"ingest": LIVE.wire()})
    assert refused.value.manager_conflict
    read = await kube.get_livestream(namespace, "show")
    read = await kube.apply_livestream_status(read, INGEST, LiveStreamStatus(ingest=LIVE))
    # connectingSince, which the old writer set and the new one leaves out, is gone.
    assert read.status.ingest == LIVE
    stored = await get_ls(kube, namespace, "show")
    assert owners(stored) == {
        ("livestream-ingest", "Apply"): {"f:ingest"},
        ("livestream-operator", "Apply"): {"f:phase"},
        ("livestream-recording-sync", "Apply"): {"f:recording"},
        ("livestream-recording-index", "Apply"): {"f:recording"},
    }
    # Every writer now applies without a conflict, and removes what it leaves out.
    read = await kube.apply_livestream_status(
        read, OPERATOR, LiveStreamStatus(phase=Phase.LIVE), conditional=False
    )
    index = LiveStreamStatus(recording=RecordingStatus(free_bytes=20))
    read = await kube.apply_livestream_status(read, FieldManager.RECORDING_INDEX, index)
    assert read.status.phase is Phase.LIVE
    assert read.status.recording == RecordingStatus(applied=True, free_bytes=20)


async def test_the_operator_takes_its_fields_over_from_an_earlier_release(
    kube: Kube, namespace: str, start_operator: Callable[..., Process]
) -> None:
    await _stream(kube, namespace)
    # What the earlier release's operator left: a grace period that has since ended.
    await merge_patch_as_before(
        kube,
        namespace,
        {"phase": "Reconnecting", "message": "old", "graceDeadline": "2026-01-01T00:00:00Z"},
    )
    start_operator(namespace)

    async def taken_over() -> dict[str, Any] | None:
        stored = await get_ls(kube, namespace, "show")
        return stored if stored["status"].get("phase") == "Pending" else None

    stored = await wait_for_async(taken_over, what="the operator's own status")
    assert "graceDeadline" not in stored["status"]  # the new writer leaves it out: gone
    assert {manager for manager, _ in owners(stored)} == {"livestream-operator"}
