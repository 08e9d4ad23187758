"""The early signal: an allowed publish announces its stream from the auth call.

MediaMTX calls authHTTPAddress when a publisher's publish command arrives, about
2 s before an RTMP path becomes available (it analyses 2 s of the stream first).
Recording the publish then, as status.ingest.connectingSince, lets the operator
start the worker while MediaMTX is still analysing; the ready hook confirms it
with the same source id. The auth answer never waits for this write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from pydantic import ValidationError

from ..access.policy import AuthRequest
from ..api import naming
from ..api.naming import PathRole
from ..kube import KubeError
from . import metrics
from .conditional_writer import ConditionalWriter, NameCollision
from .hook_event import HookEvent, HookKind

log = logging.getLogger(__name__)

# The auth call names the protocol; hooks name the source type MediaMTX gives
# the same connection, which the Control API's kick needs.
SOURCE_TYPES = {
    "rtmp": "rtmpConn",
    "rtsp": "rtspSession",
    "srt": "srtConn",
    "webrtc": "webRTCSession",
}

Announcer = Callable[[AuthRequest], Coroutine[Any, Any, None]]


def connecting_event(req: AuthRequest) -> HookEvent | None:
    """The event an allowed publish on live/<id>/in stands for; None for any other."""
    try:
        where = naming.parse_path(req.path)
    except naming.PathError:
        return None
    if where.role is not PathRole.INGEST:
        return None
    try:
        return HookEvent(
            path=req.path,
            query=req.query,
            source_type=SOURCE_TYPES.get(req.protocol, ""),
            source_id=req.id or "",
            instance=req.instance,
        )
    except ValidationError:
        return None  # out of the hook contract's bounds: the ready hook will tell


def announcer(writer: ConditionalWriter) -> Announcer:
    async def announce(req: AuthRequest) -> None:
        event = connecting_event(req)
        if event is None:
            return
        where = naming.parse_path(event.path)
        kind = HookKind.CONNECTING
        started = time.perf_counter()
        try:
            applied = await writer.apply(kind, where, event)
        except (NameCollision, KubeError, OSError, TimeoutError) as exc:
            # Best effort: the ready hook and the resync still start the stream.
            metrics.HOOK_EVENTS.labels(kind.value, where.role.value, "error").inc()
            log.warning(
                "could not record the early signal",
                extra={"streamId": where.stream_id, "reason": str(exc)},
            )
            return
        result = applied.decision.result
        metrics.HOOK_EVENTS.labels(kind.value, where.role.value, result.value).inc()
        metrics.HOOK_LATENCY.labels(kind.value).observe(time.perf_counter() - started)
        log.info(
            "publish announced",
            extra={
                "streamId": where.stream_id,
                "sourceId": event.source_id,
                "result": result.value,
                "livestream": applied.name,
                "reason": applied.decision.reason or "",
            },
        )

    return announce
