"""Heal what hooks missed by comparing MediaMTX's paths with the LiveStreams.

Hooks are commands MediaMTX runs once; if the receiver was down, the event is
lost. Every few seconds the operator lists the paths of every MediaMTX instance
(at once) and replays, as events, the differences it finds, through the same
rules as the hook receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..api import instances, naming
from ..api.instances import DEFAULT, resolve
from ..api.naming import PathRole
from ..api.ownership import FieldManager
from ..api.v1alpha1 import IngestStatus, LiveStream, LiveStreamStatus, OutputStatus, parse_time
from ..kube import KubeError
from ..mediamtx.control_api import CircuitOpen, MediaMTXClient, MediaMTXError, PathInfo
from ..mediamtx.instances import Clients
from . import input_properties, metrics
from .conditional_writer import ConditionalWriter
from .hook_event import HookEvent, HookKind
from .rules import Result

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Repair:
    kind: HookKind
    event: HookEvent


# Each instance's paths; None: that instance could not be listed.
Listings = Mapping[str, Sequence[PathInfo] | None]


@dataclass(frozen=True)
class Recorded:
    """What a LiveStream says of one of its paths, and the instance that counts for it."""

    status: IngestStatus | OutputStatus
    instance: str


def recorded(livestreams: Iterable[LiveStream], names: Sequence[str]) -> dict[str, Recorded]:
    """Each stream path's recorded state, by path name. `in` and `backup` are where
    their publishers' hooks said; `out` counts only on the stream's own instance
    (its `in`'s), where its worker publishes."""
    seen: dict[str, Recorded] = {}
    for ls in livestreams:
        stream_id = ls.spec.stream_id
        ingest = ls.status.ingest or IngestStatus()
        backup = ls.status.backup or IngestStatus()
        home = instances.home(ls, names)
        seen[naming.ingest_path(stream_id)] = Recorded(ingest, home)
        seen[naming.backup_path(stream_id)] = Recorded(
            backup, resolve(backup.instance or DEFAULT, names)
        )
        seen[naming.output_path(stream_id)] = Recorded(ls.status.output or OutputStatus(), home)
    return seen


def located(listings: Listings, seen: Mapping[str, Recorded]) -> dict[str, tuple[str, PathInfo]]:
    """Each stream path that is live, with the instance it counts on: its recorded
    instance when it is live there, else the first instance that lists it live
    (a publisher that moved, or a stream not recorded yet); `out` only on its own."""
    live: dict[str, dict[str, PathInfo]] = {}
    for instance, paths in listings.items():
        for p in paths or ():
            try:
                naming.parse_path(p.name)
            except naming.PathError:
                continue
            if p.available:
                live.setdefault(p.name, {})[instance] = p
    found: dict[str, tuple[str, PathInfo]] = {}
    for name, on in live.items():
        mine = seen.get(name)
        if mine is not None and mine.instance in on:
            found[name] = (mine.instance, on[mine.instance])
        elif naming.parse_path(name).role is not PathRole.OUTPUT:
            instance = next(iter(on))
            found[name] = (instance, on[instance])
    return found


def diff(
    paths: Iterable[PathInfo],
    livestreams: Iterable[LiveStream],
    listed_at: datetime | None = None,
) -> list[Repair]:
    """Events that would make the LiveStreams agree with the one MediaMTX (pure)."""
    return diff_instances({DEFAULT: list(paths)}, livestreams, listed_at)


def diff_instances(
    listings: Listings,
    livestreams: Iterable[LiveStream],
    listed_at: datetime | None = None,
) -> list[Repair]:
    """Events that would make the LiveStreams agree with the MediaMTX instances (pure).

    `listings` is in the instances' order, the default first. A stream is ended
    only when the instance it is recorded on was listed: an instance that could
    not be listed ends nothing of its own. A ready event carries the instance the
    path is live on. A path recorded as available after `listed_at` (a ready hook
    that landed while the list was on its way) is newer than the listing: it is
    not ended.
    """
    seen = recorded(livestreams, tuple(listings))
    return _repairs(located(listings, seen), seen, listings, listed_at)


def _repairs(
    live: Mapping[str, tuple[str, PathInfo]],
    seen: Mapping[str, Recorded],
    listings: Listings,
    listed_at: datetime | None,
) -> list[Repair]:
    repairs = []
    for name, (instance, p) in sorted(live.items()):
        mine = seen.get(name)
        if mine is None and naming.parse_path(name).role is not naming.PathRole.INGEST:
            continue  # only a primary publish creates its LiveStream
        if (
            mine is None
            or not mine.status.available
            or (p.source_id and mine.status.source_id != p.source_id)
        ):
            event = HookEvent(
                path=name, source_type=p.source_type, source_id=p.source_id, instance=instance
            )
            repairs.append(Repair(HookKind.READY, event))
    for name, mine in sorted(seen.items()):
        if (
            mine.status.available
            and name not in live
            and listings.get(mine.instance) is not None
            and not _newer(mine.status, listed_at)
        ):
            # Use the recorded source so the not-ready passes the stale-source check.
            event = HookEvent(path=name, source_id=mine.status.source_id or "")
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
        clients: MediaMTXClient | Clients,
        writer: ConditionalWriter,
        livestreams: Mapping[Any, LiveStream],
        interval: float,
    ) -> None:
        self.clients = Clients.of(clients)
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
        names = self.clients.names
        answers = await asyncio.gather(*(self._list(n) for n in names))
        listings = {n: paths for n, (paths, _) in zip(names, answers, strict=True)}
        failures = [failure for _, failure in answers if failure]
        if len(failures) == len(names):
            # Nothing is ended on a guess while MediaMTX is unreachable.
            metrics.RESYNC_RUNS.labels(failures[0]).inc()
            return 0
        seen = recorded(self.livestreams.values(), names)
        live = located(listings, seen)
        applied = 0
        for repair in _repairs(live, seen, listings, listed_at):
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
                        "instance": repair.event.instance,
                    },
                )
        await self._input_properties(p for _, p in live.values())
        metrics.RESYNC_RUNS.labels("partial" if failures else "ok").inc()
        return applied

    async def _list(self, instance: str) -> tuple[list[PathInfo] | None, str]:
        """One instance's paths, or None and why not."""
        try:
            return await self.clients[instance].list_paths(), ""
        except CircuitOpen:
            return None, "circuit-open"
        except MediaMTXError as exc:
            log.warning(
                "resync: MediaMTX unreachable", extra={"reason": str(exc), "instance": instance}
            )
            return None, "error"

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
