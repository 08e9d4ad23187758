"""Graph assembly: the worker's GStreamer pipeline and its input side (rtspsrc,
each track's chain, the tone or process mode's audio), built from pipeline.py's
descriptions. The other roles of an attempt take their elements from here.

It also keeps every probe and signal handler whose callback refers back to the
attempt, and removes them in release(): PyGObject cannot see references held by
C closures, so the pipeline and the attempt would otherwise keep each other alive.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

from ..api.v1alpha1 import OutputProtocol, WorkerMode  # noqa: E402
from .config import WorkerConfig  # noqa: E402
from .pipeline import (  # noqa: E402
    AAC_ENCODERS,
    KEYFRAME_TEE,
    PCM_IN,
    PROCESS_CHANNELS,
    PROCESS_RATE,
    TONE_GATE,
    Codec,
    Element,
    counter_name,
    delayed_video_chain,
    keyframe_tap,
    normalised_audio_chain,
    pcm_capture_chain,
    pcm_output_chain,
    pick,
    process_delay_ns,
    prop_string,
    required_factories,
    source,
    tone_chain,
    track_chain,
    with_keyframe_tap,
)

Release = Callable[[], None]


def keep_blocked(*_: Any) -> Any:
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


def running_time(pad: Any, buf: Any) -> int | None:
    event = pad.get_sticky_event(Gst.EventType.SEGMENT, 0)
    if event is None or buf.pts == Gst.CLOCK_TIME_NONE:
        return None
    rt = event.parse_segment().to_running_time(Gst.Format.TIME, buf.pts)
    return None if rt == Gst.CLOCK_TIME_NONE else int(rt)


def identity_stats(element: Any) -> tuple[int, int]:
    """(buffers, bytes) an `identity` counter has let through so far."""
    stats = element.get_property("stats")
    return stats.get_value("num-buffers"), stats.get_value("num-bytes")


def ancestry(element: Any) -> Iterator[Any]:
    """The element, its bin, that bin's bin... up to the pipeline."""
    while element is not None:
        yield element
        element = element.get_parent()


@dataclass(frozen=True)
class Track:
    """One input track's chain, built but not started."""

    media: str
    elements: list[Any]
    counter_in: Any
    held_pad: Any  # counter_in's src: the gate holds the track's frames here
    counter_out: Any | None  # None: process mode's audio, which ends at the appsink
    pcm_sink: Any | None  # process mode's audio: the appsink its fragments leave by


@dataclass(frozen=True)
class Tone:
    """The tone's chain: held whole at its source, then its frames at the gate."""

    source_pad: Any
    gate_pad: Any  # TONE_GATE's src
    counter_out: Any


class Graph:
    """The pipeline, the input and its branches (the last element of each track,
    which the output links to). Tracks are added from streaming threads (pad-added)
    and released from the main loop, hence the lock on what it records."""

    def __init__(
        self, cfg: WorkerConfig, protocol: OutputProtocol, *, with_input: bool = True
    ) -> None:
        """`with_input` False: no rtspsrc (hold.py's pipeline makes its own frames)."""
        self.cfg, self.protocol = cfg, protocol
        # Process mode holds both tracks this long behind their running time.
        self.delay_ns = (
            process_delay_ns(cfg.processing.fragment_ms, cfg.processing.deadline_ms)
            if cfg.processing is not None
            else 0
        )
        self._lock = threading.Lock()
        self._branches: dict[str, Any] = {}  # media -> last element, linked to the output later
        self._probes: list[tuple[Any, int]] = []
        self._handlers: list[tuple[Any, int]] = []
        self._last_keyframe: Any = None  # the LAST_KEYFRAME fakesink, if any
        self.pipeline = Gst.Pipeline.new("worker")
        self.src: Any = None
        if not with_input:
            return
        self.src = make(source(cfg.input_url, cfg.latency_ms))
        if cfg.media_user:  # set here, not in the description: it is printed
            self.src.set_property("user-id", cfg.media_user)
            self.src.set_property("user-pw", cfg.media_password)
        self.pipeline.add(self.src)

    # --- building -----------------------------------------------------------

    def add_chain(self, specs: list[Element]) -> list[Any]:
        elements = [make(e) for e in specs]
        for element in elements:
            self.pipeline.add(element)
        for up, down in itertools.pairwise(elements):
            if not up.link(down):
                raise RuntimeError(f"cannot link {up.get_name()} to {down.get_name()}")
        return elements

    def add_tone(self) -> Tone:
        paced = self.protocol is OutputProtocol.RTSP
        elements = self.add_chain(
            tone_chain(self.cfg.tone_hz, installed(AAC_ENCODERS), paced=paced)
        )
        self.add_branch("audio", elements[-1])
        gate = next(e for e in elements if e.get_name() == TONE_GATE)
        return Tone(elements[0].get_static_pad("src"), gate.get_static_pad("src"), elements[-1])

    def add_process_audio(self) -> tuple[Any, Any]:
        """The output's audio in process mode: (the appsrc the fragments are pushed
        into, encoded and held like the video; its counter)."""
        elements = self.add_chain(
            pcm_output_chain(
                installed(AAC_ENCODERS),
                PROCESS_RATE,
                PROCESS_CHANNELS,
                self.delay_ns,
                self.cfg.latency_ms,
            )
        )
        self.add_branch("audio", elements[-1])
        return elements[0], elements[-1]

    def add_track(self, codec: Codec) -> Track:
        """Depayload and parse one RTP stream, as the mode wants it."""
        media = codec.media
        processing = self.cfg.processing if self.cfg.mode is WorkerMode.PROCESS else None
        if processing is not None and media == "audio":
            specs = pcm_capture_chain(codec, processing.fragment_ms, PROCESS_RATE, PROCESS_CHANNELS)
        elif processing is not None:
            specs = delayed_video_chain(codec, self.delay_ns)
        elif self.cfg.normalise_audio and media == "audio":
            specs = normalised_audio_chain(codec, installed(AAC_ENCODERS))
        else:
            specs = track_chain(codec)
        if media == "video" and self.cfg.hold_seconds:
            specs = with_keyframe_tap(specs)
        elements = self.add_chain(specs)
        named = {e.get_name(): e for e in elements}
        if KEYFRAME_TEE in named:
            tap = self.add_chain(keyframe_tap())
            if not named[KEYFRAME_TEE].link(tap[0]):
                raise RuntimeError("cannot link the keyframe tap")
            elements += tap
            with self._lock:
                self._last_keyframe = tap[-1]
        counter_in = named[counter_name(media, "in")]
        return Track(
            media,
            elements,
            counter_in,
            counter_in.get_static_pad("src"),
            named.get(counter_name(media, "out")),
            named.get(PCM_IN),
        )

    def start_track(self, track: Track, rtp_pad: Any) -> None:
        for element in track.elements:
            element.sync_state_with_parent()
        if rtp_pad.link(track.elements[0].get_static_pad("sink")) != Gst.PadLinkReturn.OK:
            raise RuntimeError(f"cannot link the {track.media} RTP pad")

    def drain(self, pad: Any) -> None:
        """Take a pad's data unseen (a track too late for the output)."""
        drain = make(Element("fakesink", (("sync", False), ("async", False))))
        self.pipeline.add(drain)
        drain.sync_state_with_parent()
        pad.link(drain.get_static_pad("sink"))

    def last_keyframe(self) -> Any:
        """The newest keyframe that left for the output (a Gst.Sample with its
        caps), or None: no keyframe tap, or none seen yet."""
        with self._lock:
            sink = self._last_keyframe
        return sink.get_property("last-sample") if sink is not None else None

    def add_branch(self, media: str, element: Any) -> None:
        with self._lock:
            self._branches[media] = element

    def branches(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._branches)

    def branch_pads(self) -> dict[str, Any]:
        """media -> the src pad of its branch: what each track hands to the output."""
        return {media: e.get_static_pad("src") for media, e in self.branches().items()}

    # --- holding --------------------------------------------------------------

    def block(self, pad: Any) -> Release:
        """Hold everything at `pad` (data and events); the result lets it go."""
        probe = pad.add_probe(Gst.PadProbeType.BLOCK_DOWNSTREAM, keep_blocked)
        return functools.partial(pad.remove_probe, probe)

    def block_frames(self, pad: Any) -> Release:
        """Hold the frames at `pad`, letting events (caps, segment) through."""
        frames = Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST
        probe = pad.add_probe(Gst.PadProbeType.BLOCK | frames, keep_blocked)
        return functools.partial(pad.remove_probe, probe)

    # --- callbacks into the attempt --------------------------------------------

    def probe(self, pad: Any, callback: Callable[[Any, Any], Any]) -> None:
        probe = pad.add_probe(Gst.PadProbeType.BUFFER, callback)
        with self._lock:
            self._probes.append((pad, probe))

    def forget(self, pad: Any, info: Any) -> Any:
        """A one-shot probe is done: GStreamer removes it, release() must not."""
        with self._lock:
            self._probes = [(p, i) for p, i in self._probes if not (p == pad and i == info.id)]
        return Gst.PadProbeReturn.REMOVE

    def connect(self, obj: Any, signal: str, callback: Callable[..., Any]) -> None:
        handler = obj.connect(signal, callback)
        with self._lock:
            self._handlers.append((obj, handler))

    def release(self) -> None:
        """Remove every probe and handler (the pipeline is stopped)."""
        with self._lock:
            handlers, self._handlers = self._handlers, []
            probes, self._probes = self._probes, []
            self._branches.clear()
        for obj, handler in handlers:
            obj.disconnect(handler)
        for pad, probe in probes:
            pad.remove_probe(probe)


def declared_rate(caps: Any) -> float | None:
    """The frame rate in a parsed video track's caps (h264parse takes it from the
    SPS's VUI timing); None when the stream declares none (0/1) or no caps yet."""
    if caps is None or caps.get_size() == 0:
        return None
    ok, num, den = caps.get_structure(0).get_fraction("framerate")
    return num / den if ok and num > 0 and den > 0 else None
