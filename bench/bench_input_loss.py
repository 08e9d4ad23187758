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

For the publisher loss, a third column: Slate with spec.inputLoss.holdLastFrameSeconds
HOLD_S (LSO_HOLD_LAST_FRAME_SECONDS: the worker holds the input's last keyframe
on out before the slate); the other columns and faults hold nothing (0).

Faults: the publisher killed and back after 10 s; the worker killed
(SIGKILL: a crash, or its Pod deleted) and a new one started 3 s later, as a
replacement Pod would be; and, with Slate only, the primary killed while a
backup publisher (SMPTE bars, told apart from the primary's testsrc at the
viewer) sends to live/bench/backup, and back 3 s after the backup shows: the
operator's failover decision over MediaMTX's paths replaces the worker
(tests/media/failover_support.py), printed beside the publisher loss without a
backup; once with a new worker started at each switch (cold) and once with a
warm pool worker claimed (warm).

Figures, per fill and fault:
  * destination sessions: how many publish sessions the destination saw (1: it
    never noticed; more: YouTube would have ended the broadcast and started a
    new VOD);
  * publisher loss -> slate: from the kill to the first slate frame at the
    viewer (tests/media/viewer.py tells the slate, testsrc and the bars apart;
    with the hold, the first slate frame 1 s or more into the loss), and how
    many slate frames the viewer got in the first second (with the hold: those
    MediaMTX plays between the lost output and the still);
  * kill -> backup's picture: from the primary's kill to the first frame of the
    backup at the viewer (goal: failoverAfterSeconds + 1 s);
  * publisher back -> its picture: from the restart of the (primary) publisher to
    its first frame at the viewer (MediaMTX's 2 s analysis of an RTMP publish,
    the failback hold, a worker start);
  * largest gap between frames at the viewer (arrival, one clock), through the
    fault: the freeze a viewer sees, reconnects included;
  * largest gap between video timestamps in the destination's recording of its
    longest session (what the destination's own timeline shows);
  * the worker's CPU over the first HOLD_S s of a publisher loss: the still
    decoded and encoded with the hold, against waiting on the slate without.
And the CPU of one worker per 720p30 stream, with the fill (its audio
re-encoded) and without, side by side on the same input over the same window.
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "operator")]

from tests.media.failover_support import Failover  # noqa: E402
from tests.media.media_support import (  # noqa: E402
    MediaMTX,
    Proc,
    ProjectProc,
    SessionWatch,
    apply_path_entries,
    assign,
    build_mediamtx,
    copy_publisher_args,
    forwarder_proc,
    largest_gap,
    livestream,
    packet_dts,
    pool_worker_proc,
    proc_cpu_seconds,
    record_destination,
    worker_proc,
)
from tests.media.viewer import SLATE, SMPTEBARS, TESTSRC, Viewer  # noqa: E402
from tests.support.media_files import backup_file, primary_file  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

from bench.report import line  # noqa: E402
from livestream_operator.api.pod_contract import WorkerAssignment  # noqa: E402
from livestream_operator.api.v1alpha1 import (  # noqa: E402
    IngestSpec,
    InputLossFill,
    WorkerMode,
)

DEST = "live/dest/in"
CPU_WINDOW = 20.0
# Short settings, so that the run stays short (the defaults are 3 and 30).
FAILOVER = IngestSpec(failover_after_seconds=3, failback_hold_seconds=5)
P = TypeVar("P", bound=Proc)
POOL_TOKEN = "pool-token-for-the-input-loss-bench-0123"
POOL_AUTH = {"Content-Type": "application/json", "Authorization": f"Bearer {POOL_TOKEN}"}
HOLD_S = 3
Config = tuple[InputLossFill, int]  # (fill, holdLastFrameSeconds)
# The columns of the publisher and worker faults; a crashed worker holds
# nothing, so the hold is the publisher loss's column only.
CONFIGS: tuple[Config, ...] = (
    (InputLossFill.NONE, 0),
    (InputLossFill.SLATE, 0),
    (InputLossFill.SLATE, HOLD_S),
)
SLATE_ONLY = CONFIGS[1]


def path_online(mtx: MediaMTX, path: str) -> bool:
    return bool((mtx.path(path) or {}).get("online"))


def online(mtx: MediaMTX) -> bool:
    return path_online(mtx, "live/bench/out")


def ready(worker: ProjectProc) -> bool:
    """Whether the Pod's readiness probe passes: for a pool worker, idle and claimable."""
    return worker.healthz() == 200


def run_fault(binary: Path, media: Path, config: Config, fault: str, work: Path) -> dict[str, Any]:
    fill, hold = config
    work.mkdir(parents=True)
    mtx = MediaMTX(binary, work / "mtx").start()
    dest = MediaMTX(binary, work / "dest").start()
    procs: list[Proc] = []
    viewer: Viewer | None = None
    env = {"LSO_FILL": fill.value, "LSO_HOLD_LAST_FRAME_SECONDS": str(hold)}
    hold_cpu: float | None = None

    def start(proc: P) -> P:
        procs.append(proc)
        return proc.start()

    def publisher(file: Path = media, path: str = "live/bench/in") -> Proc:
        args = copy_publisher_args(file, mtx.rtmp(path))
        return start(Proc(args, work / f"publisher-{len(procs)}.log"))

    def worker(path: str = "live/bench/in") -> Proc:
        return start(worker_proc(work, mtx.rtsp(path), mtx.rtsp("live/bench/out"), extra_env=env))

    # "failover-warm": each switch claims a warm pool worker (started, idle and
    # Ready beforehand, as the chart's pool keeps them), as the operator does.
    # The stream's first worker is started cold, in both.
    warm = [
        start(pool_worker_proc(work, POOL_TOKEN)) for _ in range(2 * (fault == "failover-warm"))
    ]
    claims: list[str] = []

    def claim(path: str) -> Proc:
        claims.append(path)
        if len(claims) == 1 or not warm:
            return worker(path)
        proc = warm.pop(0)
        wait_for(partial(ready, proc), 30, "a warm worker")
        body = WorkerAssignment(
            stream_id="bench",
            input_url=mtx.rtsp(path),
            output_url=mtx.rtsp("live/bench/out"),
            mode=WorkerMode.BYPASS,
            fill=fill,
            hold_last_frame_seconds=hold,
        )
        status, _, answer = assign(proc, body.model_dump_json(by_alias=True).encode(), POOL_AUTH)
        assert status == 200, answer
        return proc

    try:
        if fill is InputLossFill.SLATE:
            apply_path_entries(mtx, livestream("bench", fill))
        record_destination(dest)
        pub = publisher()
        with contextlib.ExitStack() as stack:
            if fault.startswith("failover"):
                publisher(backup_file(), "live/bench/backup")
                mtx.wait_available("live/bench/in", 30)
                mtx.wait_available("live/bench/backup", 30)
                for idle in warm:
                    wait_for(partial(ready, idle), 30, "the warm workers")
                failover = stack.enter_context(Failover(mtx, "bench", FAILOVER, claim))
                wrk = failover.worker
            else:
                wrk = worker()
            wait_for(lambda: online(mtx), 30, "the worker to publish out")
            start(forwarder_proc(work, mtx.rtsp("live/bench/out"), dest.rtmp(DEST), "dest"))
            dest.wait_available(DEST, 30)
            viewer = Viewer(dest.rtsp(DEST)).start()
            with SessionWatch(dest, DEST) as watch:
                time.sleep(5)
                at = time.monotonic()
                back: float | None = None
                if fault == "publisher":
                    cpu_at = proc_cpu_seconds(wrk.pid)
                    pub.stop(sig=signal.SIGKILL)
                    time.sleep(HOLD_S)
                    hold_cpu = (proc_cpu_seconds(wrk.pid) - cpu_at) / (time.monotonic() - at)
                    time.sleep(10 - HOLD_S)
                    back = time.monotonic()
                    publisher()
                elif fault.startswith("failover"):
                    pub.stop(sig=signal.SIGKILL)
                    wait_for(partial(viewer.showing, SMPTEBARS, at), 40, "the backup's picture")
                    time.sleep(3)
                    back = time.monotonic()
                    publisher()
                else:
                    wrk.stop(sig=signal.SIGKILL)
                    time.sleep(3)
                    worker()
                # Until the destination shows the primary's picture again.
                since = back or at + 1
                wait_for(partial(viewer.showing, TESTSRC, since), 40, "the picture back")
                time.sleep(3)
        viewer.stop()
        # With the hold, the switch to the still passes through a frame or two of
        # slate (MediaMTX's between two publishers): the slate proper is later.
        slate = viewer.first(SLATE, at + 1.0 if hold else at)
        backup = viewer.first(SMPTEBARS, at)
        again = viewer.first(TESTSRC, back) if back is not None else None
        files = sorted((dest.recordings / DEST).glob("*.ts"), key=lambda f: f.stat().st_size)
        switch = failover.switches[0] if fault.startswith("failover") else None
        return {
            "decided": None if switch is None else switch.decided - at,
            "old_gone": None if switch is None else switch.old_gone - switch.decided,
            "sessions": len([s for s in watch.sessions() if s is not None]),
            "to_slate": None if slate is None else slate - at,
            "flash": viewer.count(SLATE, at, at + 1.0),
            "to_backup": None if backup is None else backup - at,
            "back": None if again is None or back is None else again - back,
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
    media = primary_file()
    work = Path(tempfile.mkdtemp(prefix="lso-bench-input-loss-"))
    counter = itertools.count()
    results: dict[tuple[str, Config], dict[str, Any]] = {}
    for fault in ("publisher", "worker"):
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
            row("publisher back -> its picture at the viewer", lambda r: fmt(r["back"]), fault)
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
    sides = {"no backup": results["publisher", SLATE_ONLY]}
    for fault in ("failover", "failover-warm"):
        sides[fault] = run_fault(binary, media, SLATE_ONLY, fault, work / fault)

    def side(name: str, pick: Callable[[dict[str, Any]], str]) -> None:
        line(name, " | ".join(f"{pick(r):>12}" for r in sides.values()))

    print(
        f"\nprimary killed (fill Slate), failoverAfterSeconds {FAILOVER.failover_after_seconds},"
        f" failbackHoldSeconds {FAILOVER.failback_hold_seconds}; goal: the backup at the"
        f" viewer within {FAILOVER.failover_after_seconds + 1} s of the kill"
    )
    print(f"  {'':<44} {'no backup':>12} | {'backup, cold':>12} | {'backup, warm':>12}")
    side("destination publish sessions", lambda r: str(r["sessions"]))
    side("kill -> slate at the viewer", lambda r: fmt(r["to_slate"]))
    side("kill -> backup's picture at the viewer", lambda r: fmt(r["to_backup"]))
    side("  of which: kill -> the switch decided", lambda r: fmt(r["decided"]))
    side("  the old worker's exit (SIGTERM)", lambda r: fmt(r["old_gone"]))
    side("primary back -> its picture at the viewer", lambda r: fmt(r["back"]))
    side("largest frame gap at the viewer (arrival)", lambda r: fmt(r["viewer_gap"]))
    side("largest video dts gap, longest session", lambda r: fmt(r["recording_gap"]))
    print("\nCPU of the worker per 720p30 stream (share of one core, same input, same window)")
    line(
        "worker",
        f"{cpu[InputLossFill.NONE] * 100:>11.1f} % | {cpu[InputLossFill.SLATE] * 100:>10.1f} %",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
