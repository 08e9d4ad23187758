"""The segment index: a segment's start from its file name, and what counting it
does to status.recording."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from livestream_operator.api import naming
from livestream_operator.api.v1alpha1 import (
    RECENT_SEGMENTS,
    LiveStream,
    LiveStreamStatus,
    RecordedPath,
    RecordedPathStatus,
    RecordingStatus,
)
from livestream_operator.ingest.recording_index import (
    SegmentError,
    SegmentEvent,
    count_segment,
    note_free_space,
    segment_start,
)
from tests.unit.mediamtx.test_path_config import livestream, recording

FIRST = "/recordings/live/cam/in/2026-12-01_16-50-46-404475.mp4"
FIRST_START = datetime(2026, 12, 1, 16, 50, 46, 404475, tzinfo=UTC)
SECOND_START = datetime(2026, 12, 1, 17, 0, 46, 404901, tzinfo=UTC)
IN = naming.parse_path("live/cam/in")
OUT = naming.parse_path("live/cam/out")


def segment_body(**fields: Any) -> dict[str, Any]:
    """What mtx-hook posts for the FIRST segment, with `fields` changed."""
    return {
        "path": "live/cam/in",
        "segmentPath": FIRST,
        "segmentDuration": 600.0,
        "bytes": 1000,
        "freeBytes": 5_000_000_000,
        **fields,
    }


def event(**fields: Any) -> SegmentEvent:
    return SegmentEvent.model_validate(segment_body(**fields))


def with_status(ls: LiveStream, status: LiveStreamStatus | None) -> LiveStream:
    return ls.model_copy(update={"status": status or LiveStreamStatus()})


# ------------------------------------------------------------------ segment_start


@pytest.mark.parametrize(
    ("segment_path", "start"),
    [
        (FIRST, FIRST_START),
        ("/recordings/live/cam/in/2026-12-01_16-50-46-404475.ts", FIRST_START),
        ("./recordings/live/cam/in/2026-12-01_16-50-46-404475.mp4", FIRST_START),
        (
            "/recordings/live/cam/in/1999-01-31_00-00-00-000000.mp4",
            datetime(1999, 1, 31, tzinfo=UTC),
        ),
    ],
)
def test_the_start_is_the_file_name_in_utc_with_microseconds(
    segment_path: str, start: datetime
) -> None:
    got = segment_start(event(segmentPath=segment_path))
    assert got == start
    assert got.tzinfo is UTC


def test_the_path_may_be_written_with_slashes_around_it() -> None:
    assert segment_start(event(path="/live/cam/in/")) == FIRST_START


@pytest.mark.parametrize(
    "segment_path",
    [
        "/recordings/live/other/in/2026-12-01_16-50-46-404475.mp4",  # another stream
        "/recordings/live/cam/out/2026-12-01_16-50-46-404475.mp4",  # the other path
        "/recordings/xlive/cam/in/2026-12-01_16-50-46-404475.mp4",  # only a suffix matches
        "/recordings/live/cam/in/sub/2026-12-01_16-50-46-404475.mp4",  # below it
        "live/cam/in/2026-12-01_16-50-46-404475.mp4",  # no directory above the path
        "2026-12-01_16-50-46-404475.mp4",
    ],
)
def test_a_file_not_under_the_events_path_is_refused(segment_path: str) -> None:
    with pytest.raises(SegmentError, match=r"not a recording of live/cam/in"):
        segment_start(event(segmentPath=segment_path))


@pytest.mark.parametrize(
    "name",
    [
        "2026-12-01_16-50-46.mp4",  # no microseconds
        "2026-12-01_16-50-46-404475.mkv",
        "2026-12-01_16-50-46-404475.mp4.tmp",
        "2026-12-01_16-50-46-404475",
        "2026-12-01 16-50-46-404475.mp4",
        "x2026-12-01_16-50-46-404475.mp4",
        "26-12-01_16-50-46-404475.mp4",
        "segment.mp4",
    ],
)
def test_a_bad_file_name_is_refused(name: str) -> None:
    with pytest.raises(SegmentError, match=r"YYYY-MM-DD_HH-MM-SS-ffffff"):
        segment_start(event(segmentPath=f"/recordings/live/cam/in/{name}"))


@pytest.mark.parametrize(
    "name",
    [
        "2026-13-01_16-50-46-404475.mp4",  # month 13
        "2026-02-30_16-50-46-404475.mp4",
        "2026-12-32_16-50-46-404475.mp4",
        "2026-12-01_24-00-00-000000.mp4",
        "2026-12-01_16-60-00-000000.mp4",
        "2026-12-01_16-50-61-000000.mp4",
        "0000-01-01_00-00-00-000000.mp4",
    ],
)
def test_an_impossible_date_is_refused(name: str) -> None:
    with pytest.raises(SegmentError, match=r"not a time"):
        segment_start(event(segmentPath=f"/recordings/live/cam/in/{name}"))


# ------------------------------------------------------------------ count_segment


def test_the_first_segment_is_counted() -> None:
    change = count_segment(livestream("cam", recording()), IN, FIRST_START, event())
    assert change is not None
    assert change.recording == RecordingStatus(
        paths=[
            RecordedPathStatus(
                path=RecordedPath.IN,
                segments=1,
                bytes=1000,
                first_segment_time="2026-12-01T16:50:46.404475Z",
                last_segment_time="2026-12-01T16:50:46.404475Z",
                recent=["2026-12-01T16:50:46.404475Z"],
            )
        ],
        free_bytes=5_000_000_000,
    )
    # Only status.recording: the receiver merge-patches nothing else.
    assert change.model_dump(exclude_none=True).keys() == {"recording"}


def test_a_later_segment_adds_up_and_moves_the_last_time() -> None:
    ls = livestream("cam", recording())
    first = count_segment(ls, IN, FIRST_START, event())
    second = count_segment(
        with_status(ls, first), IN, SECOND_START, event(bytes=2500, freeBytes=4_000_000_000)
    )
    assert second is not None
    assert second.recording is not None
    (path,) = second.recording.paths or []
    assert (path.segments, path.bytes) == (2, 3500)
    assert path.first_segment_time == "2026-12-01T16:50:46.404475Z"
    assert path.last_segment_time == "2026-12-01T17:00:46.404901Z"
    assert second.recording.free_bytes == 4_000_000_000


def test_the_same_segment_twice_counts_once() -> None:
    ls = livestream("cam", recording())
    counted = with_status(ls, count_segment(ls, IN, FIRST_START, event()))
    assert count_segment(counted, IN, FIRST_START, event()) is None


def test_segments_count_once_in_any_order() -> None:
    # Hooks are processes of their own, retried: N+1 may land before N, and N twice.
    starts = [FIRST_START.replace(second=s) for s in (10, 0, 20, 0, 10, 30)]
    ls = livestream("cam", recording())
    for start in starts:
        change = count_segment(ls, IN, start, event())
        if change is not None:
            ls = with_status(ls, change)
    (path,) = (ls.status.recording.paths if ls.status.recording else None) or []
    assert path.segments == 4
    assert path.first_segment_time == "2026-12-01T16:50:00.404475Z"
    assert path.last_segment_time == "2026-12-01T16:50:30.404475Z"
    assert path.recent is not None
    assert len(path.recent) == 4


def test_recent_starts_are_bounded() -> None:
    ls = livestream("cam", recording())
    for minute in range(RECENT_SEGMENTS + 5):
        change = count_segment(ls, IN, FIRST_START.replace(minute=minute), event())
        assert change is not None
        ls = with_status(ls, change)
    (path,) = (ls.status.recording.paths if ls.status.recording else None) or []
    assert path.segments == RECENT_SEGMENTS + 5
    assert len(path.recent or []) == RECENT_SEGMENTS


def test_a_new_segment_reports_free_space_only_near_the_threshold() -> None:
    low = 1000
    ls = livestream("cam", recording())
    assert note_free_space(ls, event(freeBytes=10_000), low) is None  # plenty: no write
    low_change = note_free_space(ls, event(freeBytes=500), low)
    assert low_change is not None
    assert low_change.recording == RecordingStatus(free_bytes=500)
    stored = with_status(ls, low_change)
    assert note_free_space(stored, event(freeBytes=500), low) is None  # unchanged
    back = note_free_space(stored, event(freeBytes=10_000), low)  # freed: written once
    assert back is not None
    assert note_free_space(stored, event(freeBytes=None), low) is None


def test_one_microsecond_later_is_a_new_segment() -> None:
    ls = livestream("cam", recording())
    counted = with_status(ls, count_segment(ls, IN, FIRST_START, event()))
    later = FIRST_START.replace(microsecond=FIRST_START.microsecond + 1)
    assert count_segment(counted, IN, later, event()) is not None


def test_the_other_paths_entry_is_kept_and_paths_stay_sorted() -> None:
    out_entry = RecordedPathStatus(
        path=RecordedPath.OUT,
        segments=7,
        bytes=70,
        first_segment_time="2026-12-01T10:00:00.000000Z",
        last_segment_time="2026-12-01T11:00:00.000000Z",
    )
    ls = with_status(
        livestream("cam", recording()),
        LiveStreamStatus(recording=RecordingStatus(paths=[out_entry], free_bytes=1)),
    )
    change = count_segment(ls, IN, FIRST_START, event())
    assert change is not None
    assert change.recording is not None
    paths = change.recording.paths or []
    assert [p.path for p in paths] == [RecordedPath.IN, RecordedPath.OUT]
    assert paths[1] == out_entry
    # An out segment earlier than in's last is still new for out: paths are separate.
    again = count_segment(
        with_status(ls, change),
        OUT,
        datetime(2026, 12, 1, 12, tzinfo=UTC),
        event(path="live/cam/out", segmentPath="/r/live/cam/out/2026-12-01_12-00-00-000000.mp4"),
    )
    assert again is not None
    assert again.recording is not None
    assert [(p.path, p.segments) for p in again.recording.paths or []] == [
        (RecordedPath.IN, 1),
        (RecordedPath.OUT, 8),
    ]


def test_free_bytes_are_kept_when_the_event_has_none() -> None:
    ls = with_status(
        livestream("cam", recording()),
        LiveStreamStatus(recording=RecordingStatus(free_bytes=123)),
    )
    change = count_segment(ls, IN, FIRST_START, event(freeBytes=None))
    assert change is not None
    assert change.recording is not None
    assert change.recording.free_bytes == 123
    fresh = count_segment(livestream("cam"), IN, FIRST_START, event(freeBytes=None))
    assert fresh is not None
    assert fresh.recording is not None
    assert fresh.recording.free_bytes is None


# status.recording as stored after event()'s segment: what a user reads with kubectl.
FIRST_SEGMENT_WIRE = {
    "paths": [
        {
            "path": "in",
            "segments": 1,
            "bytes": 1000,
            "firstSegmentTime": "2026-12-01T16:50:46.404475Z",
            "lastSegmentTime": "2026-12-01T16:50:46.404475Z",
            "recent": ["2026-12-01T16:50:46.404475Z"],
        }
    ],
    "freeBytes": 5_000_000_000,
}


def test_the_wire_form_is_what_the_crd_declares() -> None:
    change = count_segment(livestream("cam"), IN, FIRST_START, event())
    assert change is not None
    assert change.wire() == {"recording": FIRST_SEGMENT_WIRE}


# ------------------------------------------------------------------- SegmentEvent


def test_the_event_reads_the_hook_wrappers_body() -> None:
    e = event(segmentDuration=600, unknown="ignored")
    assert (e.path, e.segment_path, e.segment_duration, e.bytes, e.free_bytes) == (
        "live/cam/in",
        FIRST,
        600.0,
        1000,
        5_000_000_000,
    )
    assert "freeBytes" not in SegmentEvent.model_validate(
        {"path": "p", "segmentPath": "s", "segmentDuration": 0, "bytes": 0}
    ).model_dump(by_alias=True, exclude_none=True)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"bytes": "1000"}, "bytes"),  # strict: no string numbers
        ({"bytes": -1}, "bytes"),
        ({"bytes": True}, "bytes"),
        ({"bytes": 1.5}, "bytes"),
        ({"bytes": 2**63}, "bytes"),
        ({"freeBytes": -1}, "freeBytes"),
        ({"freeBytes": "5"}, "freeBytes"),
        ({"segmentDuration": "600"}, "segmentDuration"),
        ({"segmentDuration": -0.1}, "segmentDuration"),
        ({"segmentDuration": 1e8}, "segmentDuration"),
        ({"path": ""}, "path"),
        ({"path": 5}, "path"),
        ({"segmentPath": ""}, "segmentPath"),
        ({"segmentPath": "x" * 4097}, "segmentPath"),
    ],
)
def test_the_event_is_strict(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        event(**fields)
    assert [e["loc"] for e in info.value.errors()] == [(field,)]


@pytest.mark.parametrize("missing", ["path", "segmentPath"])
def test_the_event_needs_its_fields(missing: str) -> None:
    body = {"path": "live/cam/in", "segmentPath": FIRST, "segmentDuration": 1.0, "bytes": 1}
    del body[missing]
    with pytest.raises(ValidationError, match=missing):
        SegmentEvent.model_validate(body)
