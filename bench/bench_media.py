"""Benchmarks of the media plane: the worker hop against a plain ffmpeg remux.

Prints figures; asserts nothing. Run: `.venv/bin/python bench/bench_media.py`.

Setup (one run, one machine): a real MediaMTX with the project config; a
publisher streaming a pre-encoded 1280x720@30 H.264 + AAC file with `-c copy`
(so that no encoder competes for the CPU) to live/bench/in; then, side by side
and reading the same input:
  * the worker in bypass mode:   live/bench/in -> live/bench/out
  * the reference remux:         ffmpeg -rtsp_transport tcp -i in -c copy -f flv
                                 live/bench/ffout

1. CPU: utime + stime of each process from /proc/<pid>/stat over the same
   fixed window, after a warm-up. The worker figure is its whole process
   (Python, GStreamer threads, probes, metrics server). Goal: worker <= 1.5x
   ffmpeg.

2. Added latency of the hop, in -> out. A reader in this process pulls in, out
   and ffout over RTSP at the same time (GStreamer, jitter buffer latency 0)
   and records the monotonic arrival time of every video access unit. Neither
   hop re-encodes, so the last slice NAL unit of a frame reaches every path
   byte for byte; frames are matched by a hash of it, and the latency of a
   frame is its arrival on `out` minus its arrival on `in`. That is the delay
   the hop adds as any viewer of MediaMTX would see it (RTSP pull by the hop,
   its processing, the RTMP push back, MediaMTX's repacketisation), measured
   with one clock and no timestamp arithmetic; the reader's own costs are the
   same on both sides and cancel out. Goal: worker p50 <= 200 ms. The ffmpeg
   hop is measured the same way as a reference.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "operator")]

from tests.media.media_support import (  # noqa: E402
    MediaMTX,
    Proc,
    build_mediamtx,
    copy_publisher_args,
    proc_cpu_seconds,
    worker_proc,
)
from tests.support.media_files import encode_test_file  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

from bench.report import line, pct  # noqa: E402

CACHE = Path(os.environ.get("LSO_CACHE_DIR") or Path.home() / ".cache" / "livestream-operator")


def frame_key(access_unit: bytes) -> bytes:
    """Hash of the slice NAL units of an Annex B access unit.

    Only slices (NAL types 1-5) count: MediaMTX and the parsers may add or
    drop parameter sets, delimiters and SEI, but no hop changes a slice.
    """
    h = hashlib.blake2b(digest_size=16)
    for nal in access_unit.split(b"\x00\x00\x01"):
        nal = nal.rstrip(b"\x00")  # a 4-byte start code leaves a zero behind
        if nal and 1 <= nal[0] & 0x1F <= 5:
            h.update(nal)
    return h.digest()


class ArrivalRecorder:
    """Pull RTSP URLs with GStreamer and record (hash of last slice, arrival time)
    for every video access unit of each."""

    def __init__(self, urls: dict[str, str]) -> None:
        import gi

        gi.require_version("Gst", "1.0")
        from gi.repository import Gst

        Gst.init(None)
        self.Gst = Gst
        self.arrivals: dict[str, list[tuple[bytes, float]]] = {name: [] for name in urls}
        self.lock = threading.Lock()
        self.pipelines = [self._pipeline(name, url) for name, url in urls.items()]

    def _pipeline(self, name: str, url: str) -> Any:
        Gst = self.Gst
        pipeline = Gst.parse_launch(
            f"rtspsrc location={url} protocols=tcp latency=0 name=src "
            "src. ! application/x-rtp,media=video ! rtph264depay "
            "! video/x-h264,stream-format=byte-stream,alignment=au ! fakesink name=sink sync=false "
        )
        # The audio stream is not needed: do not even SETUP it.
        pipeline.get_by_name("src").connect("select-stream", _video_only)
        pad = pipeline.get_by_name("sink").get_static_pad("sink")
        pad.add_probe(Gst.PadProbeType.BUFFER, self._on_buffer, name)
        return pipeline

    def _on_buffer(self, _pad: Any, info: Any, name: str) -> Any:
        now = time.monotonic()
        buf = info.get_buffer()
        key = frame_key(buf.extract_dup(0, buf.get_size()))
        with self.lock:
            self.arrivals[name].append((key, now))
        return self.Gst.PadProbeReturn.OK

    def start(self) -> None:
        for p in self.pipelines:
            p.set_state(self.Gst.State.PLAYING)

    def stop(self) -> None:
        for p in self.pipelines:
            p.set_state(self.Gst.State.NULL)

    def hop_latencies(self, src: str, dst: str) -> list[float]:
        """Per frame: arrival on dst minus arrival on src.

        A frame matches when exactly one src frame with the same slices arrived
        in the 10 s before it; others (the file loops every 60 s) are skipped.
        """
        with self.lock:
            seen = list(self.arrivals[src])
            out = list(self.arrivals[dst])
        by_key: dict[bytes, list[float]] = {}
        for key, t in seen:
            by_key.setdefault(key, []).append(t)
        result = []
        for key, t in out:
            candidates = [t - s for s in by_key.get(key, []) if 0 <= t - s < 10]
            if len(candidates) == 1:
                result.append(candidates[0])
        return result


def _video_only(_src: Any, _num: int, caps: Any) -> bool:
    return bool(caps.get_structure(0).get_string("media") == "video")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="measurement window")
    parser.add_argument("--warmup", type=float, default=5.0)
    args = parser.parse_args()

    print("media plane benchmark (720p30 H.264 + AAC, bypass)")
    binary = build_mediamtx()
    # testsrc2: every frame differs (a running clock), so frames can be matched.
    media = encode_test_file(
        CACHE / "bench" / "720p30-testsrc2-h264-aac-60s.flv", pattern="testsrc2"
    )
    work = Path(tempfile.mkdtemp(prefix="lso-bench-media-"))
    mtx = MediaMTX(binary, work / "mediamtx")
    procs: list[Proc] = []
    recorder: ArrivalRecorder | None = None
    try:
        mtx.start()
        pub = Proc(copy_publisher_args(media, mtx.rtmp("live/bench/in")), work / "pub.log")
        procs.append(pub.start())
        mtx.wait_available("live/bench/in", 30)
        worker = worker_proc(work, mtx.rtsp("live/bench/in"), mtx.rtmp("live/bench/out"))
        ffmpeg = Proc(
            [
                "ffmpeg",
                "-hide_banner",
                "-loglevel",
                "error",
                "-nostdin",
                "-rtsp_transport",
                "tcp",
                "-i",
                mtx.rtsp("live/bench/in"),
                "-c",
                "copy",
                "-f",
                "flv",
                mtx.rtmp("live/bench/ffout"),
            ],
            work / "ffmpeg.log",
        )
        procs += [worker.start(), ffmpeg.start()]
        mtx.wait_available("live/bench/out", 60)
        mtx.wait_available("live/bench/ffout", 60)

        recorder = ArrivalRecorder({p: mtx.rtsp(f"live/bench/{p}") for p in ("in", "out", "ffout")})
        recorder.start()
        time.sleep(args.warmup)
        cpu0 = {p.pid: proc_cpu_seconds(p.pid) for p in (worker, ffmpeg)}
        t0 = time.monotonic()
        time.sleep(args.seconds)
        elapsed = time.monotonic() - t0
        cpu1 = {p.pid: proc_cpu_seconds(p.pid) for p in (worker, ffmpeg)}
        recorder.stop()
        wait_for(lambda: worker.alive() and ffmpeg.alive(), 1, "both hops to be running")

        w_cpu = (cpu1[worker.pid] - cpu0[worker.pid]) / elapsed
        f_cpu = (cpu1[ffmpeg.pid] - cpu0[ffmpeg.pid]) / elapsed
        metrics = worker.metrics()
        print(
            f"\n  window {elapsed:.1f} s after {args.warmup:.0f} s warm-up; "
            f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}"
        )
        print("\n1. CPU per stream (share of one core)")
        line("worker (bypass, GStreamer in Python)", f"{w_cpu * 100:.1f} %")
        line("ffmpeg -c copy (same remux, same run)", f"{f_cpu * 100:.1f} %")
        ratio = w_cpu / f_cpu if f_cpu else float("inf")
        line("ratio worker / ffmpeg", f"{ratio:.2f}x", "goal <= 1.5x")

        print("\n2. Added latency of the hop in -> out (video frames, one clock)")
        for name, dst in (("worker", "out"), ("ffmpeg -c copy", "ffout")):
            lat = recorder.hop_latencies("in", dst)
            if not lat:
                line(f"{name}: no matched frames", "-")
                continue
            goal = "goal p50 <= 200 ms" if name == "worker" else "(reference)"
            line(f"{name} p50 ({len(lat)} frames)", f"{pct(lat, 50) * 1000:.0f} ms", goal)
            line(f"{name} p90 / p99", f"{pct(lat, 90) * 1000:.0f} / {pct(lat, 99) * 1000:.0f} ms")
            line(f"{name} mean", f"{statistics.fmean(lat) * 1000:.0f} ms")
        print("\n3. Worker gauges")
        line(
            "A/V offset (lso_worker_av_offset_seconds)",
            f"{metrics.get('lso_worker_av_offset_seconds', float('nan')) * 1000:.1f} ms",
        )
        line("reconnects during the run", f"{metrics.get('lso_worker_reconnects_total', 0):.0f}")
        return 0
    finally:
        if recorder is not None:
            recorder.stop()
        for p in reversed(procs):
            p.stop(timeout=5)
        mtx.stop()


if __name__ == "__main__":
    sys.exit(main())
