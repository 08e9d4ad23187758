"""What a MediaMTX path event does to a LiveStream (pure functions).

The hook receiver, the resync loop and the tests share these rules, so a ready
event and a resync that finds the same path available write the same status.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from . import naming
from .models import (
    API_VERSION,
    KIND,
    ForwarderSpec,
    HookEvent,
    Lifecycle,
    LiveStreamSpec,
    WorkerSpec,
)
from .naming import PathRole, StreamPath
from .settings import Settings

Body = dict[str, Any]


class Result(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"  # a duplicate of what the status already says
    STALE = "stale"  # not-ready for a source that was already replaced
    IGNORED = "ignored"  # no LiveStream to apply it to


@dataclass(frozen=True)
class Decision:
    result: Result
    status_patch: Body | None = None
    reason: str = ""


class EventKind(StrEnum):
    READY = "ready"
    NOT_READY = "not-ready"


def new_livestream(stream_id: str, namespace: str, settings: Settings) -> Body:
    """The Ephemeral LiveStream the receiver creates for a stream seen first in a hook."""
    spec = LiveStreamSpec(
        stream_id=stream_id,
        lifecycle=Lifecycle.EPHEMERAL,
        grace_period_seconds=settings.default_grace_seconds,
        worker=WorkerSpec(mode=settings.default_worker_mode),
        forwarder=(
            ForwarderSpec(destinations=settings.default_destinations)
            if settings.default_destinations
            else None
        ),
    )
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": naming.resource_name(stream_id),
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "livestream-operator"},
            "annotations": {"media.livestream-operator.dev/created-by": "hook"},
        },
        "spec": spec.wire(),
    }


def decide(
    kind: EventKind, status: Body, where: StreamPath, event: HookEvent, now: str
) -> Decision:
    """The status change an event implies, given the LiveStream's current status."""
    if where.role is PathRole.INGEST:
        if kind is EventKind.READY:
            return _ingest_ready(status.get("ingest") or {}, where, event, now)
        return _ingest_not_ready(status.get("ingest") or {}, event, now)
    if kind is EventKind.READY:
        return _output_ready(status.get("output") or {}, where, event, now)
    return _output_not_ready(status.get("output") or {}, event)


def _ingest_ready(cur: Body, where: StreamPath, event: HookEvent, now: str) -> Decision:
    if cur.get("available") and cur.get("sourceId") == event.source_id:
        return Decision(Result.UNCHANGED, reason="already available from this source")
    same_source = cur.get("sourceId") == event.source_id and cur.get("availableSince")
    ingest = {
        "path": naming.ingest_path(where.stream_id),
        "available": True,
        "sourceType": event.source_type or None,
        "sourceId": event.source_id or None,
        "query": naming.redact_query(event.query) or None,
        "availableSince": cur["availableSince"] if same_source else now,
        "unavailableSince": None,  # merge patch: null removes it, ending any grace period
        "lastEventTime": now,
    }
    return Decision(Result.UPDATED, {"ingest": ingest})


def _ingest_not_ready(cur: Body, event: HookEvent, now: str) -> Decision:
    if cur.get("sourceId") != (event.source_id or None):
        # MediaMTX runs the old source's not-ready and the new source's ready in two
        # racing processes; the old one must never end the new publish.
        return Decision(Result.STALE, reason="source was already replaced")
    if not cur.get("available"):
        return Decision(Result.UNCHANGED, reason="already unavailable")
    return Decision(
        Result.UPDATED,
        {"ingest": {"available": False, "unavailableSince": now, "lastEventTime": now}},
    )


def _output_ready(cur: Body, where: StreamPath, event: HookEvent, now: str) -> Decision:
    if cur.get("available") and cur.get("sourceId") == (event.source_id or None):
        return Decision(Result.UNCHANGED, reason="already available from this source")
    output = {
        "path": naming.output_path(where.stream_id),
        "available": True,
        "sourceId": event.source_id or None,
        "availableSince": now,
    }
    return Decision(Result.UPDATED, {"output": output})


def _output_not_ready(cur: Body, event: HookEvent) -> Decision:
    if cur.get("sourceId") != (event.source_id or None):
        return Decision(Result.STALE, reason="output source was already replaced")
    if not cur.get("available"):
        return Decision(Result.UNCHANGED, reason="already unavailable")
    return Decision(Result.UPDATED, {"output": {"available": False}})
