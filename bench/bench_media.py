"""Benchmarks of the media plane: the worker hop against a plain ffmpeg remux,
and the worker's two outputs (RTSP, the default, and RTMP) against each other.

Prints figures; asserts nothing. Run: `.venv/bin/python bench/bench_media.py`.

Setup (one run, one machine): a real MediaMTX with the project config; a
publisher streaming a pre-encoded 1280x720@30 H.264 + AAC file with `-c copy`
(so that no encoder competes for the CPU) to live/bench/in; then, side by side
and reading the same input:
  * the worker in bypass mode, RTMP output:  live/bench/in -> live/bench-rtmp/out
  * the worker in bypass mode, RTSP output:  live/bench/in -> live/bench-rtsp/out
  * the reference remux:  ffmpeg -rtsp_transport tcp -i in -c copy -f flv
                          live/bench-ff/out

0. Start-up, before the side-by-side run: worker process started -> its
   live/<id>/out available in MediaMTX (the Control API polled every 10 ms),
   for each output in turn, the input already published. RTMP pays
   MediaMTX's analysis of the publish (about 2 s); RTSP is available once
   RECORD is answered.

1. CPU: utime + stime of each process from /proc/<pid>/stat over the same
   fixed window, after a warm-up. The worker figure is its whole process
   (Python, GStreamer threads, probes, metrics server). Goal: worker (RTMP,
   the same remux as ffmpeg's) <= 1.5x ffmpeg.

2. Added latency of the hop, in -> out. A reader in this process pulls in and
   the three outs over RTSP at the same time (GStreamer, jitter buffer latency
   0) and records the monotonic arrival time of every video access unit. No
   hop re-encodes, so the last slice NAL unit of a frame reaches every path
   byte for byte; frames are matched by a hash of it, and the latency of a
   frame is its arrival on `out` minus its arrival on `in`. That is the delay
   the hop adds as any viewer of MediaMTX would see it (RTSP pull by the hop,
   its processing, the push back, MediaMTX's repacketisation), measured
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


def _out_url(mtx: MediaMTX, sid: str, protocol: str) -> str:
    return mtx.rtsp(f"live/{sid}/out") if protocol == "rtsp" else mtx.rtmp(f"live/{sid}/out")


def time_to_out(mtx: MediaMTX, work: Path, protocol: str, sid: str) -> float:
    """Seconds from starting a worker process to its live/<sid>/out being available."""
    worker = worker_proc(work, mtx.rtsp("live/bench/in"), _out_url(mtx, sid, protocol))
    started = time.monotonic()
    worker.start()
    try:
        wait_for(lambda: mtx.available(f"live/{sid}/out"), 30, f"live/{sid}/out", 0.01)
        return time.monotonic() - started
    finally:
        worker.stop(timeout=5)
        mtx.wait_unavailable(f"live/{sid}/out", 20)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="measurement window")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--startups", type=int, default=3, help="start-up runs per output")
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

        startup: dict[str, list[float]] = {"rtsp": [], "rtmp": []}
        for run in range(args.startups):
            for protocol in startup:  # interleaved: drift in load hits both alike
                startup[protocol].append(time_to_out(mtx, work, protocol, f"st{protocol}{run}"))

        workers = {
            protocol: worker_proc(
                work, mtx.rtsp("live/bench/in"), _out_url(mtx, f"bench-{protocol}", protocol)
            )
            for protocol in ("rtmp", "rtsp")
        }
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
                mtx.rtmp("live/bench-ff/out"),
            ],
            work / "ffmpeg.log",
        )
        hops: dict[str, Proc] = {**workers, "ffmpeg": ffmpeg}
        procs += [p.start() for p in hops.values()]
        paths = {"rtmp": "bench-rtmp", "rtsp": "bench-rtsp", "ffmpeg": "bench-ff"}
        for path in paths.values():
            mtx.wait_available(f"live/{path}/out", 60)

        urls = {"in": mtx.rtsp("live/bench/in")}
        urls |= {name: mtx.rtsp(f"live/{path}/out") for name, path in paths.items()}
        recorder = ArrivalRecorder(urls)
        recorder.start()
        time.sleep(args.warmup)
        cpu0 = {name: proc_cpu_seconds(p.pid) for name, p in hops.items()}
        t0 = time.monotonic()
        time.sleep(args.seconds)
        elapsed = time.monotonic() - t0
        cpu1 = {name: proc_cpu_seconds(p.pid) for name, p in hops.items()}
        recorder.stop()
        wait_for(lambda: all(p.alive() for p in hops.values()), 1, "every hop to be running")

        cpu = {name: (cpu1[name] - cpu0[name]) / elapsed for name in hops}
        print(
            f"\n  window {elapsed:.1f} s after {args.warmup:.0f} s warm-up; "
            f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}"
        )
        print("\n0. Start-up: worker process started -> live/<id>/out available")
        for protocol, times in startup.items():
            runs = ", ".join(f"{t:.2f}" for t in times)
            line(
                f"{protocol.upper()} output (median of {len(times)})",
                f"{statistics.median(times):.2f} s",
                f"runs: {runs}",
            )
        print("\n1. CPU per stream (share of one core)")
        line("worker, RTMP output (flvmux + rtmp2sink)", f"{cpu['rtmp'] * 100:.1f} %")
        line("worker, RTSP output (rtspclientsink)", f"{cpu['rtsp'] * 100:.1f} %")
        line("ffmpeg -c copy to RTMP (same run)", f"{cpu['ffmpeg'] * 100:.1f} %")
        ratio = cpu["rtmp"] / cpu["ffmpeg"] if cpu["ffmpeg"] else float("inf")
        line("ratio worker (RTMP) / ffmpeg", f"{ratio:.2f}x", "goal <= 1.5x")

        print("\n2. Added latency of the hop in -> out (video frames, one clock)")
        names = {"rtmp": "worker RTMP", "rtsp": "worker RTSP", "ffmpeg": "ffmpeg -c copy"}
        for hop, name in names.items():
            lat = recorder.hop_latencies("in", hop)
            if not lat:
                line(f"{name}: no matched frames", "-")
                continue
            goal = "(reference)" if hop == "ffmpeg" else "goal p50 <= 200 ms"
            line(f"{name} p50 ({len(lat)} frames)", f"{pct(lat, 50) * 1000:.0f} ms", goal)
            line(f"{name} p90 / p99", f"{pct(lat, 90) * 1000:.0f} / {pct(lat, 99) * 1000:.0f} ms")
            line(f"{name} mean", f"{statistics.fmean(lat) * 1000:.0f} ms")
        print("\n3. Worker gauges")
        for protocol, worker in workers.items():
            metrics = worker.metrics()
            offset = metrics.get("worker_av_sync_delta_ms", float("nan"))
            line(f"A/V offset, {protocol.upper()} output", f"{offset:.1f} ms")
            reconnects = metrics.get("lso_worker_reconnects_total", 0)
            line(f"reconnects during the run, {protocol.upper()}", f"{reconnects:.0f}")
        return 0
    finally:
        if recorder is not None:
            recorder.stop()
        for p in reversed(procs):
            p.stop(timeout=5)
        mtx.stop()


if __name__ == "__main__":
    sys.exit(main())
