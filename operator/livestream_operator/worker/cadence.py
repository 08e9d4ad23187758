"""The input video's frame rate and keyframe interval, which MediaMTX does not
report and the worker can measure (pure: fed timestamps, no GStreamer).

Measured from a sample, as the A/V offset is (meters.py): a probe on the video
input sees the frames from one keyframe to the next, so the keyframe interval is
counted in frames (over whole GOPs of at least MIN_SPAN) at the frame rate the
stream declares, or else the one its timestamps show.
The probe is on the pad only while sampling: a few seconds every SAMPLE_EVERY
seconds.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

SAMPLE_EVERY = 60.0  # seconds between samples
# The first comes this long after the output flows: the input's first timestamps
# come from the jitter buffer while it still learns the clock skew.
FIRST_SAMPLE_AFTER = 5.0
# A sample spans whole GOPs over at least this long, so short GOPs still give a
# rate to a hundredth of a frame; the interval is their mean.
MIN_SPAN = 2.0
MAX_FRAMES = 900  # a sample with no second keyframe within this many frames ends without one
_NS = 1_000_000_000


@dataclass(frozen=True)
class Measured:
    frame_rate: float | None
    keyframe_interval: float | None  # seconds; None: no keyframe within MAX_FRAMES


class CadenceSample:
    """One sample: feed it every video frame's (timestamp ns, keyframe) until it
    answers a Measured.

    The frame rate is the one the stream declares; without one, the mean
    distance of consecutive timestamps, leaving out
    the ones far from the median: the jitter buffer's skew correction moves a
    timestamp now and then, and an RTMP publish's are whole milliseconds
    (33, 33, 34), so neither one span nor the median would do. The keyframe
    interval is the frames per GOP at that rate (frames are counted exactly).
    """

    def __init__(self, nominal: float | None = None) -> None:
        """`nominal`: the frame rate the stream declares (H.264's VUI timing, in
        h264parse's caps), which ffprobe shows too; the timestamps stand in when
        it declares none."""
        self._nominal = round(nominal, 2) if nominal else None
        self._key: int | None = None  # the first keyframe's timestamp
        self._since_key = 0  # frames from that keyframe on
        self._gops = 0
        self._last: int | None = None
        self._steps: list[int] = []

    def add(self, pts_ns: int | None, keyframe: bool) -> Measured | None:
        if pts_ns is None:
            return None
        if self._last is not None and pts_ns > self._last:
            self._steps.append(pts_ns - self._last)
        self._last = pts_ns
        if keyframe and self._key is not None and pts_ns > self._key:
            self._gops += 1
            if (pts_ns - self._key) / _NS >= MIN_SPAN:
                rate = self._rate()
                per_gop = self._since_key / self._gops
                return Measured(rate, round(per_gop / rate, 3) if rate else None)
        if keyframe and (self._key is None or pts_ns <= self._key):
            # The first, or a restart of timestamps.
            self._key, self._since_key, self._gops = pts_ns, 0, 0
        if self._key is not None:
            self._since_key += 1
        if len(self._steps) >= MAX_FRAMES:
            return Measured(self._rate(), None)
        return None

    def _rate(self) -> float | None:
        if self._nominal is not None:
            return self._nominal
        if not self._steps:
            return None
        median = statistics.median(self._steps)
        kept = [s for s in self._steps if 0.5 * median <= s <= 1.5 * median]
        return round(_NS / statistics.fmean(kept), 2)
