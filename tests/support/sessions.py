"""Watching a destination's publish session through a fault, in every tier.

A destination (a MediaMTX standing in for YouTube or Twitch) names each incoming
publish session; a new one is a new broadcast. SessionWatch samples it in a thread
while a test does its fault, and says afterwards what the destination saw.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class SessionWatch:
    """Samples `probe()` (the session id, None while nothing publishes) every
    `every` s; a probe that raises one of `missed` yields no sample (a dropped
    port-forward is not a lost session)."""

    def __init__(
        self,
        probe: Callable[[], str | None],
        every: float,
        missed: tuple[type[BaseException], ...] = (),
    ) -> None:
        self.probe, self.every, self.missed = probe, every, missed
        self.samples: list[tuple[float, str | None]] = []
        self.marks: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SessionWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.samples.append((time.monotonic(), self.probe()))
            except self.missed:
                continue

    def mark(self, what: str) -> None:
        """Notes what the test did, for timeline()."""
        self.marks.append((time.monotonic(), what))

    def sessions(self) -> list[str | None]:
        """The distinct sessions in the order seen (None: nothing published)."""
        seen: list[str | None] = []
        for _, session in self.samples:
            if not seen or seen[-1] != session:
                seen.append(session)
        return seen

    def timeline(self) -> str:
        """When each session was first seen, and the marks, for a failure message."""
        changes: list[tuple[float, str]] = []
        last: object = object()
        for at, session in self.samples:
            if session != last:
                changes.append((at, f"session {session}"))
                last = session
        events = sorted(changes + self.marks)
        start = events[0][0] if events else 0.0
        return "; ".join(f"{at - start:.1f}s {what}" for at, what in events)
