"""What an attempt measures of its stream: frames and bytes in and out, and the
A/V offset of the output.

Python never runs per frame (a PyGObject probe call costs more than the remux):
`identity` elements count in C and their counts are polled once a second into the
Prometheus counters, and the A/V offset is sampled from SAMPLE_BUFFERS frames at a
time. No GStreamer here: the counts are read, and the samples taken, by callables
the attempt passes in, so the arithmetic is unit-tested alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ..api.v1alpha1 import OutputProtocol
from .metrics import WorkerMetrics
from .pipeline import av_offset

SAMPLE_BUFFERS = 16  # frames inspected per A/V offset sample (~0.2 s of stream)
_EMA = 0.3  # smoothing of the A/V offset gauge, per sample

Update = Callable[[int, int], None]  # (new buffers, new bytes) since the last poll
Sample = Callable[[tuple[str, int] | None], bool]  # (track, time ns) in; True once enough


class Meters:
    """The counters to poll, and the A/V offset sampling.

    Counters are added from streaming threads (a track's pad-added) and polled on
    the main loop; a sample's frames arrive in streaming threads. Both under the
    lock; the results (last_input, the smoothed offset) live on the main loop.
    """

    def __init__(
        self,
        metrics: WorkerMetrics,
        protocol: OutputProtocol,
        read: Callable[[Any], tuple[int, int]],
        defer: Callable[..., Any],
    ) -> None:
        """`read`: a counter element's (buffers, bytes) so far; `defer(f, *args)`:
        run f on the main loop (GLib.idle_add)."""
        self.metrics, self.protocol = metrics, protocol
        self._read, self._defer = read, defer
        self._lock = threading.Lock()
        # counter element -> (metric updater, last (buffers, bytes))
        self._counters: dict[Any, tuple[Update, list[int]]] = {}
        self._sampling = False
        self.last_input = 0.0  # monotonic time input frames were last counted
        self._offset: float | None = None

    # --- counters -------------------------------------------------------------

    def count(self, element: Any, update: Update) -> None:
        with self._lock:
            self._counters[element] = (update, [0, 0])

    def input(self, media: str) -> Update:
        frames = self.metrics.input_frames.labels(media)
        size = self.metrics.input_bytes.labels(media)

        def update(buffers: int, nbytes: int) -> None:
            frames.inc(buffers)
            size.inc(nbytes)
            self.last_input = time.monotonic()

        return update

    def frames_out(self, media: str) -> Update:
        frames = self.metrics.output_frames.labels(media)
        if self.protocol is OutputProtocol.RTMP:
            return lambda buffers, _nbytes: frames.inc(buffers)

        def update(buffers: int, nbytes: int) -> None:
            # No muxer: what the tracks hand to rtspclientsink is the output.
            frames.inc(buffers)
            self.metrics.output_bytes.inc(nbytes)

        return update

    def mux_out(self, _buffers: int, nbytes: int) -> None:
        """flvmux's output (RTMP): the bytes out."""
        self.metrics.output_bytes.inc(nbytes)

    def poll(self) -> None:
        """Move the counters' new counts into the Prometheus counters (main loop)."""
        with self._lock:
            counters = list(self._counters.items())
        for element, (update, last) in counters:
            buffers, nbytes = self._read(element)
            if buffers > last[0]:
                update(buffers - last[0], nbytes - last[1])
                last[0], last[1] = buffers, nbytes

    def clear(self) -> None:
        with self._lock:
            self._counters.clear()

    # --- A/V offset -------------------------------------------------------------

    @property
    def sampling(self) -> bool:
        with self._lock:
            return self._sampling

    def begin_sample(self) -> Sample:
        """Start one A/V offset sample: feed it the output's (track, time) in the
        order sent; once it has SAMPLE_BUFFERS, it updates the gauge (on the main
        loop) and answers True to every caller, whose probes then leave."""
        samples: list[tuple[str, int]] = []
        done = [False]
        with self._lock:
            self._sampling = True

        def add(sample: tuple[str, int] | None) -> bool:
            with self._lock:
                if not done[0] and sample is not None:
                    samples.append(sample)
                    if len(samples) >= SAMPLE_BUFFERS:
                        done[0] = True
                        self._sampling = False
                        offset = av_offset(samples)
                        if offset is not None:
                            self._defer(self._record_offset, offset)
                return done[0]

        return add

    def _record_offset(self, sample: float) -> bool:
        self._offset = (
            sample if self._offset is None else self._offset + _EMA * (sample - self._offset)
        )
        self.metrics.av_sync_delta_ms.set(self._offset * 1000)
        return False
