"""What the publisher sends, from what MediaMTX says of live/<id>/in (pure):
status.input's codecs, sizes and a rounded bitrate, and when that is worth a write.

The resync already lists every path every few seconds, and each item carries
the tracks MediaMTX parsed (`tracks2`: codec and codecProps) and the bytes it has
received (`inboundBytes`), so these cost no request of their own. Codecs and sizes
change only with a new publish and are written when they do. The bitrate changes
all the time: its live figure is a metric, and status holds it rounded to two
significant digits, rewritten only when that moved by BITRATE_CHANGE and at most
every BITRATE_STATUS_SECONDS. A steady stream thus costs the API server at most
one write per stream in BITRATE_STATUS_SECONDS (10,000 streams: 33 writes/s at
worst, none for a constant bitrate), against 1,000/s for a write every 10 s.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from ..api.v1alpha1 import (
    AudioProperties,
    InputStatus,
    LiveStreamStatus,
    VideoProperties,
    format_time,
    parse_time,
)

BITRATE_STATUS_SECONDS = 300.0
# status.input's bitrate is the mean over at least this long: an encoder's first
# seconds, or one pass between two keyframes, say little of its rate.
BITRATE_WINDOW_SECONDS = 10.0
BITRATE_CHANGE = 0.10  # relative change of the rounded bitrate that is worth a write

# MediaMTX's codec names (gortsplib's format.Codec()) by kind; AAC is what users
# and ffprobe call MPEG-4 Audio.
VIDEO_CODECS = frozenset(
    {"H264", "H265", "AV1", "VP9", "VP8", "MPEG-4 Video", "MPEG-1/2 Video", "M-JPEG"}
)
AUDIO_CODECS = frozenset(
    {
        "Opus",
        "MPEG-4 Audio",
        "MPEG-1/2 Audio",
        "AC-3",
        "G711",
        "G722",
        "LPCM",
        "Vorbis",
        "Speex",
    }
)
_CODEC_NAMES = {"MPEG-4 Audio": "AAC"}
_Props = TypeVar("_Props", VideoProperties, AudioProperties)
_MAX_TEXT = 64  # a codec, profile or level from MediaMTX, bounded before it goes into status


@dataclass(frozen=True)
class Tracks:
    video: VideoProperties | None
    audio: AudioProperties | None


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value[:_MAX_TEXT]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # AV1 and VP9 profiles and levels are numbers
    return None


def _count(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def parse_tracks(tracks: Iterable[Mapping[str, Any]]) -> Tracks:
    """The first video and the first audio track of MediaMTX's tracks2."""
    video: VideoProperties | None = None
    audio: AudioProperties | None = None
    for track in tracks:
        codec = track.get("codec")
        props = track.get("codecProps")
        props = props if isinstance(props, Mapping) else {}
        if not isinstance(codec, str):
            continue
        name = _text(_CODEC_NAMES.get(codec, codec))
        if video is None and codec in VIDEO_CODECS:
            width, height = _count(props.get("width")), _count(props.get("height"))
            video = VideoProperties(
                codec=name,
                profile=_text(props.get("profile")),
                level=_text(props.get("level")),
                width=width,
                height=height,
                resolution=f"{width}x{height}" if width and height else None,
            )
        elif audio is None and codec in AUDIO_CODECS:
            audio = AudioProperties(
                codec=name,
                sample_rate=_count(props.get("sampleRate")),
                channels=_count(props.get("channelCount")),
            )
    return Tracks(video, audio)


def round_kbps(bits_per_second: float) -> int:
    """kbit/s to two significant digits: 2_480_000 -> 2500, 128_400 -> 130."""
    kbps = bits_per_second / 1000
    if kbps < 1:
        return 0
    digits = math.floor(math.log10(kbps)) + 1
    step = 10 ** max(digits - 2, 0)
    return int(round(kbps / step) * step)


@dataclass(frozen=True)
class Counted:
    """inboundBytes of one source at one moment (monotonic seconds)."""

    source_id: str
    inbound_bytes: int
    at: float


def bitrate(before: Counted | None, after: Counted) -> float | None:
    """Bits per second between two listings of the same source; None when they
    are of different sources, too close, or the counter went back."""
    if before is None or before.source_id != after.source_id:
        return None
    elapsed = after.at - before.at
    grown = after.inbound_bytes - before.inbound_bytes
    if elapsed < 0.5 or grown < 0:
        return None
    return grown * 8 / elapsed


def window(anchor: Counted | None, now: Counted) -> tuple[Counted, float | None]:
    """The bitrate over a window of BITRATE_WINDOW_SECONDS or more, when one is
    complete, and the next window's start."""
    if anchor is None or anchor.source_id != now.source_id:
        return now, None
    if now.at - anchor.at < BITRATE_WINDOW_SECONDS:
        return anchor, None
    return now, bitrate(anchor, now)


def decide(
    status: LiveStreamStatus,
    source_id: str,
    tracks: Tracks,
    bits_per_second: float | None,
    now: datetime,
) -> LiveStreamStatus | None:
    """The status.input change MediaMTX's view of the ingest implies, or None.

    Only for the source the status records as available: the hooks (or the
    resync's repairs) record a new source first, then its properties follow.
    """
    ingest = status.ingest
    if ingest is None or not ingest.available or not source_id or ingest.source_id != source_id:
        return None
    if tracks.video is None and tracks.audio is None:
        return None  # MediaMTX has not parsed the tracks yet
    stored = status.input or InputStatus()
    kbps = round_kbps(bits_per_second) if bits_per_second is not None else None
    stamp = format_time(now)
    same = stored.source_id == source_id
    if not same or (stored.video, stored.audio) != (tracks.video, tracks.audio):
        # A new source's bitrate is not its predecessor's: unknown until measured.
        keep = same and kbps is None
        return LiveStreamStatus(
            input=InputStatus(
                source_id=source_id,
                since=stored.since if same else stamp,
                video=_whole(tracks.video),
                audio=_whole(tracks.audio),
                bitrate_kbps=stored.bitrate_kbps if keep else kbps,
                bitrate_time=stored.bitrate_time if keep else (stamp if kbps is not None else None),
            )
        )
    if kbps is None or not _bitrate_due(stored, kbps, now):
        return None
    return LiveStreamStatus(input=InputStatus(bitrate_kbps=kbps, bitrate_time=stamp))


def _whole(props: _Props | None) -> _Props | None:
    """Every field set, None too: a change replaces the stored track whole rather
    than merging into it (ownership.changed merges what is set)."""
    return None if props is None else type(props).model_validate(props.model_dump())


def _bitrate_due(stored: InputStatus, kbps: int, now: datetime) -> bool:
    if stored.bitrate_kbps is None:
        return True
    last = parse_time(stored.bitrate_time)
    if last is not None and now - last < timedelta(seconds=BITRATE_STATUS_SECONDS):
        return False
    base = max(stored.bitrate_kbps, 1)
    return abs(kbps - stored.bitrate_kbps) / base >= BITRATE_CHANGE
