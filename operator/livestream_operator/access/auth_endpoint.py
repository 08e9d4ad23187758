"""POST /v1/mediamtx/auth: MediaMTX's authHTTPAddress (the aiohttp shell around
policy.decide), and what follows a decision: Events on the LiveStream, the kick of a
publisher whose key was revoked, or that a takeover on another MediaMTX instance
replaces (MediaMTX replaces a publisher itself only on its own instance). A kick
goes to the instance the publisher is on.

2xx allows, anything else refuses; MediaMTX logs the refusal with our status. The
handler never awaits the API server: Events and kicks run in the background.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Protocol

from aiohttp import web
from pydantic import ValidationError

from ..api import naming
from ..api.v1alpha1 import DNS_LABEL_PATTERN
from ..http_edge import problem
from ..kube_events import EventType, KubeEvent, event_manifest
from . import metrics, policy
from .cluster_view import KeyRing, Publisher, Publishing, snapshot
from .policy import Action, AttemptGuard, AuthRequest, Decision, Policy, Reason

log = logging.getLogger(__name__)
MAX_BODY = 16 * 1024
# The same refusal for the same stream becomes at most one Event per window.
EVENT_WINDOW = 30.0
_EVENT_REASONS = {
    Reason.INVALID_KEY: "InvalidStreamKey",
    Reason.KEY_REVOKED: "StreamKeyRevoked",
    Reason.KEY_IN_USE: "StreamKeyInUse",
    Reason.STREAM_LIMIT: "StreamLimitReached",
    Reason.IP_LIMIT: "PublisherIPLimitReached",
    Reason.TOO_MANY_ATTEMPTS: "TooManyKeyAttempts",
}


class EventSink(Protocol):
    async def create_event(self, namespace: str, body: dict[str, object]) -> None: ...


class Kicker(Protocol):
    """mediamtx/instances.Clients: `instance` "" or unknown is the default one."""

    async def kick(self, instance: str, source_type: str, source_id: str) -> bool: ...


class AuthService:
    def __init__(
        self,
        policy: Policy,
        keys: KeyRing,
        publishing: Publishing,
        namespace: str,
        events: EventSink | None = None,
        kicker: Kicker | None = None,
        guard: AttemptGuard | None = None,
    ) -> None:
        self.policy, self.keys, self.publishing = policy, keys, publishing
        self.namespace, self.events, self.kicker = namespace, events, kicker
        self.guard = guard or AttemptGuard()
        self._posted: dict[tuple[str, str], float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Told of every allowed publish, in the background (early_signal.py).
        self.announce: Callable[[AuthRequest], Coroutine[Any, Any, None]] | None = None
        keys.on_revoke = self.revoked

    @property
    def ready(self) -> bool:
        return self.keys.synced.is_set() and self.publishing.synced.is_set()

    async def handle(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        if not self.ready:
            metrics.AUTH_UNAVAILABLE.inc()
            return problem(
                503, "auth-not-ready", "Not ready", "stream keys are still loading; refused"
            )
        raw = await request.read()
        try:
            instance = instance_of(request.query.getall("instance", []))
            req = AuthRequest.model_validate(json.loads(raw)).model_copy(
                update={"instance": instance}
            )
        except (ValueError, RecursionError, ValidationError) as exc:
            detail = _first_error(exc)
            return problem(400, "invalid-auth-request", "Invalid auth request", detail)
        decision = self.decide(req)
        metrics.AUTH_LATENCY.observe(time.perf_counter() - started)
        metrics.AUTH_DECISIONS.labels(
            req.action, "allowed" if decision.allowed else "refused", decision.reason.value
        ).inc()
        if decision.allowed:
            if req.action == Action.PUBLISH:
                log.info("publish allowed", extra=_fields(req, decision))
                if self.announce is not None:
                    self._spawn(self.announce(req))
                self._takeover(req, decision)
            return web.json_response({"allowed": True, "reason": decision.reason.value})
        # An RTSP client's first, credential-less request is routine, not news.
        level = logging.DEBUG if decision.reason is Reason.CREDENTIALS_REQUIRED else logging.WARNING
        log.log(level, "refused", extra=_fields(req, decision))
        self._event_for(decision)
        return problem(401, decision.reason.value, "Refused", decision.detail)

    def decide(self, req: AuthRequest) -> Decision:
        """policy.decide, with the attempt guard and the admission bookkeeping."""
        publish = req.action == Action.PUBLISH
        locked = self.guard.locked(req.ip) if publish and req.ip else 0.0
        if locked:
            where = _stream_id(req.path)
            return Decision(
                False,
                Reason.TOO_MANY_ATTEMPTS,
                f"too many wrong stream keys from {req.ip}; try again in {locked:.0f} s",
                where,
                req.action,
            )
        decision = policy.decide(req, self.policy, snapshot(self.keys, self.publishing))
        if publish and req.ip:
            if decision.reason in (Reason.INVALID_KEY, Reason.KEY_REVOKED):
                self.guard.failed(req.ip)
            elif decision.allowed and decision.reason is Reason.STREAM_KEY:
                self.guard.succeeded(req.ip)
        if publish and decision.allowed and decision.stream_id and req.path.endswith("/in"):
            self.publishing.admitted(decision.stream_id, req.id, req.ip, req.instance)
        return decision

    # ---------------------------------------------------------- in the background

    async def revoked(self, stream_id: str) -> None:
        """A key Secret was deleted or rotated: the publisher using it goes."""
        if self.kicker is None:
            return
        for publisher in self.publishing.publishers(stream_id):
            self._spawn(self._revoke(stream_id, publisher))

    async def _revoke(self, stream_id: str, publisher: Publisher) -> None:
        if await self._kick(stream_id, publisher):
            log.info("disconnected the publisher of a revoked key", extra={"streamId": stream_id})
            await self._post(
                stream_id,
                KubeEvent(
                    EventType.WARNING,
                    "StreamKeyRevoked",
                    "the stream key was revoked; the publisher was disconnected",
                ),
            )

    def _takeover(self, req: AuthRequest, decision: Decision) -> None:
        """A takeover on another instance than the current publisher's: that one
        goes, or both would publish the stream, each on its own instance."""
        old = decision.replaces
        if self.kicker is None or old is None or decision.stream_id is None:
            return
        if not old.confirmed or not (old.instance and req.instance):
            return  # not live yet, or an instance that does not say: cannot tell
        if old.instance == req.instance:
            return  # MediaMTX replaces it itself
        for publisher in self.publishing.publishers(decision.stream_id):
            if publisher.source_id == old.source_id and publisher.instance == old.instance:
                self._spawn(self._replaced(decision.stream_id, publisher))

    async def _replaced(self, stream_id: str, publisher: Publisher) -> None:
        if await self._kick(stream_id, publisher):
            log.info(
                "disconnected the publisher a takeover replaced",
                extra={"streamId": stream_id, "instance": publisher.instance},
            )

    async def _kick(self, stream_id: str, publisher: Publisher) -> bool:
        try:
            return await self.kicker.kick(*publisher) if self.kicker else False
        except Exception as exc:
            log.warning(
                "could not disconnect",
                extra={"streamId": stream_id, "instance": publisher.instance, "reason": str(exc)},
            )
            return False

    def _event_for(self, decision: Decision) -> None:
        reason = _EVENT_REASONS.get(decision.reason)
        if reason is None or decision.stream_id is None or self.events is None:
            return
        if self.publishing.object_of(decision.stream_id) is None:
            return
        key = (decision.stream_id, reason)
        now = time.monotonic()
        if now - self._posted.get(key, -EVENT_WINDOW) < EVENT_WINDOW:
            return
        self._posted[key] = now
        if len(self._posted) > 10_000:
            self._posted = {k: t for k, t in self._posted.items() if now - t < EVENT_WINDOW}
        event = KubeEvent(EventType.WARNING, reason, f"publish refused: {decision.detail}")
        self._spawn(self._post(decision.stream_id, event))

    async def _post(self, stream_id: str, event: KubeEvent) -> None:
        # Events go on the stream's LiveStream; a refused stream that has none
        # (a guess at an id, say) is in the log and the metrics only.
        target = self.publishing.object_of(stream_id)
        if self.events is None or target is None:
            return
        manifest = event_manifest(target, event, datetime.now(UTC))
        try:
            await self.events.create_event(self.namespace, manifest)
        except Exception as exc:  # an Event is best effort; the decision stands
            log.warning("could not post event", extra={"reason": str(exc)})

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _stream_id(path: str) -> str | None:
    try:
        return naming.parse_path(path).stream_id
    except naming.PathError:
        return None


def _fields(req: AuthRequest, decision: Decision) -> dict[str, str]:
    # Never the password, token or query: they carry keys.
    return {
        "action": req.action,
        "path": req.path[:256],
        "protocol": req.protocol,
        "ip": req.ip,
        "user": req.user[:64],
        "sourceId": req.id or "",
        "reason": decision.reason.value,
        "detail": decision.detail,
    }


class InstanceError(ValueError):
    """The auth URL's ?instance= is not one MediaMTX instance's name."""


_INSTANCE = re.compile(DNS_LABEL_PATTERN)  # a Pod's name


def instance_of(values: list[str]) -> str:
    """The instance an auth call comes from: its URL's ?instance= (the chart puts the
    MediaMTX Pod's name there), empty when it has none."""
    if len(values) > 1:
        raise InstanceError("instance: given more than once")
    if values and not _INSTANCE.fullmatch(values[0]):
        raise InstanceError("instance: must be a MediaMTX Pod's name (a DNS label)")
    return values[0] if values else ""


def _first_error(exc: Exception) -> str:
    if isinstance(exc, InstanceError):
        return str(exc)
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "body"
        return f"{field}: {err['msg']}"
    if isinstance(exc, RecursionError):
        return "body: nested too deeply"
    return f"body: not a JSON object ({exc})"
