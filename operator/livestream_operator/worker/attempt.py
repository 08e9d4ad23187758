"""One pipeline lifetime: an Attempt builds the worker's GStreamer graph from the
descriptions in pipeline.py, runs it until it fails, the input ends or it is
stopped, and reports an Outcome; runner.py's Supervisor retries attempts.

An Attempt composes one collaborator per role, each with its own state and lock:
the graph and its input (graph.py), the track gate and the tone's alignment
(track_gate.py), the output (output.py), the counters and A/V offset
(meters.py), and what a bus error means (errors.py). It keeps the lifecycle: the
bus watch, the timers, when to build the output, the outcome.

Threads: GStreamer calls the select-stream, pad-added and pad-probe callbacks
from its streaming threads; everything that changes pipeline state or the
supervisor runs on the GLib main loop (bus watch, timers, GLib.idle_add). A pool
worker's HTTP thread hands its assignment to the main loop the same way.

The output is built only once the input's tracks are known (or PAD_WAIT has
passed): rtspclientsink announces exactly the streams it has pads for, and
flvmux writes its header from them, so no track may be added later. It also
means no output connection sits idle while MediaMTX holds an early DESCRIBE.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

from ..api.pod_contract import InputReport  # noqa: E402
from ..api.v1alpha1 import InputLossFill, WorkerMode  # noqa: E402
from .cadence import FIRST_SAMPLE_AFTER, SAMPLE_EVERY, CadenceSample  # noqa: E402
from .config import WorkerConfig  # noqa: E402
from .errors import BusErrors, Outcome, missing_tracks, unsupported  # noqa: E402
from .fragments import Pcm  # noqa: E402
from .graph import Graph, ancestry, declared_rate, identity_stats, running_time  # noqa: E402
from .meters import Meters  # noqa: E402
from .metrics import ErrorKind, State, WorkerMetrics  # noqa: E402
from .output import Output  # noqa: E402
from .pipeline import (  # noqa: E402
    CONNECT_TIMEOUT,
    PROCESS_RATE,
    Action,
    Codec,
    classify,
    output_protocol,
)
from .processing import ProcessingStage  # noqa: E402
from .track_gate import KeyframeStart, ToneAlignment, TrackGate  # noqa: E402

EXIT_UNSUPPORTED = 3
# With fewer streams than SETUP promised, start the output anyway after this.
PAD_WAIT = 3.0
# SIGTERM: past this, exit even if an element refuses to stop.
STOP_DEADLINE = 5.0
# Counters are polled, and the A/V offset sampled, once per second (meters.py).
POLL_MS = 1000


class StreamLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Adds the stream id to every line, including lines from GStreamer threads
    (logs.bind() is a context variable and does not reach those threads)."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


def _error_code(err: Any) -> str:
    """A GstResourceError's nick ("not-found", ...), "" for other errors."""
    if err.domain != "gst-resource-error-quark":
        return ""
    try:
        return str(Gst.ResourceError(err.code).value_nick)
    except ValueError:
        return ""


class Attempt:
    """Build the pipeline, run it until it fails, the input ends or stop()."""

    def __init__(
        self,
        cfg: WorkerConfig,
        metrics: WorkerMetrics,
        log: StreamLog,
        on_done: Callable[[Outcome], None],
        stage: ProcessingStage | None = None,
        on_lost: Callable[[Attempt], None] | None = None,
    ) -> None:
        """`on_lost`: the input is lost and its last keyframe kept; the caller
        shows it on out (hold.py), then calls hand_over() to end the attempt."""
        self.cfg, self.metrics, self.log, self.on_done = cfg, metrics, log, on_done
        self.stage = stage
        self.on_lost = on_lost if cfg.hold_seconds else None
        self._lost: Outcome | None = None  # the input loss, while out is handed to a hold
        self.protocol = output_protocol(cfg.output_url)
        self.done = False
        self.flowed = False
        self.started = time.monotonic()
        self._lock = threading.Lock()  # the timers: PAD_WAIT's start in streaming threads
        self._timers: list[int] = []
        self._bus_watch = 0
        # The input video's pad, sampled for its cadence from time to time (cadence.py).
        self._video_pad: Any = None
        self._next_cadence = 0.0
        metrics.cadence = InputReport()  # a new attempt may read a new publish

        self.graph = Graph(cfg, self.protocol)
        self.meters = Meters(metrics, self.protocol, identity_stats, GLib.idle_add)
        self.gate = TrackGate(cfg.mode)
        self.output = Output(cfg, self.protocol, self.graph, self.meters, self._on_flowing)
        self.errors = BusErrors(
            cfg.mode,
            log,
            self.graph.src,
            self.output.parts,
            self.gate.rejected,
            handover=cfg.fill is InputLossFill.SLATE,
        )
        self.tone: ToneAlignment | None = None
        self.keyframe = KeyframeStart() if cfg.fill is InputLossFill.SLATE else None
        # Process mode: input audio leaves at the appsink, output audio enters at the appsrc.
        self._pcm_out: Any = None
        if cfg.mode is WorkerMode.TONE:
            self._add_tone()
        elif cfg.mode is WorkerMode.PROCESS:
            if stage is None or cfg.processing is None:
                raise RuntimeError("process mode needs its processing configuration")
            self._pcm_out, counter = self.graph.add_process_audio()
            self.meters.count(counter, self.meters.frames_out("audio"))
        self.graph.connect(self.graph.src, "select-stream", self._on_select_stream)
        self.graph.connect(self.graph.src, "pad-added", self._on_pad_added)

    # --- lifecycle (main loop) -------------------------------------------

    def start(self) -> None:
        bus = self.graph.pipeline.get_bus()
        self._bus_watch = bus.add_watch(GLib.PRIORITY_DEFAULT, self._on_bus)
        self._timers.append(GLib.timeout_add(POLL_MS, self._tick))
        if self.graph.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            self.finish(Outcome(ErrorKind.INTERNAL, "pipeline refused to start", False))

    def finish(self, outcome: Outcome) -> None:
        if self.done:
            return
        self.done = True
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            GLib.source_remove(timer)
        self.meters.poll()
        if self._bus_watch:
            self.graph.pipeline.get_bus().remove_watch()
            self._bus_watch = 0
        if self.stage is not None:
            self.stage.attach(None)
        self.graph.pipeline.set_state(Gst.State.NULL)
        self.graph.release()
        self.meters.clear()
        self.gate.clear()
        self.on_done(outcome)

    def stop(self) -> None:
        self.finish(Outcome(None, "stopped", self.flowed))

    def last_keyframe(self) -> Any:
        """The input's newest keyframe (a Gst.Sample), or None."""
        return self.graph.last_keyframe()

    def tracks(self) -> frozenset[str]:
        """The media of the output's tracks."""
        return frozenset(self.graph.branches())

    def hand_over(self) -> None:
        """End the attempt whose input was lost (main loop): out is another's now."""
        if self._lost is not None:
            self.finish(self._lost)

    def _input_lost(self, outcome: Outcome) -> bool:
        """Hand out to a hold of the last keyframe rather than end now (bus watch):
        the output stays until the hold is taken, so readers see no slate between."""
        if self.on_lost is None or not outcome.absent or self.last_keyframe() is None:
            return False
        self._lost = outcome
        self._bus_watch = 0  # the watch is removed as _on_bus returns False
        self.on_lost(self)
        return True

    def _finish_later(self, outcome: Outcome) -> None:
        """finish() from a streaming thread: state changes belong to the main loop."""

        def run() -> bool:
            self.finish(outcome)
            return False

        GLib.idle_add(run)

    # --- building ---------------------------------------------------------

    def _add_tone(self) -> None:
        tone = self.graph.add_tone()
        self.meters.count(tone.counter_out, self.meters.frames_out("audio"))
        self.tone = ToneAlignment(
            self.graph.block(tone.source_pad),  # held whole until the output exists
            functools.partial(self.graph.block_frames, tone.gate_pad),
            tone.gate_pad.set_offset,
        )

    def _add_track(self, pad: Any, codec: Codec) -> None:
        """Depayload and parse one RTP pad, held at its X_in counter until the
        gate opens (with the output's admission)."""
        media = codec.media
        track = self.graph.add_track(codec)
        release = self.graph.block(track.held_pad)
        self.meters.count(track.counter_in, self.meters.input(media))
        # The branch that goes on to the output: process mode's audio ends at the
        # appsink, and its output branch is the appsrc's (Graph.add_process_audio).
        if track.pcm_sink is not None:
            self.graph.connect(track.pcm_sink, "new-sample", self._on_pcm)
        if track.counter_out is not None:
            self.meters.count(track.counter_out, self.meters.frames_out(media))
        if self.keyframe is not None:
            self.graph.probe(track.held_pad, functools.partial(self._until_keyframe, media))
        if media == "video":
            self._video_pad = track.held_pad
        if media == "video" and self.tone is not None:
            self.graph.probe(track.held_pad, self._on_first_video)
        self.graph.start_track(track, pad)
        self.gate.hold(release)
        if track.counter_out is not None:
            self.graph.add_branch(media, track.counter_out)

    def _on_pcm(self, sink: Any) -> Any:
        """One fragment of the input's audio (streaming thread): to the backend."""
        sample = sink.emit("pull-sample")
        if sample is None:
            return Gst.FlowReturn.EOS
        buf = sample.get_buffer()
        if buf.pts != Gst.CLOCK_TIME_NONE and self.stage is not None:
            rt = sample.get_segment().to_running_time(Gst.Format.TIME, buf.pts)
            if rt != Gst.CLOCK_TIME_NONE:
                self.stage.submit(int(rt), buf.extract_dup(0, buf.get_size()))
        return Gst.FlowReturn.OK

    def _push_pcm(self, pts_ns: int, pcm: Pcm) -> None:
        """What goes out for one fragment (the stage's thread), at its input time."""
        src = self._pcm_out
        if self.done or src is None:
            return
        buf = Gst.Buffer.new_wrapped(pcm.tobytes())
        buf.pts = pts_ns
        buf.duration = pcm.shape[0] * Gst.SECOND // PROCESS_RATE
        src.emit("push-buffer", buf)

    def _on_select_stream(self, _src: Any, _num: int, caps: Any) -> bool:
        s = caps.get_structure(0)
        codec = classify(s.get_string("media") or "", s.get_string("encoding-name") or "")
        action = self.gate.select(codec)
        self.log.info(
            "input stream %s %s: %s",
            codec.media,
            codec.label,
            action.value,
            extra={
                "media": codec.media,
                "codec": codec.label,
                "encodingName": codec.encoding,
                "action": action.value,
            },
        )
        if action is Action.REJECT:
            self._finish_later(unsupported(self.cfg.mode, codec))
        return action is Action.USE

    def _on_pad_added(self, _src: Any, pad: Any) -> None:
        caps = pad.get_current_caps() or pad.query_caps(None)
        s = caps.get_structure(0)
        codec = classify(s.get_string("media") or "", s.get_string("encoding-name") or "")
        if self.done or not self.gate.uses(codec):
            return
        media = codec.media
        try:
            with self.output.admission() as late:
                if late:
                    self._drop_late(pad, media)
                    return
                self._add_track(pad, codec)
                complete = self.gate.arrived(media)
        except RuntimeError as exc:
            self._finish_later(Outcome(ErrorKind.INTERNAL, str(exc), False))
            return
        if complete:
            self._release_blocks()
        else:
            with self._lock:
                self._timers.append(
                    GLib.timeout_add(int(PAD_WAIT * 1000), self._release_blocks_timeout)
                )

    def _drop_late(self, pad: Any, media: str) -> None:
        """A track after the output started cannot join it: drain it unseen."""
        self.log.warning(
            "the %s track arrived after the output started; dropped", media, extra={"media": media}
        )
        self.graph.drain(pad)

    def _release_blocks_timeout(self) -> bool:
        with self._lock:  # it fires once: finish() must not remove it again
            self._timers = [t for t in self._timers if t != GLib.main_current_source().get_id()]
        if not self.done:
            self._release_blocks()
        return False

    def _release_blocks(self) -> None:
        """Build the output with the tracks there are, then let the frames go."""
        missing = self.gate.missing()
        if missing:
            self._finish_later(missing_tracks(self.cfg.mode, missing))
            return
        try:
            self.output.build(lambda: self.done)
        except RuntimeError as exc:
            self._finish_later(Outcome(ErrorKind.INTERNAL, str(exc), False))
            return
        if self.tone is not None and self.output.ready:
            self.tone.output_ready()
        if self.stage is not None:
            self.stage.attach(self._push_pcm)
        self.gate.open()

    # --- probes (streaming threads) ----------------------------------------

    def _until_keyframe(self, media: str, pad: Any, info: Any) -> Any:
        """Frames before the input's first keyframe are dropped (KeyframeStart)."""
        assert self.keyframe is not None
        buf = info.get_buffer()
        if self.keyframe.admit(media, bool(buf.get_flags() & Gst.BufferFlags.DELTA_UNIT)):
            return self.graph.forget(pad, info)
        return Gst.PadProbeReturn.DROP

    def _on_first_video(self, pad: Any, info: Any) -> Any:
        """Tone mode: the tone starts at the running time of the first video frame."""
        rt = running_time(pad, info.get_buffer())
        if rt is None or rt < 0 or self.tone is None:
            return Gst.PadProbeReturn.OK
        self.tone.first_video(rt)
        return self.graph.forget(pad, info)

    # --- main loop callbacks ----------------------------------------------

    def _on_flowing(self) -> bool:
        self.flowed = True
        self._next_cadence = time.monotonic() + FIRST_SAMPLE_AFTER
        if not self.done:
            self.metrics.set_state(State.RUNNING)
            self.log.info(
                "output flowing",
                extra={
                    "output": self.cfg.output_url,
                    "protocol": self.protocol.value,
                    "secondsToFirstFrame": round(time.monotonic() - self.started, 3),
                },
            )
        return False

    def _sample_cadence(self, now: float) -> None:
        """Probe the input video for one GOP (streaming thread), then leave."""
        if self._video_pad is None or now < self._next_cadence:
            return
        self._next_cadence = now + SAMPLE_EVERY
        sample = CadenceSample(declared_rate(self._video_pad.get_current_caps()))

        def probe(pad: Any, info: Any) -> Any:
            buf = info.get_buffer()
            pts = buf.pts if buf.pts != Gst.CLOCK_TIME_NONE else None
            key = not buf.has_flags(Gst.BufferFlags.DELTA_UNIT)
            measured = sample.add(pts, key)
            if measured is None:
                return Gst.PadProbeReturn.OK
            GLib.idle_add(self.metrics.measured, measured)
            return self.graph.forget(pad, info)

        self.graph.probe(self._video_pad, probe)

    def _tick(self) -> bool:
        self.meters.poll()
        now = time.monotonic()
        if self.flowed and not self.meters.sampling:
            self.output.sample_av_offset(self.meters.begin_sample)
        if self.flowed:
            self._sample_cadence(now)
        if not self.flowed and now - self.started > CONNECT_TIMEOUT:
            self.finish(
                Outcome(ErrorKind.STALL, f"no output within {CONNECT_TIMEOUT:.0f} s", False)
            )
            return False
        if self.flowed and now - self.meters.last_input > self.cfg.stall_timeout:
            self.finish(
                Outcome(ErrorKind.STALL, f"no input frame for {self.cfg.stall_timeout:.0f} s", True)
            )
            return False
        return True

    def _on_bus(self, _bus: Any, msg: Any) -> bool:
        if self.done:
            return False
        if msg.type == Gst.MessageType.ERROR:
            err, debug = msg.parse_error()
            self.finish(
                self.errors.error(
                    ancestry(msg.src),
                    msg.src.get_name(),
                    err.message,
                    domain=err.domain,
                    code=_error_code(err),
                    debug=debug,
                    flowed=self.flowed,
                    waited_s=time.monotonic() - self.started,
                )
            )
            return False
        if msg.type == Gst.MessageType.EOS:
            self.finish(self.errors.eos(self.flowed))
            return False
        if msg.type == Gst.MessageType.WARNING:
            warn, debug = msg.parse_warning()
            self.log.warning(
                "pipeline warning from %s: %s",
                msg.src.get_name(),
                warn.message,
                extra={"element": msg.src.get_name(), "debug": debug},
            )
            ended = self.errors.warning(ancestry(msg.src), warn.message, flowed=self.flowed)
            if ended is not None:
                if not self._input_lost(ended):
                    self.finish(ended)
                return False
        return True
