"""One pipeline lifetime: an Attempt builds the worker's GStreamer graph from the
descriptions in pipeline.py, runs it until it fails, the input ends or it is
stopped, and reports an Outcome; runner.py's Supervisor retries attempts.

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

import itertools
import logging
import threading
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

from ..api.v1alpha1 import OutputProtocol, WorkerMode  # noqa: E402
from .config import WorkerConfig  # noqa: E402
from .fragments import Pcm  # noqa: E402
from .metrics import ErrorKind, State, WorkerMetrics  # noqa: E402
from .pipeline import (  # noqa: E402
    AAC_ENCODERS,
    CONNECT_TIMEOUT,
    PCM_IN,
    PROCESS_CHANNELS,
    PROCESS_RATE,
    RTMP_SINKS,
    TONE_GATE,
    Action,
    Codec,
    Element,
    av_offset,
    classify,
    counter_name,
    decide,
    delayed_video_chain,
    flv_tag,
    input_absent,
    link_order,
    output_chain,
    output_pad,
    output_protocol,
    payloader,
    pcm_capture_chain,
    pcm_output_chain,
    pick,
    process_delay_ns,
    prop_string,
    required_factories,
    required_media,
    source,
    tone_chain,
    track_chain,
    unsupported_reason,
    with_query_credentials,
)
from .processing import ProcessingStage  # noqa: E402

EXIT_UNSUPPORTED = 3
# With fewer streams than SETUP promised, start the output anyway after this.
PAD_WAIT = 3.0
# SIGTERM: past this, exit even if an element refuses to stop.
STOP_DEADLINE = 5.0
# Counters are polled, and the A/V offset sampled, once per second: Python
# never runs per frame (a PyGObject probe call costs more than the remux).
POLL_MS = 1000
SAMPLE_BUFFERS = 16  # frames inspected per A/V offset sample (~0.2 s of stream)
_EMA = 0.3  # smoothing of the A/V offset gauge, per sample


class StreamLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Adds the stream id to every line, including lines from GStreamer threads
    (logs.bind() is a context variable and does not reach those threads)."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


@dataclass(frozen=True)
class Outcome:
    kind: ErrorKind | None  # None: stopped on request
    detail: str
    flowed: bool
    codec: str = ""
    absent: bool = False  # the input is not published (yet): retry quickly, quietly


def _keep_blocked(*_: Any) -> Any:
    return Gst.PadProbeReturn.OK


def make(spec: Element) -> Any:
    element = Gst.ElementFactory.make(spec.factory, spec.name)
    if element is None:
        raise RuntimeError(f"GStreamer element {spec.factory!r} is not installed")
    for key, value in spec.props:
        Gst.util_set_object_arg(element, key, prop_string(value))
    return element


def missing_factories(mode: WorkerMode | None, protocol: OutputProtocol | None) -> list[str]:
    """Roles without an installed factory; None: every mode / both outputs."""
    modes = list(WorkerMode) if mode is None else [mode]
    missing = [
        "|".join(alts)
        for m in modes
        for alts in required_factories(m, protocol)
        if not any(Gst.ElementFactory.find(f) for f in alts)
    ]
    return list(dict.fromkeys(missing))


def installed(factories: tuple[str, ...]) -> str:
    found = pick(factories, [f for f in factories if Gst.ElementFactory.find(f)])
    if found is None:
        raise RuntimeError(f"none of {factories} is installed")
    return found


def _send_unsynced(_bin: Any, _sub_bin: Any, element: Any) -> None:
    """rtspclientsink's RTP appsinks wait for each frame's running time plus the
    pipeline latency (the stream's "rate-control", not a property of the sink
    in GStreamer 1.22): 100 ms more per frame for nothing, as the frames arrive
    paced already. Like rtmp2sink sync=false, send each frame at once."""
    factory = element.get_factory()
    if factory is not None and factory.get_name() == "appsink":
        element.set_property("sync", False)


def _running_time(pad: Any, buf: Any) -> int | None:
    event = pad.get_sticky_event(Gst.EventType.SEGMENT, 0)
    if event is None or buf.pts == Gst.CLOCK_TIME_NONE:
        return None
    rt = event.parse_segment().to_running_time(Gst.Format.TIME, buf.pts)
    return None if rt == Gst.CLOCK_TIME_NONE else int(rt)


class Attempt:
    """Build the pipeline, run it until it fails, the input ends or stop()."""

    def __init__(
        self,
        cfg: WorkerConfig,
        metrics: WorkerMetrics,
        log: StreamLog,
        on_done: Callable[[Outcome], None],
        stage: ProcessingStage | None = None,
    ) -> None:
        self.cfg, self.metrics, self.log, self.on_done = cfg, metrics, log, on_done
        self.stage = stage
        self.protocol = output_protocol(cfg.output_url)
        self.done = False
        self.flowed = False
        self.started = time.monotonic()
        self.last_input = 0.0
        self._lock = threading.Lock()
        # Serialises adding a track with building the output: a track either
        # makes it into the output or arrives late, never half-way.
        self._output_lock = threading.Lock()
        self._expected: set[str] = set()  # media selected at SETUP
        self._linked: set[str] = set()
        self._blocks: list[tuple[Any, int]] = []  # (pad, probe id) held until the output exists
        self._branches: dict[str, Any] = {}  # media -> last element, linked to the output later
        self._out_pads: dict[str, Any] = {}  # media -> src pad of its X_out counter
        self._rejected: list[Codec] = []
        # counter element name -> (element, metric updater, last (buffers, bytes))
        self._counters: dict[str, tuple[Any, Callable[[int, int], None], list[int]]] = {}
        self._offset: float | None = None
        self._sampling = False
        self._signalled_flowing = False
        # The tone: held whole at its source, then its frames at the gate.
        self._tone_hold: tuple[Any, int] | None = None
        self._tone_gate: Any = None
        self._tone_gate_probe: int | None = None
        self._tone_start: int | None = None  # running time of the first video frame
        self._timers: list[int] = []
        # Probes and handlers whose closures reference this object: removed in
        # finish(), or the pipeline and this Attempt would keep each other alive
        # (PyGObject cannot see references held by C closures).
        self._probes: list[tuple[Any, int]] = []
        self._handlers: list[int] = []
        self._bus_watch = 0
        self.out: Any = None  # the sink, once the output is being built
        self._output_ready = False  # built and linked to every track
        self.mux: Any = None  # flvmux (RTMP only)
        self._mux_out_pad: Any = None

        self.pipeline = Gst.Pipeline.new("worker")
        self.src = make(source(cfg.input_url, cfg.latency_ms))
        if cfg.media_user:  # set here, not in the description: it is printed
            self.src.set_property("user-id", cfg.media_user)
            self.src.set_property("user-pw", cfg.media_password)
        self.pipeline.add(self.src)
        # Process mode: input audio leaves at the appsink, output audio enters at the appsrc.
        self._pcm_out: Any = None
        self._pcm_handler: tuple[Any, int] | None = None
        self._delay_ns = (
            process_delay_ns(cfg.processing.fragment_ms, cfg.processing.deadline_ms)
            if cfg.processing is not None
            else 0
        )
        if cfg.mode is WorkerMode.TONE:
            self._build_tone()
        elif cfg.mode is WorkerMode.PROCESS:
            if stage is None or cfg.processing is None:
                raise RuntimeError("process mode needs its processing configuration")
            self._build_process()
        self._handlers += [
            self.src.connect("select-stream", self._on_select_stream),
            self.src.connect("pad-added", self._on_pad_added),
        ]

    # --- lifecycle (main loop) -------------------------------------------

    def start(self) -> None:
        bus = self.pipeline.get_bus()
        self._bus_watch = bus.add_watch(GLib.PRIORITY_DEFAULT, self._on_bus)
        self._timers.append(GLib.timeout_add(POLL_MS, self._tick))
        if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            self.finish(Outcome(ErrorKind.INTERNAL, "pipeline refused to start", False))

    def finish(self, outcome: Outcome) -> None:
        if self.done:
            return
        self.done = True
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            GLib.source_remove(timer)
        self._poll_counters()
        if self._bus_watch:
            self.pipeline.get_bus().remove_watch()
            self._bus_watch = 0
        if self.stage is not None:
            self.stage.attach(None)
        self.pipeline.set_state(Gst.State.NULL)
        self._release_closures()
        self.on_done(outcome)

    def _release_closures(self) -> None:
        for handler in self._handlers:
            self.src.disconnect(handler)
        self._handlers.clear()
        if self._pcm_handler is not None:
            sink, handler = self._pcm_handler
            sink.disconnect(handler)
            self._pcm_handler = None
        with self._lock:
            probes, self._probes = self._probes, []
            self._counters.clear()
            self._blocks.clear()
            self._branches.clear()
            self._out_pads.clear()
        for pad, probe in probes:
            pad.remove_probe(probe)

    def stop(self) -> None:
        self.finish(Outcome(None, "stopped", self.flowed))

    def _finish_later(self, outcome: Outcome) -> None:
        """finish() from a streaming thread: state changes belong to the main loop."""

        def run() -> bool:
            self.finish(outcome)
            return False

        GLib.idle_add(run)

    # --- building ---------------------------------------------------------

    def _build_tone(self) -> None:
        paced = self.protocol is OutputProtocol.RTSP
        elements = self._add_chain(
            tone_chain(self.cfg.tone_hz, installed(AAC_ENCODERS), paced=paced)
        )
        self._branches["audio"] = elements[-1]
        self._out_pads["audio"] = elements[-1].get_static_pad("src")
        self._count(elements[-1], self._count_frames_out("audio"))
        # Held entirely until the output exists (see _start_tone).
        tone_pad = elements[0].get_static_pad("src")
        probe = tone_pad.add_probe(Gst.PadProbeType.BLOCK_DOWNSTREAM, _keep_blocked)
        self._tone_hold = (tone_pad, probe)
        gate = next(e for e in elements if e.get_name() == TONE_GATE)
        self._tone_gate = gate.get_static_pad("src")

    def _build_process(self) -> None:
        """The output's audio: PCM pushed by _push_pcm, encoded, held like the video."""
        elements = self._add_chain(
            pcm_output_chain(
                installed(AAC_ENCODERS),
                PROCESS_RATE,
                PROCESS_CHANNELS,
                self._delay_ns,
                self.cfg.latency_ms,
            )
        )
        self._pcm_out = elements[0]
        self._branches["audio"] = elements[-1]
        self._out_pads["audio"] = elements[-1].get_static_pad("src")
        self._count(elements[-1], self._count_frames_out("audio"))

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

    def _add_chain(self, specs: list[Element]) -> list[Any]:
        elements = [make(e) for e in specs]
        for element in elements:
            self.pipeline.add(element)
        for up, down in itertools.pairwise(elements):
            if not up.link(down):
                raise RuntimeError(f"cannot link {up.get_name()} to {down.get_name()}")
        return elements

    def _build_output(self) -> None:
        """Add the output and link every track to it (with _output_lock)."""
        cfg = self.cfg
        rtsp = self.protocol is OutputProtocol.RTSP
        if rtsp:
            elements = self._add_chain(output_chain(cfg.output_url, self.protocol))
        else:
            url = with_query_credentials(cfg.output_url, cfg.media_user, cfg.media_password)
            elements = self._add_chain(output_chain(url, self.protocol, installed(RTMP_SINKS)))
        head, self.out = elements[0], elements[-1]
        if rtsp:
            self.out.connect("deep-element-added", _send_unsynced)
            if cfg.media_user:  # on the element: the URL and the launch line are printed
                self.out.set_property("user-id", cfg.media_user)
                self.out.set_property("user-pw", cfg.media_password)
        else:
            self.mux, mux_out = head, elements[1]
            self._count(mux_out, self._count_output)
            self._mux_out_pad = mux_out.get_static_pad("src")
            self._probe(self._mux_out_pad, self._on_first_output)
        for media in link_order(self._branches, self.protocol):
            pad = head.request_pad_simple(output_pad(self.protocol, media))
            if pad is None:
                raise RuntimeError(f"{head.get_name()} gave no pad for the {media} track")
            if rtsp:
                pad.set_property("payloader", make(payloader(media)))
            src_pad = self._branches[media].get_static_pad("src")
            if src_pad.link(pad) != Gst.PadLinkReturn.OK:
                raise RuntimeError(f"cannot link the {media} track to {head.get_name()}")
            if rtsp:
                self._watch_record(src_pad)
        for element in reversed(elements):
            element.sync_state_with_parent()
        with self._lock:
            self._output_ready = True

    def _on_select_stream(self, _src: Any, _num: int, caps: Any) -> bool:
        s = caps.get_structure(0)
        codec = classify(s.get_string("media") or "", s.get_string("encoding-name") or "")
        action = decide(self.cfg.mode, codec)
        with self._lock:
            if action is Action.REJECT:
                self._rejected.append(codec)
            elif action is Action.USE and codec.media in self._expected:
                action = Action.SKIP  # one track per media: the output has one of each
            elif action is Action.USE:
                self._expected.add(codec.media)
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
            self._finish_later(
                Outcome(
                    ErrorKind.UNSUPPORTED,
                    unsupported_reason(self.cfg.mode, codec),
                    False,
                    codec.label,
                )
            )
        return action is Action.USE

    def _on_pad_added(self, _src: Any, pad: Any) -> None:
        caps = pad.get_current_caps() or pad.query_caps(None)
        s = caps.get_structure(0)
        codec = classify(s.get_string("media") or "", s.get_string("encoding-name") or "")
        if self.done or decide(self.cfg.mode, codec) is not Action.USE:
            return  # rejected streams end the attempt; skipped ones were never set up
        media = codec.media
        try:
            with self._output_lock:
                if self.out is not None:
                    self._drop_late(pad, media)
                    return
                self._build_track(pad, codec)
                with self._lock:
                    self._linked.add(media)
                    complete = self._linked >= self._expected
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

    def _build_track(self, pad: Any, codec: Codec) -> None:
        """Depayload and parse one RTP pad, held before its X_out counter (with _output_lock)."""
        media = codec.media
        tone = self.cfg.mode is WorkerMode.TONE
        processing = self.cfg.processing if self.cfg.mode is WorkerMode.PROCESS else None
        if processing is not None and media == "audio":
            specs = pcm_capture_chain(codec, processing.fragment_ms, PROCESS_RATE, PROCESS_CHANNELS)
        elif processing is not None:
            specs = delayed_video_chain(codec, self._delay_ns)
        else:
            specs = track_chain(codec)
        elements = self._add_chain(specs)
        named = {e.get_name(): e for e in elements}
        held_pad = named[counter_name(media, "in")].get_static_pad("src")
        # Held until every selected track has its branch and the output is
        # built with all of them (see the module docstring).
        probe = held_pad.add_probe(Gst.PadProbeType.BLOCK_DOWNSTREAM, _keep_blocked)
        self._count(named[counter_name(media, "in")], self._count_input(media))
        # The branch that goes on to the output: process mode's audio ends at the
        # appsink, and its output branch is the appsrc's (_build_process).
        last = named.get(counter_name(media, "out"))
        if PCM_IN in named:
            sink = named[PCM_IN]
            self._pcm_handler = (sink, sink.connect("new-sample", self._on_pcm))
        if last is not None:
            self._count(last, self._count_frames_out(media))
        if media == "video" and tone:
            self._probe(held_pad, self._on_first_video)
        for element in elements:
            element.sync_state_with_parent()
        if pad.link(elements[0].get_static_pad("sink")) != Gst.PadLinkReturn.OK:
            raise RuntimeError(f"cannot link the {media} RTP pad")
        with self._lock:
            self._blocks.append((held_pad, probe))
            if last is not None:
                self._branches[media] = last
                self._out_pads[media] = last.get_static_pad("src")

    def _drop_late(self, pad: Any, media: str) -> None:
        """A track after the output started cannot join it: drain it unseen."""
        self.log.warning(
            "the %s track arrived after the output started; dropped", media, extra={"media": media}
        )
        drain = make(Element("fakesink", (("sync", False), ("async", False))))
        self.pipeline.add(drain)
        drain.sync_state_with_parent()
        pad.link(drain.get_static_pad("sink"))

    def _release_blocks_timeout(self) -> bool:
        with self._lock:  # it fires once: finish() must not remove it again
            self._timers = [t for t in self._timers if t != GLib.main_current_source().get_id()]
        if not self.done:
            self._release_blocks()
        return False

    def _release_blocks(self) -> None:
        """Build the output with the tracks there are, then let the frames go."""
        with self._lock:
            missing = required_media(self.cfg.mode) - self._linked
        if missing:
            self._finish_later(
                Outcome(
                    ErrorKind.UNSUPPORTED,
                    f"the input has no usable {'/'.join(sorted(missing))} "
                    f"track; the {self.cfg.mode.value} worker needs one",
                    False,
                    "none",
                )
            )
            return
        try:
            with self._output_lock:
                if self.out is None and not self.done:
                    self._build_output()
        except RuntimeError as exc:
            self._finish_later(Outcome(ErrorKind.INTERNAL, str(exc), False))
            return
        self._start_tone()
        if self.stage is not None:
            self.stage.attach(self._push_pcm)
        with self._lock:
            blocks, self._blocks = self._blocks, []
        for pad, probe in blocks:
            pad.remove_probe(probe)

    # --- counting (main loop) -----------------------------------------------

    def _count(self, element: Any, update: Callable[[int, int], None]) -> None:
        with self._lock:
            self._counters[element.get_name()] = (element, update, [0, 0])

    def _count_input(self, media: str) -> Callable[[int, int], None]:
        frames = self.metrics.input_frames.labels(media)
        size = self.metrics.input_bytes.labels(media)

        def update(buffers: int, nbytes: int) -> None:
            frames.inc(buffers)
            size.inc(nbytes)
            self.last_input = time.monotonic()

        return update

    def _count_frames_out(self, media: str) -> Callable[[int, int], None]:
        frames = self.metrics.output_frames.labels(media)
        if self.protocol is OutputProtocol.RTMP:
            return lambda buffers, _nbytes: frames.inc(buffers)

        def update(buffers: int, nbytes: int) -> None:
            # No muxer: what the tracks hand to rtspclientsink is the output.
            frames.inc(buffers)
            self.metrics.output_bytes.inc(nbytes)

        return update

    def _count_output(self, _buffers: int, nbytes: int) -> None:
        self.metrics.output_bytes.inc(nbytes)

    def _poll_counters(self) -> None:
        """Move the identity elements' counts into the Prometheus counters."""
        with self._lock:
            counters = list(self._counters.values())
        for element, update, last in counters:
            stats = element.get_property("stats")
            buffers, nbytes = stats.get_value("num-buffers"), stats.get_value("num-bytes")
            if buffers > last[0]:
                update(buffers - last[0], nbytes - last[1])
                last[0], last[1] = buffers, nbytes

    # --- probes (streaming threads) ----------------------------------------

    def _probe(self, pad: Any, callback: Callable[[Any, Any], Any]) -> None:
        probe = pad.add_probe(Gst.PadProbeType.BUFFER, callback)
        with self._lock:
            self._probes.append((pad, probe))

    def _forget(self, pad: Any, info: Any) -> Any:
        """A one-shot probe is done: GStreamer removes it, finish() must not."""
        with self._lock:
            self._probes = [(p, i) for p, i in self._probes if not (p == pad and i == info.id)]
        return Gst.PadProbeReturn.REMOVE

    def _on_first_video(self, pad: Any, info: Any) -> Any:
        """Tone mode: the tone starts at the running time of the first video frame."""
        rt = _running_time(pad, info.get_buffer())
        if rt is None or rt < 0:
            return Gst.PadProbeReturn.OK
        with self._lock:
            self._tone_start = rt
        self._start_tone()
        return self._forget(pad, info)

    def _start_tone(self) -> None:
        """Release the tone as what it waits for becomes known.

        Sample 0 of the tone plays with video frame 0: its frames wait at the
        gate for the first video frame, whose running time becomes the gate's
        offset (GStreamer re-sends the segment with it before the next frame).
        Its events wait only for the output: rtspclientsink holds the video's
        caps, and so its first frame, until every track has caps, the tone's
        included (the tone's caps come with its first encoded frame).
        """
        frames = Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST
        with self._lock:  # one caller makes each step; these pad calls do not re-enter
            if not self._output_ready:
                return
            start = self._tone_start
            if self._tone_hold is not None:
                pad, probe = self._tone_hold
                self._tone_hold = None
                if start is None:
                    self._tone_gate_probe = self._tone_gate.add_probe(
                        Gst.PadProbeType.BLOCK | frames, _keep_blocked
                    )
                else:
                    self._tone_gate.set_offset(start)
                pad.remove_probe(probe)
            elif self._tone_gate_probe is not None and start is not None:
                self._tone_gate.set_offset(start)
                self._tone_gate.remove_probe(self._tone_gate_probe)
                self._tone_gate_probe = None

    def _on_first_output(self, pad: Any, info: Any) -> Any:
        """RTMP: the first FLV tag out of flvmux."""
        self._signal_flowing()
        return self._forget(pad, info)

    def _watch_record(self, pad: Any) -> None:
        """RTSP: a track's second frame reaching rtspclientsink means its first
        one got through, which it only does once RECORD was answered (until then
        the sink holds it in preroll): MediaMTX has made the path available."""
        seen = [0]

        def probe(pad: Any, info: Any) -> Any:
            seen[0] += 1
            if seen[0] < 2:
                return Gst.PadProbeReturn.OK
            self._signal_flowing()
            return self._forget(pad, info)

        self._probe(pad, probe)

    def _signal_flowing(self) -> None:
        with self._lock:
            first, self._signalled_flowing = not self._signalled_flowing, True
        if first:
            GLib.idle_add(self._on_flowing)

    def _sample_av_offset(self) -> None:
        """Collect the next SAMPLE_BUFFERS (track, time) samples of the output and
        turn them into one A/V offset sample: for RTMP the FLV tags leaving flvmux
        (interleaved by timestamp, as sent), for RTSP the frames handed to
        rtspclientsink (no muxer: each track on its own pad)."""
        with self._lock:
            pads = dict(self._out_pads)
            mux_out = self._mux_out_pad
        samples: list[tuple[str, int]] = []
        done = [False]

        def add(sample: tuple[str, int] | None) -> bool:
            """Record a sample; True once this sampling is over."""
            with self._lock:
                if not done[0] and sample is not None:
                    samples.append(sample)
                    if len(samples) >= SAMPLE_BUFFERS:
                        done[0] = True  # other probes of this sampling leave on their next frame
                        self._sampling = False
                        offset = av_offset(samples)
                        if offset is not None:
                            GLib.idle_add(self._record_offset, offset)
                return done[0]

        def flv(pad: Any, info: Any) -> Any:
            buf = info.get_buffer()
            tag = flv_tag(buf.extract_dup(0, 8)) if buf.get_size() >= 11 else None
            finished = add((tag[0], tag[1] * 1_000_000) if tag else None)
            return self._forget(pad, info) if finished else Gst.PadProbeReturn.OK

        def frames(media: str) -> Callable[[Any, Any], Any]:
            def probe(pad: Any, info: Any) -> Any:
                rt = _running_time(pad, info.get_buffer())
                finished = add((media, rt) if rt is not None else None)
                return self._forget(pad, info) if finished else Gst.PadProbeReturn.OK

            return probe

        if mux_out is not None:
            self._sampling = True
            self._probe(mux_out, flv)
        elif set(pads) == {"video", "audio"}:
            self._sampling = True
            for media, pad in pads.items():
                self._probe(pad, frames(media))

    def _record_offset(self, sample: float) -> bool:
        self._offset = (
            sample if self._offset is None else self._offset + _EMA * (sample - self._offset)
        )
        self.metrics.av_sync_delta_ms.set(self._offset * 1000)
        return False

    # --- main loop callbacks ----------------------------------------------

    def _on_flowing(self) -> bool:
        self.flowed = True
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

    def _tick(self) -> bool:
        self._poll_counters()
        if self.flowed and not self._sampling:
            self._sample_av_offset()
        now = time.monotonic()
        if not self.flowed and now - self.started > CONNECT_TIMEOUT:
            self.finish(
                Outcome(ErrorKind.STALL, f"no output within {CONNECT_TIMEOUT:.0f} s", False)
            )
            return False
        if self.flowed and now - self.last_input > self.cfg.stall_timeout:
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
            kind = self._error_kind(msg.src)
            with self._lock:
                rejected = list(self._rejected)
            if rejected:  # rtspsrc errors out when no stream is left to set up
                codec = rejected[0]
                self.finish(
                    Outcome(
                        ErrorKind.UNSUPPORTED,
                        unsupported_reason(self.cfg.mode, codec),
                        False,
                        codec.label,
                    )
                )
                return False
            if kind is ErrorKind.INPUT and not self.flowed and self._absent(err, debug or ""):
                self.finish(Outcome(kind, err.message, False, absent=True))
                return False
            self.log.warning(
                "pipeline error from %s: %s",
                msg.src.get_name(),
                err.message,
                extra={"element": msg.src.get_name(), "debug": debug, "errorKind": kind.value},
            )
            self.finish(Outcome(kind, err.message, self.flowed))
            return False
        if msg.type == Gst.MessageType.EOS:
            self.finish(Outcome(ErrorKind.INPUT, "end of stream", self.flowed))
            return False
        if msg.type == Gst.MessageType.WARNING:
            warn, debug = msg.parse_warning()
            self.log.warning(
                "pipeline warning from %s: %s",
                msg.src.get_name(),
                warn.message,
                extra={"element": msg.src.get_name(), "debug": debug},
            )
        return True

    def _absent(self, err: Any, debug: str) -> bool:
        code = ""
        if err.domain == "gst-resource-error-quark":
            try:
                code = Gst.ResourceError(err.code).value_nick
            except ValueError:
                code = ""
        return input_absent(err.domain, code, debug, time.monotonic() - self.started)

    def _error_kind(self, element: Any) -> ErrorKind:
        while element is not None:
            if element == self.src:
                return ErrorKind.INPUT
            if element in (self.out, self.mux):
                return ErrorKind.OUTPUT
            element = element.get_parent()
        return ErrorKind.INTERNAL
