"""HTTP receiver for MediaMTX hook events (the aiohttp application).

POST /v1/mediamtx/events/ready and /not-ready with {path, query, sourceType,
sourceId}; what each event does to its LiveStream is decided in rules.py and
written by conditional_writer.py. The process (cmd/hook_receiver.py) runs as its
own Deployment (2+ replicas) so events keep being accepted while the operator
restarts.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from .. import logs
from ..api import naming
from ..kube import KubeError
from ..settings import Settings
from . import metrics
from .conditional_writer import ConditionalWriter, LiveStreamAPI, NameCollision
from .hook_event import HookEvent, HookKind
from .problems import problem
from .rules import Result

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ReceiverAPI(LiveStreamAPI, Protocol):
    async def healthy(self) -> bool: ...


WRITER: web.AppKey[ConditionalWriter] = web.AppKey("writer", ConditionalWriter)
API: web.AppKey[ReceiverAPI] = web.AppKey("api", ReceiverAPI)


def _field_errors(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or "body", "reason": err["msg"]}
        for err in exc.errors()
    ]


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind a request id (from X-Request-Id or new) to every log line of the request."""
    request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
    token = logs.bind(requestId=request_id[:64])
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        # aiohttp's own 404/405/413 become problem+json too.
        response = problem(exc.status, "http-error", exc.reason, exc.text or exc.reason)
    except Exception:
        log.exception("unexpected error handling a request")
        response = problem(
            500,
            "internal-error",
            "Internal error",
            "the event was not recorded; see the receiver's logs",
        )
    finally:
        logs.reset(token)
    response.headers["X-Request-Id"] = request_id[:64]
    return response


async def _read_event(request: web.Request) -> HookEvent | web.Response:
    if request.content_type != "application/json":
        return problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            "send the event as application/json",
        )
    raw = await request.read()
    try:
        data = json.loads(raw)
    except ValueError as exc:
        return problem(400, "invalid-json", "Body is not JSON", f"cannot parse body: {exc}")
    if not isinstance(data, dict):
        return problem(
            422,
            "invalid-event",
            "Invalid hook event",
            "the body must be a JSON object {path, query, sourceType, sourceId}",
            errors=[{"field": "body", "reason": "not an object"}],
        )
    try:
        return HookEvent.model_validate(data)
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


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    if await request.app[API].healthy():
        return web.json_response({"status": "ready"})
    return problem(503, "api-unreachable", "Not ready", "the Kubernetes API is not reachable")


async def metrics_endpoint(_: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def make_app(api: ReceiverAPI, settings: Settings) -> web.Application:
    app = web.Application(middlewares=[request_context], client_max_size=MAX_BODY)
    app[API] = api
    app[WRITER] = ConditionalWriter(api, settings.namespace, settings)
    app.router.add_post("/v1/mediamtx/events/ready", _event_handler(HookKind.READY))
    app.router.add_post("/v1/mediamtx/events/not-ready", _event_handler(HookKind.NOT_READY))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_endpoint)
    return app
