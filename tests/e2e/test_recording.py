"""Recording, playback and snapshots on kind: spec.recording turned on and off
on a live stream, the segments in status.recording, a download from the
playback server, and snapshots from the receiver, all with the stream's key."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.waiting import wait_for

from .e2e_support import (
    Config,
    Kube,
    PortForward,
    lavfi_args,
    livestream_manifest,
    publishing,
    unique_id,
)

pytestmark = pytest.mark.e2e

SIZE = (320, 240)  # lavfi_args' default


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=20) as resp:
            return resp.status, resp.headers.get_content_type(), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get_content_type(), exc.read()


def _probe(path: Path, *entries: str) -> dict[str, Any]:
    ffprobe = shutil.which("ffprobe")
    assert ffprobe is not None
    out = subprocess.run(
        [ffprobe, "-v", "error", "-show_entries", ",".join(entries), "-of", "json", str(path)],
        capture_output=True,
        check=True,
        timeout=30,
    )
    return dict(json.loads(out.stdout))


def _pixels(jpeg: Path) -> bytes:
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg is not None
    return subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(jpeg), "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout


def _recorded_in(ls: dict[str, Any] | None) -> dict[str, Any]:
    paths = (((ls or {}).get("status") or {}).get("recording") or {}).get("paths") or []
    return next((p for p in paths if p["path"] == "in"), {"segments": 0})


def _set_recording(kube: Kube, sid: str, enabled: bool) -> None:
    patch = {"spec": {"recording": {"enabled": enabled}}}
    kube.kubectl("patch", "livestream", sid, "--type=merge", "-p", json.dumps(patch))


def test_recording_on_and_off_on_a_live_stream_with_downloads_and_snapshots(
    kube: Kube, cfg: Config, ffmpeg: str, streams: list[str], tmp_path: Path
) -> None:
    sid = unique_id("e2e-rec")
    streams.append(sid)
    recording = {"enabled": False, "paths": ["in"], "segmentDuration": "2s", "retention": "1h"}
    kube.apply(livestream_manifest(sid, sid, kube.ns, lifecycle="Persistent", recording=recording))
    url = kube.publish_url(sid)
    key = url.rsplit("key=", 1)[1]
    bearer = {"Authorization": f"Bearer {key}"}
    # The receiver's user port (hooks.apiPort), apart from MediaMTX's hook port.
    receiver = PortForward(kube, f"svc/{cfg.component('hooks')}", 8081).start()
    playback = PortForward(kube, f"svc/{cfg.component('mediamtx')}", 9996).start()
    try:
        with publishing(url, input_args=lavfi_args()) as pub:
            live = kube.wait_phase(sid, "Live", 90, pub)
            source = live["status"]["ingest"]["sourceId"]
            base = f"http://127.0.0.1:{receiver.local}/v1/streams/{sid}"

            # Snapshots: the key is needed, and each is a JPEG of the stream's size
            # whose pixels move with the test pattern.
            status, kind, _ = _get(f"{base}/snapshot")
            assert (status, kind) == (401, "application/problem+json")
            shots = []
            for i in range(2):
                status, kind, body = _get(f"{base}/snapshot", bearer)
                assert (status, kind) == (200, "image/jpeg")
                shot = tmp_path / f"shot{i}.jpg"
                shot.write_bytes(body)
                stream = _probe(shot, "stream=codec_name,width,height")["streams"][0]
                assert stream["codec_name"] == "mjpeg"
                assert (stream["width"], stream["height"]) == SIZE
                shots.append(_pixels(shot))
                time.sleep(2)
            assert shots[0] != shots[1]
            wait_for(
                lambda: ((kube.livestream(sid) or {}).get("status") or {}).get("snapshot"),
                20,
                "status.snapshot",
            )
            status, kind, _ = _get(
                f"http://127.0.0.1:{receiver.local}/v1/streams/no-such-{sid}/snapshot", bearer
            )
            assert (status, kind) == (403, "application/problem+json")  # not its key

            # On: segments reach status.recording.
            _set_recording(kube, sid, True)
            wait_for(lambda: _recorded_in(kube.livestream(sid))["segments"] >= 2, 40, "segments")
            ls = kube.livestream(sid) or {}
            conditions = {c["type"]: c for c in ls["status"]["conditions"]}
            assert conditions["Recording"]["status"] == "True"

            # The listing links to the playback server; a 3 s span plays 3 s.
            status, _, body = _get(f"{base}/recordings", bearer)
            assert status == 200
            span = json.loads(body)["recordings"][0]
            query = (
                span["url"]
                .split("?", 1)[1]
                .replace(f"duration={span['duration']:.3f}", "duration=3")
            )
            link = f"http://127.0.0.1:{playback.local}/get?{query}"
            assert _get(link)[0] == 401  # the key is needed there too
            basic = "Basic " + base64.b64encode(f"any:{key}".encode()).decode()
            status, _, body = _get(link, {"Authorization": basic})  # curl -u any:<key>
            assert status == 200
            (tmp_path / "span.mp4").write_bytes(body)
            duration = float(_probe(tmp_path / "span.mp4", "format=duration")["format"]["duration"])
            assert abs(duration - 3.0) <= 1.0

            # Off: no new segments after the one that was open.
            _set_recording(kube, sid, False)
            time.sleep(4)
            settled = _recorded_in(kube.livestream(sid))["segments"]
            time.sleep(6)
            assert _recorded_in(kube.livestream(sid))["segments"] == settled
            ls = kube.livestream(sid) or {}
            assert {c["type"]: c for c in ls["status"]["conditions"]}["Recording"][
                "reason"
            ] == "Off"

            # The stream never dropped: the same publisher, still Live.
            assert ls["status"]["phase"] == "Live"
            assert ls["status"]["ingest"]["sourceId"] == source
            assert pub.running(), pub.output()
    finally:
        receiver.stop()
        playback.stop()


def test_wide_output_shows_recording_and_playback(
    kube: Kube, cfg: Config, streams: list[str]
) -> None:
    sid = unique_id("e2e-wide")
    streams.append(sid)
    kube.apply(
        livestream_manifest(sid, sid, kube.ns, lifecycle="Persistent", recording={"enabled": True})
    )

    def columns() -> dict[str, str] | None:
        header, row = kube.kubectl("get", "livestream", sid, "-o", "wide").stdout.splitlines()[:2]
        # Columns are aligned under their headers; empty cells are blank, so split
        # at the headers' offsets rather than at whitespace.
        starts = [i for i, c in enumerate(header) if c != " " and (i == 0 or header[i - 1] == " ")]
        cells = zip(starts, [*starts[1:], len(row) + 1], strict=True)
        values = {header[a:b].strip(): row[a:b].strip() for a, b in cells}
        return values if values.get("RECORDING") == "Recording" else None

    values = wait_for(columns, 30, "the Recording column")
    assert values["PLAYBACK"] == f"{cfg.rtmp_url}/live/{sid}/out"
