"""Heal what hooks missed by comparing MediaMTX's paths with the LiveStreams.

Hooks are commands MediaMTX runs once; if the receiver was down, the event is
lost. Every few seconds the operator lists the paths and replays, as events,
the differences it finds, through the same rules as the hook receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..api import naming
from ..api.naming import PathRole
from ..api.ownership import FieldManager
from ..api.v1alpha1 import IngestStatus, LiveStream, LiveStreamStatus, OutputStatus, parse_time
from ..kube import KubeError
from ..mediamtx.control_api import CircuitOpen, MediaMTXClient, MediaMTXError, PathInfo
from . import input_properties, metrics
from .conditional_writer import ConditionalWriter
from .hook_event import HookEvent, HookKind
from .rules import Result

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Repair:
    kind: HookKind
    event: HookEvent


def diff(
    paths: Iterable[PathInfo],
    livestreams: Iterable[LiveStream],
    listed_at: datetime | None = None,
) -> list[Repair]:
    """Events that would make the LiveStreams agree with MediaMTX (pure).

    A path recorded as available after `listed_at` (a ready hook that landed
    while the list was on its way) is newer than the listing: it is not ended.
    """
    live: dict[str, PathInfo] = {}
    for p in paths:
        try:
            naming.parse_path(p.name)
        except naming.PathError:
            continue
        if p.available:
            live[p.name] = p
    seen: dict[str, IngestStatus | OutputStatus] = {}
    for ls in livestreams:
        stream_id = ls.spec.stream_id
        seen[naming.ingest_path(stream_id)] = ls.status.ingest or IngestStatus()
        seen[naming.backup_path(stream_id)] = ls.status.backup or IngestStatus()
        seen[naming.output_path(stream_id)] = ls.status.output or OutputStatus()

    repairs = []
    for name, p in sorted(live.items()):
        recorded = seen.get(name)
        if recorded is None and naming.parse_path(name).role is not naming.PathRole.INGEST:
            continue  # only a primary publish creates its LiveStream
        if (
            recorded is None
            or not recorded.available
            or (p.source_id and recorded.source_id != p.source_id)
        ):
            event = HookEvent(path=name, source_type=p.source_type, source_id=p.source_id)
            repairs.append(Repair(HookKind.READY, event))
    for name, recorded in sorted(seen.items()):
        if recorded.available and name not in live and not _newer(recorded, listed_at):
            # Use the recorded source so the not-ready passes the stale-source check.
            event = HookEvent(path=name, source_id=recorded.source_id or "")
            repairs.append(Repair(HookKind.NOT_READY, event))
    return repairs


def _newer(recorded: IngestStatus | OutputStatus, listed_at: datetime | None) -> bool:
    if listed_at is None:
        return False
    when = parse_time(
        recorded.last_event_time if isinstance(recorded, IngestStatus) else None
    ) or parse_time(recorded.available_since)
    return when is not None and when >= listed_at


class Resync:
    def __init__(
        self,
        client: MediaMTXClient,
        writer: ConditionalWriter,
        livestreams: Mapping[Any, LiveStream],
        interval: float,
    ) -> None:
        self.client = client
        self.writer = writer
        self.livestreams = livestreams
        self.interval = interval
        # Each ingest path's inboundBytes at the last pass (the metric is the growth
        # since) and at the start of its status window (input_properties.window).
        self._counted: dict[str, input_properties.Counted] = {}
        self._windows: dict[str, input_properties.Counted] = {}

    async def run(self) -> None:
        while True:
            await self.once()
            await asyncio.sleep(self.interval)

    async def once(self) -> int:
        """One pass; returns the number of repairs applied."""
        listed_at = datetime.now(UTC)
        try:
            paths = await self.client.list_paths()
        except CircuitOpen:
            metrics.RESYNC_RUNS.labels("circuit-open").inc()
            return 0  # nothing is ended on a guess while MediaMTX is unreachable
        except MediaMTXError as exc:
            metrics.RESYNC_RUNS.labels("error").inc()
            log.warning("resync: MediaMTX unreachable", extra={"reason": str(exc)})
            return 0
        repairs = diff(paths, list(self.livestreams.values()), listed_at)
        applied = 0
        for repair in repairs:
            where = naming.parse_path(repair.event.path)
            try:
                outcome = await self.writer.apply(repair.kind, where, repair.event)
            except (KubeError, OSError, TimeoutError) as exc:
                log.warning("resync: repair failed", extra={"reason": str(exc)})
                continue
            if outcome.decision.result in (Result.CREATED, Result.UPDATED):
                applied += 1
                action = f"{repair.kind.value}-{where.role.value}"
                metrics.RESYNC_HEALED.labels(action).inc()
                log.info(
                    "resync repaired a missed event",
                    extra={
                        "path": repair.event.path,
                        "event": repair.kind.value,
                        "result": outcome.decision.result.value,
                    },
                )
        await self._input_properties(paths)
        metrics.RESYNC_RUNS.labels("ok").inc()
        return applied

    async def _input_properties(self, paths: Iterable[PathInfo]) -> None:
        """status.input of every publishing stream, and its bitrate metric. The
        cached object decides first, so a stream with nothing new costs no request."""
        now, at = datetime.now(UTC), time.monotonic()
        by_id = {ls.spec.stream_id: ls for ls in self.livestreams.values()}
        counted: dict[str, input_properties.Counted] = {}
        for p in paths:
            try:
                where = naming.parse_path(p.name)
            except naming.PathError:
                continue
            if where.role is not PathRole.INGEST or not p.available:
                continue
            count = input_properties.Counted(p.source_id, p.inbound_bytes, at)
            counted[where.stream_id] = count
            live_bps = input_properties.bitrate(self._counted.get(where.stream_id), count)
            if live_bps is not None:
                metrics.INPUT_BITRATE.labels(where.stream_id).set(live_bps)
            self._windows[where.stream_id], bps = input_properties.window(
                self._windows.get(where.stream_id), count
            )
            cached = by_id.get(where.stream_id)
            tracks = input_properties.parse_tracks(p.tracks)
            if (
                cached is None
                or input_properties.decide(cached.status, p.source_id, tracks, bps, now) is None
            ):
                continue

            def decide(
                ls: LiveStream,
                source: str = p.source_id,
                tracks: input_properties.Tracks = tracks,
                bps: float | None = bps,
            ) -> LiveStreamStatus | None:
                return input_properties.decide(ls.status, source, tracks, bps, now)

            try:
                await self.writer.update(where.stream_id, decide, FieldManager.INGEST)
            except (KubeError, OSError, TimeoutError) as exc:
                log.warning("resync: input properties not written", extra={"reason": str(exc)})
        for gone in self._counted.keys() - counted.keys():
            with contextlib.suppress(KeyError):  # never measured: no series
                metrics.INPUT_BITRATE.remove(gone)
        self._counted = counted
        self._windows = {k: v for k, v in self._windows.items() if k in counted}
