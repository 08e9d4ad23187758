"""What a MediaMTX hook event does to a LiveStream's status (pure functions).

The hook receiver, the resync loop and the tests share these rules, so a ready
event and a resync that finds the same path available write the same status.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..api import naming
from ..api.naming import PathRole, StreamPath
from ..api.v1alpha1 import (
    ForwarderSpec,
    IngestStatus,
    InputLossSpec,
    Lifecycle,
    LiveStream,
    LiveStreamSpec,
    LiveStreamStatus,
    ObjectMeta,
    OutputStatus,
    WorkerMode,
    WorkerSpec,
)
from ..settings import Settings
from .hook_event import HookEvent, HookKind

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
CREATED_BY_ANNOTATION = "media.livestream-operator.dev/created-by"


class Result(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"  # a duplicate of what the status already says
    STALE = "stale"  # not-ready for a source that was already replaced
    IGNORED = "ignored"  # no LiveStream to apply it to


@dataclass(frozen=True)
class Decision:
    result: Result
    # The fields that change (None clears one), applied onto the status read: ownership.changed().
    change: LiveStreamStatus | None = None
    reason: str = ""


def new_livestream(stream_id: str, namespace: str, settings: Settings) -> LiveStream:
    """The Ephemeral LiveStream the receiver creates for a stream seen first in a hook."""
    mode = settings.default_worker_mode
    spec = LiveStreamSpec(
        stream_id=stream_id,
        lifecycle=Lifecycle.EPHEMERAL,
        grace_period_seconds=settings.default_grace_seconds,
        worker=WorkerSpec(
            mode=mode,
            output=settings.default_worker_output,
            # Settings require it in process mode; other modes do not take one.
            processing=settings.default_processing if mode is WorkerMode.PROCESS else None,
        ),
        input_loss=InputLossSpec(
            fill=settings.default_input_loss_fill,
            slate=settings.default_input_loss_slate or None,
        ),
        forwarder=(
            ForwarderSpec(destinations=settings.default_destinations)
            if settings.default_destinations
            else None
        ),
    )
    return LiveStream(
        metadata=ObjectMeta(
            name=naming.resource_name(stream_id),
            namespace=namespace,
            labels={MANAGED_BY_LABEL: "livestream-operator"},
            annotations={CREATED_BY_ANNOTATION: "hook"},
        ),
        spec=spec,
    )


def decide(
    kind: HookKind, status: LiveStreamStatus, where: StreamPath, event: HookEvent, now: str
) -> Decision:
    """The status change an event implies, given the LiveStream's current status."""
    if where.role is PathRole.INGEST:
        ingest = status.ingest or IngestStatus()
        if kind is HookKind.CONNECTING:
            return _ingest_connecting(ingest, where, event, now)
        if kind is HookKind.READY:
            return _ingest_ready(ingest, where, event, now)
        return _ingest_not_ready(ingest, event, now)
    if where.role is PathRole.BACKUP:
        return _backup(kind, status.backup or IngestStatus(), where, event, now)
    output = status.output or OutputStatus()
    if kind is HookKind.CONNECTING:
        return Decision(Result.IGNORED, reason="only an ingest publish is announced early")
    if kind is HookKind.READY:
        return _output_ready(output, where, event, now)
    return _output_not_ready(output, event)


def _backup(
    kind: HookKind, cur: IngestStatus, where: StreamPath, event: HookEvent, now: str
) -> Decision:
    """live/<id>/backup follows the rules of live/<id>/in, into status.backup."""
    if kind is HookKind.CONNECTING:
        return Decision(Result.IGNORED, reason="only a primary publish is announced early")
    if kind is HookKind.READY:
        decided = _ingest_ready(cur, where, event, now)
    else:
        decided = _ingest_not_ready(cur, event, now)
    if decided.change is None:
        return decided
    return Decision(decided.result, LiveStreamStatus(backup=decided.change.ingest), decided.reason)


def _ingest_connecting(
    cur: IngestStatus, where: StreamPath, event: HookEvent, now: str
) -> Decision:
    """An admitted publish, about 2 s before MediaMTX makes an RTMP path available.

    The ready hook (or the resync) confirms it with the same source id; the auth
    call, the hook and the resync may arrive in any order, so this never undoes
    what a later event already recorded.
    """
    source_id = event.source_id or None
    if cur.available:
        if cur.source_id == source_id:
            return Decision(Result.UNCHANGED, reason="already available from this source")
        # A takeover: the current publisher stays until MediaMTX replaces it.
        return Decision(Result.UNCHANGED, reason="another source is available")
    if source_id is not None and cur.source_id == source_id:
        if cur.connecting_since:
            return Decision(Result.UNCHANGED, reason="already connecting from this source")
        if cur.unavailable_since:
            return Decision(Result.STALE, reason="this source has already come and gone")
    ingest = IngestStatus(
        path=naming.ingest_path(where.stream_id),
        available=False,
        source_type=event.source_type or None,
        source_id=source_id,
        query=naming.redact_query(event.query) or None,
        connecting_since=now,
        available_since=None,  # a new source: the ready hook sets it
        last_event_time=now,
        instance=event.instance or None,
    )
    return Decision(Result.UPDATED, LiveStreamStatus(ingest=ingest))


def _ingest_ready(cur: IngestStatus, where: StreamPath, event: HookEvent, now: str) -> Decision:
    source_id = event.source_id or None
    if cur.available and cur.source_id == source_id:
        return Decision(Result.UNCHANGED, reason="already available from this source")
    same_source = cur.source_id == source_id and cur.available_since
    ingest = IngestStatus(
        path=naming.stream_path(where.stream_id, where.role),
        available=True,
        source_type=event.source_type or None,
        source_id=source_id,
        query=naming.redact_query(event.query) or None,
        available_since=cur.available_since if same_source else now,
        connecting_since=None,
        unavailable_since=None,  # cleared: ends any grace period
        last_event_time=now,
        instance=_instance(cur.instance, cur.source_id, event),
    )
    return Decision(Result.UPDATED, LiveStreamStatus(ingest=ingest))


def _instance(current: str | None, current_source: str | None, event: HookEvent) -> str | None:
    """The instance an event's source is on: the event's word, else (a resync, an
    older wrapper) what an earlier event of the same source said."""
    if event.instance:
        return event.instance
    return current if current_source == (event.source_id or None) else None


def _ingest_not_ready(cur: IngestStatus, event: HookEvent, now: str) -> Decision:
    if cur.source_id != (event.source_id or None):
        # MediaMTX runs the old source's not-ready and the new source's ready in two
        # racing processes; the old one must never end the new publish.
        return Decision(Result.STALE, reason="source was already replaced")
    if not cur.available:
        return Decision(Result.UNCHANGED, reason="already unavailable")
    ingest = IngestStatus(
        available=False, connecting_since=None, unavailable_since=now, last_event_time=now
    )
    return Decision(Result.UPDATED, LiveStreamStatus(ingest=ingest))


def _output_ready(cur: OutputStatus, where: StreamPath, event: HookEvent, now: str) -> Decision:
    source_id = event.source_id or None
    if cur.available and cur.source_id == source_id:
        return Decision(Result.UNCHANGED, reason="already available from this source")
    output = OutputStatus(
        path=naming.output_path(where.stream_id),
        available=True,
        source_id=source_id,
        available_since=now,
        instance=_instance(cur.instance, cur.source_id, event),
    )
    return Decision(Result.UPDATED, LiveStreamStatus(output=output))


def _output_not_ready(cur: OutputStatus, event: HookEvent) -> Decision:
    if cur.source_id != (event.source_id or None):
        return Decision(Result.STALE, reason="output source was already replaced")
    if not cur.available:
        return Decision(Result.UNCHANGED, reason="already unavailable")
    return Decision(Result.UPDATED, LiveStreamStatus(output=OutputStatus(available=False)))
