"""Resync: the events that would make the LiveStreams agree with MediaMTX."""

from __future__ import annotations

from typing import Any

from livestream_operator.api.v1alpha1 import LiveStream
from livestream_operator.ingest.hook_event import HookKind
from livestream_operator.ingest.resync import diff
from livestream_operator.mediamtx.control_api import PathInfo


def _ls(
    stream: str, ingest: dict[str, Any] | None = None, output: dict[str, Any] | None = None
) -> LiveStream:
    return LiveStream.model_validate(
        {
            "metadata": {"name": stream.lower()},
            "spec": {"streamId": stream},
            "status": {"ingest": ingest or {}, "output": output or {}},
        }
    )


def test_resync_diff() -> None:
    paths = [
        PathInfo("live/missed/in", True, "rtmpConn", "m"),
        PathInfo("live/known/in", True, "rtmpConn", "k"),
        PathInfo("live/known/out", True, "rtmpConn", "w"),
        PathInfo("live/orphan/out", True, "rtmpConn", "o"),
        PathInfo("other/thing", True, "rtmpConn", "z"),
        PathInfo("live/idle/in", False, "", ""),
    ]
    livestreams = [
        _ls("known", {"available": True, "sourceId": "k"}),
        _ls("gone", {"available": True, "sourceId": "g"}, {"available": True, "sourceId": "gw"}),
    ]
    repairs = {(r.kind, r.event.path, r.event.source_id) for r in diff(paths, livestreams)}
    assert repairs == {
        (HookKind.READY, "live/missed/in", "m"),
        (HookKind.READY, "live/known/out", "w"),
        (HookKind.NOT_READY, "live/gone/in", "g"),
        (HookKind.NOT_READY, "live/gone/out", "gw"),
    }


def test_a_ready_recorded_after_the_listing_is_not_ended_by_it() -> None:
    from datetime import UTC, datetime

    listed_at = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)
    fresh = _ls(
        "fresh", {"available": True, "sourceId": "f", "lastEventTime": "2026-12-01T10:00:00.2Z"}
    )
    stale = _ls(
        "stale", {"available": True, "sourceId": "s", "lastEventTime": "2026-12-01T09:59:00Z"}
    )
    repairs = {(r.kind, r.event.path) for r in diff([], [fresh, stale], listed_at)}
    assert repairs == {(HookKind.NOT_READY, "live/stale/in")}
