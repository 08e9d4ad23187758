"""HTTP receiver for MediaMTX hook events (the aiohttp application).

POST /v1/mediamtx/events/ready and /not-ready with {path, query, sourceType,
sourceId}; what each event does to its LiveStream is decided in rules.py and
written by conditional_writer.py. The process (cmd/hook_receiver.py) runs as its
own Deployment (2+ replicas) so events keep being accepted while the operator
restarts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError

from .. import logs
from ..access.auth_endpoint import AuthService
from ..api import naming
from ..api.ownership import FieldManager
from ..api.stream_keys import same_key
from ..api.v1alpha1 import LiveStream, LiveStreamStatus
from ..http_edge import Handler, healthz, problem, request_context
from ..kube import KubeError
from ..settings import Settings
from . import metrics
from .conditional_writer import ConditionalWriter, LiveStreamAPI, NameCollision
from .early_signal import announcer
from .hook_event import BodyError, HookEvent, HookKind, load_json
from .recording_index import (
    SegmentError,
    SegmentEvent,
    count_segment,
    note_free_space,
    segment_start,
)
from .rules import Result

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
Body = TypeVar("Body", bound=BaseModel)


class ReceiverAPI(LiveStreamAPI, Protocol):
    async def healthy(self) -> bool: ...


WRITER: web.AppKey[ConditionalWriter] = web.AppKey("writer", ConditionalWriter)
AUTH: web.AppKey[AuthService] = web.AppKey("auth", AuthService)
HOOK_TOKEN: web.AppKey[str] = web.AppKey("hook_token", str)
LOW_FREE_BYTES: web.AppKey[int] = web.AppKey("low_free_bytes", int)
API: web.AppKey[ReceiverAPI] = web.AppKey("api", ReceiverAPI)


def _field_errors(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or "body", "reason": err["msg"]}
        for err in exc.errors()
    ]


def _body_problem(status: int, field: str, reason: str) -> web.Response:
    slug, title = {
        400: ("invalid-json", "Body is not JSON"),
        413: ("body-too-large", "Body too large"),
        415: ("unsupported-media-type", "Unsupported media type"),
    }.get(status, ("invalid-event", "Invalid hook event"))
    return problem(
        status, slug, title, f"{field}: {reason}", errors=[{"field": field, "reason": reason}]
    )


async def _read_event(request: web.Request) -> HookEvent | web.Response:
    return await _read_body(request, HookEvent, "{path, query, sourceType, sourceId}")


async def _read_body(request: web.Request, model: type[Body], shape: str) -> Body | web.Response:
    if request.content_type != "application/json":
        return _body_problem(
            415,
            "Content-Type",
            f"send the event as application/json, not {request.content_type[:100]}",
        )
    if (request.charset or "utf-8").lower() not in ("utf-8", "utf8"):
        return _body_problem(415, "Content-Type", "JSON is UTF-8; drop the charset parameter")
    too_large = f"the limit is {MAX_BODY} bytes"
    if request.content_length is not None and request.content_length > MAX_BODY:
        return _body_problem(413, "body", too_large)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:  # a chunked body that grew past the limit
        return _body_problem(413, "body", too_large)
    try:
        data = load_json(raw)
    except BodyError as exc:
        return _body_problem(exc.status, exc.field, exc.reason)
    if not isinstance(data, dict):
        return problem(
            422,
            "invalid-event",
            "Invalid hook event",
            f"the body must be a JSON object {shape}",
            errors=[{"field": "body", "reason": "not an object"}],
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = _field_errors(exc)
        return problem(
            422,
            "invalid-event",
            "Invalid hook event",
            f"{errors[0]['field']}: {errors[0]['reason']}",
            errors=errors,
        )


def _event_handler(kind: HookKind) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        if not _hook_token_ok(request):
            return _unauthenticated(kind.value)
        parsed = await _read_event(request)
        if isinstance(parsed, web.Response):
            metrics.HOOK_EVENTS.labels(kind.value, "", "invalid").inc()
            log.warning("rejected hook event", extra={"event": kind.value, "status": parsed.status})
            return parsed
        event = parsed
        try:
            where = naming.parse_path(event.path)
        except naming.PathError as exc:
            metrics.HOOK_EVENTS.labels(kind.value, "", "invalid").inc()
            log.warning(
                "rejected hook event",
                extra={"event": kind.value, "path": event.path, "reason": str(exc)},
            )
            return problem(
                422,
                "invalid-path",
                "Path is not a stream path",
                str(exc),
                errors=[{"field": "path", "reason": str(exc)}],
            )
        service = request.app.get(AUTH)
        if service is not None and kind is HookKind.NOT_READY:
            service.publishing.ended(where.stream_id, event.source_id or None)
        token = logs.bind(
            path=event.path, streamId=where.stream_id, sourceId=event.source_id, event=kind.value
        )
        try:
            applied = await request.app[WRITER].apply(kind, where, event)
        except NameCollision as exc:
            metrics.HOOK_EVENTS.labels(kind.value, where.role.value, "conflict").inc()
            log.error("name collision", extra={"reason": str(exc)})
            return problem(409, "name-collision", "Stream id collides", str(exc))
        except (KubeError, OSError, TimeoutError) as exc:
            metrics.HOOK_EVENTS.labels(kind.value, where.role.value, "error").inc()
            log.error("could not apply hook event", extra={"reason": str(exc)})
            return problem(
                503,
                "api-unavailable",
                "Kubernetes API unavailable",
                "the event could not be recorded; MediaMTX's wrapper retries",
            )
        finally:
            logs.reset(token)
        result = applied.decision.result
        metrics.HOOK_EVENTS.labels(kind.value, where.role.value, result.value).inc()
        metrics.HOOK_LATENCY.labels(kind.value).observe(time.perf_counter() - started)
        log.info(
            "hook event",
            extra={
                "event": kind.value,
                "path": event.path,
                "streamId": where.stream_id,
                "sourceId": event.source_id,
                "result": result.value,
                "livestream": applied.name,
                "reason": applied.decision.reason or "",
            },
        )
        return web.json_response(
            {
                "result": result.value,
                "name": applied.name,
                "streamId": where.stream_id,
                "reason": applied.decision.reason or None,
            },
            status=201 if result is Result.CREATED else 200,
        )

    return handle


def _unauthenticated(event: str) -> web.Response:
    metrics.HOOK_UNAUTHENTICATED.inc()
    log.warning("hook call without a valid token", extra={"event": event})
    return problem(
        401,
        "unauthenticated",
        "Unauthenticated",
        "hook calls need the hook token: Authorization: Bearer <token>",
    )


def _invalid(status: int, slug: str, title: str, field: str, reason: str) -> web.Response:
    return problem(
        status, slug, title, f"{field}: {reason}", errors=[{"field": field, "reason": reason}]
    )


def _segment_handler(event_name: str) -> Handler:
    """runOnRecordSegmentCreate and runOnRecordSegmentComplete: a complete segment
    is counted into status.recording; a new one reports the free space."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if not _hook_token_ok(request):
            return _unauthenticated(event_name)
        parsed = await _read_body(
            request, SegmentEvent, "{path, segmentPath, segmentDuration, bytes, freeBytes}"
        )
        if isinstance(parsed, web.Response):
            metrics.RECORDING_SEGMENTS.labels("", "invalid").inc()
            return parsed
        event = parsed
        try:
            where = naming.parse_path(event.path)
        except naming.PathError as exc:
            metrics.RECORDING_SEGMENTS.labels("", "invalid").inc()
            return _invalid(422, "invalid-path", "Path is not a stream path", "path", str(exc))
        try:
            start = segment_start(event)
        except SegmentError as exc:
            metrics.RECORDING_SEGMENTS.labels(where.role.value, "invalid").inc()
            return _invalid(
                422, "invalid-segment", "Not a recording segment", "segmentPath", str(exc)
            )
        low = request.app[LOW_FREE_BYTES]
        decide: Callable[[LiveStream], LiveStreamStatus | None] = (
            (lambda ls: count_segment(ls, where, start, event))
            if event_name == "segment-complete"
            else (lambda ls: note_free_space(ls, event, low))
        )
        try:
            written = await request.app[WRITER].update(
                where.stream_id, decide, FieldManager.RECORDING_INDEX
            )
        except (KubeError, OSError, TimeoutError) as exc:
            metrics.RECORDING_SEGMENTS.labels(where.role.value, "error").inc()
            log.error("could not record a segment", extra={"reason": str(exc), "path": event.path})
            return problem(
                503,
                "api-unavailable",
                "Kubernetes API unavailable",
                "the segment could not be recorded; MediaMTX's wrapper retries",
            )
        result = {None: "ignored", False: "unchanged", True: "updated"}[written]
        if event_name == "segment-complete":
            metrics.RECORDING_SEGMENTS.labels(where.role.value, result).inc()
        log.info(
            "recording segment",
            extra={
                "event": event_name,
                "path": event.path,
                "streamId": where.stream_id,
                "result": result,
                "bytes": event.bytes,
                "duration": event.segment_duration,
                "freeBytes": event.free_bytes,
            },
        )
        return web.json_response({"result": result, "streamId": where.stream_id})

    return handle


def _hook_token_ok(request: web.Request) -> bool:
    expected = request.app[HOOK_TOKEN]
    given = request.headers.get("Authorization", "")
    # No token configured refuses every call: fail closed.
    return bool(expected) and same_key(given, f"Bearer {expected}")


async def _auth(request: web.Request) -> web.Response:
    service = request.app.get(AUTH)
    if service is None:
        return problem(503, "auth-not-ready", "Not ready", "no stream key view; refused")
    return await service.handle(request)


async def readyz(request: web.Request) -> web.Response:
    service = request.app.get(AUTH)
    if service is not None and not service.ready:
        return problem(503, "auth-not-ready", "Not ready", "stream keys are still loading")
    if await request.app[API].healthy():
        return web.json_response({"status": "ready"})
    return problem(503, "api-unreachable", "Not ready", "the Kubernetes API is not reachable")


async def metrics_endpoint(_: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def make_app(
    api: ReceiverAPI, settings: Settings, auth: AuthService | None = None
) -> web.Application:
    """The receiver. Without `auth` (no key and stream views), auth calls are refused.

    Users' endpoints (userapi/) are served on a listener of their own, or added to
    this app by the process when it has only one port.
    """
    app = web.Application(middlewares=[request_context], client_max_size=MAX_BODY)
    app[API] = api
    app[WRITER] = ConditionalWriter(api, settings.namespace, settings)
    app[HOOK_TOKEN] = settings.hook_token.get_secret_value()
    app[LOW_FREE_BYTES] = settings.recording_min_free_bytes
    if auth is not None:
        app[AUTH] = auth
        if settings.early_signal:
            auth.announce = announcer(app[WRITER])
    app.router.add_post("/v1/mediamtx/events/ready", _event_handler(HookKind.READY))
    app.router.add_post("/v1/mediamtx/events/not-ready", _event_handler(HookKind.NOT_READY))
    for segment_event in ("segment-create", "segment-complete"):
        app.router.add_post(f"/v1/mediamtx/events/{segment_event}", _segment_handler(segment_event))
    app.router.add_post("/v1/mediamtx/auth", _auth)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_endpoint)
    return app
