"""A viewer of a destination, as a person watching YouTube would be: every frame
it decodes, stamped with its arrival time, and told apart by what it shows (the
slate, ffmpeg's testsrc, its SMPTE bars). The media tests check what a viewer
saw from it; the benchmark times faults with it."""

from __future__ import annotations

import itertools
import subprocess
import threading
import time

from .media_support import LUMA_SIZE, largest_gap

SLATE = "slate"
TESTSRC = "testsrc"  # a primary publisher's picture: dark left, bright right
SMPTEBARS = "smptebars"  # a backup publisher's: bright left, dark right

# Mean luma of a thumbnail's top third: the slate is black there (its text is
# lower down), testsrc and the SMPTE bars each have a bright side.
_BRIGHT = 90


def picture_of(thumbnail: bytes) -> str:
    """What a 32x18 grey thumbnail shows: SLATE, TESTSRC or SMPTEBARS."""
    w, h = LUMA_SIZE
    rows = [thumbnail[r * w : (r + 1) * w] for r in range(h // 3)]
    left = sum(sum(row[: w // 4]) for row in rows) / (len(rows) * (w // 4))
    right = sum(sum(row[-(w // 4) :]) for row in rows) / (len(rows) * (w // 4))
    if max(left, right) < _BRIGHT:
        return SLATE
    return TESTSRC if right > left else SMPTEBARS


class Viewer:
    """Reads `url` (RTSP) with ffmpeg: (arrival time, picture) of every frame,
    restarted at once whenever its input ends."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.frames: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Viewer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._proc is not None:
            self._proc.kill()
        self._thread.join(5)

    def _run(self) -> None:
        w, h = LUMA_SIZE
        size = w * h
        while not self._stop.is_set():
            self._proc = subprocess.Popen(
                ["ffmpeg", "-v", "quiet", "-rtsp_transport", "tcp", "-i", self.url, "-an",
                 "-vf", f"scale={w}:{h},format=gray", "-f", "rawvideo", "-"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            assert self._proc.stdout is not None
            while frame := self._proc.stdout.read(size):
                if len(frame) == size:
                    self.frames.append((time.monotonic(), picture_of(frame)))
            self._proc.wait()
            self._stop.wait(0.05)

    def largest_gap(self, since: float) -> float:
        return largest_gap([t for t, _ in self.frames if t >= since])

    def first(self, picture: str, since: float) -> float | None:
        """Arrival time of the first frame showing `picture` after `since`."""
        return next((t for t, p in self.frames if t >= since and p == picture), None)

    def count(self, picture: str, since: float, until: float) -> int:
        """How many frames showing `picture` arrived from `since` until `until`."""
        return sum(1 for t, p in self.frames if since <= t < until and p == picture)

    def showing(self, picture: str, since: float, frames: int = 5) -> bool:
        """Whether the last `frames` frames, all after `since`, show `picture`."""
        last = self.frames[-frames:]
        return len(last) == frames and all(t > since and p == picture for t, p in last)

    def pictures(self, since: float = 0.0, least: int = 3) -> list[str]:
        """The pictures seen in order, runs of fewer than `least` frames (a frame
        decoded across a switch) left out."""
        seen = [p for t, p in self.frames if t >= since]
        kept = [p for p, run in itertools.groupby(seen) if len(list(run)) >= least]
        return [p for p, _ in itertools.groupby(kept)]
