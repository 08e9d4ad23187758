"""Supervise one ffmpeg that copies live/<id>/out to one destination: restart with
backoff, stall detection, progress as metrics, every line redacted."""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from typing import IO

from prometheus_client import CollectorRegistry, Counter, Gauge, Info

from ..backoff import exponential
from ..media_urls import Redactor
from .config import ForwarderConfig

# A run that lasted this long was healthy: the next failure starts the backoff over.
STABLE_AFTER = 10.0
# No output byte for this long (or since the start) -> kill ffmpeg and restart.
STALL_TIMEOUT = 20.0
# SIGTERM: how long ffmpeg gets to close the RTMP session before SIGKILL.
STOP_GRACE = 3.0

log = logging.getLogger("livestream_operator.forwarder")


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
    return exponential(attempt, base=base, cap=cap)


def parse_progress(lines: Iterable[str]) -> Iterable[int]:
    """total_size values from ffmpeg's -progress output."""
    for line in lines:
        key, _, value = line.strip().partition("=")
        if key == "total_size" and value.isdigit():
            yield int(value)


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
        self.command = ffmpeg_command(cfg.authenticated_input, cfg.destination_url, ffmpeg)
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
