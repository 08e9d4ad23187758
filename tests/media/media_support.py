"""Real media processes for the media tests and the benchmark: MediaMTX with the
project config, ffmpeg publishers, the worker and forwarder as subprocesses,
and ffprobe/ffmpeg based checks. Every wait has a timeout."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.server
import itertools
import json
import math
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import aiohttp
import yaml

from livestream_operator.api.pod_contract import ASSIGNMENT_PATH, POOL_TOKEN_VAR
from livestream_operator.api.v1alpha1 import (
    InputLossFill,
    InputLossSpec,
    LiveStream,
    LiveStreamSpec,
    ObjectMeta,
    RecordingSpec,
)
from livestream_operator.mediamtx.control_api import MediaMTXClient
from livestream_operator.mediamtx.path_sync import PathConfigSync
from tests.support import sessions
from tests.support.media_files import copy_input_args
from tests.support.ports import free_port
from tests.support.processes import HOOK_TOKEN, INTERNAL
from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
MEDIAMTX_CONFIG = REPO / "charts" / "livestream-operator" / "files" / "mediamtx.yml"
BUILD_SCRIPT = REPO / "hack" / "build-mediamtx.sh"
MTX_HOOK = REPO / "operator" / "livestream_operator" / "ingest" / "mtx_hook.py"
PYTHON = sys.executable
CLI = [PYTHON, "-m", "livestream_operator"]


def build_mediamtx(timeout: float = 1800) -> Path:
    """Run hack/build-mediamtx.sh; RuntimeError with its output's tail on failure."""
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=timeout, check=False
    )
    path = Path(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else None
    if proc.returncode != 0 or path is None or not os.access(path, os.X_OK):
        raise RuntimeError(
            f"hack/build-mediamtx.sh failed ({proc.returncode}): {proc.stderr[-2000:]}"
        )
    return path


def _stop(
    proc: subprocess.Popen[bytes] | None, timeout: float = 10.0, sig: int = signal.SIGTERM
) -> int | None:
    if proc is None:
        return None
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


# --- hook receiver ---------------------------------------------------------------


class HookReceiver:
    """Records the events mtx-hook POSTs (path, sourceId...) per event name."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        events = self.events

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                events.append((self.path.rsplit("/", 1)[-1], json.loads(body or b"{}")))
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def paths(self, event: str) -> list[str]:
        return [body.get("path", "") for name, body in list(self.events) if name == event]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- MediaMTX --------------------------------------------------------------------


@dataclass
class MediaMTX:
    """MediaMTX with the project config on free ports (MTX_* overrides)."""

    binary: Path
    workdir: Path
    hook_url: str = "http://127.0.0.1:9/unused"
    # The receiver's auth endpoint; None: MediaMTX's internal auth, open to all
    # (for tests of the media plane that run without a receiver).
    auth_url: str | None = None
    rtmp_port: int = field(default_factory=free_port)
    rtsp_port: int = field(default_factory=free_port)
    # The config enables SRT (UDP): each instance gets its own port, as for the rest.
    srt_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    playback_port: int = field(default_factory=free_port)
    # Its name, as the chart gives each instance its Pod's: the hooks and the auth
    # call say it.
    instance: str = "mediamtx-0"
    proc: subprocess.Popen[bytes] | None = None

    @property
    def recordings(self) -> Path:
        """Where recordPath points (the chart's /recordings volume)."""
        return self.workdir / "recordings"

    @property
    def log_path(self) -> Path:
        return self.workdir / "mediamtx.log"

    def env(self) -> dict[str, str]:
        shim_dir = self.workdir / "bin"
        shim_dir.mkdir(parents=True, exist_ok=True)
        shim = shim_dir / "mtx-hook"
        # MediaMTX runs hooks without a shell: `mtx-hook` must be on its PATH.
        shim.write_text(f'#!/bin/sh\nexec "{PYTHON}" "{MTX_HOOK}" "$@"\n')
        shim.chmod(0o755)
        return {
            **os.environ,
            "PATH": f"{shim_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "LSO_HOOK_URL": self.hook_url,
            "LSO_HOOK_TOKEN": HOOK_TOKEN,
            "LSO_HOOK_ATTEMPTS": "2",
            "LSO_MEDIAMTX_INSTANCE": self.instance,
            "MTX_RTMPADDRESS": f"127.0.0.1:{self.rtmp_port}",
            "MTX_RTSPADDRESS": f"127.0.0.1:{self.rtsp_port}",
            "MTX_SRTADDRESS": f"127.0.0.1:{self.srt_port}",
            "MTX_APIADDRESS": f"127.0.0.1:{self.api_port}",
            "MTX_METRICSADDRESS": f"127.0.0.1:{self.metrics_port}",
            "MTX_PLAYBACKADDRESS": f"127.0.0.1:{self.playback_port}",
            "MTX_PATHDEFAULTS_RECORDPATH": f"{self.recordings}/%path/%Y-%m-%d_%H-%M-%S-%f",
        }

    def config(self) -> Path:
        """The project's config, with auth pointed at `auth_url` (or opened)."""
        conf = yaml.safe_load(MEDIAMTX_CONFIG.read_text())
        if self.auth_url:
            conf["authHTTPAddress"] = f"{self.auth_url}?instance={self.instance}"
        else:
            conf["authMethod"] = "internal"
            actions = ["publish", "read", "api", "metrics", "playback"]
            conf["authInternalUsers"] = [
                {
                    "user": "any",
                    "pass": "",
                    "ips": [],
                    "permissions": [{"action": a} for a in actions],
                }
            ]
        path = self.workdir / "mediamtx.yml"
        path.write_text(yaml.safe_dump(conf))
        return path

    def start(self, timeout: float = 20.0) -> MediaMTX:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(self.binary), str(self.config())],
                env=self.env(),
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        # Listening is enough: the API may refuse us (auth pointed at no receiver).
        wait_for(lambda: self._listening() or self._died(), timeout, "MediaMTX to listen")
        if self.proc.poll() is not None:
            raise RuntimeError(f"MediaMTX exited: {self.log()[-2000:]}")
        return self

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _listening(self) -> bool:
        if not self._api_ok() and self.auth_url is None:
            return False
        try:
            socket.create_connection(("127.0.0.1", self.rtmp_port), timeout=1).close()
        except OSError:
            return False
        return True

    def _died(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def _api_ok(self) -> bool:
        return self.api("/v3/paths/list") is not None

    def api(self, path: str) -> Any:
        headers = {}
        if self.auth_url:  # the Control API answers only the operator's credentials
            user = f"lso-operator:{INTERNAL['LSO_OPERATOR_PASSWORD']}"
            headers["Authorization"] = "Basic " + base64.b64encode(user.encode()).decode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.api_port}{path}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=2) as resp:
                return json.load(resp)
        except (OSError, ValueError):
            return None

    def path(self, name: str) -> dict[str, Any] | None:
        info = self.api("/v3/paths/get/" + urllib.parse.quote(name, safe=""))
        return info if isinstance(info, dict) else None

    def available(self, name: str) -> bool:
        info = self.path(name)
        return bool(info and info.get("available"))

    def wait_available(self, name: str, timeout: float = 30.0) -> dict[str, Any]:
        wait_for(lambda: self.available(name), timeout, f"{name} to be available")
        return self.path(name) or {}

    def session(self, name: str) -> str | None:
        """The publish session on a path: its source's id (a new one for every
        publish, as a destination such as YouTube starts a new broadcast), or
        None while nothing publishes."""
        info = self.path(name)
        source = info.get("source") if info else None
        return (
            str(source["id"]) if isinstance(source, dict) and info and info.get("ready") else None
        )

    def wait_unavailable(self, name: str, timeout: float = 30.0) -> None:
        wait_for(lambda: not self.available(name), timeout, f"{name} to be unavailable")

    def rtmp(self, path: str) -> str:
        return f"rtmp://127.0.0.1:{self.rtmp_port}/{path}"

    def rtsp(self, path: str) -> str:
        return f"rtsp://127.0.0.1:{self.rtsp_port}/{path}"

    @property
    def playback_url(self) -> str:
        return f"http://127.0.0.1:{self.playback_port}"


# --- publishers ------------------------------------------------------------------


@dataclass
class Proc:
    """A subprocess with its output in a file."""

    args: list[str]
    log_path: Path
    env: dict[str, str] | None = None
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0, sig: int = signal.SIGTERM) -> int | None:
        return _stop(self.proc, timeout, sig)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def publisher_args(
    url: str,
    *,
    sine_hz: int = 1000,
    size: str = "1280x720",
    fps: int = 30,
    video: str = "h264",
    audio: str = "aac",
    fmt: str = "flv",
    preset: str = "veryfast",
    gop: int = 0,
) -> list[str]:
    """ffmpeg test-pattern publisher: testsrc video and a sine of `sine_hz`; a
    keyframe every `gop` frames (0: every second)."""
    gop = gop or fps
    vcodec = {
        "h264": [
            "-c:v",
            "libx264",
            "-preset",
            preset,
            "-tune",
            "zerolatency",
            "-g",
            str(gop),
            "-pix_fmt",
            "yuv420p",
        ],
        "h265": [
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-g",
            str(gop),
            "-pix_fmt",
            "yuv420p",
            "-x265-params",
            "log-level=error",
        ],
        "vp9": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-g", str(fps)],
    }[video]
    acodec = {
        "aac": ["-c:a", "aac", "-b:a", "128k"],
        "opus": ["-c:a", "libopus", "-b:a", "64k", "-ar", "48000"],
    }[audio]
    out = ["-f", "flv", url] if fmt == "flv" else ["-f", "rtsp", "-rtsp_transport", "tcp", url]
    return [
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-re",
        "-f",
        "lavfi",
        "-i",
        f"testsrc=size={size}:rate={fps}",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency={sine_hz}:sample_rate=44100",
        *vcodec,
        *acodec,
        *out,
    ]


def copy_publisher_args(file: Path, url: str) -> list[str]:
    return [
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        *copy_input_args(file),
        "-f",
        "flv",
        url,
    ]


# --- project processes --------------------------------------------------------


@dataclass
class ProjectProc(Proc):
    metrics_port: int = 0

    def healthz(self) -> int:
        """The status /healthz answers: what the Pod's readiness probe sees."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics_port}/healthz", timeout=2
            ) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except OSError:
            return 0

    def metrics(self) -> dict[str, float]:
        """Samples as {'name{label="v"}': value} (labels in exposition order)."""
        from prometheus_client.parser import text_string_to_metric_families

        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2
            ) as resp:
                text = resp.read().decode()
        except OSError:
            return {}
        samples: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in s.labels.items())
                samples[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
        return samples

    def logs(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.output().splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    lines.append(entry)
        return lines


def worker_proc(
    log_dir: Path,
    input_url: str,
    output_url: str,
    mode: str = "bypass",
    stream_id: str = "",
    extra_env: dict[str, str] | None = None,
) -> ProjectProc:
    port = free_port()
    args = [*CLI, "worker", "--input", input_url, "--output", output_url, "--mode", mode]
    if stream_id:
        args += ["--stream-id", stream_id]
    env = {
        **os.environ,
        "LSO_METRICS_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    return ProjectProc(
        args,
        Path(tempfile.mkstemp(prefix="worker-", suffix=".log", dir=log_dir)[1]),
        env,
        metrics_port=port,
    )


def pool_worker_proc(log_dir: Path, token: str) -> ProjectProc:
    """`livestream-operator worker --pool` with the pool Pod's environment."""
    port = free_port()
    env = {**os.environ, "LSO_METRICS_PORT": str(port), POOL_TOKEN_VAR: token}
    env["PYTHONUNBUFFERED"] = "1"
    for var in ("LSO_INPUT_URL", "LSO_OUTPUT_URL", "LSO_STREAM_ID", "LSO_MODE"):
        env.pop(var, None)
    return ProjectProc(
        [*CLI, "worker", "--pool"],
        Path(tempfile.mkstemp(prefix="pool-worker-", suffix=".log", dir=log_dir)[1]),
        env,
        metrics_port=port,
    )


def assign(
    worker: ProjectProc, body: bytes, headers: dict[str, str]
) -> tuple[int, str, dict[str, Any]]:
    """(status, content type, JSON body) of POST ASSIGNMENT_PATH: the operator's claim."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{worker.metrics_port}{ASSIGNMENT_PATH}",
        data=body,
        headers=headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return int(resp.status), resp.headers["Content-Type"], json.load(resp)
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.headers["Content-Type"], json.load(exc)


class BackendProc(ProjectProc):
    """A reference processing backend; its WebSocket, /healthz and /metrics share a port."""

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.metrics_port}/v1/audio"


def backend_proc(
    log_path: Path, kind: str, port: int = 0, env: dict[str, str] | None = None
) -> BackendProc:
    """`livestream-operator backend --kind <kind>` on 127.0.0.1, started and serving."""
    port = port or free_port()
    args = [*CLI, "backend", "--kind", kind, "--port", str(port), "--host", "127.0.0.1"]
    proc = BackendProc(args, log_path, {**os.environ, **(env or {})}, metrics_port=port)
    proc.start()
    wait_for(lambda: proc.healthz() == 200, 30, f"the {kind} backend to serve")
    return proc


def forwarder_proc(
    log_dir: Path,
    input_url: str,
    destination: str,
    name: str,
    extra_env: dict[str, str] | None = None,
) -> ProjectProc:
    port = free_port()
    env = {
        **os.environ,
        "LSO_DESTINATION_URL": destination,
        "LSO_DESTINATION_NAME": name,
        "LSO_METRICS_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    return ProjectProc(
        [*CLI, "forward", "--input", input_url],
        Path(tempfile.mkstemp(prefix=f"forward-{name}-", suffix=".log", dir=log_dir)[1]),
        env,
        metrics_port=port,
    )


# --- probing ---------------------------------------------------------------------


def ffprobe_streams(url: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_streams", "-of", "json", url],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ffprobe {url} failed: {proc.stderr[-1000:]}")
    streams: list[dict[str, Any]] = json.loads(proc.stdout).get("streams", [])
    return streams


def stream_of(streams: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [s for s in streams if s.get("codec_type") == kind]
    assert found, f"no {kind} stream in {[s.get('codec_name') for s in streams]}"
    return found[0]


def fps(stream: dict[str, Any]) -> float:
    """Frame rate from the codec's timing (r_frame_rate, from the H.264 VUI);
    avg_frame_rate is measured over the probed packets and wobbles under load."""
    for key in ("r_frame_rate", "avg_frame_rate"):
        num, _, den = str(stream.get(key) or "0/0").partition("/")
        with contextlib.suppress(ValueError, ZeroDivisionError):
            value = float(num) / float(den or 1)
            if value:
                return value
    return 0.0


def keyframe_interval(url: str, timeout: float = 30.0) -> float:
    """Seconds between the first two video keyframes ffprobe reads (packet flag K)."""
    proc = subprocess.run(
        [
            "ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-select_streams", "v:0",
            "-read_intervals", "%+6", "-show_entries", "packet=pts_time,flags", "-of", "json", url,
        ],
        capture_output=True, text=True, timeout=timeout, check=True,
    )  # fmt: skip
    keys = [float(p["pts_time"]) for p in json.loads(proc.stdout)["packets"] if "K" in p["flags"]]
    assert len(keys) >= 2, keys
    return keys[1] - keys[0]


def packet_times(url: str, packets: int = 200, timeout: float = 40.0) -> dict[str, list[float]]:
    """pts (s) per codec type ("video", "audio") of the first `packets` packets read.

    Counted in packets, not seconds: a time interval is anchored on the first
    packet's pts, which is undefined for the first RTSP video packets.
    """
    proc = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-read_intervals",
            f"%+#{packets}",
            "-show_entries",
            "packet=codec_type,pts_time",
            "-of",
            "csv=p=0",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ffprobe {url} failed: {proc.stderr[-1000:]}")
    times: dict[str, list[float]] = {"video": [], "audio": []}
    for line in proc.stdout.splitlines():
        kind, _, pts = line.strip().partition(",")
        with contextlib.suppress(ValueError):
            times.setdefault(kind, []).append(float(pts.strip(",")))
    return times


def decode_audio(
    url: str, seconds: float = 3.0, rate: int = 8000, timeout: float = 40.0
) -> list[int]:
    """Mono 16-bit PCM samples of the stream's audio at `rate` Hz."""
    proc = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-i",
            url,
            "-t",
            str(seconds),
            "-vn",
            "-ac",
            "1",
            "-ar",
            str(rate),
            "-f",
            "s16le",
            "-",
        ],
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    data = proc.stdout[: len(proc.stdout) // 2 * 2]
    return list(struct.unpack(f"<{len(data) // 2}h", data))


def goertzel_power(samples: list[int], rate: int, freq: float) -> float:
    """Signal power at one frequency (Goertzel algorithm)."""
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


def dominant_frequency(
    samples: list[int], rate: int, lo: int = 100, hi: int = 3000, step: int = 10
) -> float:
    """The strongest frequency on a `step` Hz grid (pure Python, no numpy)."""
    window = samples[:rate]  # one second is plenty for a steady tone
    return float(max(range(lo, hi + 1, step), key=lambda f: goertzel_power(window, rate, f)))


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (not its children) from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def cleanup() -> Iterator[list[Callable[[], Any]]]:
    """Collect teardown callables; run them all in reverse order, whatever happens."""
    stack: list[Callable[[], Any]] = []
    try:
        yield stack
    finally:
        for fn in reversed(stack):
            with contextlib.suppress(Exception):
                fn()


# --- what a destination received ---------------------------------------------------


class SessionWatch(sessions.SessionWatch):
    """The publish session a destination sees on `path`, every `every` s."""

    def __init__(self, destination: MediaMTX, path: str, every: float = 0.1) -> None:
        super().__init__(lambda: destination.session(path), every)


def packet_dts(file: Path) -> dict[str, list[float]]:
    """dts (s) of every packet of a recording, per codec type, in file order."""
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "packet=codec_type,dts_time",
         "-of", "csv=p=0", str(file)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    times: dict[str, list[float]] = {"video": [], "audio": []}
    for line in proc.stdout.splitlines():
        kind, _, dts = line.strip().partition(",")
        with contextlib.suppress(ValueError):
            times.setdefault(kind, []).append(float(dts.strip(",")))
    return times


def largest_gap(times: list[float]) -> float:
    return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def backwards(times: list[float]) -> list[tuple[float, float]]:
    """The (earlier, later) neighbours whose timestamps go back."""
    return [(a, b) for a, b in itertools.pairwise(times) if b < a]


def gap_near(times: list[float], marks: list[float], within: float = 1.0) -> float:
    """The largest gap that starts within `within` s of one of the `marks`."""
    return max(
        (b - a for a, b in itertools.pairwise(times) if any(abs(a - m) <= within for m in marks)),
        default=0.0,
    )


LUMA_SIZE = (32, 18)


def frame_lumas(file: Path, rate: float = 4.0) -> list[float]:
    """Mean luma (0-255) of the recording's frames, `rate` per second of its
    timeline from its first frame."""
    w, h = LUMA_SIZE
    proc = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(file), "-an",
         "-vf", f"fps={rate},scale={w}:{h},format=gray", "-f", "rawvideo", "-"],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    size = w * h
    data = proc.stdout
    return [sum(data[i : i + size]) / size for i in range(0, len(data) - size + 1, size)]


def audio_windows(file: Path, window: float = 0.5, rate: int = 8000) -> list[tuple[float, float]]:
    """(RMS, power share at 1 kHz) per `window` s of the recording's audio."""
    proc = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(file), "-vn", "-ac", "1", "-ar", str(rate),
         "-f", "s16le", "-"],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    data = proc.stdout[: len(proc.stdout) // 2 * 2]
    samples = list(struct.unpack(f"<{len(data) // 2}h", data))
    n = int(window * rate)
    out = []
    for i in range(0, len(samples) - n + 1, n):
        chunk = samples[i : i + n]
        energy = sum(x * x for x in chunk)
        rms = math.sqrt(energy / n)
        tone = goertzel_power(chunk, rate, 1000) * 2 / n if energy else 0.0
        out.append((rms, tone / energy if energy else 0.0))
    return out


def runs(labels: list[str]) -> list[tuple[str, int]]:
    """Consecutive equal labels collapsed: [(label, count), ...]."""
    out: list[tuple[str, int]] = []
    for label in labels:
        if out and out[-1][0] == label:
            out[-1] = (label, out[-1][1] + 1)
        else:
            out.append((label, 1))
    return out


# --- the operator's path entries on a test MediaMTX ----------------------------------


def livestream(
    stream_id: str, fill: InputLossFill, recording: RecordingSpec | None = None
) -> LiveStream:
    """A LiveStream as the operator's cache holds it, for its path entries."""
    return LiveStream(
        metadata=ObjectMeta(name=stream_id, namespace="test", uid=f"uid-{stream_id}"),
        spec=LiveStreamSpec(
            stream_id=stream_id, input_loss=InputLossSpec(fill=fill), recording=recording
        ),
    )


def apply_path_entries(mtx: MediaMTX, *livestreams: LiveStream) -> int:
    """One pass of the operator's PathConfigSync for `livestreams` (open Control API)."""

    async def once() -> int:
        async with aiohttp.ClientSession() as session:
            client = MediaMTXClient(f"http://127.0.0.1:{mtx.api_port}", session)
            cache = {ls.spec.stream_id: ls for ls in livestreams}
            return await PathConfigSync(client, cache, recheck=3600).once()

    return asyncio.run(once())


def record_destination(destination: MediaMTX, path_stream: str = "dest") -> None:
    """The destination records live/<path_stream>/in itself: MPEG-TS, one file per
    publish session (MediaMTX's own recording, through the same path entries)."""
    spec = RecordingSpec.model_validate(
        {"enabled": True, "paths": ["in"], "format": "mpegts", "segmentDuration": "1h"}
    )
    applied = apply_path_entries(destination, livestream(path_stream, InputLossFill.NONE, spec))
    assert applied == 2, "the destination's recording entries"
