"""`livestream-operator forward`: push live/<id>/out to ONE third-party destination.

One process per destination, so a failing destination never disturbs another.
It supervises `ffmpeg -rtsp_transport tcp -i IN -c copy -f flv DEST`, restarting
it with exponential backoff. The destination URL carries the stream key, so it
is read only from the LSO_DESTINATION_URL environment variable (never a flag),
and every log line, ffmpeg's included, passes through a redactor first.

Environment / flags:
  LSO_INPUT_URL / --input            rtsp://mediamtx:8554/live/<id>/out
  LSO_DESTINATION_URL                rtmp(s)://host[:port]/app/<key>  (env only)
  LSO_DESTINATION_NAME / --name      a label for logs and metrics
  LSO_METRICS_PORT / --metrics-port  Prometheus port (default 0: disabled)
Exit codes: 0 stopped by SIGTERM/SIGINT, 1 ffmpeg missing, 2 bad configuration.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import IO
from urllib.parse import parse_qsl, unquote, urlsplit

from prometheus_client import CollectorRegistry, Counter, Gauge, Info

from . import logs, probe

MASK = "****"
MIN_SECRET = 4
SCHEMES = ("rtmp", "rtmps")
# A run that lasted this long was healthy: the next failure starts the backoff over.
STABLE_AFTER = 10.0
# No output byte for this long (or since the start) -> kill ffmpeg and restart.
STALL_TIMEOUT = 20.0
# SIGTERM: how long ffmpeg gets to close the RTMP session before SIGKILL.
STOP_GRACE = 3.0

log = logging.getLogger("livestream_operator.forwarder")


# --- redaction (pure) ------------------------------------------------------


def redact_url(url: str) -> str:
    """`rtmp://user:pw@host:1935/app/key?x=y` -> `rtmp://host:1935/app/****`."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return MASK
    host = parts.hostname or ""
    if port:
        host = f"{host}:{port}"
    segments = [s for s in parts.path.split("/") if s]
    shown = f"{parts.scheme}://{host}"
    if segments:
        shown += f"/{segments[0]}"
    if len(segments) > 1 or parts.query or parts.fragment or parts.username or parts.password:
        shown += f"/{MASK}"
    return shown


def secrets_of(url: str) -> list[str]:
    """Substrings of the URL that must never be printed (decoded), longest first.

    The stream key (everything after the application name), and, when at least
    MIN_SECRET characters long, its path segments, the query and its values,
    the fragment and the credentials. Shorter fragments are left alone so that
    a query like `?x=1` does not blank every "1" in ffmpeg's output; the key
    itself is always a secret.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    always: set[str] = set()
    maybe: set[str] = set()
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) > 1:
        always.add("/".join(segments[1:]))
        maybe.update(segments[1:])
    if parts.query:
        maybe.add(parts.query)
        maybe.update(v for _, v in parse_qsl(parts.query, keep_blank_values=True))
    maybe.update(x for x in (parts.fragment, parts.username, parts.password) if x)
    found = {unquote(s) for s in always} | {
        unquote(s) for s in maybe if len(unquote(s)) >= MIN_SECRET
    }
    return sorted((s for s in found if s), key=len, reverse=True)


def _encoded_pattern(secret: str) -> str:
    """Match `secret` with any of its characters possibly percent-encoded."""
    parts = []
    for char in secret:
        encoded = "".join(f"%{b:02x}" for b in char.encode())
        parts.append(f"(?:{re.escape(char)}|(?i:{re.escape(encoded)}))")
    return "".join(parts)


class Redactor:
    def __init__(self, url: str) -> None:
        self.url = url
        self.shown = redact_url(url)
        secrets = secrets_of(url)
        self._pattern = (
            re.compile("|".join(_encoded_pattern(s) for s in secrets)) if secrets else None
        )

    def __call__(self, text: str) -> str:
        text = text.replace(self.url, self.shown)
        return self._pattern.sub(MASK, text) if self._pattern else text


# --- command and backoff (pure) ----------------------------------------------


def ffmpeg_command(input_url: str, destination: str, ffmpeg: str = "ffmpeg") -> list[str]:
    return [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "warning",
        # Progress as key=value lines on stdout: bytes out and liveness.
        "-nostats",
        "-progress",
        "pipe:1",
        "-rtsp_transport",
        "tcp",
        "-timeout",
        "5000000",  # RTSP socket timeout (us): a dead input ends ffmpeg
        "-i",
        input_url,
        # Whatever video and audio there is; FLV carries nothing else.
        "-map",
        "0:v?",
        "-map",
        "0:a?",
        "-c",
        "copy",
        "-rw_timeout",
        "10000000",  # output I/O timeout (us): a stuck destination too
        "-f",
        "flv",
        "-flvflags",
        "no_duration_filesize",
        destination,
    ]


def backoff(attempt: int, *, base: float = 1.0, cap: float = 10.0) -> float:
    """Delay before restart number `attempt` (0-based): 1, 2, 4, 8, 10, 10, ..."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    return float(min(cap, base * 2 ** min(attempt, 32)))


def parse_progress(lines: Iterable[str]) -> Iterable[int]:
    """total_size values from ffmpeg's -progress output."""
    for line in lines:
        key, _, value = line.strip().partition("=")
        if key == "total_size" and value.isdigit():
            yield int(value)


# --- configuration -------------------------------------------------------------


@dataclass(frozen=True)
class ForwarderConfig:
    input_url: str
    destination_url: str
    name: str
    metrics_port: int = 0


def parse_args(argv: Sequence[str], env: Mapping[str, str]) -> ForwarderConfig:
    parser = argparse.ArgumentParser(
        prog="livestream-operator forward",
        description="Copy live/<id>/out to one RTMP destination. The destination URL is "
        "read from the LSO_DESTINATION_URL environment variable only.",
    )
    parser.add_argument(
        "--input",
        default=env.get("LSO_INPUT_URL", ""),
        help="RTSP URL of live/<id>/out (env LSO_INPUT_URL)",
    )
    parser.add_argument(
        "--name",
        default=env.get("LSO_DESTINATION_NAME", ""),
        help="destination name for logs and metrics (env LSO_DESTINATION_NAME)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=env.get("LSO_METRICS_PORT") or "0",
        help="Prometheus port, 0 disables (env LSO_METRICS_PORT)",
    )
    args = parser.parse_args(list(argv))
    destination = env.get("LSO_DESTINATION_URL", "")
    if urlsplit(args.input).scheme not in ("rtsp", "rtsps"):
        parser.error("--input/LSO_INPUT_URL must be an rtsp:// URL")
    if not destination:
        parser.error("LSO_DESTINATION_URL is not set")
    try:
        dest = urlsplit(destination)
        dest.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        parser.error("LSO_DESTINATION_URL is not a valid URL")
    if dest.scheme not in SCHEMES or not dest.hostname:
        # Only the redacted form may appear, even in this error.
        parser.error(
            f"LSO_DESTINATION_URL must be an rtmp:// or rtmps:// URL, got {redact_url(destination)}"
        )
    if not 0 <= args.metrics_port <= 65535:
        parser.error("--metrics-port must be between 0 and 65535")
    return ForwarderConfig(args.input, destination, args.name or dest.hostname, args.metrics_port)


# --- supervision ---------------------------------------------------------------


class ForwarderMetrics:
    def __init__(self, name: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        Info("lso_forwarder", "Forwarder identity", registry=r).info({"destination": name})
        self.restarts = Counter("lso_forwarder_restarts", "ffmpeg restarts", registry=r)
        self.up = Gauge("lso_forwarder_up", "1 while bytes reach the destination", registry=r)
        self.output_bytes = Counter(
            "lso_forwarder_output_bytes", "FLV bytes written to the destination", registry=r
        )
        self.delivering = False

    def set_up(self, up: bool) -> None:
        self.delivering = up
        self.up.set(1 if up else 0)


Popen = Callable[..., "subprocess.Popen[str]"]


class Forwarder:
    def __init__(
        self,
        cfg: ForwarderConfig,
        metrics: ForwarderMetrics,
        ffmpeg: str = "ffmpeg",
        popen: Popen = subprocess.Popen,
        delay: Callable[[int], float] = backoff,
    ) -> None:
        self.cfg, self.metrics, self.popen, self.delay = cfg, metrics, popen, delay
        self.redact = Redactor(cfg.destination_url)
        self.command = ffmpeg_command(cfg.input_url, cfg.destination_url, ffmpeg)
        self.stop = threading.Event()
        self._last_bytes = 0.0

    def run(self) -> int:
        attempt = 0
        extra = {
            "destination": self.redact.shown,
            "destinationName": self.cfg.name,
            "input": self.cfg.input_url,
        }
        log.info("forwarder starting", extra=extra)
        while not self.stop.is_set():
            started = time.monotonic()
            code, reason = self._run_once(started)
            self.metrics.set_up(False)
            if self.stop.is_set():
                break
            if time.monotonic() - started >= STABLE_AFTER:
                attempt = 0
            delay = self.delay(attempt)
            attempt += 1
            self.metrics.restarts.inc()
            log.warning(
                "ffmpeg ended (%s); restarting in %.1f s",
                reason,
                delay,
                extra={**extra, "exitCode": code, "retryIn": delay},
            )
            self.stop.wait(delay)
        log.info("forwarder stopped", extra=extra)
        return 0

    def _run_once(self, started: float) -> tuple[int | None, str]:
        proc = self.popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )  # our SIGTERM is ours to relay
        self._last_bytes = 0.0
        readers = [
            threading.Thread(target=self._read_progress, args=(proc.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(proc.stderr,), daemon=True),
        ]
        for t in readers:
            t.start()
        reason = ""
        while proc.poll() is None:
            if self.stop.wait(0.2):
                reason = "stopped"
                _terminate(proc)
                break
            since = time.monotonic() - (self._last_bytes or started)
            if since > STALL_TIMEOUT:
                reason = f"no output for {STALL_TIMEOUT:.0f} s"
                _terminate(proc)
                break
        code = proc.wait()
        for t in readers:
            t.join(timeout=1)
        return code, reason or f"exit code {code}"

    def _read_progress(self, stream: IO[str] | None) -> None:
        if stream is None:
            return
        written = 0
        for total in parse_progress(stream):
            if total > written:
                self.metrics.output_bytes.inc(total - written)
                written = total
                if not self._last_bytes:
                    log.info(
                        "forwarding",
                        extra={"destination": self.redact.shown, "destinationName": self.cfg.name},
                    )
                self._last_bytes = time.monotonic()
                self.metrics.set_up(True)

    def _read_stderr(self, stream: IO[str] | None) -> None:
        if stream is None:
            return
        for line in stream:
            line = line.rstrip()
            if line:
                log.warning(
                    "ffmpeg: %s", self.redact(line), extra={"destinationName": self.cfg.name}
                )


def _terminate(proc: subprocess.Popen[str]) -> None:
    """SIGTERM lets ffmpeg close the RTMP session; SIGKILL if it does not."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        proc.kill()


def main(argv: list[str]) -> int:
    cfg = parse_args(argv, os.environ)
    logs.setup("forwarder")
    logs.bind(destinationName=cfg.name)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        log.error("ffmpeg is not installed")
        return 1
    metrics = ForwarderMetrics(cfg.name)
    if cfg.metrics_port:
        try:
            # /healthz is 200 while bytes reach the destination (lso_forwarder_up).
            probe.serve(cfg.metrics_port, metrics.registry, lambda: metrics.delivering)
        except OSError as exc:
            log.error("cannot serve metrics on port %d: %s", cfg.metrics_port, exc)
            return 1
    forwarder = Forwarder(cfg, metrics, ffmpeg)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        forwarder.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return forwarder.run()
