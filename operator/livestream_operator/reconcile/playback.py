"""status.playback (pure): where a stream's output (and, where the chart allows
reading it, its ingest) can be played, from the public URLs in the settings."""

from __future__ import annotations

from ..api import naming
from ..api.v1alpha1 import PlaybackStatus, PlaybackURLs
from ..settings import Settings


def playback_urls(path: str, settings: Settings) -> PlaybackURLs | None:
    bases = settings.public_urls

    def at(base: str | None, suffix: str = "") -> str | None:
        return f"{base.rstrip('/')}/{path}{suffix}" if base else None

    urls = PlaybackURLs(
        rtmp=at(bases.rtmp),
        rtsp=at(bases.rtsp),
        hls=at(bases.hls, "/index.m3u8"),
        webrtc=at(bases.webrtc),
    )
    return urls if urls.wire() else None


def playback_status(stream_id: str, settings: Settings) -> PlaybackStatus | None:
    out = playback_urls(naming.output_path(stream_id), settings)
    ingest = playback_urls(naming.ingest_path(stream_id), settings)
    if out is None:
        return None
    return PlaybackStatus(out=out, in_=ingest if settings.playback_ingest else None)
