"""GStreamer glue: an Attempt is one pipeline lifetime, the Supervisor retries them.

Threads: GStreamer calls the select-stream, pad-added and pad-probe callbacks
from its streaming threads; everything that changes pipeline state or the
supervisor runs on the GLib main loop (bus watch, timers, GLib.idle_add).
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

from ..api.v1alpha1 import WorkerMode  # noqa: E402
from .config import WorkerConfig  # noqa: E402
from .metrics import ErrorKind, State, WorkerMetrics  # noqa: E402
from .pipeline import (  # noqa: E402
    AAC_ENCODERS,
    RTMP_SINKS,
    Action,
    Codec,
    Element,
    backoff,
    classify,
    counter_name,
    decide,
    flv_tag,
    launch_line,
    output_chain,
    pick,
    prop_string,
    required_factories,
    required_media,
    source,
    tone_chain,
    track_chain,
    unsupported_reason,
    with_credentials,
)

EXIT_UNSUPPORTED = 3
# Before the first frame: how long a connected-but-silent input may take.
CONNECT_TIMEOUT = 15.0
# With fewer streams than SETUP promised, start muxing anyway after this.
PAD_WAIT = 3.0
# SIGTERM: past this, exit even if an element refuses to stop.
STOP_DEADLINE = 5.0
# Counters are polled, and the A/V offset sampled, once per second: Python
# never runs per frame (a PyGObject probe call costs more than the remux).
POLL_MS = 1000
SAMPLE_TAGS = 16  # FLV tags inspected per A/V offset sample (~0.25 s of stream)
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


def _keep_blocked(*_: Any) -> Any:
    return Gst.PadProbeReturn.OK


def make(spec: Element) -> Any:
    element = Gst.ElementFactory.make(spec.factory, spec.name)
    if element is None:
        raise RuntimeError(f"GStreamer element {spec.factory!r} is not installed")
    for key, value in spec.props:
        Gst.util_set_object_arg(element, key, prop_string(value))
    return element


def missing_factories(mode: WorkerMode) -> list[str]:
    return [
        "|".join(alts)
        for alts in required_factories(mode)
        if not any(Gst.ElementFactory.find(f) for f in alts)
    ]


def _installed(factories: tuple[str, ...]) -> str:
    found = pick(factories, [f for f in factories if Gst.ElementFactory.find(f)])
    if found is None:
        raise RuntimeError(f"none of {factories} is installed")
    return found


class Attempt:
    """Build the pipeline, run it until it fails, the input ends or stop()."""

    def __init__(
        self,
        cfg: WorkerConfig,
        metrics: WorkerMetrics,
        log: StreamLog,
        on_done: Callable[[Outcome], None],
    ) -> None:
        self.cfg, self.metrics, self.log, self.on_done = cfg, metrics, log, on_done
        self.done = False
        self.flowed = False
        self.started = time.monotonic()
        self.last_input = 0.0
        self._lock = threading.Lock()
        self._expected: set[str] = set()  # media selected at SETUP
        self._linked: set[str] = set()
        self._blocks: list[tuple[Any, int]] = []  # (pad, probe id) held until all tracks exist
        self._rejected: list[Codec] = []
        # counter element name -> (element, metric updater, last (buffers, bytes))
        self._counters: dict[str, tuple[Any, Callable[[int, int], None], list[int]]] = {}
        self._offset: float | None = None
        self._sampling = False
        self._tone_block: tuple[Any, int] | None = None
        self._timers: list[int] = []
        # Probes and handlers whose closures reference this object: removed in
        # finish(), or the pipeline and this Attempt would keep each other alive
        # (PyGObject cannot see references held by C closures).
        self._probes: list[tuple[Any, int]] = []
        self._handlers: list[int] = []
        self._bus_watch = 0

        self.pipeline = Gst.Pipeline.new("worker")
        self.src = make(source(cfg.input_url, cfg.latency_ms))
        if cfg.media_user:  # set here, not in the description: it is printed
            self.src.set_property("user-id", cfg.media_user)
            self.src.set_property("user-pw", cfg.media_password)
        self.pipeline.add(self.src)
        output = with_credentials(cfg.output_url, cfg.media_user, cfg.media_password)
        self.mux, mux_out, self.out = self._add_chain(output_chain(output, _installed(RTMP_SINKS)))
        self._count(mux_out, self._count_output)
        self.mux_out_pad = mux_out.get_static_pad("src")
        self._probe(self.mux_out_pad, self._on_first_output)
        if cfg.mode is WorkerMode.TONE:
            self._build_tone()
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
        self.pipeline.set_state(Gst.State.NULL)
        self._release_closures()
        self.on_done(outcome)

    def _release_closures(self) -> None:
        for handler in self._handlers:
            self.src.disconnect(handler)
        self._handlers.clear()
        with self._lock:
            probes, self._probes = self._probes, []
            self._counters.clear()
            self._blocks.clear()
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
        elements = self._add_chain(tone_chain(self.cfg.tone_hz, _installed(AAC_ENCODERS)))
        self._link_to_mux(elements[-1], "audio")
        self._count(elements[-1], self._count_frames_out("audio"))
        # Held until the first video frame, whose running time becomes the
        # tone's start: sample 0 of the tone plays with video frame 0.
        tone_pad = elements[0].get_static_pad("src")
        probe = tone_pad.add_probe(Gst.PadProbeType.BLOCK_DOWNSTREAM, _keep_blocked)
        self._tone_block = (tone_pad, probe)

    def _add_chain(self, specs: list[Element]) -> list[Any]:
        elements = [make(e) for e in specs]
        for element in elements:
            self.pipeline.add(element)
        for up, down in itertools.pairwise(elements):
            if not up.link(down):
                raise RuntimeError(f"cannot link {up.get_name()} to {down.get_name()}")
        return elements

    def _link_to_mux(self, last: Any, media: str) -> None:
        mux_pad = self.mux.request_pad_simple(media)
        if mux_pad is None or last.get_static_pad("src").link(mux_pad) != Gst.PadLinkReturn.OK:
            raise RuntimeError(f"cannot link the {media} branch to flvmux")
        if media == "video" and self._tone_block is not None:
            self._probe(mux_pad, self._on_first_video)

    def _on_select_stream(self, _src: Any, _num: int, caps: Any) -> bool:
        s = caps.get_structure(0)
        codec = classify(s.get_string("media") or "", s.get_string("encoding-name") or "")
        action = decide(self.cfg.mode, codec)
        with self._lock:
            if action is Action.REJECT:
                self._rejected.append(codec)
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
        try:
            elements = self._add_chain(track_chain(codec))
            named = {e.get_name(): e for e in elements}
            held_pad = named[counter_name(codec.media, "in")].get_static_pad("src")
            # Block before the muxer until every selected track has its pad:
            # flvmux writes its header (which tracks exist) from the first data.
            probe = held_pad.add_probe(Gst.PadProbeType.BLOCK_DOWNSTREAM, _keep_blocked)
            self._link_to_mux(elements[-1], codec.media)
            media = codec.media
            self._count(named[counter_name(media, "in")], self._count_input(media))
            self._count(named[counter_name(media, "out")], self._count_frames_out(media))
            for element in elements:
                element.sync_state_with_parent()
            if pad.link(elements[0].get_static_pad("sink")) != Gst.PadLinkReturn.OK:
                raise RuntimeError(f"cannot link the {codec.media} RTP pad")
        except RuntimeError as exc:
            self._finish_later(Outcome(ErrorKind.INTERNAL, str(exc), False))
            return
        with self._lock:
            self._blocks.append((held_pad, probe))
            self._linked.add(codec.media)
            complete = self._linked >= self._expected
        if complete:
            self._release_blocks()
        else:
            with self._lock:
                self._timers.append(
                    GLib.timeout_add(int(PAD_WAIT * 1000), self._release_blocks_timeout)
                )

    def _release_blocks_timeout(self) -> bool:
        with self._lock:  # it fires once: finish() must not remove it again
            self._timers = [t for t in self._timers if t != GLib.main_current_source().get_id()]
        if not self.done:
            self._release_blocks()
        return False

    def _release_blocks(self) -> None:
        with self._lock:
            blocks, self._blocks = self._blocks, []
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
        return lambda buffers, _nbytes: frames.inc(buffers)

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
        """Tone mode: start the tone at the running time of the first video frame."""
        buf = info.get_buffer()
        event = pad.get_sticky_event(Gst.EventType.SEGMENT, 0)
        if event is None or buf.pts == Gst.CLOCK_TIME_NONE:
            return Gst.PadProbeReturn.OK
        rt = event.parse_segment().to_running_time(Gst.Format.TIME, buf.pts)
        if rt == Gst.CLOCK_TIME_NONE or rt < 0 or self._tone_block is None:
            return Gst.PadProbeReturn.OK
        tone_pad, probe = self._tone_block
        self._tone_block = None
        tone_pad.set_offset(rt)
        tone_pad.remove_probe(probe)
        return self._forget(pad, info)

    def _on_first_output(self, pad: Any, info: Any) -> Any:
        GLib.idle_add(self._on_flowing)
        return self._forget(pad, info)

    def _sample_av_offset(self) -> None:
        """Look at the next SAMPLE_TAGS FLV tags leaving the muxer.

        The offset is the timestamp of the newest audio tag minus that of the
        newest video tag, which flvmux interleaves by timestamp: about zero
        when in sync, growing when one track lags the other.
        """
        last: dict[str, int] = {}
        samples: list[float] = []
        seen = [0]

        def probe(pad: Any, info: Any) -> Any:
            buf = info.get_buffer()
            tag = flv_tag(buf.extract_dup(0, 8)) if buf.get_size() >= 11 else None
            if tag is not None:
                last[tag[0]] = tag[1]
                if len(last) == 2:
                    samples.append((last["audio"] - last["video"]) / 1000)
            seen[0] += 1
            if seen[0] < SAMPLE_TAGS:
                return Gst.PadProbeReturn.OK
            if samples:
                GLib.idle_add(self._record_offset, sum(samples) / len(samples))
            self._sampling = False
            return self._forget(pad, info)

        self._sampling = True
        self._probe(self.mux_out_pad, probe)

    def _record_offset(self, sample: float) -> bool:
        self._offset = (
            sample if self._offset is None else self._offset + _EMA * (sample - self._offset)
        )
        self.metrics.av_offset.set(self._offset)
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

    def _error_kind(self, element: Any) -> ErrorKind:
        while element is not None:
            if element == self.src:
                return ErrorKind.INPUT
            if element in (self.out, self.mux):
                return ErrorKind.OUTPUT
            element = element.get_parent()
        return ErrorKind.INTERNAL


class Supervisor:
    """Run attempts until stopped; retry with backoff; give up on unusable input."""

    def __init__(self, cfg: WorkerConfig, metrics: WorkerMetrics, log: StreamLog) -> None:
        self.cfg, self.metrics, self.log = cfg, metrics, log
        self.loop = GLib.MainLoop()
        self.attempt: Attempt | None = None
        self.exit_code = 0
        self.stopping = False
        self._retry = 0
        self._unsupported = 0
        self._retry_timer = 0
        self._unsupported_codec = ""

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, self._on_signal, signum)
        GLib.idle_add(self._start_attempt)
        self.loop.run()
        return self.exit_code

    def _start_attempt(self) -> bool:
        self._retry_timer = 0
        if self.stopping:
            return False
        self.metrics.set_state(State.CONNECTING)
        try:
            self.attempt = Attempt(self.cfg, self.metrics, self.log, self._on_done)
            self.attempt.start()
        except RuntimeError as exc:
            self.attempt = None
            self._on_done(Outcome(ErrorKind.INTERNAL, str(exc), False))
        return False

    def _on_done(self, outcome: Outcome) -> None:
        self.attempt = None
        if self.stopping or outcome.kind is None:
            self.loop.quit()
            return
        kind = outcome.kind
        self.metrics.errors.labels(kind.value).inc()
        if outcome.flowed:
            self._retry = 0
            self._unsupported = 0
            self._clear_unsupported()
        if kind is ErrorKind.UNSUPPORTED:
            self._unsupported += 1
            self._clear_unsupported()
            self._unsupported_codec = outcome.codec or "unknown"
            self.metrics.unsupported.labels(self._unsupported_codec).set(1)
            self.log.error(
                "unsupported input: %s",
                outcome.detail,
                extra={
                    "codec": outcome.codec,
                    "errorKind": kind.value,
                    "attempt": self._unsupported,
                },
            )
            if self._unsupported >= self.cfg.max_unsupported:
                self.log.error(
                    "giving up after %d attempts: %s",
                    self._unsupported,
                    outcome.detail,
                    extra={"codec": outcome.codec, "exitCode": EXIT_UNSUPPORTED},
                )
                self.metrics.set_state(State.FAILED)
                self.exit_code = EXIT_UNSUPPORTED
                self.loop.quit()
                return
        delay = backoff(self._retry)
        self._retry += 1
        self.metrics.reconnects.inc()
        self.metrics.set_state(State.RETRYING)
        if kind is not ErrorKind.UNSUPPORTED:
            self.log.warning(
                "pipeline ended (%s: %s); reconnecting in %.1f s",
                kind.value,
                outcome.detail,
                delay,
                extra={"errorKind": kind.value, "retryIn": delay, "wasFlowing": outcome.flowed},
            )
        self._retry_timer = GLib.timeout_add(int(delay * 1000), self._start_attempt)

    def _clear_unsupported(self) -> None:
        if self._unsupported_codec:
            self.metrics.unsupported.remove(self._unsupported_codec)
            self._unsupported_codec = ""

    def _on_signal(self, signum: int) -> bool:
        if self.stopping:
            return True
        self.stopping = True
        self.log.info("received %s, stopping", signal.Signals(signum).name)
        self.metrics.set_state(State.STOPPED)
        # A wedged element (a blocking network call) must not keep the Pod in
        # Terminating: exit anyway once the deadline passes.
        timer = threading.Timer(STOP_DEADLINE, _hard_exit)
        timer.daemon = True
        timer.start()
        if self._retry_timer:
            GLib.source_remove(self._retry_timer)
            self._retry_timer = 0
        if self.attempt is not None:
            self.attempt.stop()
        else:
            self.loop.quit()
        return True


def _hard_exit() -> None:
    logging.getLogger(__name__).warning(
        "pipeline did not stop within %.0f s; exiting", STOP_DEADLINE
    )
    logging.shutdown()
    os._exit(0)


def run(cfg: WorkerConfig) -> int:
    log = StreamLog(logging.getLogger("livestream_operator.worker"), {"streamId": cfg.stream_id})
    Gst.init(None)
    missing = missing_factories(cfg.mode)
    if missing:
        log.error(
            "GStreamer elements missing: %s (install gstreamer1.0-plugins-good, "
            "-plugins-bad and -libav)",
            ", ".join(missing),
            extra={"missing": missing},
        )
        return 1
    metrics = WorkerMetrics(cfg.stream_id, cfg.mode.value)
    try:
        metrics.serve(cfg.metrics_port)
    except OSError as exc:
        log.error("cannot serve metrics on port %d: %s", cfg.metrics_port, exc)
        return 1
    log.info(
        "worker starting",
        extra={
            "mode": cfg.mode.value,
            "input": cfg.input_url,
            "output": cfg.output_url,
            "metricsPort": cfg.metrics_port,
            "gstreamer": Gst.version_string(),
            "pipeline": launch_line(
                cfg.mode,
                cfg.input_url,
                cfg.output_url,
                tone_hz=cfg.tone_hz,
                latency_ms=cfg.latency_ms,
                encoder=_installed(AAC_ENCODERS)
                if cfg.mode is WorkerMode.TONE
                else AAC_ENCODERS[0],
                sink_factory=_installed(RTMP_SINKS),
            ),
        },
    )
    try:
        code = Supervisor(cfg, metrics, log).run()
    finally:
        metrics.close()
    log.info("worker exiting", extra={"exitCode": code})
    return code
