"""Keeps MediaMTX's path configuration in line with the LiveStreams' recording
and input-loss fill (the shell around path_config.plan), on every instance: a
stream's entries go to the instance it lives on (status.ingest.instance), and,
with several instances, every other one relays its out (path_config.Relay).

It runs in the operator, beside the resync. A spec change is applied within a
poll (it compares the wanted entries with what it applied last, in memory);
every `recheck` seconds it compares with MediaMTX itself, which is the
authority: a restarted MediaMTX has lost the entries, and gets them back. What
MediaMTX answered goes into status.recording.applied/message. Each instance has
its own applied state and recheck, so one that is away holds up no other.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from ..api import naming
from ..api.instances import home
from ..api.ownership import FieldManager
from ..api.slates import Slates
from ..api.v1alpha1 import LiveStream, LiveStreamStatus, RecordingStatus
from ..kube import KubeError
from . import metrics
from .control_api import CircuitOpen, MediaMTXClient, MediaMTXError, Refused
from .instances import Clients
from .path_config import Change, PathEntry, Verb, plan, relayed, unmanaged, wanted

log = logging.getLogger(__name__)
MAX_MESSAGE = 400
_UNMANAGED = (
    "MediaMTX has an entry of its own for {path} (mediamtx.yml), or none to copy: "
    "recording cannot be switched live there"
)

ListLiveStreams = Callable[[], Awaitable[Iterable[LiveStream]]]
# ConditionalWriter.update: the stream id, the change, the writer's field manager.
StatusUpdate = Callable[
    [str, Callable[[LiveStream], LiveStreamStatus | None], FieldManager], Awaitable[bool | None]
]


def reported(livestream: LiveStream, refused: str | None) -> LiveStreamStatus | None:
    """The status change that records MediaMTX's answer, None when it is there."""
    current = livestream.status.recording or RecordingStatus()
    applied = refused is None
    if current.applied is applied and current.message == refused:
        return None
    return LiveStreamStatus(recording=RecordingStatus(applied=applied, message=refused))


def by_instance(streams: Iterable[LiveStream], names: Sequence[str]) -> dict[str, list[LiveStream]]:
    """The streams whose entries each instance holds: those living there (every
    instance named, so that one without streams loses the entries it had)."""
    grouped: dict[str, list[LiveStream]] = {name: [] for name in names}
    for ls in streams:
        grouped[home(ls, names)].append(ls)
    return grouped


class _Truth:
    """The API server's LiveStreams by instance, asked once per pass at most, by
    the first instance with a deletion to confirm (None: it could not say)."""

    def __init__(self, ask: Callable[[], Awaitable[dict[str, list[LiveStream]] | None]]) -> None:
        self._ask = ask
        self._answer: asyncio.Future[dict[str, list[LiveStream]] | None] | None = None

    async def get(self) -> dict[str, list[LiveStream]] | None:
        if self._answer is None:
            self._answer = asyncio.ensure_future(self._ask())
        return await self._answer


@dataclass
class _Applied:
    """One instance's sync state: what it was last told, and when it was asked."""

    entries: dict[str, PathEntry] | None = None
    checked: float = -math.inf
    version: int | None = None


class PathConfigSync:
    def __init__(
        self,
        clients: MediaMTXClient | Clients,
        livestreams: Mapping[Any, LiveStream],
        recheck: float,
        *,
        max_retention: str = "168h",
        slates: Slates | None = None,
        confirm: ListLiveStreams | None = None,
        update: StatusUpdate | None = None,
        poll: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        version: Callable[[], int] | None = None,
        relays: Mapping[str, str] | None = None,
    ) -> None:
        self.clients = Clients.of(clients)
        # Each instance's RTSP base URL with the operator's credentials, that the
        # others relay out from; None: no relays (one instance).
        self.relays = dict(relays or {})
        self.livestreams = livestreams
        self.recheck, self.poll, self.clock, self.wall = recheck, poll, clock, wall
        self.max_retention = max_retention
        self.slates = slates or {}
        # An entry is deleted only if the API server, asked directly, has no
        # LiveStream wanting it: the cache may not have been filled yet.
        self.confirm = confirm
        self.update = update
        # Per instance: one that is away is asked again alone, and blocks no other.
        self._state = {name: _Applied() for name in self.clients.names}
        # `livestreams`' version (if it has one): unchanged since the last pass
        # that every instance answered, and no recheck due, means nothing to do,
        # without building the wanted entries (O(streams)).
        self.version = version

    async def run(self) -> None:
        while True:
            await self.once()
            await asyncio.sleep(self.poll)

    async def once(self) -> int:
        """One pass over every instance; returns the number of changes accepted."""
        now = self.clock()
        version = self.version() if self.version is not None else None
        due = {n: now - s.checked >= self.recheck for n, s in self._state.items()}
        unchanged = all(s.version == version for s in self._state.values())
        if version is not None and unchanged and not any(due.values()):
            return 0
        streams = list(self.livestreams.values())  # the pass's own view, reported on
        grouped = by_instance(streams, self.clients.names)
        truth = _Truth(self._ask)
        wall = self.wall()  # when the fill of a lost input ends (spec.inputLoss.fillSeconds)
        applied = await asyncio.gather(
            *(
                self._sync(name, grouped, due[name], now, wall, version, truth)
                for name in self.clients.names
            )
        )
        return sum(applied)

    async def _sync(
        self,
        instance: str,
        grouped: Mapping[str, list[LiveStream]],
        due: bool,
        now: float,
        wall: datetime,
        version: int | None,
        truth: _Truth,
    ) -> int:
        state, client = self._state[instance], self.clients[instance]
        streams = grouped[instance]
        want = self._wanted(instance, grouped, wall)
        if want == state.entries and not due:
            state.version = version
            return 0
        where = {"instance": instance} if instance else {}
        try:
            confs = await client.list_path_confs()
        except CircuitOpen:
            return 0
        except MediaMTXError as exc:
            log.warning("recording: MediaMTX unreachable", extra={"reason": str(exc), **where})
            return 0
        changes = await self._confirmed(instance, plan(want, confs), truth, wall)
        refused = {name: _UNMANAGED.format(path=name) for name in unmanaged(want, confs)}
        applied, unreachable = 0, False
        for change in changes:
            try:
                await client.change_path_conf(change.verb.value, change.name, change.body)
            except MediaMTXError as exc:
                metrics.RECORDING_CHANGES.labels(change.verb.value, "error").inc()
                reason = self._redacted(str(exc))
                if isinstance(exc, Refused):
                    refused[change.name] = reason
                else:
                    unreachable = True
                log.warning(
                    "recording: MediaMTX refused a path change",
                    extra={
                        "path": change.name,
                        "verb": change.verb.value,
                        "reason": reason,
                        **where,
                    },
                )
                continue
            applied += 1
            metrics.RECORDING_CHANGES.labels(change.verb.value, "ok").inc()
            log.info(
                "recording: path configuration changed",
                extra={
                    "path": change.name,
                    "verb": change.verb.value,
                    "record": bool(change.body and change.body.get("record")),
                    "alwaysAvailable": bool(change.body and change.body.get("alwaysAvailable")),
                    "relay": bool(change.body and change.body.get("sourceOnDemand")),
                    **where,
                },
            )
        if unreachable:  # retried at the next poll; nothing new is known
            return applied
        await self._report(streams, refused)
        # A refusal is an answer: asked again at the next recheck or spec change,
        # not at every poll.
        state.entries, state.checked, state.version = want, now, version
        return applied

    async def _confirmed(
        self, instance: str, changes: list[Change], truth: _Truth, wall: datetime
    ) -> list[Change]:
        deletes = [c for c in changes if c.verb is Verb.DELETE]
        if not deletes or self.confirm is None:
            return changes
        grouped = await truth.get()
        if grouped is None:
            return [c for c in changes if c.verb is not Verb.DELETE]
        want = self._wanted(instance, grouped, wall)
        return [c for c in changes if c.verb is not Verb.DELETE or c.name not in want]

    def _wanted(
        self, instance: str, grouped: Mapping[str, list[LiveStream]], wall: datetime
    ) -> dict[str, PathEntry]:
        """The entries `instance` must hold: its own streams', and the relays of
        the others' out."""
        want = wanted(grouped.get(instance, []), self.max_retention, wall, slates=self.slates)
        if self.relays:
            homes = {ls.spec.stream_id: name for name, lst in grouped.items() for ls in lst}
            everyone = (ls for lst in grouped.values() for ls in lst)
            want |= relayed(everyone, instance, homes, self.relays)
        return want

    def _redacted(self, text: str) -> str:
        """MediaMTX may quote a relay's source in a refusal: no credential goes on
        to a log line or a status."""
        for source in self.relays.values():
            secret = urlsplit(source).password
            if secret:
                text = text.replace(secret, "***").replace(unquote(secret), "***")
        return text

    async def _ask(self) -> dict[str, list[LiveStream]] | None:
        """The LiveStreams by instance, from the API server; None when it does not say."""
        if self.confirm is None:
            return None
        try:
            return by_instance(await self.confirm(), self.clients.names)
        except (KubeError, OSError, TimeoutError, ValueError) as exc:  # ValueError: a bad object
            log.warning("recording: cannot confirm deletions", extra={"reason": str(exc)})
            return None

    async def _report(self, streams: Iterable[LiveStream], refused: Mapping[str, str]) -> None:
        """MediaMTX's answer per stream into status.recording, on change only."""
        if self.update is None:
            return
        by_stream: dict[str, str] = {}
        for name, why in refused.items():
            by_stream.setdefault(naming.parse_path(name).stream_id, why[:MAX_MESSAGE])
        for ls in streams:
            if ls.spec.recording is None or ls.metadata.deletion_timestamp:
                continue
            message = by_stream.get(ls.spec.stream_id)
            if reported(ls, message) is None:
                continue
            try:
                await self.update(
                    ls.spec.stream_id, _reporter(message), FieldManager.RECORDING_SYNC
                )
            except (KubeError, OSError, TimeoutError) as exc:
                log.warning("recording: status not written", extra={"reason": str(exc)})


def _reporter(refused: str | None) -> Callable[[LiveStream], LiveStreamStatus | None]:
    return lambda current: reported(current, refused)
