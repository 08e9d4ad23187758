"""The segment index: what a complete recording segment does to status.recording
(pure).

MediaMTX runs `mtx-hook segment-complete` (runOnRecordSegmentComplete) for every
segment it closes; the wrapper may deliver one twice (a retry after a timeout
whose request did land). A segment is known by its start, which its file name
carries (recordPath ends in %Y-%m-%d_%H-%M-%S-%f), and a path's segments
are counted by start: one whose start is among the latest counted is a
duplicate, and counts nothing (hooks are processes of their own, retried: they
may arrive in any order).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from ..api.naming import StreamPath
from ..api.v1alpha1 import (
    RECENT_SEGMENTS,
    LiveStream,
    LiveStreamStatus,
    RecordedPath,
    RecordedPathStatus,
    RecordingStatus,
    camel,
    format_time_precise,
)

_SEGMENT_FILE = re.compile(
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})_(?P<h>[0-9]{2})-(?P<mi>[0-9]{2})"
    r"-(?P<s>[0-9]{2})-(?P<us>[0-9]{6})\.(?:mp4|ts)"
)


class SegmentEvent(BaseModel):
    """The body of POST /v1/mediamtx/events/segment-complete (mtx_hook.py)."""

    model_config = ConfigDict(
        alias_generator=camel, populate_by_name=True, extra="ignore", frozen=True, strict=True
    )

    path: str = Field(min_length=1, max_length=1024)
    segment_path: str = Field(min_length=1, max_length=4096)
    segment_duration: float = Field(default=0.0, ge=0, le=1e7)
    bytes: int = Field(default=0, ge=0, le=2**63 - 1)
    free_bytes: int | None = Field(default=None, ge=0, le=2**63 - 1)


class SegmentError(ValueError):
    """A segment path that is not one of the stream path's recordings."""


def segment_start(event: SegmentEvent) -> datetime:
    """The segment's start, from its file name; raises SegmentError saying why not."""
    directory, _, filename = event.segment_path.rpartition("/")
    if not directory.endswith("/" + event.path.strip("/")):
        raise SegmentError(f"not a recording of {event.path}: it must be under .../{event.path}/")
    match = _SEGMENT_FILE.fullmatch(filename)
    if match is None:
        raise SegmentError(
            "the file name must be <YYYY-MM-DD_HH-MM-SS-ffffff>.mp4 or .ts (MediaMTX's recordPath)"
        )
    g = {k: int(v) for k, v in match.groupdict().items()}
    try:
        return datetime(g["y"], g["mo"], g["d"], g["h"], g["mi"], g["s"], g["us"], tzinfo=UTC)
    except ValueError as exc:
        raise SegmentError(f"the file name is not a time: {exc}") from None


def count_segment(
    livestream: LiveStream, where: StreamPath, start: datetime, event: SegmentEvent
) -> LiveStreamStatus | None:
    """The status change that counts the segment, or None for one already counted."""
    role = RecordedPath(where.role.value)
    current = livestream.status.recording or RecordingStatus()
    paths = list(current.paths or [])
    index = next((i for i, p in enumerate(paths) if p.path is role), None)
    before = paths[index] if index is not None else RecordedPathStatus(path=role)
    when = format_time_precise(start)
    recent = list(before.recent or [])
    if when in recent:
        return None
    first = min(t for t in (before.first_segment_time, when) if t)
    last = max(t for t in (before.last_segment_time, when) if t)
    after = RecordedPathStatus(
        path=role,
        segments=before.segments + 1,
        bytes=before.bytes + event.bytes,
        first_segment_time=first,
        last_segment_time=last,
        recent=sorted([*recent, when])[-RECENT_SEGMENTS:],
    )
    if index is None:
        paths.append(after)
    else:
        paths[index] = after
    paths.sort(key=lambda p: p.path.value)
    free = event.free_bytes if event.free_bytes is not None else current.free_bytes
    return LiveStreamStatus(recording=RecordingStatus(paths=paths, free_bytes=free))


def note_free_space(
    livestream: LiveStream, event: SegmentEvent, low: int
) -> LiveStreamStatus | None:
    """A new segment: its volume's free space, written only when it is or was under
    `low` (the Recording condition's threshold), not at every segment. On a full
    disk segments fail before they complete, so only this hook still reports."""
    stored = (livestream.status.recording or RecordingStatus()).free_bytes
    free = event.free_bytes
    if free is None or free == stored:
        return None
    if free >= low and (stored is None or stored >= low):
        return None
    return LiveStreamStatus(recording=RecordingStatus(free_bytes=free))
