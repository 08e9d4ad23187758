"""Keeps MediaMTX's path configuration in line with the LiveStreams' recording
(the shell around recording_config.plan).

It runs in the operator, beside the resync. A spec change is applied within a
poll (it compares the wanted entries with what it applied last, in memory);
every `recheck` seconds it compares with MediaMTX itself, which is the
authority: a restarted MediaMTX has lost the entries, and gets them back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..api.v1alpha1 import LiveStream
from . import metrics
from .mediamtx_api import CircuitOpen, MediaMTXClient, MediaMTXError
from .recording_config import Recording, Verb, plan, wanted

log = logging.getLogger(__name__)


class RecordingSync:
    def __init__(
        self,
        client: MediaMTXClient,
        livestreams: Mapping[Any, LiveStream],
        recheck: float,
        poll: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.livestreams = livestreams
        self.recheck, self.poll, self.clock = recheck, poll, clock
        self._applied: dict[str, Recording] | None = None
        self._checked = 0.0

    async def run(self) -> None:
        while True:
            await self.once()
            await asyncio.sleep(self.poll)

    async def once(self) -> int:
        """One pass; returns the number of changes MediaMTX accepted."""
        want = wanted(self.livestreams.values())
        now = self.clock()
        if want == self._applied and now - self._checked < self.recheck:
            return 0
        try:
            confs = await self.client.list_path_confs()
        except CircuitOpen:
            return 0
        except MediaMTXError as exc:
            log.warning("recording: MediaMTX unreachable", extra={"reason": str(exc)})
            return 0
        applied, failed = 0, 0
        for change in plan(want, confs):
            try:
                await self.client.change_path_conf(change.verb.value, change.name, change.body)
            except MediaMTXError as exc:
                failed += 1
                metrics.RECORDING_CHANGES.labels(change.verb.value, "error").inc()
                log.warning(
                    "recording: MediaMTX refused a path change",
                    extra={"path": change.name, "verb": change.verb.value, "reason": str(exc)},
                )
                continue
            applied += 1
            metrics.RECORDING_CHANGES.labels(change.verb.value, "ok").inc()
            record = bool(change.body and change.body.get("record"))
            log.info(
                "recording: path configuration changed",
                extra={
                    "path": change.name,
                    "verb": change.verb.value,
                    "record": record if change.verb is not Verb.DELETE else False,
                },
            )
        if not failed:  # a refused change is retried at the next poll
            self._applied, self._checked = want, now
        return applied
