"""Benchmarks of the hook path: publish -> ready event, and the wrapper's own cost.

Prints figures; asserts nothing. Run with `make bench` (or directly).

1. Publish -> ready event received, over N publishes: a real MediaMTX with the
   project config runs the real mtx-hook wrapper, which POSTs to a recording
   HTTP server in this process. Each publish is ffmpeg sending a pre-encoded
   720p30 file with codec copy. Reported from the publisher's start, and from
   the moment MediaMTX declares the path available (its `availableTime`), which
   separates MediaMTX's own RTMP track analysis from the hook's cost.
2. The wrapper's run time beside curl posting the same JSON to the same server.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "operator")]

from tests.media.media_support import (  # noqa: E402
    MTX_HOOK,
    PYTHON,
    MediaMTX,
    build_mediamtx,
    copy_publisher_args,
)
from tests.support import processes  # noqa: E402
from tests.support.media_files import encode_test_file  # noqa: E402

from bench.report import line, pct  # noqa: E402

CACHE = Path.home() / ".cache" / "livestream-operator" / "bench"


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[float, str, dict[str, Any]]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                recorder.events.append((time.time(), self.path.rsplit("/", 1)[-1], body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, event: str, path: str, timeout: float = 15) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, name, body in self.events:
                if name == event and body.get("path") == path:
                    return at
            time.sleep(0.005)
        raise TimeoutError(f"no {event} for {path}")


def rfc3339(value: str) -> float:
    # MediaMTX prints nanoseconds; Python parses microseconds.
    head, _, frac = value.rstrip("Z").partition(".")
    return datetime.fromisoformat(head + "+00:00").timestamp() + float("0." + (frac or "0"))


def publishes(mtx: MediaMTX, rec: Recorder, file: Path, n: int) -> tuple[list[float], list[float]]:
    total, hook = [], []
    for i in range(n):
        path = f"live/hb{i}/in"
        t0 = time.time()
        pub = subprocess.Popen(
            copy_publisher_args(file, mtx.rtmp(path)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            arrived = rec.wait("ready", path)
            info = mtx.path(path) or {}
            total.append(arrived - t0)
            if info.get("availableTime"):
                hook.append(arrived - rfc3339(info["availableTime"]))
        finally:
            pub.terminate()
            pub.wait(10)
        rec.wait("not-ready", path)
    return total, hook


def run_times(url: str, n: int) -> tuple[list[float], list[float]]:
    env = {
        "MTX_PATH": "live/x/in",
        "MTX_QUERY": "a=b",
        "MTX_SOURCE_TYPE": "rtmpConn",
        "MTX_SOURCE_ID": "1",
        "LSO_HOOK_URL": url,
        "LSO_HOOK_TOKEN": processes.HOOK_TOKEN,
        "PATH": "/usr/bin:/bin",
    }
    body = json.dumps(
        {"path": "live/x/in", "query": "a=b", "sourceType": "rtmpConn", "sourceId": "1"}
    )
    wrapper, curl = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        # As its shebang runs it: python3 -S.
        subprocess.run([PYTHON, "-S", str(MTX_HOOK), "ready"], env=env, check=True)
        wrapper.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        subprocess.run(
            [
                "curl",
                "-fsS",
                "-o",
                "/dev/null",
                "-H",
                "Content-Type: application/json",
                "-H",
                f"Authorization: Bearer {processes.HOOK_TOKEN}",
                "-d",
                body,
                f"{url}/v1/mediamtx/events/ready",
            ],
            check=True,
        )
        curl.append(time.perf_counter() - t0)
    return wrapper, curl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--publishes", type=int, default=20)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    file = CACHE / "720p30-h264-aac-10s.flv"
    if not file.exists():
        encode_test_file(file, seconds=10)
    rec = Recorder()
    workdir = CACHE / "hooks-mtx"
    mtx = MediaMTX(build_mediamtx(), workdir, hook_url=rec.url).start()
    try:
        total, hook = publishes(mtx, rec, file, args.publishes)
    finally:
        mtx.stop()
    print(f"hook path benchmarks (MediaMTX 1.20.1, real mtx-hook, {args.publishes} publishes)")
    print("\n1. publish -> ready event received")
    line("from publisher start, p50", f"{pct(total, 50) * 1000:.0f} ms")
    line("from publisher start, p99", f"{pct(total, 99) * 1000:.0f} ms", "goal p99 <= 300 ms")
    line("from MediaMTX 'available', p50", f"{pct(hook, 50) * 1000:.0f} ms")
    line("from MediaMTX 'available', p99", f"{pct(hook, 99) * 1000:.0f} ms")
    print("  (MediaMTX analyses 2 s of an RTMP publish before declaring it available)")
    wrapper, curl = run_times(rec.url, args.runs)
    print(f"\n2. one event delivered ({args.runs} runs)")
    line("mtx-hook wrapper (python3 -S), p50", f"{pct(wrapper, 50) * 1000:.1f} ms")
    line("curl with the same JSON, p50", f"{pct(curl, 50) * 1000:.1f} ms")
    line("ratio", f"{pct(wrapper, 50) / pct(curl, 50):.1f}x")


if __name__ == "__main__":
    main()
