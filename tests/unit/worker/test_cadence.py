"""The input video's frame rate and keyframe interval from one GOP's timestamps."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from livestream_operator.worker.cadence import MAX_FRAMES, CadenceSample, Measured

MS = 1_000_000


def feed(
    frames: Sequence[tuple[int | None, bool]], nominal: float | None = None
) -> Measured | None:
    sample = CadenceSample(nominal)
    for pts, key in frames:
        got = sample.add(pts, key)
        if got is not None:
            return got
    return None


def gop(start_ms: float, fps: float, size: int, count: int) -> list[tuple[int | None, bool]]:
    return [(int((start_ms + i * 1000 / fps) * MS), i % size == 0) for i in range(count)]


@pytest.mark.parametrize(
    ("fps", "size", "want"),
    [
        (30, 60, Measured(30.0, 2.0)),
        (25, 25, Measured(25.0, 1.0)),
        (29.97, 30, Measured(29.97, 1.001)),
        (30, 15, Measured(30.0, 0.5)),
    ],
)
def test_whole_gops_over_two_seconds_give_both(fps: float, size: int, want: Measured) -> None:
    assert feed(gop(1000, fps, size, size + int(fps * 3))) == want


def test_a_sample_that_starts_mid_gop_waits_for_a_keyframe() -> None:
    frames = gop(0, 30, 60, 200)[17:]
    assert feed(frames) == Measured(30.0, 2.0)


def test_no_second_keyframe_gives_the_rate_alone() -> None:
    frames = [(int(i * 1000 / 30 * MS), i == 0) for i in range(MAX_FRAMES + 5)]
    assert feed(frames) == Measured(30.0, None)


def test_frames_without_timestamps_are_skipped_and_a_timestamp_restart_starts_over() -> None:
    frames = [(None, True), (5000 * MS, True), *gop(0, 30, 30, 120)]
    assert feed(frames) == Measured(30.0, 1.0)


def test_a_declared_rate_stands_over_timestamps_the_jitter_buffer_still_corrects() -> None:
    """What rtpjitterbuffer hands on in a stream's first seconds: 25 fps whose
    frames are 38.8 to 39.4 ms apart while it learns the sender's clock."""
    pts, frames = 0.0, []
    for i in range(100):
        frames.append((int(pts * MS), i % 25 == 0))
        pts += 38.8 + 0.6 * i / 100
    assert feed(frames, nominal=25.0) == Measured(25.0, 1.0)
    assert feed(frames) != Measured(25.0, 1.0)  # the timestamps alone are off by 2 %
