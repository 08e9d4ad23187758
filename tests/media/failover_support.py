"""The operator's part in a primary/backup failover, played without a cluster.

In the operator a switch of input is a new worker Pod (the input is part of its
spec). The media test and the benchmark have no kubelet to run Pods, so this
plays both: it watches live/<id>/in and live/<id>/backup on MediaMTX as their
hooks would report them, asks the operator's own decision
(reconcile/failover.select_input) and, at a switch, stops the worker and starts
one reading the chosen publish point, as the operator deletes the Pod and,
once it is gone, creates its replacement (or claims a warm worker). What it
leaves out is the hook -> receiver -> API server -> reconcile path, which
tests/media/ingest/test_backup_ingest_media.py covers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from livestream_operator.api import naming
from livestream_operator.api.v1alpha1 import (
    FailoverStatus,
    IngestSpec,
    IngestStatus,
    InputRole,
    format_time_precise,
)
from livestream_operator.reconcile.failover import select_input

from .media_support import MediaMTX, Proc

ROLES = {InputRole.PRIMARY: naming.PathRole.INGEST, InputRole.BACKUP: naming.PathRole.BACKUP}


def observed(current: IngestStatus, available: bool, now: datetime) -> IngestStatus:
    """status.ingest (or status.backup) after a look at MediaMTX, as the
    ready/not-ready hooks would have left it."""
    if available is current.available:
        return current
    stamp = format_time_precise(now)
    if available:
        return IngestStatus(available=True, available_since=stamp)
    return IngestStatus(available=False, unavailable_since=stamp)


@dataclass(frozen=True)
class Switch:
    failover: FailoverStatus  # status.failover after it
    decided: float  # monotonic: when select_input chose the other input
    old_gone: float  # when the worker that read the other one had exited


class Failover:
    """Decides every `every` s; `start_worker(path)` starts a worker reading
    `path` and returns it."""

    def __init__(
        self,
        mtx: MediaMTX,
        stream_id: str,
        spec: IngestSpec,
        start_worker: Callable[[str], Proc],
        every: float = 0.1,
    ) -> None:
        self.mtx, self.stream_id, self.spec = mtx, stream_id, spec
        self.start_worker, self.every = start_worker, every
        self.primary, self.backup = IngestStatus(), IngestStatus()
        self.status = FailoverStatus(active=InputRole.PRIMARY)
        self.switches: list[Switch] = []
        self.worker = start_worker(self.path(InputRole.PRIMARY))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def path(self, role: InputRole) -> str:
        return naming.stream_path(self.stream_id, ROLES[role])

    def __enter__(self) -> Failover:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.step()

    def step(self) -> None:
        now = datetime.now(UTC)
        self.primary = observed(self.primary, self.mtx.available(self.path(InputRole.PRIMARY)), now)
        self.backup = observed(self.backup, self.mtx.available(self.path(InputRole.BACKUP)), now)
        chosen = select_input(self.spec, self.primary, self.backup, self.status, now).failover
        if chosen.active is not self.status.active:
            decided = time.monotonic()
            # The operator creates the new Pod once the old one is gone.
            self.worker.stop()
            self.switches.append(Switch(chosen, decided, time.monotonic()))
            self.worker = self.start_worker(self.path(chosen.active))
        self.status = chosen
