"""status.playback: where a stream's output (and, if allowed, its ingest) plays."""

from __future__ import annotations

from livestream_operator.api.v1alpha1 import PlaybackStatus, PlaybackURLs
from livestream_operator.reconcile.plan import plan
from livestream_operator.reconcile.playback import playback_status, playback_urls
from livestream_operator.settings import Settings

from .test_plan import SETTINGS, T0
from .test_recording import recorded

PUBLIC = PlaybackURLs(rtmp="rtmp://h:1935", hls="http://h:8888/")


def test_no_public_urls_no_playback() -> None:
    assert playback_urls("live/cam/out", SETTINGS) is None
    assert playback_status("cam", SETTINGS) is None
    assert plan(recorded(), {}, SETTINGS, T0).status.playback is None


def test_playback_urls_of_the_protocols_set() -> None:
    settings = Settings(public_urls=PUBLIC)
    assert playback_urls("live/cam/out", settings) == PlaybackURLs(
        rtmp="rtmp://h:1935/live/cam/out", hls="http://h:8888/live/cam/out/index.m3u8"
    )
    every = Settings(
        public_urls=PlaybackURLs(
            rtmp="rtmp://h:1935/", rtsp="rtsp://h:8554", hls="https://h/hls", webrtc="https://h/w/"
        )
    )
    urls = playback_urls("live/cam/out", every)
    assert urls is not None
    assert urls.wire() == {
        "rtmp": "rtmp://h:1935/live/cam/out",
        "rtsp": "rtsp://h:8554/live/cam/out",
        "hls": "https://h/hls/live/cam/out/index.m3u8",
        "webrtc": "https://h/w/live/cam/out",
    }


def test_playback_status_is_out_only_unless_ingest_reading_is_allowed() -> None:
    status = playback_status("cam", Settings(public_urls=PUBLIC))
    assert status == PlaybackStatus(
        out=PlaybackURLs(
            rtmp="rtmp://h:1935/live/cam/out", hls="http://h:8888/live/cam/out/index.m3u8"
        )
    )
    assert status is not None
    assert status.in_ is None
    assert "in" not in status.wire()


def test_playback_ingest_adds_in_serialised_as_in() -> None:
    status = playback_status("cam", Settings(public_urls=PUBLIC, playback_ingest=True))
    assert status is not None
    assert status.in_ == PlaybackURLs(
        rtmp="rtmp://h:1935/live/cam/in", hls="http://h:8888/live/cam/in/index.m3u8"
    )
    assert status.wire() == {
        "out": {
            "rtmp": "rtmp://h:1935/live/cam/out",
            "hls": "http://h:8888/live/cam/out/index.m3u8",
        },
        "in": {
            "rtmp": "rtmp://h:1935/live/cam/in",
            "hls": "http://h:8888/live/cam/in/index.m3u8",
        },
    }
    # And it reads back from the wire form.
    assert PlaybackStatus.model_validate(status.wire()) == status


def test_plan_puts_playback_in_the_status_with_or_without_recording() -> None:
    settings = Settings(public_urls=PUBLIC)
    for body in (recorded(), recorded({"enabled": True})):
        p = plan(body, {}, settings, T0)
        assert p.status.playback == playback_status("cam", settings)
        assert p.status.wire()["playback"]["out"]["rtmp"] == "rtmp://h:1935/live/cam/out"
