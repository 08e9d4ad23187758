"""Benchmarks of recording and snapshots: how fast a recording toggle takes effect
next to restarting MediaMTX with recording on, how fast a snapshot is cold and
cached, and what recording a 720p30 stream costs MediaMTX.

Prints figures; asserts nothing. Run: `.venv/bin/python bench/bench_recording.py`
(`--quick` for a short smoke run).

Setup (one run, one machine), as bench/bench_media.py: a real MediaMTX with the
project config (internal auth open to all: no receiver), its recordPath in a
temporary directory; publishers stream a pre-encoded 1280x720@30 H.264 + AAC file
(GOP 1 s, 2.5 Mbit/s) with `-c copy` (no encoder competes for the CPU) to
live/bench/in (and live/bench-<n>/in for more streams). The operator's
PathConfigSync runs in this process against MediaMTX's Control API, over an
in-memory mapping of LiveStreams the bench edits (spec.recording, segmentDuration
10m); the segment hooks go to a stub receiver in this process.

1. Toggle latency: a LiveStream's spec.recording.enabled goes true and
   PathConfigSync.once() applies it (a Control API patch of the path's own entry,
   hot-reloaded by MediaMTX) -> the first segment file of the path appears in the
   recordings directory (polled every 10 ms). Then off again and a wait of 1-2 s
   (random, so that toggles land anywhere in the GOP). fmp4 and mpegts toggles
   alternate. Per toggle: whether the publisher's source id (MediaMTX's id of its
   session) was the same before the toggle and after it went off again, i.e. no
   interruption. Side by side, the baseline without live toggling: a second
   MediaMTX with `record: yes` in its config, restarted: from the restart (SIGTERM)
   to the first segment file, with a publisher that reconnects as soon as MediaMTX
   listens (a lower bound: real encoders back off for seconds), and every stream
   on that MediaMTX is cut, not just the one.

2. Snapshot latency of live/bench/in: cold, the receiver's decode step
   (FFmpegGrabber, its tuned ffmpeg arguments) run directly, interleaved with the
   same grab using ffmpeg's default probing (the alternative the tuning replaces);
   then through the snapshot service's own cache path (Snapshots.picture(), the
   call the HTTP handler makes after its auth checks: a real Snapshots with a real
   AuthService and a no-op status writer): a miss, which decodes, then hits within
   the 1 s max_age; and viewers arriving together at a cold cache (one decode,
   shared). Every cold grab starts at a random point of the 1 s GOP (a decode waits
   for the next keyframe). The JPEG's size and dimensions.

3. CPU of recording: MediaMTX's utime + stime from /proc/<pid>/stat over a fixed
   window (share of one core) with recording off, fmp4 and mpegts, for 1 stream
   and for 4, after a warm-up; the bytes the recordings grew by per second (file
   sizes) next to the bytes MediaMTX received (bytesReceived of the paths).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, cast

import aiohttp
from pydantic import SecretStr

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "operator")]

from tests.media.media_support import (  # noqa: E402
    HookReceiver,
    MediaMTX,
    Proc,
    build_mediamtx,
    copy_publisher_args,
    proc_cpu_seconds,
)
from tests.support.media_files import encode_test_file  # noqa: E402

from bench.bench_media import CACHE  # noqa: E402
from bench.report import cores_busy, line, machine_busy, pct  # noqa: E402
from livestream_operator.access.auth_endpoint import AuthService  # noqa: E402
from livestream_operator.access.cluster_view import KeyRing, Publishing  # noqa: E402
from livestream_operator.access.policy import policy_from  # noqa: E402
from livestream_operator.api.v1alpha1 import (  # noqa: E402
    LiveStream,
    LiveStreamSpec,
    LiveStreamStatus,
    ObjectMeta,
    RecordedPath,
    RecordingSpec,
)
from livestream_operator.ingest.conditional_writer import ConditionalWriter  # noqa: E402
from livestream_operator.mediamtx.control_api import MediaMTXClient  # noqa: E402
from livestream_operator.mediamtx.path_sync import PathConfigSync  # noqa: E402
from livestream_operator.settings import Settings  # noqa: E402
from livestream_operator.userapi.snapshots import (  # noqa: E402
    FFMPEG_OUTPUT,
    FFmpegGrabber,
    Picture,
    Snapshots,
)

T = TypeVar("T")
FORMATS = ("fmp4", "mpegts")
SEGMENT = "10m"  # longer than any window: one file per toggle and stream
POLL = 0.01
TIMEOUT = 20.0
GOP = 1.0  # s: the test file's keyframe interval


# --- helpers ---------------------------------------------------------------------


def livestream(stream_id: str, enabled: bool, fmt: str) -> LiveStream:
    recording = RecordingSpec.model_validate(
        {"enabled": enabled, "paths": ["in"], "format": fmt, "segmentDuration": SEGMENT}
    )
    return LiveStream(
        metadata=ObjectMeta(name=stream_id, namespace="bench", uid=f"uid-{stream_id}"),
        spec=LiveStreamSpec(stream_id=stream_id, recording=recording),
    )


def segment_dir(mtx: MediaMTX, stream_id: str) -> Path:
    return mtx.recordings / "live" / stream_id / "in"


def files(directory: Path) -> set[str]:
    try:
        return {entry.name for entry in os.scandir(directory)}
    except FileNotFoundError:
        return set()


def wait_new_file(directory: Path, before: set[str], timeout: float = TIMEOUT) -> tuple[float, str]:
    """(monotonic time it was seen, name) of the first file in `directory` not in
    `before`, polled every POLL s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = files(directory) - before
        if new:
            return time.monotonic(), min(new)
        time.sleep(POLL)
    raise TimeoutError(f"no new file in {directory} within {timeout:.0f} s")


def wait_until(check: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> float:
    """Monotonic time at which `check` first held, polled every POLL s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(POLL)
    raise TimeoutError(f"{what} within {timeout:.0f} s")


def source_id(mtx: MediaMTX, path: str) -> str | None:
    source = (mtx.path(path) or {}).get("source") or {}
    found = source.get("id")
    return str(found) if found else None


def publisher(work: Path, mtx: MediaMTX, media: Path, stream_id: str) -> Proc:
    log = Path(tempfile.mkstemp(prefix=f"pub-{stream_id}-", suffix=".log", dir=work)[1])
    return Proc(copy_publisher_args(media, mtx.rtmp(f"live/{stream_id}/in")), log)


def tree_bytes(directory: Path) -> int:
    total = 0
    for path in directory.rglob("*"):
        try:
            total += path.stat().st_size
        except FileNotFoundError:
            continue
    return total


def filesystem(path: Path) -> str:
    """The type of the filesystem `path` is on (the longest mount point above it)."""
    best, kind = "", "?"
    for entry in Path("/proc/self/mounts").read_text().splitlines():
        fields = entry.split()
        if len(fields) >= 3 and str(path).startswith(fields[1]) and len(fields[1]) > len(best):
            best, kind = fields[1], fields[2]
    return kind


def jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's start-of-frame segment."""
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # no length
            i += 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            return width, height
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return None


def ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:.0f} ms"


def us(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1e6:.1f} us"


def p50_max(values: list[float]) -> str:
    return f"{ms(pct(values, 50))} / {ms(max(values))}" if values else "-"


def table(rows: list[tuple[str, list[str]]], width: int = 40, cell: int = 18) -> None:
    for name, cells in rows:
        print(f"  {name:<{width}}" + "".join(f"{c:>{cell}}" for c in cells))
    sys.stdout.flush()


@dataclass
class RecordingMediaMTX(MediaMTX):
    """The project's MediaMTX, optionally with `record: yes` for every path in its
    config (the restart baseline)."""

    record: bool = False

    def env(self) -> dict[str, str]:
        env = super().env()
        if self.record:
            env["MTX_PATHDEFAULTS_RECORD"] = "yes"
        return env


class Operator:
    """The operator's PathConfigSync over an in-memory LiveStream mapping, on an
    event loop of its own (the rest of the bench is synchronous)."""

    def __init__(self, runner: asyncio.Runner, mtx: MediaMTX) -> None:
        self.runner = runner
        self.streams: dict[str, LiveStream] = {}

        async def session() -> aiohttp.ClientSession:
            return aiohttp.ClientSession()

        self.session = runner.run(session())
        client = MediaMTXClient(f"http://127.0.0.1:{mtx.api_port}", self.session)
        self.sync = PathConfigSync(client, self.streams, recheck=3600)

    def run(self, work: Awaitable[T]) -> T:
        async def wrapped() -> T:
            return await work

        return self.runner.run(wrapped())

    def set(self, stream_ids: list[str], enabled: bool, fmt: str = "fmp4") -> tuple[int, float]:
        """Edit the LiveStreams' spec.recording and apply it: (changes, seconds)."""
        for sid in stream_ids:
            self.streams[sid] = livestream(sid, enabled, fmt)
        started = time.monotonic()
        changes = self.run(self.sync.once())
        return changes, time.monotonic() - started

    def close(self) -> None:
        self.run(self.session.close())


# --- 1. toggle latency -----------------------------------------------------------


@dataclass
class Toggle:
    fmt: str
    changes: int
    applied: float  # spec change -> once() returned (s)
    first_file: float  # spec change -> first segment file (s)
    name: str
    same_source: bool


def measure_toggles(mtx: MediaMTX, op: Operator, rounds: int, rng: random.Random) -> list[Toggle]:
    directory = segment_dir(mtx, "bench")
    op.set(["bench"], False)  # the path's own entries, record off
    time.sleep(1.0)
    toggles = []
    for _ in range(rounds):
        for fmt in FORMATS:  # alternating: drift in load hits both alike
            source = source_id(mtx, "live/bench/in")
            before = files(directory)
            started = time.monotonic()
            changes, applied = op.set(["bench"], True, fmt)
            seen, name = wait_new_file(directory, before)
            op.set(["bench"], False, fmt)
            time.sleep(1.0 + rng.uniform(0, GOP))  # the open segment closes; a new GOP phase
            same = source is not None and source_id(mtx, "live/bench/in") == source
            toggles.append(Toggle(fmt, changes, applied, seen - started, name, same))
    return toggles


@dataclass
class Restart:
    listening: float  # SIGTERM -> MediaMTX's API answers again (s)
    available: float  # -> the reconnected publisher's path is available
    first_file: float  # -> the first segment file
    same_source: bool


def measure_restarts(
    binary: Path, work: Path, media: Path, hooks: HookReceiver, runs: int
) -> list[Restart]:
    """The baseline: MediaMTX with `record: yes` in its config, restarted."""
    mtx = RecordingMediaMTX(binary, work / "mediamtx-restart", hooks.url, record=True)
    directory = segment_dir(mtx, "bench")
    pub = publisher(work, mtx, media, "bench")
    results = []
    try:
        mtx.start()
        pub.start()
        wait_until(lambda: mtx.available("live/bench/in"), "live/bench/in available")
        wait_new_file(directory, set())  # steady state: recording
        for _ in range(runs):
            time.sleep(1.0)
            source = source_id(mtx, "live/bench/in")
            before = files(directory)
            started = time.monotonic()
            mtx.stop()
            pub.stop(timeout=5)  # it loses its connection; the replacement starts at once
            mtx.start()
            listening = time.monotonic()
            pub = publisher(work, mtx, media, "bench").start()
            available = wait_until(lambda: mtx.available("live/bench/in"), "publisher back")
            seen, _ = wait_new_file(directory, before)
            same = source is not None and source_id(mtx, "live/bench/in") == source
            results.append(Restart(listening - started, available - started, seen - started, same))
    finally:
        pub.stop(timeout=5)
        mtx.stop()
    return results


def report_toggles(toggles: list[Toggle], restarts: list[Restart]) -> None:
    print("\n1. Toggle latency: spec.recording.enabled -> true -> first segment file on disk")
    table(
        [("toggle", ["once() applied", "first file", "file", "API calls", "source id"])],
        width=10,
        cell=15,
    )
    for i, t in enumerate(toggles, 1):
        cells = [ms(t.applied), ms(t.first_file), Path(t.name).suffix, str(t.changes)]
        cells.append("same" if t.same_source else "CHANGED")
        table([(f"{i} {t.fmt}", cells)], width=10, cell=15)
    by = {fmt: [t for t in toggles if t.fmt == fmt] for fmt in FORMATS}

    def kept(values: list[bool]) -> str:
        return f"{sum(values)}/{len(values)}"

    print()
    table(
        [
            ("", ["live, fmp4", "live, mpegts", "restart, fmp4"]),
            (
                "spec change -> once() returned p50/max",
                [p50_max([t.applied for t in by[f]]) for f in FORMATS] + ["-"],
            ),
            (
                "restart -> MediaMTX listening p50/max",
                ["-", "-", p50_max([r.listening for r in restarts])],
            ),
            (
                "  -> publisher's path available p50/max",
                ["(never left)", "(never left)", p50_max([r.available for r in restarts])],
            ),
            (
                "-> first segment file p50/max",
                [p50_max([t.first_file for t in by[f]]) for f in FORMATS]
                + [p50_max([r.first_file for r in restarts])],
            ),
            ("runs", [str(len(by[f])) for f in FORMATS] + [str(len(restarts))]),
            (
                "publisher's session kept (same source id)",
                [kept([t.same_source for t in by[f]]) for f in FORMATS]
                + [kept([r.same_source for r in restarts])],
            ),
        ],
        width=42,
        cell=19,
    )
    print("  (live: PathConfigSync patches the path's own entry, which MediaMTX hot-reloads;")
    print("  restart: MediaMTX with record: yes restarted, the publisher reconnecting at once,")
    print("  every stream on that MediaMTX cut. A segment starts at a keyframe, one a second")
    print("  here; fmp4 writes it a part at a time, recordPartDuration 1 s)")


# --- 2. snapshots ----------------------------------------------------------------


class DefaultProbing(FFmpegGrabber):
    """The grab with ffmpeg's default probing: what the tuned arguments replace."""

    def args(self, url: str) -> list[str]:
        return [self.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
                "-rtsp_transport", "tcp", "-i", url, *FFMPEG_OUTPUT]  # fmt: skip


class Counting:
    """A grabber that counts its decodes."""

    def __init__(self, grab: FFmpegGrabber) -> None:
        self.grab, self.calls = grab, 0

    async def __call__(self, url: str, timeout: float) -> bytes:
        self.calls += 1
        return await self.grab(url, timeout)


class NoStatus:
    """The status writer Snapshots records pictures with: a no-op here (no cluster)."""

    async def update(
        self, stream_id: str, decide: Callable[[LiveStream], LiveStreamStatus | None]
    ) -> bool | None:
        return None


@dataclass
class SnapshotRun:
    cold: list[float]
    default: list[float]
    miss: list[float]
    hit: list[float]
    joined: list[float]  # each viewer's wait, viewers arriving together at a cold cache
    joined_decodes: int
    jpeg: bytes


def timed(op: Operator, work: Awaitable[T]) -> tuple[T, float]:
    """What `work` gives, and the seconds it took, timed on the event loop."""

    async def run() -> tuple[T, float]:
        started = time.perf_counter()
        result = await work
        return result, time.perf_counter() - started

    return op.run(run())


def aged_out(snapshots: Snapshots, key: tuple[str, RecordedPath], rng: random.Random) -> None:
    """Wait until the cached picture is stale, then a random part of a GOP: a picture
    lands just after a keyframe, and a miss exactly max_age later would always wait
    for the next one about as long."""
    while snapshots.cache.fresh(key) is not None:
        time.sleep(0.02)
    time.sleep(rng.uniform(0, GOP))


def measure_snapshots(
    mtx: MediaMTX, op: Operator, grabs: int, hits: int, viewers: int, rng: random.Random
) -> SnapshotRun:
    url = mtx.rtsp("live/bench/in")
    tuned, default = FFmpegGrabber(), DefaultProbing()
    cold: list[float] = []
    slow: list[float] = []
    jpeg = b""
    for _ in range(grabs):
        for grab, into in ((tuned, cold), (default, slow)):
            jpeg, seconds = timed(op, grab(url, 10.0))
            into.append(seconds)
            time.sleep(rng.uniform(0.05, 0.05 + GOP))  # the next starts anywhere in the GOP

    settings = Settings(
        mediamtx_rtsp_url=f"rtsp://127.0.0.1:{mtx.rtsp_port}",
        worker_password=SecretStr("bench-worker-password"),
    )
    counting = Counting(FFmpegGrabber())

    async def service() -> Snapshots:
        auth = AuthService(policy_from(settings), KeyRing(), Publishing(), "bench")
        return Snapshots(settings, auth, cast(ConditionalWriter, NoStatus()), counting)

    snapshots = op.run(service())
    key = ("bench", RecordedPath.IN)
    miss: list[float] = []
    hit: list[float] = []
    try:
        for _ in range(grabs):
            aged_out(snapshots, key, rng)
            entry, seconds = timed(op, snapshots.picture(*key))
            assert isinstance(entry, Picture), entry
            miss.append(seconds)
            calls = counting.calls
            for _ in range(hits):
                _, seconds = timed(op, snapshots.picture(*key))
                hit.append(seconds)
            if counting.calls != calls:
                raise RuntimeError("a cache hit decoded")

        aged_out(snapshots, key, rng)
        calls = counting.calls

        async def together() -> list[float]:
            async def one() -> float:
                started = time.perf_counter()
                await snapshots.picture(*key)
                return time.perf_counter() - started

            return list(await asyncio.gather(*(one() for _ in range(viewers))))

        joined = op.run(together())
        decodes = counting.calls - calls
    finally:
        op.run(snapshots.close())
    return SnapshotRun(cold, slow, miss, hit, joined, decodes, jpeg)


def report_snapshots(run: SnapshotRun) -> None:
    print("\n2. Snapshot latency, live/bench/in (1280x720@30, a keyframe every second)")
    rows = [("", ["p50", "p95", "max", "n"])]

    def row(name: str, values: list[float], unit: Callable[[float], str] = ms) -> None:
        cells = [unit(pct(values, 50)), unit(pct(values, 95)), unit(max(values)), str(len(values))]
        rows.append((name, cells))

    row("cold: FFmpegGrabber (tuned), direct", run.cold)
    row("cold: ffmpeg default probing, direct", run.default)
    row("cold: Snapshots.picture(), a miss", run.miss)
    row("cached: Snapshots.picture(), a hit", run.hit, us)
    row(f"{len(run.joined)} viewers at once, cold cache", run.joined)
    table(rows, cell=12)
    dims = jpeg_dimensions(run.jpeg)
    size = f"{dims[0]}x{dims[1]}" if dims else "?"
    line("decodes for those viewers", str(run.joined_decodes), "(single flight)")
    line("JPEG (mjpeg -q:v 3)", f"{size}, {len(run.jpeg) / 1000:.0f} kB")
    cold, default = pct(run.cold, 50), pct(run.default, 50)
    line("default probing / tuned, p50", f"{default / cold:.1f}x" if cold else "-")
    print("  (cached: the hit path itself, through the real Snapshots with a real")
    print("  AuthService and a no-op status writer, no HTTP; the handler's auth checks")
    print("  and the response come on top in the receiver)")


# --- 3. CPU ----------------------------------------------------------------------


@dataclass
class CpuRow:
    streams: int
    mode: str
    cpu: float  # share of one core
    machine: float  # cores
    disk: float  # bytes/s, all streams
    ingest: float  # bytes/s, all streams


def sample(
    mtx: MediaMTX, pid: int, sids: list[str]
) -> tuple[float, float, tuple[float, float], int, float]:
    """(now, MediaMTX's CPU seconds, machine_busy(), bytes recorded, bytes received)."""
    paths = [f"live/{sid}/in" for sid in sids]
    received = sum(float((mtx.path(p) or {}).get("bytesReceived", 0)) for p in paths)
    disk = sum(tree_bytes(segment_dir(mtx, sid)) for sid in sids)
    return time.monotonic(), proc_cpu_seconds(pid), machine_busy(), disk, received


def measure_cpu(
    mtx: MediaMTX,
    op: Operator,
    work: Path,
    media: Path,
    counts: list[int],
    window: float,
    warmup: float,
    procs: list[Proc],
) -> list[CpuRow]:
    assert mtx.proc is not None
    pid = mtx.proc.pid
    sids = ["bench"] + [f"bench-{i}" for i in range(2, max(counts) + 1)]
    running = {"bench"}
    rows = []
    for count in counts:
        mine = sids[:count]
        for sid in mine:
            if sid not in running:
                procs.append(publisher(work, mtx, media, sid).start())
                running.add(sid)
        for sid in mine:
            mtx.wait_available(f"live/{sid}/in", TIMEOUT)
        for mode in ("off", *FORMATS):
            op.set(mine, mode != "off", mode if mode != "off" else "fmp4")
            time.sleep(warmup)

            t0, cpu0, busy0, disk0, in0 = sample(mtx, pid, mine)
            time.sleep(window)
            t1, cpu1, busy1, disk1, in1 = sample(mtx, pid, mine)
            elapsed = t1 - t0
            rows.append(
                CpuRow(
                    count,
                    mode,
                    (cpu1 - cpu0) / elapsed,
                    cores_busy(busy0, busy1),
                    (disk1 - disk0) / elapsed,
                    (in1 - in0) / elapsed,
                )
            )
        op.set(mine, False)
    return rows


def report_cpu(rows: list[CpuRow], window: float, warmup: float, fs: str) -> None:
    print(
        f"\n3. MediaMTX CPU with recording (share of one core over {window:.0f} s after "
        f"{warmup:.0f} s warm-up; recordings on {fs})"
    )
    head = ["MediaMTX", "per stream", "+ recording", "disk kB/s", "ingest kB/s", "disk/in"]
    table([("streams, recording", [*head, "machine"])], width=20, cell=12)
    off = {r.streams: r.cpu for r in rows if r.mode == "off"}
    for r in rows:
        extra = "-" if r.mode == "off" else f"{(r.cpu - off[r.streams]) / r.streams * 100:.1f} %"
        cells = [
            f"{r.cpu * 100:.1f} %",
            f"{r.cpu / r.streams * 100:.1f} %",
            extra,
            f"{r.disk / r.streams / 1000:.0f}",
            f"{r.ingest / r.streams / 1000:.0f}",
            f"{r.disk / r.ingest:.2f}" if r.ingest else "-",
            f"{r.machine:.2f}",
        ]
        table([(f"{r.streams}, {r.mode}", cells)], width=20, cell=12)
    print("  (per stream and disk/ingest per stream; + recording: MediaMTX's CPU per stream")
    print("  above the same streams with recording off; machine: cores busy, everything)")


# --- main ------------------------------------------------------------------------


@dataclass
class Args:
    toggles: int
    restarts: int
    grabs: int
    hits: int
    viewers: int
    window: float
    warmup: float
    streams: list[int]


def parse() -> Args:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--toggles", type=int, default=5, help="toggles per format")
    parser.add_argument("--restarts", type=int, default=3, help="baseline restarts")
    parser.add_argument("--grabs", type=int, default=8, help="cold snapshots per variant")
    parser.add_argument("--hits", type=int, default=50, help="cache hits timed per miss")
    parser.add_argument("--viewers", type=int, default=8, help="viewers arriving together")
    parser.add_argument("--seconds", type=float, default=20.0, help="CPU window")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--streams", default="1,4", help="stream counts for the CPU part")
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    ns = parser.parse_args()
    args = Args(
        ns.toggles,
        ns.restarts,
        ns.grabs,
        ns.hits,
        ns.viewers,
        ns.seconds,
        ns.warmup,
        [int(n) for n in ns.streams.split(",")],
    )
    if ns.quick:
        args = Args(2, 1, 3, 20, 4, 4.0, 1.0, [1, 2])
    return args


def header(mtx: MediaMTX, idle: float) -> None:
    print(
        f"  {os.cpu_count()} CPUs; machine busy before start: {idle:.2f} cores (3 s); "
        f"recordings in {mtx.recordings} ({filesystem(mtx.recordings)})"
    )


def main() -> int:
    args = parse()
    started = time.monotonic()
    rng = random.Random(1)
    print("recording and snapshot benchmark (720p30 H.264 + AAC, -c copy publishers)")
    before = machine_busy()
    time.sleep(3)  # what else runs here: the figures share the machine with it
    idle = cores_busy(before, machine_busy())
    binary = build_mediamtx()
    media = encode_test_file(
        CACHE / "bench" / "720p30-testsrc2-h264-aac-60s.flv", pattern="testsrc2"
    )
    work = Path(tempfile.mkdtemp(prefix="lso-bench-recording-"))
    hooks = HookReceiver()
    mtx = MediaMTX(binary, work / "mediamtx", hooks.url)
    procs: list[Proc] = []
    try:
        with asyncio.Runner() as runner:
            mtx.start()
            header(mtx, idle)
            op = Operator(runner, mtx)
            try:
                procs.append(publisher(work, mtx, media, "bench").start())
                mtx.wait_available("live/bench/in", 30)
                toggles = measure_toggles(mtx, op, args.toggles, rng)
                restarts = measure_restarts(binary, work, media, hooks, args.restarts)
                report_toggles(toggles, restarts)
                snaps = measure_snapshots(mtx, op, args.grabs, args.hits, args.viewers, rng)
                report_snapshots(snaps)
                cpu = measure_cpu(
                    mtx, op, work, media, args.streams, args.window, args.warmup, procs
                )
                report_cpu(cpu, args.window, args.warmup, filesystem(mtx.recordings))
            finally:
                op.close()
        print(f"\n  (the bench took {time.monotonic() - started:.0f} s; logs in {work})")
        return 0
    finally:
        for p in reversed(procs):
            p.stop(timeout=5)
        mtx.stop()
        hooks.close()


if __name__ == "__main__":
    sys.exit(main())
