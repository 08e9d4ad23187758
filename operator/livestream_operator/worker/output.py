"""The output of an attempt: rtspclientsink (RTSP), or flvmux ! rtmp2sink (RTMP).

It is built once, when the input's tracks are known (see attempt.py), and linked
to each track's branch; a track that arrives after that cannot join it. It tells
when MediaMTX has taken the stream (the first FLV tag out of flvmux, or a track's
second frame reaching rtspclientsink), and it is where the A/V offset is sampled.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

from ..api.v1alpha1 import OutputProtocol  # noqa: E402
from .config import WorkerConfig  # noqa: E402
from .graph import Graph, installed, make, running_time  # noqa: E402
from .meters import Meters, Sample  # noqa: E402
from .pipeline import (  # noqa: E402
    RTMP_SINKS,
    flv_tag,
    link_order,
    output_chain,
    output_pad,
    payloader,
    with_query_credentials,
)


def _send_unsynced(_bin: Any, _sub_bin: Any, element: Any) -> None:
    """rtspclientsink's RTP appsinks wait for each frame's running time plus the
    pipeline latency (the stream's "rate-control", not a property of the sink
    in GStreamer 1.22): 100 ms more per frame for nothing, as the frames arrive
    paced already. Like rtmp2sink sync=false, send each frame at once."""
    factory = element.get_factory()
    if factory is not None and factory.get_name() == "appsink":
        element.set_property("sync", False)


class Output:
    """The sink (and muxer), built once; `on_flowing` runs on the main loop, once,
    when the output is taken."""

    def __init__(
        self,
        cfg: WorkerConfig,
        protocol: OutputProtocol,
        graph: Graph,
        meters: Meters,
        on_flowing: Callable[[], bool],
    ) -> None:
        self.cfg, self.protocol, self.graph, self.meters = cfg, protocol, graph, meters
        self._on_flowing = on_flowing
        # Serialises a track joining with building the output: a track either
        # makes it into the output or arrives late, never half-way.
        self._building = threading.Lock()
        self._lock = threading.Lock()  # what follows; read from streaming threads
        self._sink: Any = None  # set once the output is being built
        self._mux: Any = None  # flvmux (RTMP only)
        self._mux_out: Any = None  # the src pad of its counter
        self._ready = False  # built and linked to every track
        self._signalled = False

    @contextlib.contextmanager
    def admission(self) -> Iterator[bool]:
        """Hold the output off while a track joins; yields True when it was
        started already (the track is late)."""
        with self._building:
            yield self._sink is not None

    def build(self, stopped: Callable[[], bool]) -> None:
        """Build the output with the graph's branches, unless it was or `stopped()`."""
        with self._building:
            if self._sink is None and not stopped():
                self._build()

    @property
    def ready(self) -> bool:
        with self._lock:
            return self._ready

    def parts(self) -> tuple[Any, ...]:
        """The elements whose errors are the output's."""
        with self._lock:
            return self._sink, self._mux

    def _build(self) -> None:
        cfg = self.cfg
        rtsp = self.protocol is OutputProtocol.RTSP
        if rtsp:
            elements = self.graph.add_chain(output_chain(cfg.output_url, self.protocol))
        else:
            url = with_query_credentials(cfg.output_url, cfg.media_user, cfg.media_password)
            elements = self.graph.add_chain(output_chain(url, self.protocol, installed(RTMP_SINKS)))
        head, sink = elements[0], elements[-1]
        with self._lock:
            self._sink = sink
        if rtsp:
            sink.connect("deep-element-added", _send_unsynced)
            if cfg.media_user:  # on the element: the URL and the launch line are printed
                sink.set_property("user-id", cfg.media_user)
                sink.set_property("user-pw", cfg.media_password)
        else:
            mux_out = elements[1]
            self.meters.count(mux_out, self.meters.mux_out)
            mux_out_pad = mux_out.get_static_pad("src")
            with self._lock:
                self._mux, self._mux_out = head, mux_out_pad
            self.graph.probe(mux_out_pad, self._on_first_output)
        branches = self.graph.branches()
        for media in link_order(branches, self.protocol):
            pad = head.request_pad_simple(output_pad(self.protocol, media))
            if pad is None:
                raise RuntimeError(f"{head.get_name()} gave no pad for the {media} track")
            if rtsp:
                pad.set_property("payloader", make(payloader(media)))
            src_pad = branches[media].get_static_pad("src")
            if src_pad.link(pad) != Gst.PadLinkReturn.OK:
                raise RuntimeError(f"cannot link the {media} track to {head.get_name()}")
            if rtsp:
                self._watch_record(src_pad)
        for element in reversed(elements):
            element.sync_state_with_parent()
        with self._lock:
            self._ready = True

    # --- flowing (streaming threads) ------------------------------------------------

    def _on_first_output(self, pad: Any, info: Any) -> Any:
        """RTMP: the first FLV tag out of flvmux."""
        self._signal_flowing()
        return self.graph.forget(pad, info)

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
            return self.graph.forget(pad, info)

        self.graph.probe(pad, probe)

    def _signal_flowing(self) -> None:
        with self._lock:
            first, self._signalled = not self._signalled, True
        if first:
            GLib.idle_add(self._on_flowing)

    # --- A/V offset -------------------------------------------------------------------

    def sample_av_offset(self, begin: Callable[[], Sample]) -> None:
        """Take one A/V offset sample of what leaves: for RTMP the FLV tags out of
        flvmux (interleaved by timestamp, as sent), for RTSP the frames handed to
        rtspclientsink (no muxer: each track on its own pad). `begin` is
        Meters.begin_sample, called only if there is something to sample."""
        pads = self.graph.branch_pads()
        with self._lock:
            mux_out = self._mux_out

        def flv(sample: Sample) -> Callable[[Any, Any], Any]:
            def probe(pad: Any, info: Any) -> Any:
                buf = info.get_buffer()
                tag = flv_tag(buf.extract_dup(0, 8)) if buf.get_size() >= 11 else None
                finished = sample((tag[0], tag[1] * 1_000_000) if tag else None)
                return self.graph.forget(pad, info) if finished else Gst.PadProbeReturn.OK

            return probe

        def frames(sample: Sample, media: str) -> Callable[[Any, Any], Any]:
            def probe(pad: Any, info: Any) -> Any:
                rt = running_time(pad, info.get_buffer())
                finished = sample((media, rt) if rt is not None else None)
                return self.graph.forget(pad, info) if finished else Gst.PadProbeReturn.OK

            return probe

        if mux_out is not None:
            self.graph.probe(mux_out, flv(begin()))
        elif set(pads) == {"video", "audio"}:
            sample = begin()
            for media, pad in pads.items():
                self.graph.probe(pad, frames(sample, media))
