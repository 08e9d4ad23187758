"""Supervise one ffmpeg that copies live/<id>/out to one destination: retries with
backoff up to the destination's maxRetries (retries.py decides), stall
detection, progress as metrics, every line redacted, and the retry state the
operator reads (report(); retry_now() starts over at once)."""

from __future__ import annotations

import logging
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import IO

from prometheus_client import CollectorRegistry, Counter, Gauge, Info

from ..api.pod_contract import DestinationReport
from ..api.v1alpha1 import DestinationState
from ..media_urls import MASK, Redactor
from .config import ForwarderConfig
from .retries import Ended, Retries

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


# ffmpeg's "[rtmp @ 0x55d0c3a1b2c0] ..." prefixes: the address changes at every run.
_CONTEXT_ADDRESS = re.compile(r" @ 0x[0-9a-fA-F]+\]")


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
        self.retries = Gauge(
            "lso_forwarder_retries", "Failed attempts in a row (the status' retries)", registry=r
        )
        self.exhausted = Gauge(
            "lso_forwarder_exhausted", "1 while maxRetries are used up", registry=r
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
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.cfg, self.metrics, self.popen, self.clock = cfg, metrics, popen, clock
        self.redact = Redactor(cfg.destination_url)
        self.command = ffmpeg_command(cfg.authenticated_input, cfg.destination_url, ffmpeg)
        self.stop = threading.Event()
        self._wake = threading.Event()  # retry-now during a wait
        self._lock = threading.Lock()  # the retry state, shared with the HTTP threads
        self.retries = Retries(cfg.policy, clock())
        self._last_bytes = 0.0
        self._first_bytes = 0.0
        self._last_error = ""
        self._input_lost = False

    def report(self) -> DestinationReport:
        with self._lock:
            return self.retries.report()

    def retry_now(self) -> bool:
        """Retry at once with every retry again; False when there is nothing to retry."""
        with self._lock:
            retried = self.retries.retry_now(self.clock())
        if retried:
            log.info("retry now", extra={"destinationName": self.cfg.name})
            self._wake.set()
        return retried

    def run(self) -> int:
        extra = {
            "destination": self.redact.shown,
            "destinationName": self.cfg.name,
            "input": self.cfg.input_url,
        }
        log.info("forwarder starting", extra=extra)
        while not self.stop.is_set():
            with self._lock:
                self.retries.attempt_started(self.clock())
            started = time.monotonic()
            code, reason = self._run_once(started)
            self.metrics.set_up(False)
            if self.stop.is_set():
                break
            delivered = (self._last_bytes - self._first_bytes) if self._first_bytes else 0.0
            ended = Ended(
                error=self._last_error or reason,
                delivered_for=delivered,
                # ffmpeg ends cleanly when its input does.
                input_lost=self._input_lost or (code == 0 and bool(self._first_bytes)),
            )
            self._wake.clear()  # before the decision: a retry-now after it wakes the wait
            with self._lock:
                delay = self.retries.attempt_ended(ended, self.clock())
                retries, state = self.retries.retries, self.retries.state
            self.metrics.restarts.inc()
            self.metrics.retries.set(retries)
            self.metrics.exhausted.set(1 if state is DestinationState.EXHAUSTED else 0)
            if delay is None:
                log.warning(
                    "destination exhausted after %d retries (%s); waiting for retry-now",
                    retries,
                    ended.error,
                    extra={**extra, "exitCode": code, "retries": retries},
                )
            else:
                log.warning(
                    "ffmpeg ended (%s); %s in %.1f s",
                    ended.error,
                    "reconnecting to the input" if ended.input_lost else f"retry {retries}",
                    delay,
                    extra={**extra, "exitCode": code, "retryIn": delay, "retries": retries},
                )
            self._wait(delay)
        log.info("forwarder stopped", extra=extra)
        return 0

    def _wait(self, delay: float | None) -> None:
        """Until `delay` passes (None: forever), a retry-now or the stop."""
        deadline = None if delay is None else time.monotonic() + delay
        while not self.stop.is_set():
            left = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
            if left <= 0 or self._wake.wait(left):
                return
        self._wake.clear()

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
        self._last_bytes = self._first_bytes = 0.0
        self._last_error, self._input_lost = "", False
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
                self._last_bytes = time.monotonic()
                if not self._first_bytes:
                    self._first_bytes = self._last_bytes
                    log.info(
                        "forwarding",
                        extra={"destination": self.redact.shown, "destinationName": self.cfg.name},
                    )
                    with self._lock:
                        self.retries.delivering(self.clock())
                    self.metrics.retries.set(0)
                self.metrics.set_up(True)

    def _read_stderr(self, stream: IO[str] | None) -> None:
        if stream is None:
            return
        for raw in stream:
            raw = raw.rstrip()
            if not raw:
                continue
            line = self.clean(raw)
            if self.about_input(raw):
                self._input_lost = True
            self._last_error = _CONTEXT_ADDRESS.sub("]", line)
            log.warning("ffmpeg: %s", line, extra={"destinationName": self.cfg.name})

    def clean(self, line: str) -> str:
        """An ffmpeg line fit for logs and status: no destination URL or key, no
        MediaMTX credentials."""
        cfg = self.cfg
        line = line.replace(cfg.authenticated_input, cfg.input_url)
        if cfg.media_password:
            line = line.replace(cfg.media_password, MASK)
        return self.redact(line)

    def about_input(self, line: str) -> bool:
        """Whether an ffmpeg error is about live/<id>/out rather than the destination:
        ffmpeg names the URL (or the RTSP demuxer) that failed."""
        cfg = self.cfg
        return (
            line.startswith("[rtsp @")
            or line.startswith(cfg.authenticated_input)
            or line.startswith(cfg.input_url)
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
