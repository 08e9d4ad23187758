"""Benchmark of per-destination retries with real ffmpeg and MediaMTX.

Prints figures; asserts nothing. Run: `.venv/bin/python bench/bench_destinations.py`.

Setup: a MediaMTX with live/bench/out published from a pre-encoded 720p30 file
(`-c copy`), a second MediaMTX as the third-party destination, a forwarder to
it (the good one) and a forwarder to a port nothing listens on (the refused
one; maxRetries 3, backoff 1 s capped at 2 s). Figures:
  1. The refused destination: start -> Exhausted, and what each failed attempt
     costs beyond the backoff (ffmpeg start and the RTSP probe of the input come
     before the destination is even tried).
  2. CPU of the refused forwarder (its process and the ffmpegs it waited for)
     while Retrying vs while Exhausted: Exhausted runs nothing.
  3. Retry-now (POST /v1/retry, the port now accepting through a relay) -> the
     report saying Active (the first bytes out), and -> the destination
     publishing (after its own analysis of the publish: MediaMTX's 2 s).
  4. The good destination throughout: its publish session id and restarts.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "operator")]

from tests.media.media_support import (  # noqa: E402
    MediaMTX,
    Proc,
    ProjectProc,
    build_mediamtx,
    copy_publisher_args,
    forwarder_proc,
)
from tests.support.media_files import encode_test_file  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
from tests.support.tcp_relay import TcpRelay  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

from bench.report import line  # noqa: E402
from livestream_operator.api.pod_contract import DESTINATION_PATH, RETRY_PATH  # noqa: E402

CACHE = Path(os.environ.get("LSO_CACHE_DIR") or Path.home() / ".cache" / "livestream-operator")
TOKEN = "bench-token"


def report(proc: ProjectProc) -> dict[str, Any]:
    url = f"http://127.0.0.1:{proc.metrics_port}{DESTINATION_PATH}"
    with urllib.request.urlopen(url, timeout=2) as resp:
        body: dict[str, Any] = json.loads(resp.read())
        return body


def cpu_with_children(pid: int) -> float:
    """utime + stime + the waited-for children's (the ffmpegs), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    binary = build_mediamtx()
    media = encode_test_file(CACHE / "bench" / "720p30-testsrc-h264-aac-60s.flv")
    work = Path(tempfile.mkdtemp(prefix="lso-bench-destinations-"))
    source, sink = MediaMTX(binary, work / "source"), MediaMTX(binary, work / "sink")
    procs: list[Proc] = []
    relay: TcpRelay | None = None
    try:
        source.start()
        sink.start()
        out = "live/bench/out"
        pub = Proc(copy_publisher_args(media, source.rtmp(out)), work / "pub.log")
        procs.append(pub.start())
        source.wait_available(out, 30)
        good = forwarder_proc(work, source.rtsp(out), sink.rtmp("live/good/in"), "good")
        procs.append(good.start())
        sink.wait_available("live/good/in", 60)
        session = sink.session("live/good/in")
        closed = free_port()
        env = {
            "LSO_MAX_RETRIES": "3",
            "LSO_BACKOFF_SECONDS": "1",
            "LSO_BACKOFF_CAP_SECONDS": "2",
            "LSO_FORWARDER_TOKEN": TOKEN,
        }
        bad = forwarder_proc(
            work, source.rtsp(out), f"rtmp://127.0.0.1:{closed}/live/bad/in", "bad", env
        )
        started = time.monotonic()
        procs.append(bad.start())
        wait_for(lambda: bad.healthz() != 0, 30, "the refused forwarder to serve")
        cpu0 = cpu_with_children(bad.pid)
        wait_for(lambda: report(bad)["state"] == "Exhausted", 120, "Exhausted")
        to_exhausted = time.monotonic() - started
        cpu_retrying = cpu_with_children(bad.pid) - cpu0
        backoffs = 1 + 2 + 2
        window = 10.0
        cpu1 = cpu_with_children(bad.pid)
        time.sleep(window)
        cpu_exhausted = cpu_with_children(bad.pid) - cpu1

        relay = TcpRelay(closed, ("127.0.0.1", sink.rtmp_port))
        request = urllib.request.Request(
            f"http://127.0.0.1:{bad.metrics_port}{RETRY_PATH}",
            method="POST",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        asked = time.monotonic()
        urllib.request.urlopen(request, timeout=2).close()
        wait_for(lambda: report(bad)["state"] == "Active", 60, "Active")
        to_active = time.monotonic() - asked  # its first bytes out
        wait_for(lambda: sink.available("live/bad/in"), 60, "the retried destination publishing")
        to_publishing = time.monotonic() - asked

        print("per-destination retries (maxRetries 3, backoff 1 s, cap 2 s; real ffmpeg)")
        line("refused: forwarder start -> Exhausted", f"{to_exhausted:.2f} s")
        line("  of which backoff waits", f"{backoffs:.2f} s")
        line(
            "  each of the 4 attempts beyond the backoff", f"{(to_exhausted - backoffs) / 4:.2f} s"
        )
        line(
            "refused forwarder CPU while Retrying",
            f"{cpu_retrying / to_exhausted * 100:.1f} % core",
        )
        line("refused forwarder CPU while Exhausted", f"{cpu_exhausted / window * 100:.1f} % core")
        line("retry-now -> report Active (first bytes out)", f"{to_active:.2f} s")
        line("retry-now -> destination publishing", f"{to_publishing:.2f} s")
        line(
            "good destination: session unchanged",
            str(sink.session("live/good/in") == session),
        )
        line("good destination: restarts", str(good.metrics().get("lso_forwarder_restarts_total")))
    finally:
        if relay is not None:
            relay.close()
        for proc in reversed(procs):
            proc.stop(timeout=5)
        sink.stop()
        source.stop()


if __name__ == "__main__":
    main()
