"""Benchmark of spec.inputLoss.fill: what a destination sees through a fault, with
the fill (Slate) and without it (None: the behaviour before it), side by side.

Prints figures; asserts nothing. Run: `.venv/bin/python bench/bench_input_loss.py`.

Setup, per fill and per fault, fresh: a MediaMTX with the project config (and,
for Slate, live/bench/out's always-available entry as the operator's
PathConfigSync applies it); a publisher sending a pre-encoded 720p30 H.264 +
AAC file with `-c copy` to live/bench/in; the worker (bypass, RTSP output, the
fill as LSO_FILL); a forwarder pushing out to a second MediaMTX, the
destination, which records what it receives (one file per publish session).
A viewer of the destination (ffmpeg decoding 32x18 grey thumbnails, restarted
at once whenever its input ends) stamps every frame with its arrival time.

With the fill, also spec.inputLoss.holdLastFrameSeconds: HOLD_S (the worker
holds the input's last keyframe on out before the slate; LSO_HOLD_LAST_FRAME_SECONDS).

Faults: the publisher killed and back after 10 s; the worker killed
(SIGKILL: a crash, or its Pod deleted) and a new one started 3 s later, as a
replacement Pod would be.

Figures, per fill and fault:
  * destination sessions: how many publish sessions the destination saw (1: it
    never noticed; more: YouTube would have ended the broadcast and started a
    new VOD);
  * publisher loss -> slate: from the kill to the first slate frame at the
    viewer (the slate is black with a line of text; the publisher's picture is
    bright), and how many slate frames the viewer got in the first second;
  * largest gap between frames at the viewer (arrival, one clock), through the
    fault: the freeze a viewer sees, reconnects included;
  * largest gap between video timestamps in the destination's recording of its
    longest session (what the destination's own timeline shows);
  * with the hold: the worker's CPU while it holds the still (a decode, then
    the still encoded), against none while it waits on the slate.
And the CPU of one worker per 720p30 stream, with the fill (its audio
re-encoded) and without, side by side on the same input over the same window.
"""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "operator")]

from tests.media.media_support import (  # noqa: E402
    LUMA_SIZE,
    MediaMTX,
    Proc,
    SessionWatch,
    apply_path_entries,
    build_mediamtx,
    copy_publisher_args,
    forwarder_proc,
    largest_gap,
    livestream,
    packet_dts,
    proc_cpu_seconds,
    record_destination,
    worker_proc,
)
from tests.support.media_files import encode_test_file  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

from bench.report import line  # noqa: E402
from livestream_operator.api.v1alpha1 import (  # noqa: E402
    InputLossFill,
)

CACHE = Path.home() / ".cache" / "livestream-operator"
DEST = "live/dest/in"
SLATE_LUMA = 40
CPU_WINDOW = 20.0
HOLD_S = 3
# (fill, holdLastFrameSeconds), the columns
CONFIGS = ((InputLossFill.NONE, 0), (InputLossFill.SLATE, 0), (InputLossFill.SLATE, HOLD_S))
Config = tuple[InputLossFill, int]


class Viewer:
    """A viewer of the destination: (arrival time, mean luma) of every frame,
    restarted at once whenever its input ends."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.frames: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Viewer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._proc is not None:
            self._proc.kill()
        self._thread.join(5)

    def _run(self) -> None:
        w, h = LUMA_SIZE
        size = w * h
        while not self._stop.is_set():
            self._proc = subprocess.Popen(
                ["ffmpeg", "-v", "quiet", "-rtsp_transport", "tcp", "-i", self.url, "-an",
                 "-vf", f"scale={w}:{h},format=gray", "-f", "rawvideo", "-"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            assert self._proc.stdout is not None
            while frame := self._proc.stdout.read(size):
                if len(frame) == size:
                    self.frames.append((time.monotonic(), sum(frame) / size))
            self._proc.wait()
            self._stop.wait(0.05)

    def largest_gap(self, since: float) -> float:
        return largest_gap([t for t, _ in self.frames if t >= since])

    def first_slate(self, since: float) -> float | None:
        return next((t for t, luma in self.frames if t >= since and luma < SLATE_LUMA), None)


def path_online(mtx: MediaMTX, path: str) -> bool:
    return bool((mtx.path(path) or {}).get("online"))


def online(mtx: MediaMTX) -> bool:
    return path_online(mtx, "live/bench/out")


def run_fault(binary: Path, media: Path, config: Config, fault: str, work: Path) -> dict[str, Any]:
    fill, hold = config
    work.mkdir(parents=True)
    mtx = MediaMTX(binary, work / "mtx").start()
    dest = MediaMTX(binary, work / "dest").start()
    procs: list[Proc] = []
    viewer: Viewer | None = None
    env = {"LSO_FILL": fill.value, "LSO_HOLD_LAST_FRAME_SECONDS": str(hold)}
    hold_cpu: float | None = None

    def start(proc: Proc) -> Proc:
        procs.append(proc)
        return proc.start()

    def publisher() -> Proc:
        args = copy_publisher_args(media, mtx.rtmp("live/bench/in"))
        return start(Proc(args, work / f"publisher-{len(procs)}.log"))

    def worker() -> Proc:
        return start(
            worker_proc(work, mtx.rtsp("live/bench/in"), mtx.rtsp("live/bench/out"), extra_env=env)
        )

    try:
        if fill is InputLossFill.SLATE:
            apply_path_entries(mtx, livestream("bench", fill))
        record_destination(dest)
        pub = publisher()
        wrk = worker()
        wait_for(lambda: online(mtx), 30, "the worker to publish out")
        start(forwarder_proc(work, mtx.rtsp("live/bench/out"), dest.rtmp(DEST), "dest"))
        dest.wait_available(DEST, 30)
        viewer = Viewer(dest.rtsp(DEST)).start()
        with SessionWatch(dest, DEST) as watch:
            time.sleep(5)
            at = time.monotonic()
            if fault == "publisher":
                cpu_at = proc_cpu_seconds(wrk.pid)
                pub.stop(sig=signal.SIGKILL)
                time.sleep(HOLD_S)
                hold_cpu = (proc_cpu_seconds(wrk.pid) - cpu_at) / (time.monotonic() - at)
                time.sleep(10 - HOLD_S)
                publisher()
            else:
                wrk.stop(sig=signal.SIGKILL)
                time.sleep(3)
                worker()
            # Until the destination shows the picture again (or 30 s).
            wait_for(
                lambda: any(t > at + 1 and luma >= SLATE_LUMA for t, luma in viewer.frames[-5:]),
                40,
                "the picture back at the destination",
            )
            time.sleep(3)
        viewer.stop()
        # With the hold, the switch to the still passes through a frame or two of
        # slate (MediaMTX's between two publishers): the slate proper is later.
        slate = viewer.first_slate(at + 1.0 if hold else at)
        flash = [t for t, luma in viewer.frames if at <= t < at + 1.0 and luma < SLATE_LUMA]
        files = sorted((dest.recordings / DEST).glob("*.ts"), key=lambda f: f.stat().st_size)
        return {
            "sessions": len([s for s in watch.sessions() if s is not None]),
            "to_slate": None if slate is None else slate - at,
            "flash": len(flash),
            "viewer_gap": viewer.largest_gap(at - 2),
            "recording_gap": largest_gap(packet_dts(files[-1])["video"][30:]) if files else None,
            "hold_cpu": hold_cpu,
        }
    finally:
        if viewer is not None:
            viewer.stop()
        for proc in reversed(procs):
            proc.stop(timeout=5)
        dest.stop()
        mtx.stop()


def cpu_side_by_side(binary: Path, media: Path, work: Path) -> dict[InputLossFill, float]:
    """Two workers on the same input, one per fill, over the same window."""
    work.mkdir(parents=True)
    mtx = MediaMTX(binary, work / "mtx").start()
    procs: list[Proc] = []
    try:
        apply_path_entries(mtx, livestream("slate", InputLossFill.SLATE))
        procs.append(Proc(copy_publisher_args(media, mtx.rtmp("live/bench/in")), work / "p.log"))
        procs[-1].start()
        workers = {}
        for fill, sid in ((InputLossFill.NONE, "none"), (InputLossFill.SLATE, "slate")):
            proc = worker_proc(
                work,
                mtx.rtsp("live/bench/in"),
                mtx.rtsp(f"live/{sid}/out"),
                extra_env={"LSO_FILL": fill.value},
            )
            procs.append(proc.start())
            workers[fill] = proc
        for sid in ("none", "slate"):
            wait_for(partial(path_online, mtx, f"live/{sid}/out"), 30, f"live/{sid}/out online")
        time.sleep(3)  # warm-up
        before = {fill: proc_cpu_seconds(p.pid) for fill, p in workers.items()}
        time.sleep(CPU_WINDOW)
        return {
            fill: (proc_cpu_seconds(p.pid) - before[fill]) / CPU_WINDOW
            for fill, p in workers.items()
        }
    finally:
        for running in reversed(procs):
            running.stop(timeout=5)
        mtx.stop()


def fmt(value: float | None, unit: str = "s", scale: float = 1.0) -> str:
    return "none" if value is None else f"{value * scale:.3f} {unit}"


def main() -> int:
    print("input-loss benchmark (720p30 H.264 + AAC, bypass, RTSP output)")
    binary = build_mediamtx()
    media = encode_test_file(CACHE / "media" / "720p30-testsrc-h264-aac1k-60s.flv")
    work = Path(tempfile.mkdtemp(prefix="lso-bench-input-loss-"))
    counter = itertools.count()
    results: dict[tuple[str, Config], dict[str, Any]] = {}
    for fault in ("publisher", "worker"):
        # A crashed worker holds nothing: the hold is the publisher's column only.
        for config in CONFIGS if fault == "publisher" else CONFIGS[:2]:
            results[fault, config] = run_fault(
                binary, media, config, fault, work / str(next(counter))
            )
    cpu = cpu_side_by_side(binary, media, work / "cpu")

    def row(name: str, pick: Callable[[dict[str, Any]], str], fault: str) -> None:
        cells = [pick(results[fault, c]) if (fault, c) in results else "-" for c in CONFIGS]
        line(name, " | ".join(f"{cell:>12}" for cell in cells))

    hold = f"Slate, {HOLD_S} s hold"
    print(f"\n  {'':<44} {'None (before)':>12} | {'Slate':>12} | {hold:>12}")
    for fault, title in (
        ("publisher", "publisher gone 10 s"),
        ("worker", "worker killed, new one 3 s later"),
    ):
        print(f"\n{title}")
        row("destination publish sessions", lambda r: str(r["sessions"]), fault)
        if fault == "publisher":
            row("publisher loss -> slate at the viewer", lambda r: fmt(r["to_slate"]), fault)
            row("slate frames in the first second of the loss", lambda r: str(r["flash"]), fault)
        row("largest frame gap at the viewer (arrival)", lambda r: fmt(r["viewer_gap"]), fault)
        row(
            "largest video dts gap, longest session",
            lambda r: fmt(r["recording_gap"]),
            fault,
        )
        if fault == "publisher":
            row(
                f"worker CPU, first {HOLD_S} s of the loss",
                lambda r: fmt(r["hold_cpu"], "%", 100),
                fault,
            )
    print("\nCPU of the worker per 720p30 stream (share of one core, same input, same window)")
    line(
        "worker",
        f"{cpu[InputLossFill.NONE] * 100:>11.1f} % | {cpu[InputLossFill.SLATE] * 100:>10.1f} %",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
