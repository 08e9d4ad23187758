"""Who writes which status field: the table, the apply bodies made from it, and the
move of an earlier release's merge-patch ownership to the managers."""

from __future__ import annotations

import types
import typing
from typing import Any

import pytest
from pydantic import BaseModel

from livestream_operator.api.ownership import (
    OWNED,
    FieldManager,
    NotOwned,
    apply_body,
    changed,
    owned_part,
    stored_after,
    upgraded_managed_fields,
)
from livestream_operator.api.v1alpha1 import (
    IngestStatus,
    LiveStreamStatus,
    ManagedFieldsEntry,
    Phase,
    RecordingStatus,
)

STORED = LiveStreamStatus.model_validate(
    {
        "phase": "Live",
        "message": "streaming",
        "worker": {"podName": "cam-worker", "state": "Ready"},
        "ingest": {"path": "live/cam/in", "available": True, "sourceId": "s1"},
        "output": {"available": True, "sourceId": "w1"},
        "recording": {
            "applied": True,
            "freeBytes": 5000,
            "paths": [{"path": "in", "segments": 2, "bytes": 10}],
        },
        "snapshot": {"lastTime": "2026-12-01T18:00:00.000000Z", "path": "out"},
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "Live", "lastTransitionTime": "t"}
        ],
    }
)


def _struct(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return next((m for a in typing.get_args(annotation) if (m := _struct(a))), None)
    return None


def test_every_status_field_has_exactly_one_writer() -> None:
    owners: dict[str, list[FieldManager]] = {}
    for manager, paths in OWNED.items():
        for path in paths:
            owners.setdefault(path, []).append(manager)
    assert {p: m for p, m in owners.items() if len(m) > 1} == {}
    wanted = set()
    for name, info in LiveStreamStatus.model_fields.items():
        struct = _struct(info.annotation)
        if name in owners or struct is None or not any(p.startswith(f"{name}.") for p in owners):
            wanted.add(name)  # one writer for the whole field
        else:  # a struct two writers share: each of its fields has its writer
            wanted |= {f"{name}.{sub}" for sub in struct.model_fields}
    assert set(owners) == wanted


def test_an_apply_carries_the_managers_fields_and_nothing_else() -> None:
    body = apply_body("cam", FieldManager.INGEST, STORED, "42")
    assert body == {
        "apiVersion": "media.livestream-operator.dev/v1alpha1",
        "kind": "LiveStream",
        "metadata": {"name": "cam", "resourceVersion": "42"},
        "status": {
            "ingest": {"path": "live/cam/in", "available": True, "sourceId": "s1"},
            "output": {"available": True, "sourceId": "w1"},
        },
    }
    assert "resourceVersion" not in apply_body("cam", FieldManager.INGEST, STORED, None)["metadata"]
    assert apply_body("cam", FieldManager.RECORDING_SYNC, STORED, None)["status"] == {
        "recording": {"applied": True}
    }
    index = apply_body("cam", FieldManager.RECORDING_INDEX, STORED, None)["status"]
    assert index == {
        "recording": {"freeBytes": 5000, "paths": [{"path": "in", "segments": 2, "bytes": 10}]}
    }
    assert set(owned_part(STORED, FieldManager.OPERATOR)) == {
        "phase",
        "message",
        "worker",
        "conditions",
    }


def test_a_shared_struct_without_the_managers_fields_is_not_sent() -> None:
    only_sync = LiveStreamStatus(recording=RecordingStatus(applied=False, message="refused"))
    assert owned_part(only_sync, FieldManager.RECORDING_INDEX) == {}


def test_a_change_is_applied_onto_what_was_read() -> None:
    # A not-ready: what it sets changes, the rest of status.ingest stays.
    change = LiveStreamStatus(
        ingest=IngestStatus(available=False, connecting_since=None, unavailable_since="t1")
    )
    after = changed(STORED, change, FieldManager.INGEST)
    assert owned_part(after, FieldManager.INGEST)["ingest"] == {
        "path": "live/cam/in",
        "available": False,
        "sourceId": "s1",
        "unavailableSince": "t1",
    }
    assert owned_part(after, FieldManager.INGEST)["output"] == {"available": True, "sourceId": "w1"}
    cleared = changed(
        STORED,
        LiveStreamStatus(recording=RecordingStatus(applied=True, message=None)),
        FieldManager.RECORDING_SYNC,
    )
    assert cleared.recording == STORED.recording


@pytest.mark.parametrize(
    ("manager", "change"),
    [
        (FieldManager.INGEST, LiveStreamStatus(phase=Phase.IDLE)),
        (FieldManager.OPERATOR, LiveStreamStatus(ingest=IngestStatus(available=False))),
        (FieldManager.RECORDING_SYNC, LiveStreamStatus(recording=RecordingStatus(free_bytes=1))),
        (FieldManager.RECORDING_INDEX, LiveStreamStatus(recording=None)),
    ],
)
def test_a_change_to_another_writers_field_is_refused(
    manager: FieldManager, change: LiveStreamStatus
) -> None:
    with pytest.raises(NotOwned, match=manager.value):
        changed(STORED, change, manager)


def test_what_an_apply_leaves_stored() -> None:
    # The operator's fields as applied (message gone), everyone else's as they were.
    applied = LiveStreamStatus(phase=Phase.IDLE)
    after = stored_after(STORED, FieldManager.OPERATOR, applied)
    assert (after.phase, after.message, after.worker, after.conditions) == (
        Phase.IDLE,
        None,
        None,
        None,
    )
    others = [FieldManager.INGEST, FieldManager.RECORDING_INDEX, FieldManager.SNAPSHOTS]
    for manager in others:
        assert owned_part(after, manager) == owned_part(STORED, manager)
    # One writer of a shared struct leaves the other's fields alone.
    after = stored_after(STORED, FieldManager.RECORDING_INDEX, LiveStreamStatus())
    assert after.recording == RecordingStatus(applied=True)


# ------------------------------------------------------ an earlier release's writes

LEGACY = "OpenAPI-Generator"  # the client library's user agent: the manager of its merge patches


def entry(manager: str, operation: str, fields: dict[str, Any], sub: str | None = "status") -> Any:
    return ManagedFieldsEntry.model_validate(
        {
            "manager": manager,
            "operation": operation,
            "apiVersion": "media.livestream-operator.dev/v1alpha1",
            "time": "2026-12-01T18:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": fields,
            **({"subresource": sub} if sub else {}),
        }
    )


SPEC_ENTRY = entry(LEGACY, "Update", {"f:spec": {".": {}, "f:streamId": {}}}, sub=None)


def test_earlier_merge_patch_fields_move_to_their_managers() -> None:
    legacy = entry(
        LEGACY,
        "Update",
        {
            "f:status": {
                ".": {},
                "f:phase": {},
                "f:conditions": {".": {}, 'k:{"type":"Ready"}': {".": {}, "f:status": {}}},
                "f:ingest": {".": {}, "f:available": {}, "f:connectingSince": {}},
                "f:recording": {".": {}, "f:applied": {}, "f:paths": {}},
                "f:snapshot": {".": {}, "f:lastTime": {}},
            }
        },
    )
    moved = upgraded_managed_fields([SPEC_ENTRY, legacy])
    assert moved is not None
    assert moved[0] == SPEC_ENTRY  # the spec's fields are not status: untouched
    by_manager = {
        (e.manager, e.operation, e.subresource): e.fields_v1["f:status"] for e in moved[1:]
    }
    assert by_manager == {
        ("livestream-operator", "Apply", "status"): {
            ".": {},
            "f:phase": {},
            "f:conditions": {".": {}, 'k:{"type":"Ready"}': {".": {}, "f:status": {}}},
        },
        ("livestream-ingest", "Apply", "status"): {
            ".": {},
            "f:ingest": {".": {}, "f:available": {}, "f:connectingSince": {}},
        },
        ("livestream-recording-sync", "Apply", "status"): {
            ".": {},
            "f:recording": {".": {}, "f:applied": {}},
        },
        ("livestream-recording-index", "Apply", "status"): {
            ".": {},
            "f:recording": {".": {}, "f:paths": {}},
        },
        ("livestream-snapshots", "Apply", "status"): {
            ".": {},
            "f:snapshot": {".": {}, "f:lastTime": {}},
        },
    }


def test_moved_fields_join_a_managers_own_and_unknown_ones_stay() -> None:
    own = entry("livestream-ingest", "Apply", {"f:status": {"f:output": {"f:available": {}}}})
    legacy = entry(LEGACY, "Update", {"f:status": {"f:ingest": {"f:path": {}}, "f:gone": {}}})
    moved = upgraded_managed_fields([own, legacy])
    assert moved is not None
    assert [(e.manager, e.operation) for e in moved] == [
        ("livestream-ingest", "Apply"),
        (LEGACY, "Update"),
    ]
    assert moved[0].fields_v1 == {
        "f:status": {".": {}, "f:output": {"f:available": {}}, "f:ingest": {"f:path": {}}}
    }
    assert moved[1].fields_v1 == {"f:status": {"f:gone": {}}}


def test_nothing_to_move_is_no_write() -> None:
    own = entry("livestream-operator", "Apply", {"f:status": {"f:phase": {}}})
    assert upgraded_managed_fields([SPEC_ENTRY, own]) is None
    assert upgraded_managed_fields([]) is None
    # Fields no manager owns are no reason to write (at every write, forever).
    unknown = entry(LEGACY, "Update", {"f:status": {".": {}, "f:gone": {}}})
    assert upgraded_managed_fields([own, unknown]) is None
