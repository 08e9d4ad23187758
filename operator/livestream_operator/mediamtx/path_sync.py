"""Keeps MediaMTX's path configuration in line with the LiveStreams' recording
and input-loss fill (the shell around path_config.plan).

It runs in the operator, beside the resync. A spec change is applied within a
poll (it compares the wanted entries with what it applied last, in memory);
every `recheck` seconds it compares with MediaMTX itself, which is the
authority: a restarted MediaMTX has lost the entries, and gets them back. What
MediaMTX answered goes into status.recording.applied/message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ..api import naming
from ..api.ownership import FieldManager
from ..api.slates import Slates
from ..api.v1alpha1 import LiveStream, LiveStreamStatus, RecordingStatus
from ..kube import KubeError
from . import metrics
from .control_api import CircuitOpen, MediaMTXClient, MediaMTXError, Refused
from .path_config import Change, PathEntry, Verb, plan, unmanaged, wanted

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


class PathConfigSync:
    def __init__(
        self,
        client: MediaMTXClient,
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
    ) -> None:
        self.client = client
        self.livestreams = livestreams
        self.recheck, self.poll, self.clock, self.wall = recheck, poll, clock, wall
        self.max_retention = max_retention
        self.slates = slates or {}
        # An entry is deleted only if the API server, asked directly, has no
        # LiveStream wanting it: the cache may not have been filled yet.
        self.confirm = confirm
        self.update = update
        self._applied: dict[str, PathEntry] | None = None
        self._checked = 0.0
        # `livestreams`' version (if it has one): unchanged since the last pass
        # that was answered, and the recheck not due, means nothing to do, without
        # building the wanted entries (O(streams)).
        self.version = version
        self._seen_version: int | None = None

    async def run(self) -> None:
        while True:
            await self.once()
            await asyncio.sleep(self.poll)

    async def once(self) -> int:
        """One pass; returns the number of changes MediaMTX accepted."""
        now = self.clock()
        version = self.version() if self.version is not None else None
        due = now - self._checked >= self.recheck
        if version is not None and version == self._seen_version and not due:
            return 0
        streams = list(self.livestreams.values())  # the pass's own view, reported on
        want = wanted(streams, self.max_retention, self.wall(), slates=self.slates)
        if want == self._applied and not due:
            self._seen_version = version
            return 0
        try:
            confs = await self.client.list_path_confs()
        except CircuitOpen:
            return 0
        except MediaMTXError as exc:
            log.warning("recording: MediaMTX unreachable", extra={"reason": str(exc)})
            return 0
        changes = await self._confirmed(plan(want, confs))
        refused = {name: _UNMANAGED.format(path=name) for name in unmanaged(want, confs)}
        applied, unreachable = 0, False
        for change in changes:
            try:
                await self.client.change_path_conf(change.verb.value, change.name, change.body)
            except MediaMTXError as exc:
                metrics.RECORDING_CHANGES.labels(change.verb.value, "error").inc()
                if isinstance(exc, Refused):
                    refused[change.name] = str(exc)
                else:
                    unreachable = True
                log.warning(
                    "recording: MediaMTX refused a path change",
                    extra={"path": change.name, "verb": change.verb.value, "reason": str(exc)},
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
                },
            )
        if unreachable:  # retried at the next poll; nothing new is known
            return applied
        await self._report(streams, refused)
        # A refusal is an answer: asked again at the next recheck or spec change,
        # not at every poll.
        self._applied, self._checked, self._seen_version = want, now, version
        return applied

    async def _confirmed(self, changes: list[Change]) -> list[Change]:
        deletes = [c for c in changes if c.verb is Verb.DELETE]
        if not deletes or self.confirm is None:
            return changes
        try:
            truth = wanted(
                await self.confirm(), self.max_retention, self.wall(), slates=self.slates
            )
        except (KubeError, OSError, TimeoutError, ValueError) as exc:  # ValueError: a bad object
            log.warning("recording: cannot confirm deletions", extra={"reason": str(exc)})
            return [c for c in changes if c.verb is not Verb.DELETE]
        return [c for c in changes if c.verb is not Verb.DELETE or c.name not in truth]

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
