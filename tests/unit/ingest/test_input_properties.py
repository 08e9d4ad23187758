"""status.input from MediaMTX's view of the ingest: parsing tracks2, rounding the
bitrate, and when a change is worth a write (rarely: the API server pays each)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from livestream_operator.api.ownership import FieldManager, changed
from livestream_operator.api.v1alpha1 import (
    AudioProperties,
    IngestStatus,
    InputStatus,
    LiveStreamStatus,
    VideoProperties,
)
from livestream_operator.ingest.input_properties import (
    BITRATE_STATUS_SECONDS,
    Counted,
    Tracks,
    bitrate,
    decide,
    parse_tracks,
    round_kbps,
    window,
)
from livestream_operator.mediamtx.control_api import PathInfo
from tests.support.fake_mediamtx import RECORDING

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
RECORDED = json.loads(RECORDING.read_text())["items"][0]
LIVE = LiveStreamStatus(ingest=IngestStatus(available=True, source_id="s1"))


def test_the_tracks_mediamtx_1_20_lists_become_video_and_audio() -> None:
    info = PathInfo.from_api(RECORDED)
    assert info.inbound_bytes == 180027
    assert parse_tracks(info.tracks) == Tracks(
        VideoProperties(
            codec="H264", profile="High", level="3.1", width=1280, height=720, resolution="1280x720"
        ),
        AudioProperties(codec="AAC", sample_rate=44100, channels=1),
    )


@pytest.mark.parametrize(
    ("tracks", "video", "audio"),
    [
        ([], None, None),
        ([{"codec": "Opus", "codecProps": {"channelCount": 2}}], None, ("Opus", None, 2)),
        # AV1's profile and level are numbers; a codec without props still counts.
        (
            [{"codec": "AV1", "codecProps": {"width": 640, "height": 360, "profile": 0}}],
            ("AV1", "0", "640x360"),
            None,
        ),
        ([{"codec": "VP8"}], ("VP8", None, None), None),
        # Unknown codecs, garbage and later tracks of a kind are ignored.
        (
            [
                {"codec": "KLV"},
                {"codec": 7},
                "x",
                {"codec": "H265", "codecProps": {"width": -1, "height": "720"}},
                {"codec": "H264", "codecProps": {"width": 1, "height": 1}},
            ],
            ("H265", None, None),
            None,
        ),
    ],
)
def test_tracks_of_other_codecs_and_garbage(
    tracks: list[Any], video: tuple[Any, ...] | None, audio: tuple[Any, ...] | None
) -> None:
    parsed = parse_tracks(PathInfo.from_api({"tracks2": tracks}).tracks)
    got_video = parsed.video and (parsed.video.codec, parsed.video.profile, parsed.video.resolution)
    got_audio = parsed.audio and (
        parsed.audio.codec,
        parsed.audio.sample_rate,
        parsed.audio.channels,
    )
    assert (got_video, got_audio) == (video, audio)


def test_a_path_playing_its_offline_fill_is_not_available() -> None:
    """alwaysAvailable keeps `available` while the publisher is gone; `online` is
    the publisher, and that is what the resync and the phase follow."""
    filled = PathInfo.from_api({**RECORDED, "available": True, "online": False})
    assert not filled.available
    assert PathInfo.from_api(RECORDED).available


@pytest.mark.parametrize(
    ("bps", "kbps"),
    [
        (2_480_000, 2500),
        (2_449_999, 2400),
        (128_400, 130),
        (45_400, 45),
        (999, 0),
        (12_345_678, 12000),
    ],
)
def test_bitrate_is_rounded_to_two_significant_digits(bps: float, kbps: int) -> None:
    assert round_kbps(bps) == kbps


def test_bitrate_is_the_growth_of_one_sources_bytes() -> None:
    first = Counted("s1", 1_000_000, 10.0)
    assert bitrate(first, Counted("s1", 1_625_000, 15.0)) == 1_000_000
    assert bitrate(None, first) is None
    assert bitrate(first, Counted("s2", 2_000_000, 15.0)) is None  # another publish
    assert bitrate(first, Counted("s1", 10, 15.0)) is None  # counter reset
    assert bitrate(first, Counted("s1", 1_100_000, 10.1)) is None  # too close


def test_the_status_bitrate_is_a_mean_over_ten_seconds_or_more() -> None:
    start = Counted("s1", 0, 100.0)
    anchor, bps = window(None, start)
    assert (anchor, bps) == (start, None)
    assert window(anchor, Counted("s1", 100_000, 105.0)) == (start, None)  # too short yet
    later = Counted("s1", 2_500_000, 110.0)
    assert window(anchor, later) == (later, 2_000_000)
    other = Counted("s2", 10, 111.0)
    assert window(later, other) == (other, None)  # a new publish starts over


TRACKS = parse_tracks(PathInfo.from_api(RECORDED).tracks)


def apply(status: LiveStreamStatus, change: LiveStreamStatus | None) -> LiveStreamStatus:
    assert change is not None
    return changed(status, change, FieldManager.INGEST)


def test_first_sight_writes_the_properties_then_the_bitrate_once() -> None:
    status = apply(LIVE, decide(LIVE, "s1", TRACKS, None, T0))
    assert status.input == InputStatus(
        source_id="s1", since="2026-12-07T12:00:00Z", video=TRACKS.video, audio=TRACKS.audio
    )
    assert decide(status, "s1", TRACKS, None, T0) is None
    t1 = T0 + timedelta(seconds=5)
    status = apply(status, decide(status, "s1", TRACKS, 2_510_000, t1))
    assert status.input is not None
    assert (status.input.bitrate_kbps, status.input.bitrate_time) == (2500, "2026-12-07T12:00:05Z")
    assert status.input.since == "2026-12-07T12:00:00Z"
    # Steady: nothing more to write, pass after pass.
    for n in range(1, 200):
        assert (
            decide(status, "s1", TRACKS, 2_300_000 + n * 1000, t1 + timedelta(seconds=5 * n))
            is None
        )


def test_a_changed_bitrate_is_written_at_most_every_few_minutes() -> None:
    status = apply(LIVE, decide(LIVE, "s1", TRACKS, 2_500_000, T0))
    soon = T0 + timedelta(seconds=BITRATE_STATUS_SECONDS - 1)
    later = T0 + timedelta(seconds=BITRATE_STATUS_SECONDS)
    assert decide(status, "s1", TRACKS, 5_000_000, soon) is None
    assert decide(status, "s1", TRACKS, 2_600_000, later) is None  # under 10 %: not worth it
    change = decide(status, "s1", TRACKS, 5_000_000, later)
    assert change == LiveStreamStatus(
        input=InputStatus(bitrate_kbps=5000, bitrate_time="2026-12-07T12:05:00Z")
    )


def test_a_new_publish_replaces_the_properties_and_forgets_the_old_bitrate() -> None:
    status = apply(LIVE, decide(LIVE, "s1", TRACKS, 2_500_000, T0))
    status = status.model_copy(update={"ingest": IngestStatus(available=True, source_id="s2")})
    small = Tracks(VideoProperties(codec="H264", width=640, height=360, resolution="640x360"), None)
    status = apply(status, decide(status, "s2", small, None, T0 + timedelta(seconds=40)))
    assert status.input == InputStatus(
        source_id="s2", since="2026-12-07T12:00:40Z", video=small.video
    )


@pytest.mark.parametrize(
    ("ingest", "source"),
    [
        (None, "s1"),
        (IngestStatus(available=False, source_id="s1"), "s1"),  # gone: keep what was seen
        (IngestStatus(available=True, source_id="s1"), "s0"),  # not the recorded source yet
        (IngestStatus(available=True, source_id="s1"), ""),
    ],
)
def test_nothing_is_written_but_for_the_recorded_live_source(
    ingest: IngestStatus | None, source: str
) -> None:
    assert decide(LiveStreamStatus(ingest=ingest), source, TRACKS, 1e6, T0) is None


def test_nothing_is_written_before_mediamtx_parsed_the_tracks() -> None:
    assert decide(LIVE, "s1", Tracks(None, None), 1e6, T0) is None
