"""Apply hook events to LiveStreams through the API server, safely under races.

Every write is a server-side apply of the writer's own fields (api/ownership.py),
all of them as the decision makes them of what was read, conditional on the
resourceVersion that was read: two receiver replicas (or a receiver and the
resync loop) handling events for one stream can neither create two objects nor
overwrite each other's newer state, nor touch another writer's fields.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from ..api import naming, ownership
from ..api.naming import PathRole, StreamPath
from ..api.ownership import FieldManager
from ..api.v1alpha1 import LiveStream, LiveStreamStatus, format_time_precise
from ..kube import KubeError
from ..settings import Settings
from . import rules
from .hook_event import HookEvent, HookKind
from .rules import Decision, Result

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8


class LiveStreamAPI(Protocol):
    async def get_livestream(self, namespace: str, name: str) -> LiveStream: ...
    async def create_livestream(self, namespace: str, livestream: LiveStream) -> LiveStream: ...
    async def apply_livestream_status(
        self,
        read: LiveStream,
        manager: FieldManager,
        status: LiveStreamStatus,
        *,
        conditional: bool = True,
    ) -> LiveStream: ...


class NameCollision(Exception):
    """Two stream ids mapped to one object name (should never happen; refused)."""


@dataclass(frozen=True)
class Applied:
    decision: Decision
    name: str
    created: bool


class ConditionalWriter:
    def __init__(self, api: LiveStreamAPI, namespace: str, settings: Settings) -> None:
        self.api = api
        self.namespace = namespace
        self.settings = settings
        # Serialises events for one stream inside this process; across processes
        # the resourceVersion preconditions do the same job, with retries.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def apply(self, kind: HookKind, where: StreamPath, event: HookEvent) -> Applied:
        name = naming.resource_name(where.stream_id)
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = asyncio.Lock()
        async with lock:
            return await self._apply(kind, where, event, name)

    async def _apply(
        self, kind: HookKind, where: StreamPath, event: HookEvent, name: str
    ) -> Applied:
        created = False
        # Only an ingest publish (announced early or ready) starts a stream. It
        # tries the create first: a new stream is the case where a publisher
        # waits for its worker, and the create answers 409 at the same cost as a
        # GET when it exists.
        starts = kind in (HookKind.READY, HookKind.CONNECTING) and where.role is PathRole.INGEST
        current: LiveStream | None
        for attempt in range(MAX_ATTEMPTS):
            if starts and attempt == 0:
                current, created = await self._create(where.stream_id)
            else:
                current = await self._get(name)
            if current is None:
                if not starts:
                    return Applied(
                        Decision(Result.IGNORED, reason="no such LiveStream"), name, False
                    )
                current, created = await self._create(where.stream_id)
            if current.spec.stream_id != where.stream_id:
                raise NameCollision(
                    f"LiveStream {name} belongs to stream {current.spec.stream_id!r}"
                )
            if current.metadata.deletion_timestamp:
                await asyncio.sleep(0.05 * (attempt + 1))  # let the deletion finish
                continue
            now = format_time_precise(datetime.now(UTC))
            decision = rules.decide(kind, current.status, where, event, now)
            result = Result.CREATED if created else decision.result
            if decision.change is None:
                return Applied(Decision(result, None, decision.reason), name, created)
            if not await self._write(current, FieldManager.INGEST, decision.change):
                continue  # someone else wrote first: read again and re-decide
            return Applied(Decision(result, decision.change), name, created)
        raise KubeError(409, "Conflict", f"LiveStream {name} kept changing; gave up")

    async def update(
        self,
        stream_id: str,
        decide: Callable[[LiveStream], LiveStreamStatus | None],
        manager: FieldManager,
    ) -> bool | None:
        """Apply, as `manager`, the change `decide` (pure) makes of the stream's
        current object, conditional on its resourceVersion, re-deciding after a
        conflict.

        True when written, False when `decide` had nothing to change, None when
        there is no such LiveStream.
        """
        name = naming.resource_name(stream_id)
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = asyncio.Lock()
        async with lock:
            for _ in range(MAX_ATTEMPTS):
                current = await self._get(name)
                if current is None or current.spec.stream_id != stream_id:
                    return None
                change = decide(current)
                if change is None:
                    return False
                if await self._write(current, manager, change):
                    return True
        raise KubeError(409, "Conflict", f"LiveStream {name} kept changing; gave up")

    async def _write(
        self, current: LiveStream, manager: FieldManager, change: LiveStreamStatus
    ) -> bool:
        """Apply `change` onto what was read; False when the object changed (or went)
        since: read again and decide again. Another manager's field is an error."""
        try:
            await self.api.apply_livestream_status(
                current, manager, ownership.changed(current.status, change, manager)
            )
        except KubeError as exc:
            if (exc.conflict and not exc.manager_conflict) or exc.not_found:
                return False
            raise
        return True

    async def _get(self, name: str) -> LiveStream | None:
        try:
            return await self.api.get_livestream(self.namespace, name)
        except KubeError as exc:
            if exc.not_found:
                return None
            raise

    async def _create(self, stream_id: str) -> tuple[LiveStream, bool]:
        """Create the LiveStream, or return the one a concurrent event created."""
        wanted = rules.new_livestream(stream_id, self.namespace, self.settings)
        name = wanted.metadata.name
        for _ in range(MAX_ATTEMPTS):
            try:
                created = await self.api.create_livestream(self.namespace, wanted)
            except KubeError as exc:
                if not exc.already_exists:
                    raise
                existing = await self._get(name)
                if existing is not None:
                    return existing, False
                continue  # created and deleted in between: try again
            log.info("created LiveStream", extra={"livestream": name})
            return created, True
        raise KubeError(409, "Conflict", f"LiveStream {name} kept appearing and vanishing")
