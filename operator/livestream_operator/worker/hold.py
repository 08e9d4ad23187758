"""Holding the last picture (spec.inputLoss.holdLastFrameSeconds): at an input
loss, a short-lived second publisher of live/<id>/out that shows the input's
last keyframe as a still, with silence, for N s; then it ends and MediaMTX's
slate takes over.

Why a second publisher and not the attempt's own output: the attempt's pipeline
is built around its input (rtspsrc, each track's chain), and the next attempt
needs a new one; out's `overridePublisher` lets a new publisher replace the old
one while readers stay, with timestamps that continue. So the hold publishes
while the lost attempt's output is still there, the attempt ends once the hold
is taken (no slate in between), and a publisher that comes back is taken by the
next attempt's output, which replaces the hold the same way. Readers of out keep
one session through live -> hold -> slate -> live.

Bypass mode never decodes: the video track keeps its newest keyframe aside
(pipeline.py's keyframe tap), and only that one is decoded, once, here. The
picture held is thus the last keyframe, up to one keyframe interval older than
the last frame. CPU is spent only while holding (a decode, a still encoded).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

from ..api.pod_contract import OUTPUT_AUDIO  # noqa: E402
from .attempt import StreamLog  # noqa: E402
from .config import WorkerConfig  # noqa: E402
from .graph import Graph, declared_rate, installed  # noqa: E402
from .meters import Meters  # noqa: E402
from .metrics import WorkerMetrics  # noqa: E402
from .output import Output  # noqa: E402
from .pipeline import (  # noqa: E402
    AAC_ENCODERS,
    HOLD_SOURCE,
    hold_audio_chain,
    hold_fps,
    hold_url,
    hold_video_chain,
    output_protocol,
)

# The lost attempt's output stays until the hold is taken, or this long at most.
TAKEOVER_TIMEOUT = 3.0


class Hold:
    """One hold: built and started by start(); ends itself after `seconds`, on an
    error (MediaMTX closes it when the next attempt's output replaces it), or on
    stop(). `on_taken` runs once, on the main loop, when MediaMTX has taken the
    still (or it failed to); `on_end` once when it has ended."""

    def __init__(
        self,
        cfg: WorkerConfig,
        metrics: WorkerMetrics,
        log: StreamLog,
        keyframe: Any,
        media: Iterable[str],
        on_taken: Callable[[], None],
        on_end: Callable[[Hold], None],
    ) -> None:
        # Always RTSP, on out's MediaMTX (pipeline.hold_url says why).
        cfg = dataclasses.replace(cfg, output_url=hold_url(cfg.input_url, cfg.output_url))
        self.cfg, self.log = cfg, log
        self.seconds = cfg.hold_seconds
        self._keyframe = keyframe  # a Gst.Sample: the buffer and the caps it came with
        self._media = frozenset(media)
        self._on_taken: Callable[[], None] | None = on_taken
        self._on_end = on_end
        self.done = False
        self._timers: list[int] = []
        self._bus_watch = 0
        protocol = output_protocol(cfg.output_url)
        self.graph = Graph(cfg, protocol, with_input=False)
        meters = Meters(metrics, protocol, lambda _e: (0, 0), GLib.idle_add)
        self.output = Output(cfg, protocol, self.graph, meters, self._flowing)

    def start(self) -> None:
        """Build and play; RuntimeError if it cannot be built."""
        caps = self._keyframe.get_caps()
        if "video" in self._media:
            elements = self.graph.add_chain(hold_video_chain(hold_fps(declared_rate(caps))))
            src = next(e for e in elements if e.get_name() == HOLD_SOURCE)
            src.set_property("caps", caps)
            buf = self._keyframe.get_buffer().copy()
            buf.pts = buf.dts = 0
            buf.duration = Gst.CLOCK_TIME_NONE
            src.emit("push-buffer", buf)
            src.emit("end-of-stream")
            self.graph.add_branch("video", elements[-1])
        if "audio" in self._media:
            rate, channels = OUTPUT_AUDIO[self.cfg.mode]
            elements = self.graph.add_chain(
                hold_audio_chain(rate, channels, installed(AAC_ENCODERS))
            )
            self.graph.add_branch("audio", elements[-1])
        self.output.build(lambda: self.done)
        bus = self.graph.pipeline.get_bus()
        self._bus_watch = bus.add_watch(GLib.PRIORITY_DEFAULT, self._on_bus)
        self._timers.append(GLib.timeout_add(int(self.seconds * 1000), self._expired))
        self._timers.append(GLib.timeout_add(int(TAKEOVER_TIMEOUT * 1000), self._not_taken))
        if self.graph.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            raise RuntimeError("the hold pipeline refused to start")
        self.log.info(
            "input lost: holding its last keyframe on out for %d s",
            self.seconds,
            extra={"holdSeconds": self.seconds},
        )

    def stop(self, why: str = "stopped") -> None:
        if self.done:
            return
        self.done = True
        for timer in self._timers:
            GLib.source_remove(timer)
        self._timers = []
        if self._bus_watch:
            self.graph.pipeline.get_bus().remove_watch()
            self._bus_watch = 0
        self.graph.pipeline.set_state(Gst.State.NULL)
        self.graph.release()
        self.log.info("hold ended: %s", why, extra={"holdEnded": why})
        self._taken()
        self._on_end(self)

    def _taken(self) -> None:
        taken, self._on_taken = self._on_taken, None
        if taken is not None:
            taken()

    def _flowing(self) -> bool:
        """MediaMTX has taken the still (main loop)."""
        if not self.done:
            self._taken()
        return False

    def _expired(self) -> bool:
        self._timers = [t for t in self._timers if t != GLib.main_current_source().get_id()]
        self.stop(f"{self.seconds} s passed; the slate follows")
        return False

    def _not_taken(self) -> bool:
        self._timers = [t for t in self._timers if t != GLib.main_current_source().get_id()]
        if self._on_taken is not None:
            self.stop(f"out did not take the still within {TAKEOVER_TIMEOUT:.0f} s")
        return False

    def _on_bus(self, _bus: Any, msg: Any) -> bool:
        if msg.type == Gst.MessageType.ERROR:
            err, _debug = msg.parse_error()
            # After the still was taken, the usual end: the next attempt's output
            # replaced it (MediaMTX closes the older publisher).
            self._bus_watch = 0
            self.stop(f"out closed it (replaced by the next output, or dropped): {err.message}")
            return False
        if msg.type == Gst.MessageType.EOS:
            self._bus_watch = 0
            self.stop("end of stream")
            return False
        return True
