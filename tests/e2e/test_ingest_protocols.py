"""Publishing over RTSP and SRT through their NodePorts, stream keys included, as
over RTMP: real ffmpeg publishers on this host reach phase Live, and the worker's
live/<id>/out is readable from outside with the stream's key."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import time
from urllib.parse import urlsplit

import pytest

from livestream_operator.api import stream_keys
from tests.support.tools import tool
from tests.support.waiting import wait_for

from .e2e_support import Config, Kube, Publisher, publishing, unique_id

pytestmark = pytest.mark.e2e


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if not parts.hostname or not parts.port:
        raise ValueError(f"{url!r} has no host:port")
    return parts.hostname, parts.port


def _rtsp_answers(url: str) -> bool:
    """Whether an RTSP OPTIONS gets an RTSP reply (MediaMTX answers it unauthenticated)."""
    host, port = _host_port(url)
    try:
        with socket.create_connection((host, port), timeout=3) as sock:
            sock.sendall(f"OPTIONS {url}/ RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
            return sock.recv(64).startswith(b"RTSP/1.0 ")
    except OSError:
        return False


def _srt_answers(url: str) -> bool:
    """Whether an SRT caller's induction handshake gets the listener's induction
    reply (version 5 with SRT's magic 0x4A17): a UDP port proves nothing else."""
    host, port = _host_port(url)
    header = struct.pack(">IIII", 0x8000_0000, 0, 0, 0)  # control packet: handshake
    socket_id = int.from_bytes(os.urandom(4), "big") & 0x7FFF_FFFF
    # version 4, no encryption, extension 2 (UDT_DGRAM), isn, MTU, flow window,
    # handshake type 1 (induction), socket id, no cookie, peer address.
    body = struct.pack(">IHHIIIIII", 4, 0, 2, 1, 1500, 8192, 1, socket_id, 0) + bytes(16)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        try:
            sock.sendto(header + body, (host, port))
            reply = sock.recv(2048)
        except OSError:
            return False
    return len(reply) >= 24 and struct.unpack(">IHH", reply[16:24]) == (5, 0, 0x4A17)


@pytest.fixture(scope="module")
def answering(kube: Kube, cfg: Config) -> None:
    """RTSP and SRT answer at their NodePorts (after an upgrade they may lag a moment)."""
    wait_for(lambda: _rtsp_answers(cfg.rtsp_url), 90, f"an RTSP server at {cfg.rtsp_url}")
    wait_for(lambda: _srt_answers(cfg.srt_url), 90, f"an SRT listener at {cfg.srt_url}")


def _rtsp_with(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=f"{user}:{password}@{parts.netloc}").geturl()


def _srt_publish(cfg: Config, sid: str, key: str) -> str:
    return f"{cfg.srt_url}?streamid=publish:live/{sid}/in:publisher:{key}&pkt_size=1316"


def _out_streams(cfg: Config, sid: str, key: str) -> list[str]:
    """The codecs of live/<id>/out as read from this host over RTSP with the key."""
    ffprobe = tool("ffprobe")
    assert ffprobe is not None, "ffprobe not found (apt install ffmpeg)"
    url = _rtsp_with(f"{cfg.rtsp_url}/live/{sid}/out", "viewer", key)
    args = ["-v", "error", "-rtsp_transport", "tcp", "-timeout", "10000000"]
    args += ["-show_entries", "stream=codec_name", "-of", "csv=p=0", url]
    proc = subprocess.run([ffprobe, *args], capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"ffprobe of live/{sid}/out: {proc.stderr.replace(key, 'sk_...')}")
    return sorted(line.strip() for line in proc.stdout.splitlines() if line.strip())


def _goes_live(kube: Kube, cfg: Config, sid: str, key: str, pub: Publisher, source: str) -> None:
    started = time.monotonic()
    ls = kube.wait_phase(sid, "Live", 120, pub)
    assert ls["status"]["ingest"]["sourceType"] == source
    assert key not in str(ls)
    # The worker pulled `in` and publishes `out`: readable with the stream's key.
    codecs = wait_for(lambda: _out_streams(cfg, sid, key), 60, f"live/{sid}/out to be readable")
    assert "h264" in codecs, codecs
    print(f"{source}: Live and out readable {time.monotonic() - started:.1f} s after the publish")


def test_an_rtsp_publisher_with_its_key_goes_live(
    kube: Kube, cfg: Config, answering: None, streams: list[str]
) -> None:
    sid = unique_id("e2e-rtsp")
    key = kube.stream_key(sid)
    streams.append(sid)
    with publishing(_rtsp_with(f"{cfg.rtsp_url}/live/{sid}/in", "publisher", key)) as pub:
        _goes_live(kube, cfg, sid, key, pub, "rtspSession")


def test_an_srt_publisher_with_its_key_goes_live(
    kube: Kube, cfg: Config, answering: None, streams: list[str]
) -> None:
    sid = unique_id("e2e-srt")
    key = kube.stream_key(sid)
    streams.append(sid)
    with publishing(_srt_publish(cfg, sid, key)) as pub:
        _goes_live(kube, cfg, sid, key, pub, "srtConn")


def _refused(pub: Publisher, seconds: float = 20) -> bool:
    try:
        wait_for(lambda: not pub.running(), seconds, "the publisher to be refused", 0.2)
    except AssertionError:
        return False
    return True


def test_wrong_keys_are_refused_over_rtsp_and_srt(kube: Kube, cfg: Config, answering: None) -> None:
    sid = unique_id("e2e-wrongkey")
    kube.stream_key(sid)
    wrong = stream_keys.generate_key()
    urls = [
        _rtsp_with(f"{cfg.rtsp_url}/live/{sid}/in", "publisher", wrong),
        f"{cfg.rtsp_url}/live/{sid}/in",  # no key: the challenge, then nothing to answer
        _srt_publish(cfg, sid, wrong),
    ]
    for url in urls:
        with publishing(url) as pub:
            assert _refused(pub), f"{url}: {pub.output()}"
    time.sleep(3)  # what a hook or the resync would have created by now
    assert kube.livestream(sid) is None
    assert kube.worker(sid) is None
