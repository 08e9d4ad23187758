"""Publishing over RTSP and SRT, stream keys included, with real parts: MediaMTX
with the project's config asking the real receiver (keys from a real API
server), real ffmpeg publishers over RTMP, RTSP and SRT, the real mtx-hook
wrapper writing the LiveStream's status. And how long each protocol takes from
the publish request to an available path (printed, not asserted)."""

from __future__ import annotations

import asyncio
import http.server
import json
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from livestream_operator.api import stream_keys
from livestream_operator.kube import Kube, KubeError, core_path
from tests.media.conftest import Processes, receiver_ready
from tests.media.media_support import MediaMTX, Proc, publisher_args
from tests.support import envtest, processes
from tests.support.kube_fixtures import get_ls
from tests.support.waiting import WaitTimeout, wait_for_async

pytestmark = pytest.mark.media

FORMS = ("rtsp-userinfo", "rtsp-query", "srt-user-key", "srt-query", "srt-standard")
ROUNDS = 3
TIMED = tuple(f"t-{proto}-{n}" for proto in ("rtmp", "rtsp", "srt") for n in range(ROUNDS))
STREAMS = (*FORMS, "refused", "challenged", *TIMED)


class AuthTap:
    """A transparent hop in front of the receiver's auth endpoint that notes when
    each publish request arrived (the moment the publisher asked), for the
    timings, and which protocol MediaMTX named. It keeps no credentials."""

    def __init__(self, target: str) -> None:
        self.publishes: list[tuple[float, str, str, int]] = []  # time, path, protocol, status
        tap = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                arrived = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = urllib.request.Request(target, body, {"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(request, timeout=5) as resp:
                        status, payload = resp.status, resp.read()
                except urllib.error.HTTPError as exc:
                    status, payload = exc.code, exc.read()
                fields = json.loads(body or b"{}")
                if fields.get("action") == "publish":
                    tap.publishes.append(
                        (arrived, str(fields.get("path")), str(fields.get("protocol")), status)
                    )
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/mediamtx/auth"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def asked(self, path: str) -> list[tuple[float, str, int]]:
        return [(t, proto, status) for t, p, proto, status in list(self.publishes) if p == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Ingest:
    mtx: MediaMTX
    keys: dict[str, str]
    receiver: processes.Process
    tap: AuthTap
    procs: Processes
    log_dir: Path

    def publish(self, url: str, fmt: str = "flv") -> Proc:
        """The media tier's ffmpeg test pattern (H.264/AAC), as FLV, RTSP or MPEG-TS."""
        args = publisher_args(url, fmt="rtsp" if fmt == "rtsp" else "flv")
        if fmt == "mpegts":
            args = [*args[:-3], "-f", "mpegts", url]
        proc = Proc(args, self.log_dir / f"publisher-{len(self.procs.started)}.log")
        self.procs.started.append(proc)  # stopped at teardown, whatever happens
        return proc.start()

    def url(self, form: str, sid: str, key: str | None = None) -> tuple[str, str]:
        """(URL, ffmpeg format) of a publisher of `sid` in one of the key forms."""
        key = key if key is not None else self.keys[sid]
        path = f"live/{sid}/in"
        rtsp, srt = f"127.0.0.1:{self.mtx.rtsp_port}", f"127.0.0.1:{self.mtx.srt_port}"
        streamid = {
            "srt-user-key": f"publish:{path}:publisher:{key}",
            "srt-query": f"publish:{path}:key={key}",
            # The standard syntax; ffmpeg 5.1 sends the streamid as written (a
            # percent-encoded "#" would reach MediaMTX as "%23").
            "srt-standard": f"#!::m=publish,r={path},u=publisher,s={key}",
        }
        if form == "rtmp":
            return f"{self.mtx.rtmp(path)}?key={key}", "flv"
        if form == "rtsp-userinfo":
            return f"rtsp://publisher:{key}@{rtsp}/{path}", "rtsp"
        if form == "rtsp-query":
            return f"rtsp://{rtsp}/{path}?key={key}", "rtsp"
        return f"srt://{srt}?streamid={streamid[form]}&pkt_size=1316", "mpegts"

    def logs(self) -> str:
        return self.mtx.log() + self.receiver.output()


@pytest.fixture
async def ingest(
    namespace: str,
    kube: Kube,
    control_plane: envtest.ControlPlane,
    mediamtx_bin: Path,
    tmp_path: Path,
    procs: Processes,
    media_tools: None,
) -> AsyncIterator[Ingest]:
    """MediaMTX (RTMP, RTSP and SRT on free ports) whose auth is the real
    receiver's, behind the tap, and a key for every stream of this module."""
    keys = {sid: stream_keys.generate_key() for sid in STREAMS}
    for sid, key in keys.items():
        secret = stream_keys.to_secret(sid, key, namespace)
        await kube.request("POST", core_path(namespace, "secrets"), secret)
    receiver, url = processes.receiver(control_plane.kubeconfig, namespace)

    await receiver_ready(url)
    tap = AuthTap(f"{url}/v1/mediamtx/auth")
    mtx = MediaMTX(mediamtx_bin, tmp_path / "mtx", hook_url=url, auth_url=tap.url)
    await asyncio.to_thread(mtx.start)
    try:
        yield Ingest(mtx, keys, receiver, tap, procs, tmp_path)
    finally:
        procs.stop_all()
        mtx.stop()
        tap.close()
        receiver.stop()


async def _available(mtx: MediaMTX, path: str, timeout: float = 20) -> dict[str, Any] | None:
    try:
        return await asyncio.to_thread(mtx.wait_available, path, timeout)
    except (WaitTimeout, TimeoutError):
        return None


async def _ingest_status(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    try:
        ls = await get_ls(kube, namespace, name)
    except KubeError:
        return {}
    return dict((ls.get("status") or {}).get("ingest") or {})


def _refused(pub: Proc, seconds: float = 15) -> bool:
    """MediaMTX refused the publisher: ffmpeg gave up with an error."""
    try:
        code = pub.wait(seconds)
    except Exception:
        return False
    return code != 0


async def test_rtsp_and_srt_publishers_with_their_key_go_live_and_fire_the_ready_hook(
    ingest: Ingest, kube: Kube, namespace: str
) -> None:
    source_types = {"rtsp": "rtspSession", "srt": "srtConn"}
    for form in FORMS:
        sid, path = form, f"live/{form}/in"
        url, fmt = ingest.url(form, sid)
        pub = ingest.publish(url, fmt)
        info = await _available(ingest.mtx, path)
        assert info, f"{form}: {path} never became available:\n{pub.output()[-2000:]}"
        protocol = form.split("-")[0]
        assert info["source"]["type"] == source_types[protocol], form
        asked = ingest.tap.asked(path)
        assert asked, form
        assert asked[-1][1:] == (protocol, 200), (form, asked)

        async def ready(sid: str = sid) -> dict[str, Any] | None:
            got = await _ingest_status(kube, namespace, sid)
            return got if got.get("available") else None

        got = await wait_for_async(ready, 15, what=f"{form}: the ready hook's status")
        assert got["sourceType"] == info["source"]["type"], form
        assert got["sourceId"] == info["source"]["id"], form
        assert ingest.keys[sid] not in json.dumps(got), f"{form}: the key reached the status"
        pub.stop()
        await asyncio.to_thread(ingest.mtx.wait_unavailable, path)
    logs = ingest.logs()
    for form in FORMS:
        assert ingest.keys[form] not in logs, f"{form}: the key reached a log"


async def test_a_wrong_or_missing_key_is_refused_over_rtsp_and_srt(
    ingest: Ingest, kube: Kube, namespace: str
) -> None:
    sid, path = "refused", "live/refused/in"
    wrong = stream_keys.generate_key()
    attempts = [
        ingest.url("rtsp-userinfo", sid, wrong),
        ingest.url("rtsp-query", sid, wrong),
        (f"rtsp://127.0.0.1:{ingest.mtx.rtsp_port}/{path}", "rtsp"),  # no key at all
        ingest.url("srt-user-key", sid, wrong),
        (f"srt://127.0.0.1:{ingest.mtx.srt_port}?streamid=publish:{path}", "mpegts"),
    ]
    for url, fmt in attempts:
        pub = ingest.publish(url, fmt)
        assert _refused(pub), f"{url.replace(wrong, 'sk_WRONG')} was not refused"
        assert not ingest.mtx.available(path)
    statuses = [status for _, _, status in ingest.tap.asked(path)]
    assert statuses
    assert set(statuses) == {401}
    with pytest.raises(KubeError):
        await get_ls(kube, namespace, sid)  # refused publishes leave no LiveStream
    assert wrong not in ingest.logs()


async def test_the_rtsp_credential_challenge_is_not_counted_as_a_wrong_key(
    ingest: Ingest,
) -> None:
    """Every rtsp://user:key@ publish is asked twice (first without credentials):
    after 3 wrong keys, 3 such publishes would reach the attempt guard's 5 if the
    challenges counted, and the right key would be locked out."""
    sid, path = "challenged", "live/challenged/in"
    for _ in range(3):
        pub = ingest.publish(*ingest.url("srt-user-key", sid, stream_keys.generate_key()))
        assert _refused(pub)
    for round_ in range(3):
        pub = ingest.publish(*ingest.url("rtsp-userinfo", sid))
        assert await _available(ingest.mtx, path), f"round {round_}: {pub.output()[-2000:]}"
        pub.stop()
        await asyncio.to_thread(ingest.mtx.wait_unavailable, path)
        await asyncio.sleep(1)  # the not-ready hook reaches the receiver's view
    rtsp = [status for _, proto, status in ingest.tap.asked(path) if proto == "rtsp"]
    assert rtsp == [401, 200] * 3  # challenge, then the credentials, each time


def _mtx_time(stamp: str) -> float:
    # MediaMTX gives nanoseconds; datetime keeps microseconds.
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def test_publish_to_available_per_protocol(
    ingest: Ingest, capsys: pytest.CaptureFixture[str]
) -> None:
    """From the publish request (the auth call: RTMP publish, RTSP ANNOUNCE, SRT
    handshake) to `available` in MediaMTX's own clock; and from ffmpeg's start,
    which adds its encoder's start-up. Printed, not asserted: the figures belong
    to the machine."""
    forms = {"rtmp": "rtmp", "rtsp": "rtsp-query", "srt": "srt-user-key"}
    results: dict[str, list[tuple[float, float]]] = {}
    for proto, form in forms.items():
        for n in range(ROUNDS):
            sid = f"t-{proto}-{n}"
            path = f"live/{sid}/in"
            started = time.time()
            pub = ingest.publish(*ingest.url(form, sid))
            info = await _available(ingest.mtx, path)
            assert info, f"{proto}: {pub.output()[-2000:]}"
            asked = ingest.tap.asked(path)  # before `available`, necessarily
            assert asked, path
            available = _mtx_time(info["availableTime"])
            results.setdefault(proto, []).append((available - asked[0][0], available - started))
            pub.stop()
            await asyncio.to_thread(ingest.mtx.wait_unavailable, path)
    with capsys.disabled():
        print(f"\npublish -> available (median of {ROUNDS}, min-max), MediaMTX v1.20.1:")
        for proto, rows in results.items():
            auth = [a for a, _ in rows]
            start = [s for _, s in rows]
            print(
                f"  {proto:5} from the publish request {statistics.median(auth) * 1000:7.0f} ms"
                f" ({min(auth) * 1000:.0f}-{max(auth) * 1000:.0f});"
                f" from ffmpeg's start {statistics.median(start) * 1000:7.0f} ms"
            )
