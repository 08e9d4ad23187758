"""HLS playback on kind: a Persistent LiveStream's status.playback.out.hls plays
with the stream's key in the playlist's query (ffprobe finds its video), and
MediaMTX refuses it without the key (the receiver decides, as for RTMP/RTSP
reads). MediaMTX asks the receiver once per HLS session, for the playlist; the
URLs it lists carry that query and a session secret, which is what admits the
media playlists and segments that follow."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

from tests.conftest import require
from tests.support.tools import tool
from tests.support.waiting import wait_for

from .e2e_support import (
    Config,
    Kube,
    lavfi_args,
    livestream_manifest,
    publishing,
    unique_id,
)

pytestmark = pytest.mark.e2e

NEEDS_HLS = (
    "the installed release does not serve HLS: install the chart with "
    "playback.hls.enabled=true and playback.publicUrls.hls set to where this host "
    "reaches its Service (hack/up.sh sets both: run `make up`)"
)


def _release_values(kube: Kube, cfg: Config) -> dict[str, Any]:
    values: dict[str, Any] = json.loads(
        kube.helm("get", "values", cfg.release, "--all", "-o", "json").stdout
    )
    return values


def _get(url: str) -> tuple[int, bytes]:
    """GET, following MediaMTX's cookie-check redirect (302 to ...&cookieCheck=1);
    urllib keeps no cookies, so MediaMTX puts the session into the URLs' query."""
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _with_key(url: str, key: str) -> str:
    return f"{url}?{urllib.parse.urlencode({'key': key})}"


def _hls_streams(url: str, key: str) -> list[str]:
    """The codec types ffprobe finds over HLS at `url` (a player's view)."""
    ffprobe = tool("ffprobe")
    assert ffprobe is not None, "ffprobe not found (apt install ffmpeg)"
    args = [ffprobe, "-v", "error", "-rw_timeout", "20000000"]
    args += ["-show_entries", "stream=codec_type", "-of", "json", url]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=40, check=False)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"ffprobe of {url.replace(key, 'sk_...')} timed out") from None
    if proc.returncode != 0:
        raise AssertionError(f"ffprobe: {proc.stderr.replace(key, 'sk_...').strip()[-500:]}")
    return sorted(s["codec_type"] for s in json.loads(proc.stdout).get("streams", []))


def test_hls_plays_the_output_with_the_stream_key_only(
    kube: Kube, cfg: Config, helm_bin: str, ffmpeg: str, streams: list[str]
) -> None:
    values = _release_values(kube, cfg)
    playback = values.get("playback") or {}
    require(bool((playback.get("hls") or {}).get("enabled")), NEEDS_HLS)
    auth = values.get("auth") or {}
    keyed = auth.get("mode") == "streamKey" and auth.get("outputRead") != "public"

    sid = unique_id("e2e-hls")
    streams.append(sid)
    kube.apply(livestream_manifest(sid, sid, kube.ns, lifecycle="Persistent"))
    url = kube.publish_url(sid)
    key = url.rsplit("key=", 1)[1]
    with publishing(url, input_args=lavfi_args()) as pub:
        live = kube.wait_phase(sid, "Live", 90, pub)
        hls = ((live["status"].get("playback") or {}).get("out") or {}).get("hls")
        require(hls is not None, f"status.playback.out.hls is absent; {NEEDS_HLS}")
        assert hls == f"{playback['publicUrls']['hls'].rstrip('/')}/live/{sid}/out/index.m3u8"
        assert key not in json.dumps(live["status"])

        # The key in the playlist's query: MediaMTX's muxer starts on this first
        # request and answers once it has a segment (about one keyframe interval).
        codecs = wait_for(lambda: _hls_streams(_with_key(hls, key), key), 90, f"HLS at {hls}")
        assert "video" in codecs, codecs
        assert "audio" in codecs, codecs

        # The playlist lists its media playlists with the query it was asked with
        # and the session MediaMTX made for it: they play as listed, and not
        # without that session (the key alone is never asked about again).
        status, body = _get(_with_key(hls, key))
        assert status == 200, body[:300]
        variants = [ln for ln in body.decode().splitlines() if ln and not ln.startswith("#")]
        assert variants, body.decode().replace(key, "sk_...")
        media = urllib.parse.urljoin(hls, variants[0])
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(media).query)
        assert query.get("key") == [key], media.replace(key, "sk_...")
        assert query.get("session"), media.replace(key, "sk_...")
        assert _get(media)[0] == 200
        no_session = urllib.parse.urlsplit(media)._replace(query=f"key={key}").geturl()
        assert _get(no_session)[0] == 401

        # Without the key (or with another one), MediaMTX refuses the playlist.
        if keyed:
            assert _get(hls)[0] in (401, 403)
            assert _get(_with_key(hls, "sk_" + "A" * 43))[0] in (401, 403)
            assert _get(hls.removesuffix("index.m3u8"))[0] in (401, 403)  # the web player
        else:  # auth.outputRead public (or open mode): anyone may watch out
            assert _get(hls)[0] == 200
        assert pub.running(), pub.output()
