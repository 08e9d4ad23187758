"""What the auth endpoint knows, in memory, kept current by watches: the key
Secrets (KeyRing) and which streams are publishing (Publishing).

MediaMTX waits for the auth answer inside its path manager, so the answer never
waits for the API server: it reads these views. Until both have listed once the
receiver is not ready (and MediaMTX's call fails, which refuses: fail closed).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from pydantic import ValidationError

from ..api import stream_keys
from ..api.stream_keys import KeySecretError, StreamKey
from ..api.v1alpha1 import LiveStream
from ..kube import Kube, KubeError, core_path, livestreams_path
from . import metrics
from .policy import LiveState, Snapshot, fingerprint

log = logging.getLogger(__name__)
Body = dict[str, Any]
# An admitted publisher shows up in status.ingest about 2 s later (MediaMTX's
# analysis of an RTMP publish); until then the admission itself counts.
PENDING_SECONDS = 15.0
REVOKED_SECONDS = 24 * 3600.0
Revoked = Callable[[str], Awaitable[None]]


class KeyRing:
    """Stream keys by stream id, from the labelled key Secrets."""

    def __init__(self, on_revoke: Revoked | None = None) -> None:
        self.by_stream: dict[str, StreamKey] = {}
        self._by_secret: dict[str, StreamKey] = {}
        # Fingerprints of keys that were deleted or rotated away, so a refusal can
        # say "revoked" rather than "invalid".
        self.revoked: dict[str, str] = {}
        self._revoked_at: dict[str, float] = {}
        self.on_revoke = on_revoke
        self.synced = asyncio.Event()

    def apply(self, kind: str, secret: Body) -> list[str]:
        """Apply one watch event; returns the stream ids whose key went away."""
        if kind == "LISTED":
            fresh: dict[str, StreamKey] = {}
            for item in secret.get("items") or []:
                key = self._parse(item)
                if key is not None:
                    fresh[key.secret] = key
            gone = [k for name, k in self._by_secret.items() if fresh.get(name) != k]
            self._by_secret = fresh
        else:
            name = str((secret.get("metadata") or {}).get("name", ""))
            old = self._by_secret.get(name)
            new = None if kind == "DELETED" else self._parse(secret)
            if new is None:
                self._by_secret.pop(name, None)
            else:
                self._by_secret[name] = new
            gone = [old] if old is not None and old != new else []
        self.by_stream = {k.stream_id: k for k in self._by_secret.values()}
        revoked = []
        for key in gone:
            self._revoke(key)
            current = self.by_stream.get(key.stream_id)
            if current is None or current.key != key.key:
                revoked.append(key.stream_id)
        metrics.STREAM_KEYS.set(len(self.by_stream))
        return revoked

    def _revoke(self, key: StreamKey) -> None:
        now = time.monotonic()
        mark = fingerprint(key.key)
        self.revoked[mark] = key.stream_id
        self._revoked_at[mark] = now
        for old in [m for m, t in self._revoked_at.items() if now - t > REVOKED_SECONDS]:
            self.revoked.pop(old, None)
            self._revoked_at.pop(old, None)

    @staticmethod
    def _parse(secret: Body) -> StreamKey | None:
        name = str((secret.get("metadata") or {}).get("name", ""))
        try:
            return stream_keys.from_secret(name, dict(secret.get("data") or {}))
        except KeySecretError as exc:
            log.warning("ignoring key Secret", extra={"secret": name, "reason": str(exc)})
            return None


class Publisher(NamedTuple):
    """A live publisher, as the Control API's kick names it."""

    instance: str  # "" when its hooks did not say
    source_type: str
    source_id: str


class Publishing:
    """Streams with a publisher: what status.ingest says, plus admissions this
    receiver made that the status does not show yet."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.from_status: dict[str, LiveState] = {}
        self.backup_from_status: dict[str, LiveState] = {}
        self.allow_takeover: dict[str, bool] = {}
        self._pending: dict[str, tuple[LiveState, float]] = {}
        self._clock = clock
        self.synced = asyncio.Event()
        self._objects: dict[str, LiveStream] = {}
        self._by_stream: dict[str, LiveStream] = {}

    def apply(self, kind: str, body: Body) -> None:
        """One watch event; O(1), as every status write of every stream is one."""
        if kind == "LISTED":
            for name in list(self._objects):
                self._forget(name)
            for item in body.get("items") or []:
                ls = self._parse(item)
                if ls is not None:
                    self._remember(ls)
            return
        name = str((body.get("metadata") or {}).get("name", ""))
        self._forget(name)
        ls = None if kind == "DELETED" else self._parse(body)
        if ls is not None:
            self._remember(ls)

    def _forget(self, name: str) -> None:
        old = self._objects.pop(name, None)
        if old is None:
            return
        sid = old.spec.stream_id
        views = (
            self.from_status,
            self.backup_from_status,
            self.allow_takeover,
            self._by_stream,
        )
        for view in views:
            view.pop(sid, None)

    def _remember(self, ls: LiveStream) -> None:
        sid = ls.spec.stream_id
        self._objects[ls.metadata.name] = ls
        self._by_stream[sid] = ls
        self.allow_takeover[sid] = ls.spec.ingest.allow_takeover
        ingest = ls.status.ingest
        if ingest is not None and ingest.available:
            pending = self._pending.get(sid)
            same = pending is not None and pending[0].source_id == ingest.source_id
            ip = pending[0].ip if pending is not None and same else ""
            self.from_status[sid] = LiveState(
                ingest.source_id, ip, confirmed=True, instance=ingest.instance or ""
            )
        backup = ls.status.backup
        if backup is not None and backup.available:
            self.backup_from_status[sid] = LiveState(
                backup.source_id, "", confirmed=True, instance=backup.instance or ""
            )

    @staticmethod
    def _parse(body: Body) -> LiveStream | None:
        try:
            return LiveStream.model_validate(body)
        except ValidationError:
            return None

    def object_of(self, stream_id: str) -> LiveStream | None:
        return self._by_stream.get(stream_id)

    def publishers(self, stream_id: str) -> list[Publisher]:
        """Each live publisher of the stream (its primary and its backup), with
        the instance it is on."""
        ls = self._by_stream.get(stream_id)
        points = (ls.status.ingest, ls.status.backup) if ls else ()
        return [
            Publisher(p.instance or "", p.source_type or "", p.source_id)
            for p in points
            if p is not None and p.available and p.source_id
        ]

    def admitted(self, stream_id: str, source_id: str | None, ip: str, instance: str = "") -> None:
        # Re-inserted at the end: the dict stays ordered by admission time.
        self._pending.pop(stream_id, None)
        admission = LiveState(source_id, ip, confirmed=False, instance=instance)
        self._pending[stream_id] = (admission, self._clock())

    def ended(self, stream_id: str, source_id: str | None) -> None:
        pending = self._pending.get(stream_id)
        if pending is not None and pending[0].source_id == source_id:
            del self._pending[stream_id]

    def live(self) -> dict[str, LiveState]:
        expired = self._clock() - PENDING_SECONDS
        while self._pending:
            oldest = next(iter(self._pending))
            if self._pending[oldest][1] > expired:
                break
            del self._pending[oldest]
        if not self._pending:
            return self.from_status
        merged = {sid: p[0] for sid, p in self._pending.items()}
        merged.update(self.from_status)  # the status is the truth once it shows
        return merged


def snapshot(keys: KeyRing, publishing: Publishing) -> Snapshot:
    return Snapshot(
        keys.by_stream,
        keys.revoked,
        publishing.live(),
        publishing.allow_takeover,
        publishing.backup_from_status,
    )


async def watch_keys(kube: Kube, namespace: str, keys: KeyRing) -> None:
    selector = f"{stream_keys.KEY_LABEL}=true"
    await _follow(kube, core_path(namespace, "secrets"), selector, keys.synced, _keys(keys))


async def watch_livestreams(kube: Kube, namespace: str, publishing: Publishing) -> None:
    path = livestreams_path(namespace)
    await _follow(kube, path, None, publishing.synced, _sync(publishing.apply))


def _keys(keys: KeyRing) -> Callable[[str, Body], Awaitable[None]]:
    async def apply(kind: str, body: Body) -> None:
        for stream_id in keys.apply(kind, body):
            log.info("stream key revoked", extra={"streamId": stream_id})
            if keys.on_revoke is not None:
                await keys.on_revoke(stream_id)

    return apply


def _sync(apply: Callable[[str, Body], None]) -> Callable[[str, Body], Awaitable[None]]:
    async def run(kind: str, body: Body) -> None:
        apply(kind, body)

    return run


async def _follow(
    kube: Kube,
    path: str,
    selector: str | None,
    synced: asyncio.Event,
    apply: Callable[[str, Body], Awaitable[None]],
) -> None:
    """Keep a view current; on errors, back off and list again (the view stays)."""
    delay = 0.5
    while True:
        try:
            async for kind, body in kube.list_and_watch(path, selector):
                await apply(kind, body)
                if kind == "LISTED":
                    synced.set()
                    delay = 0.5
        except asyncio.CancelledError:
            raise
        except (KubeError, OSError, TimeoutError, ValueError) as exc:
            log.warning("watch failed; listing again", extra={"path": path, "reason": str(exc)})
        except Exception:
            log.exception("watch crashed; listing again", extra={"path": path})
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)
