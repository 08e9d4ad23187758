"""Benchmarks of process mode: what the processing hop adds (latency, CPU) next
to bypass, and how many processed streams one 2-core machine holds.

Prints figures; asserts nothing. Run: `.venv/bin/python bench/bench_processing.py`
(`--quick` for a short smoke run).

Setup (one run, one machine), as bench/bench_media.py: a real MediaMTX with the
project config; publishers stream a pre-encoded 1280x720@30 H.264 + AAC file with
`-c copy` (no encoder competes for the CPU). The file is bench_media's video
(testsrc2: every frame differs) with an audio track of markers: a 200 ms burst of
1 kHz every 3 s, silence between, so that audio too can be timed. The reference
backends run as their own processes (`livestream-operator backend --kind ...`);
the workers use fragmentMs 500, deadlineMs 1000, maxInFlight 4, mix replace.

1. The hop, side by side and reading the same live/bench/in: the worker in
   bypass mode, in process mode with the tone backend, in process mode with the
   loudness backend, and again with a loudness backend limited to one OpenBLAS
   thread (numpy's BLAS otherwise runs a thread per core that spins between the
   filter's matrix products: that column is what the DSP itself costs). One
   backend process each. Over one window after a warm-up:
   * added latency in -> out, video frames matched by hash on both sides by
     bench_media's in-process GStreamer reader (one clock, no timestamp
     arithmetic). Process mode holds both tracks by the same
     L = fragmentMs + deadlineMs + 250 ms, so audio's latency is the video's by
     construction; it is checked on its own by a second reader that decodes
     the audio of in and out and times each marker's onset (to about one AAC
     frame, 21 ms). The tone backend replaces the audio: no marker to time.
   * CPU (utime + stime from /proc/<pid>/stat) of each worker and each backend;
   * each worker's backend round trip p50/p99 (its histogram's observations in
     the window, interpolated within buckets as Prometheus' histogram_quantile)
     and its fallback fragments since it started (0 when the backend keeps up).

2. Capacity: process mode with one shared loudness backend; N streams (one
   publisher, one worker each) at N = 1, 2, 4, 6, 8, ... Each step adds streams,
   waits until every live/<id>/out is available, and measures over --hold
   seconds. A step fails when any worker has counted fallbacks (in the hold, or
   since it started: adding streams must not disturb the others either), or a
   stream's out stalled (the worker gone, out unavailable, or out receiving
   under 90 % of its in's bytes); the ramp stops there. The answer is the last N
   that held; the machine's busy cores, whatever runs on it (a kind cluster, say),
   are in the table and in the first line (before the bench starts anything).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "operator")]

from tests.media.media_support import (  # noqa: E402
    BackendProc,
    MediaMTX,
    Proc,
    ProjectProc,
    backend_proc,
    build_mediamtx,
    copy_publisher_args,
    proc_cpu_seconds,
    worker_proc,
)
from tests.support.media_files import encode_test_file  # noqa: E402
from tests.support.waiting import WaitTimeout  # noqa: E402

from bench.bench_media import CACHE, ArrivalRecorder  # noqa: E402
from bench.report import cores_busy, machine_busy, pct  # noqa: E402
from livestream_operator.worker.pipeline import process_delay_ns  # noqa: E402

FRAGMENT_MS, DEADLINE_MS = 500, 1000
PROCESSING: dict[str, Any] = {"fragmentMs": FRAGMENT_MS, "deadlineMs": DEADLINE_MS}
PROCESSING |= {"maxInFlight": 4, "mix": "replace", "duckDb": -12}
HOLD_MS = process_delay_ns(FRAGMENT_MS, DEADLINE_MS) / 1e6
# Column -> (kind, extra env). The last: the loudness backend with OpenBLAS's
# own thread count (the CLI sets one thread), to show what the default saves.
BACKENDS = {
    "tone": ("tone", {}),
    "loudness": ("loudness", {}),
    "loudness-nblas": ("loudness", {"OPENBLAS_NUM_THREADS": str(os.cpu_count() or 2)}),
}
MARKER_PERIOD_S = 3.0  # longer than any hop's latency, so that onsets pair up unambiguously
MARKER_S = 0.2
# Onset: above -20 dBFS after a second of quiet. The bursts are at -6 dBFS: the
# loudness backend (target -16 LUFS) raises them rather than cutting them by 14 dB,
# and keeps silence silent.
ONSET_LEVEL = 3277
RTT = "worker_backend_rtt_seconds"
FALLBACKS = "worker_fallback_fragments_total"
STALL_RATIO = 0.9
SETTLE_S = 3.0  # between a ramp step's outs being available and its hold


def marker_media(video: Path) -> Path:
    """`video` with its audio replaced by the markers (made once, then cached)."""
    path = video.with_name(video.stem + "-markers.flv")
    if not path.exists():
        period, burst = MARKER_PERIOD_S, MARKER_S
        expr = f"if(lt(mod(t\\,{period})\\,{burst})\\,0.5*sin(2*PI*1000*t)\\,0)"
        tmp = path.with_suffix(".tmp.flv")
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(video),
             "-f", "lavfi", "-i", f"aevalsrc={expr}:s=44100:c=stereo:d=60",
             "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-b:a", "128k",
             "-shortest", str(tmp)],
            check=True, timeout=300,
        )  # fmt: skip
        tmp.rename(path)
    return path


class AudioOnsets(ArrivalRecorder):
    """bench_media's reader for audio: pull RTSP URLs' audio with GStreamer, decode
    it, and record the arrival time of every marker onset (its buffer's arrival,
    less the samples after it)."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.onsets: dict[str, list[float]] = {name: [] for name in urls}
        # Per URL: samples seen so far, and the index of the last loud one.
        self._count = dict.fromkeys(urls, 0)
        self._last_loud = dict.fromkeys(urls, -(10**12))
        super().__init__(urls)

    def _pipeline(self, name: str, url: str) -> Any:
        # Mono S16 at the stream's own rate: a resampler would re-chunk the buffers.
        pipeline = self.Gst.parse_launch(
            f"rtspsrc location={url} protocols=tcp latency=0 name=src "
            "src. ! application/x-rtp,media=audio ! decodebin ! audioconvert "
            "! audio/x-raw,format=S16LE,channels=1 ! fakesink name=sink sync=false"
        )
        pipeline.get_by_name("src").connect("select-stream", _audio_only)
        pad = pipeline.get_by_name("sink").get_static_pad("sink")
        pad.add_probe(self.Gst.PadProbeType.BUFFER, self._on_buffer, name)
        return pipeline

    def _on_buffer(self, pad: Any, info: Any, name: str) -> Any:
        now = time.monotonic()
        rate = pad.get_current_caps().get_structure(0).get_int("rate")[1]
        buf = info.get_buffer()
        samples = np.frombuffer(buf.extract_dup(0, buf.get_size()), dtype="<i2")
        loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > ONSET_LEVEL)
        with self.lock:
            start = self._count[name]
            self._count[name] += len(samples)
            previous = self._last_loud[name]
            for i in loud.tolist():  # a burst's first loud sample after a second of quiet
                if start + i - previous > rate:
                    self.onsets[name].append(now - (len(samples) - i) / rate)
                previous = start + i
            self._last_loud[name] = previous
        return self.Gst.PadProbeReturn.OK

    def hop_latencies(self, src: str, dst: str) -> list[float]:
        """Per dst onset: its arrival minus that of the one src onset in the marker
        period before it (give or take 0.1 s)."""
        with self.lock:
            seen, out = list(self.onsets[src]), list(self.onsets[dst])
        result = []
        for t in out:
            # An onset is timed to about a frame: a hop of ~0 ms may come out a little negative.
            candidates = [t - s for s in seen if -0.1 <= t - s < MARKER_PERIOD_S - 0.1]
            if len(candidates) == 1:
                result.append(candidates[0])
        return result


def _audio_only(_src: Any, _num: int, caps: Any) -> bool:
    return bool(caps.get_structure(0).get_string("media") == "audio")


# --- processes -------------------------------------------------------------------


def start_backend(work: Path, name: str) -> BackendProc:
    kind, env = BACKENDS[name]
    return backend_proc(work / f"backend-{name}.log", kind, env=env)


def process_worker(
    work: Path, mtx: MediaMTX, sid: str, out: str, backend: BackendProc
) -> ProjectProc:
    env = {"LSO_PROCESSING": json.dumps({"backendUrl": backend.url, **PROCESSING})}
    return worker_proc(
        work, mtx.rtsp(f"live/{sid}/in"), mtx.rtsp(f"live/{out}/out"), "process", extra_env=env
    )


def publisher(work: Path, mtx: MediaMTX, media: Path, sid: str) -> Proc:
    return Proc(copy_publisher_args(media, mtx.rtmp(f"live/{sid}/in")), work / f"pub-{sid}.log")


def stop_all(procs: list[Proc]) -> None:
    """SIGTERM to every process first, so that they wind down together, then wait."""
    for p in procs:
        if p.alive() and p.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                p.proc.send_signal(signal.SIGTERM)
    for p in reversed(procs):
        p.stop(timeout=5)


# --- measuring -------------------------------------------------------------------


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """proc_cpu_seconds of each pid still there."""
    found = {}
    for name, pid in pids.items():
        with contextlib.suppress(OSError):
            found[name] = proc_cpu_seconds(pid)
    return found


@dataclass
class Snapshot:
    """What one instant says: CPU seconds per process, the machine's CPU, workers'
    metrics, and the bytes MediaMTX received on each path."""

    at: float
    cpu: dict[str, float]
    machine: tuple[float, float]
    metrics: dict[str, dict[str, float]]
    path_bytes: dict[str, float]

    @classmethod
    def take(
        cls, pids: dict[str, int], workers: dict[str, ProjectProc], mtx: MediaMTX, paths: list[str]
    ) -> Snapshot:
        return cls(
            time.monotonic(),
            cpu_seconds(pids),
            machine_busy(),
            {name: w.metrics() for name, w in workers.items()},
            {path: float((mtx.path(path) or {}).get("bytesReceived", 0)) for path in paths},
        )

    def cpu_share(self, later: Snapshot, name: str) -> float:
        """Share of one core `name` used between the two snapshots (NaN if unknown)."""
        if name not in self.cpu or name not in later.cpu:
            return math.nan
        return (later.cpu[name] - self.cpu[name]) / (later.at - self.at)

    def machine_cores(self, later: Snapshot) -> float:
        return cores_busy(self.machine, later.machine)

    def grown(self, later: Snapshot, worker: str, metric: str) -> float:
        return later.metrics[worker].get(metric, 0.0) - self.metrics[worker].get(metric, 0.0)


def fallbacks(metrics: dict[str, float]) -> float:
    return sum(v for k, v in metrics.items() if k.startswith(FALLBACKS))


def rtt_quantile(q: float, before: dict[str, float], after: dict[str, float]) -> float:
    """The q-quantile (0-1) of the round trips observed between two scrapes, in
    seconds: linear within its bucket, as Prometheus' histogram_quantile."""
    prefix = f'{RTT}_bucket{{le="'
    buckets = sorted(
        (float(key[len(prefix) : -2]), after[key] - before.get(key, 0.0))
        for key in after
        if key.startswith(prefix)
    )
    if not buckets or not buckets[-1][1]:
        return math.nan
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):  # beyond the last finite bucket: its bound is all we know
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-9)
        lower, below = bound, count
    return lower


def ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.0f} ms"


def percent(share: float) -> str:
    return "-" if math.isnan(share) else f"{share * 100:.1f} %"


def spread(values: list[float]) -> str:
    """p90 / p99 of latencies, in ms."""
    return f"{pct(values, 90) * 1000:.0f} / {pct(values, 99) * 1000:.0f}" if values else "-"


# --- 1. the hop ------------------------------------------------------------------

HOPS = ("bypass", *BACKENDS)


@dataclass
class HopRun:
    video: dict[str, list[float]]  # per hop: latency of each matched frame (s)
    audio: dict[str, list[float]]  # per hop with markers on its out: of each onset (s)
    before: Snapshot
    after: Snapshot


def measure_hops(
    mtx: MediaMTX, work: Path, media: Path, backends: dict[str, BackendProc], args: Any
) -> HopRun:
    """The three hops side by side on one input, measured over one window."""
    procs: list[Proc] = []
    readers: list[ArrivalRecorder] = []
    try:
        procs.append(publisher(work, mtx, media, "bench").start())
        mtx.wait_available("live/bench/in", 30)
        source = mtx.rtsp("live/bench/in")
        workers = {"bypass": worker_proc(work, source, mtx.rtsp("live/bench-bypass/out"))}
        for name, backend in backends.items():
            workers[name] = process_worker(work, mtx, "bench", f"bench-{name}", backend)
        procs += [w.start() for w in workers.values()]
        for name in workers:
            mtx.wait_available(f"live/bench-{name}/out", 60)

        outs = {name: mtx.rtsp(f"live/bench-{name}/out") for name in workers}
        video = ArrivalRecorder({"in": source, **outs})
        marked = [name for name in HOPS if name != "tone"]  # the tone replaces the audio
        audio = AudioOnsets({"in": source} | {name: outs[name] for name in marked})
        readers += [video, audio]
        for reader in readers:
            reader.start()
        time.sleep(args.warmup)
        pids = {name: w.pid for name, w in workers.items()}
        pids |= {f"backend-{name}": b.pid for name, b in backends.items()}
        before = Snapshot.take(pids, workers, mtx, [])
        time.sleep(args.seconds)
        after = Snapshot.take(pids, workers, mtx, [])
    finally:
        for reader in readers:
            reader.stop()
        stop_all(procs)
    return HopRun(
        {name: video.hop_latencies("in", name) for name in HOPS},
        {name: audio.hop_latencies("in", name) for name in marked},
        before,
        after,
    )


def report_hops(run: HopRun, args: Any) -> None:
    b, a = run.before, run.after
    print(
        f"\n1. The hop, one 720p30 stream each, side by side (window {a.at - b.at:.0f} s after "
        f"{args.warmup:.0f} s warm-up; machine busy {b.machine_cores(a):.2f} of "
        f"{os.cpu_count()} cores)"
    )
    print(f"   L = fragmentMs + deadlineMs + 250 ms = {HOLD_MS:.0f} ms (process mode's hold)")

    def each(cell: Callable[[str], object], process_only: bool = False) -> list[str]:
        return ["-" if process_only and h == "bypass" else str(cell(h)) for h in HOPS]

    def rtt(h: str) -> str:
        return f"{ms(rtt_quantile(0.5, b.metrics[h], a.metrics[h]))} / " + ms(
            rtt_quantile(0.99, b.metrics[h], a.metrics[h])
        )

    def audio(h: str) -> list[float]:
        return run.audio.get(h, [])

    hold = {h: 0.0 if h == "bypass" else HOLD_MS / 1000 for h in HOPS}
    rows = [
        ("", list(HOPS)),
        ("added latency p50, video frames", each(lambda h: ms(pct(run.video[h], 50)))),
        ("  p90 / p99 (ms)", each(lambda h: spread(run.video[h]))),
        ("  frames matched", each(lambda h: len(run.video[h]))),
        ("  p50 minus L", each(lambda h: ms(pct(run.video[h], 50) - hold[h]))),
        (
            "added latency p50, audio markers",
            each(lambda h: ms(pct(audio(h), 50)) if h in run.audio else "(replaced)"),
        ),
        ("  p90 / p99 (ms)", each(lambda h: spread(audio(h)))),
        ("  onsets matched", each(lambda h: len(audio(h)) if h in run.audio else "-")),
        ("worker CPU (share of one core)", each(lambda h: percent(b.cpu_share(a, h)))),
        ("backend process CPU", each(lambda h: percent(b.cpu_share(a, f"backend-{h}")), True)),
        ("backend RTT p50 / p99 (worker histogram)", each(rtt, True)),
        (
            "fragments processed in the window",
            each(lambda h: f"{b.grown(a, h, 'worker_processed_fragments_total'):.0f}", True),
        ),
        (
            "fallback fragments since start (goal 0)",
            each(lambda h: f"{fallbacks(a.metrics[h]):.0f}", True),
        ),
        (
            "A/V offset (worker gauge)",
            each(lambda h: f"{a.metrics[h].get('worker_av_sync_delta_ms', math.nan):.1f} ms"),
        ),
    ]
    for name, cells in rows:
        print(f"  {name:<41}" + "".join(f"{cell:>15}" for cell in cells))
    print("  (bypass: no backend; the others: process mode with that backend; loudness-nblas:")
    print("  the loudness backend with one OpenBLAS thread per core, numpy's default)")


# --- 2. capacity -----------------------------------------------------------------


def ramp(max_streams: int) -> list[int]:
    """1, 2, 4, 6, 8, ... up to max_streams (included)."""
    steps = [n for n in (1, 2, *range(4, max_streams + 1, 2)) if n <= max_streams]
    return steps if steps[-1:] == [max_streams] else [*steps, max_streams]


def table_row(*cells: object) -> None:
    print("  " + "".join(f"{cell!s:>12}" for cell in cells))
    sys.stdout.flush()  # a step at a time: the ramp takes minutes


def out_in_ratios(b: Snapshot, a: Snapshot, sids: list[str]) -> dict[str, float]:
    """Per stream: bytes MediaMTX received on out over those on in, between b and a."""
    ratios = {}
    for sid in sids:
        got = [a.path_bytes[f"live/{sid}/{end}"] - b.path_bytes[f"live/{sid}/{end}"]
               for end in ("in", "out")]  # fmt: skip
        ratios[sid] = got[1] / got[0] if got[0] else 0.0
    return ratios


def capacity(
    mtx: MediaMTX, work: Path, media: Path, backend: BackendProc, args: Any, procs: list[Proc]
) -> None:
    print(
        "\n2. Capacity: process mode, one shared loudness backend, one publisher and one "
        f"worker per stream; {args.hold:.0f} s hold per step; CPU in cores"
    )
    table_row("", "", "", "", "", "fallbacks", "fallbacks", "max RTT", "min")
    table_row("N", "workers", "backend", "MediaMTX", "machine", "in hold", "since start", "p99",
              "out/in")  # fmt: skip
    workers: dict[str, ProjectProc] = {}
    held = 0
    for n in ramp(args.max_streams):
        new = [f"cap{i}" for i in range(len(workers), n)]
        procs += [publisher(work, mtx, media, sid).start() for sid in new]
        problem = ""
        try:
            for sid in new:
                mtx.wait_available(f"live/{sid}/in", 30)
            for sid in new:
                workers[sid] = process_worker(work, mtx, sid, sid, backend).start()
                procs.append(workers[sid])
            for sid in new:
                mtx.wait_available(f"live/{sid}/out", 60)
        except WaitTimeout as exc:
            problem = str(exc)
        time.sleep(SETTLE_S)  # the new sessions settle: the hold is steady state
        pids = {sid: w.pid for sid, w in workers.items()} | {"backend": backend.pid}
        if mtx.proc is not None:
            pids["mediamtx"] = mtx.proc.pid
        paths = [f"live/{sid}/{end}" for sid in workers for end in ("in", "out")]
        b = Snapshot.take(pids, workers, mtx, paths)
        time.sleep(args.hold)
        a = Snapshot.take(pids, workers, mtx, paths)

        in_hold = sum(fallbacks(a.metrics[s]) - fallbacks(b.metrics[s]) for s in workers)
        # Since start too: fallbacks while streams were being added count against a step.
        total = sum(fallbacks(a.metrics[s]) for s in workers)
        ratios = out_in_ratios(b, a, list(workers))
        table_row(
            n,
            f"{sum(b.cpu_share(a, sid) for sid in workers):.2f}",
            f"{b.cpu_share(a, 'backend'):.2f}",
            f"{b.cpu_share(a, 'mediamtx'):.2f}",
            f"{b.machine_cores(a):.2f}",
            f"{in_hold:.0f}",
            f"{total:.0f}",
            ms(max(rtt_quantile(0.99, b.metrics[s], a.metrics[s]) for s in workers)),
            f"{min(ratios.values()):.2f}",
        )
        stalled = [s for s, w in workers.items() if not w.alive() or ratios[s] < STALL_RATIO]
        if stalled:
            problem = problem or f"out stalled (worker gone or out/in < {STALL_RATIO}): {stalled}"
        elif total:
            reasons: dict[str, float] = {}
            for sid in workers:
                for key, value in a.metrics[sid].items():
                    if key.startswith(FALLBACKS) and value:
                        reason = key.partition('"')[2].rstrip('"}')
                        reasons[reason] = reasons.get(reason, 0.0) + value
            by_reason = ", ".join(f"{r} {v:.0f}" for r, v in sorted(reasons.items()))
            problem = f"{total:.0f} fallback fragments ({by_reason})"
        if problem:
            print(f"  N={n} failed: {problem}")
            break
        held = n
    more = " or more (every step held)" if held == args.max_streams else ""
    print(f"  most concurrent processed streams without fallbacks or stalls: {held}{more}")
    print(
        f"  (machine: all of its {os.cpu_count()} cores' use, the publishers' and any other load)"
    )


def _terminate(*_: object) -> None:
    """SIGTERM (a CI timeout, say) unwinds like Ctrl-C, through every `finally`;
    a second one does not interrupt the clean-up."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(143)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="part 1's measurement window")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--hold", type=float, default=20.0, help="seconds measured per ramp step")
    parser.add_argument("--max-streams", type=int, default=18, help="the ramp's last step")
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.warmup, args.hold, args.max_streams = 8.0, 2.0, 5.0, 2
    signal.signal(signal.SIGTERM, _terminate)

    started = time.monotonic()
    print("processing benchmark (720p30 H.264 + AAC; process mode against bypass)")
    idle = machine_busy()
    time.sleep(3)  # what else runs here: the figures below share the machine with it
    print(f"  machine busy before start: {cores_busy(idle, machine_busy()):.2f} of "
          f"{os.cpu_count()} cores (3 s)")  # fmt: skip
    binary = build_mediamtx()
    video = encode_test_file(
        CACHE / "bench" / "720p30-testsrc2-h264-aac-60s.flv", pattern="testsrc2"
    )
    media = marker_media(video)
    work = Path(tempfile.mkdtemp(prefix="lso-bench-processing-"))
    mtx = MediaMTX(binary, work / "mediamtx")
    procs: list[Proc] = []
    try:
        mtx.start()
        backends = {name: start_backend(work, name) for name in BACKENDS}
        procs += backends.values()
        report_hops(measure_hops(mtx, work, media, backends, args), args)
        capacity(mtx, work, media, backends["loudness"], args, procs)
        print(f"\n  (the bench took {time.monotonic() - started:.0f} s; logs in {work})")
        return 0
    finally:
        stop_all(procs)
        mtx.stop()


if __name__ == "__main__":
    sys.exit(main())
