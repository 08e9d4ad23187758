"""The worker process: the Supervisor runs Attempts (attempt.py) until stopped,
retrying with backoff, and run()/run_pool() are its entry points (a stream
worker, a warm pool worker).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Any

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

from .. import logs  # noqa: E402
from ..api.pod_contract import PROCESSING_PATH  # noqa: E402
from ..api.v1alpha1 import OutputProtocol, WorkerMode  # noqa: E402
from ..health_endpoint import Response  # noqa: E402
from .attempt import EXIT_UNSUPPORTED, STOP_DEADLINE, Attempt, StreamLog  # noqa: E402
from .config import WorkerConfig  # noqa: E402
from .errors import Outcome  # noqa: E402
from .graph import installed, missing_factories  # noqa: E402
from .hold import Hold  # noqa: E402
from .metrics import ErrorKind, State, WorkerMetrics  # noqa: E402
from .pipeline import (  # noqa: E402
    AAC_ENCODERS,
    ABSENT_RETRY,
    ABSENT_WARN,
    HOLD_FACTORIES,
    RTMP_SINKS,
    backoff,
    launch_line,
    output_protocol,
    process_delay_ns,
)
from .processing import ProcessingStage  # noqa: E402


class Supervisor:
    """Run attempts until stopped; retry with backoff; give up on unusable input.

    Without a configuration (a pool worker) it idles until assign().
    """

    def __init__(
        self,
        cfg: WorkerConfig | None,
        metrics: WorkerMetrics,
        log: StreamLog,
        stage: ProcessingStage | None = None,
    ) -> None:
        self.cfg, self.metrics, self.log, self.stage = cfg, metrics, log, stage
        self.loop = GLib.MainLoop()
        self.attempt: Attempt | None = None
        self.exit_code = 0
        self.stopping = False
        self._retry = 0
        self._unsupported = 0
        self._retry_timer = 0
        self._unsupported_codec = ""
        self._waiting_since: float | None = None  # the input has not been published since
        self._waiting_warned = False
        self.hold: Hold | None = None  # the last keyframe on out, after an input loss

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, self._on_signal, signum)
        if self.cfg is not None:
            GLib.idle_add(self._start_attempt)
        self.loop.run()
        return self.exit_code

    def assign(self, cfg: WorkerConfig) -> bool:
        """Start serving `cfg` (main loop; GLib.idle_add from the HTTP thread)."""
        if self.cfg is None and not self.stopping:
            self.cfg = cfg
            self.log.extra = {**(self.log.extra or {}), "streamId": cfg.stream_id}
            logs.bind(streamId=cfg.stream_id)
            self.metrics.identify(cfg.stream_id, cfg.mode.value)
            announce(cfg, self.log)
            self._start_attempt()
        return False

    def _start_attempt(self) -> bool:
        self._retry_timer = 0
        if self.stopping or self.cfg is None:
            return False
        self.metrics.set_state(State.CONNECTING)
        try:
            self.attempt = Attempt(
                self.cfg, self.metrics, self.log, self._on_done, self.stage, self._on_lost
            )
            self.attempt.start()
        except RuntimeError as exc:
            self.attempt = None
            self._on_done(Outcome(ErrorKind.INTERNAL, str(exc), False))
        return False

    def _on_lost(self, attempt: Attempt) -> None:
        """The input is lost: hold its last keyframe on out, then end the attempt
        once the hold is taken (main loop)."""
        assert self.cfg is not None
        if self.hold is not None:
            self.hold.stop("a newer input loss")
        hold = Hold(
            self.cfg,
            self.metrics,
            self.log,
            attempt.last_keyframe(),
            attempt.tracks(),
            attempt.hand_over,
            self._hold_ended,
        )
        self.hold = hold
        try:
            hold.start()
        except RuntimeError as exc:
            hold.stop(f"cannot hold the last frame: {exc}")

    def _hold_ended(self, hold: Hold) -> None:
        if self.hold is hold:
            self.hold = None

    def _on_done(self, outcome: Outcome) -> None:
        self.attempt = None
        cfg = self.cfg
        assert cfg is not None  # attempts only run once configured
        if self.stopping or outcome.kind is None:
            self.loop.quit()
            return
        kind = outcome.kind
        self.metrics.errors.labels(kind.value).inc()
        if outcome.flowed:
            self._retry = 0
            self._unsupported = 0
            self._clear_unsupported()
        if kind is ErrorKind.UNSUPPORTED:
            self._unsupported += 1
            self._clear_unsupported()
            self._unsupported_codec = outcome.codec or "unknown"
            self.metrics.unsupported.labels(self._unsupported_codec).set(1)
            self.log.error(
                "unsupported input: %s",
                outcome.detail,
                extra={
                    "codec": outcome.codec,
                    "errorKind": kind.value,
                    "attempt": self._unsupported,
                },
            )
            if self._unsupported >= cfg.max_unsupported:
                self.log.error(
                    "giving up after %d attempts: %s",
                    self._unsupported,
                    outcome.detail,
                    extra={"codec": outcome.codec, "exitCode": EXIT_UNSUPPORTED},
                )
                self.metrics.set_state(State.FAILED)
                self.exit_code = EXIT_UNSUPPORTED
                self.loop.quit()
                return
        self.metrics.reconnects.inc()
        self.metrics.set_state(State.RETRYING)
        if outcome.absent:
            delay = ABSENT_RETRY
            self._log_waiting(outcome)
        else:
            self._waiting_since = None
            delay = backoff(self._retry)
            self._retry += 1
            if kind is not ErrorKind.UNSUPPORTED:
                self.log.warning(
                    "pipeline ended (%s: %s); reconnecting in %.1f s",
                    kind.value,
                    outcome.detail,
                    delay,
                    extra={"errorKind": kind.value, "retryIn": delay, "wasFlowing": outcome.flowed},
                )
        self._retry_timer = GLib.timeout_add(int(delay * 1000), self._start_attempt)

    def _log_waiting(self, outcome: Outcome) -> None:
        """Waiting for a publisher is not a failure: one line, not one per retry."""
        now = time.monotonic()
        level = logging.DEBUG
        if self._waiting_since is None:
            self._waiting_since, self._waiting_warned = now, False
            level = logging.INFO
        elif not self._waiting_warned and now - self._waiting_since >= ABSENT_WARN:
            self._waiting_warned = True
            level = logging.WARNING
        self.log.log(
            level,
            "input not available (%s) for %.0f s; retrying every %.1f s",
            outcome.detail,
            now - self._waiting_since,
            ABSENT_RETRY,
            extra={"errorKind": ErrorKind.INPUT.value, "retryIn": ABSENT_RETRY},
        )

    def _clear_unsupported(self) -> None:
        if self._unsupported_codec:
            self.metrics.unsupported.remove(self._unsupported_codec)
            self._unsupported_codec = ""

    def _on_signal(self, signum: int) -> bool:
        if self.stopping:
            return True
        self.stopping = True
        self.log.info("received %s, stopping", signal.Signals(signum).name)
        self.metrics.set_state(State.STOPPED)
        # A wedged element (a blocking network call) must not keep the Pod in
        # Terminating: exit anyway once the deadline passes.
        timer = threading.Timer(STOP_DEADLINE, _hard_exit)
        timer.daemon = True
        timer.start()
        if self._retry_timer:
            GLib.source_remove(self._retry_timer)
            self._retry_timer = 0
        if self.hold is not None:
            self.hold.stop("the worker stops")
        if self.attempt is not None:
            self.attempt.stop()
        else:
            self.loop.quit()
        return True


def _hard_exit() -> None:
    logging.getLogger(__name__).warning(
        "pipeline did not stop within %.0f s; exiting", STOP_DEADLINE
    )
    logging.shutdown()
    os._exit(0)


def _stream_log(stream_id: str) -> StreamLog:
    extra = {"streamId": stream_id} if stream_id else {}
    return StreamLog(logging.getLogger("livestream_operator.worker"), extra)


def _init_gstreamer(
    log: StreamLog, mode: WorkerMode | None, protocol: OutputProtocol | None
) -> bool:
    Gst.init(None)
    missing = missing_factories(mode, protocol)
    if missing:
        log.error(
            "GStreamer elements missing: %s (install gstreamer1.0-plugins-good, "
            "-plugins-bad, -libav and -rtsp)",
            ", ".join(missing),
            extra={"missing": missing},
        )
    return not missing


def announce(cfg: WorkerConfig, log: StreamLog) -> None:
    """The "worker starting" line, with the equivalent gst-launch-1.0 pipeline."""
    missing = [f for f in HOLD_FACTORIES if not Gst.ElementFactory.find(f)]
    if cfg.hold_seconds and missing:
        log.warning(
            "GStreamer elements missing to hold the last frame: %s; the slate plays at once",
            ", ".join(missing),
            extra={"missing": missing},
        )
    log.info(
        "worker starting",
        extra={
            "mode": cfg.mode.value,
            "input": cfg.input_url,
            "output": cfg.output_url,
            "protocol": output_protocol(cfg.output_url).value,
            "metricsPort": cfg.metrics_port,
            "fill": cfg.fill.value,
            "gstreamer": Gst.version_string(),
            "pipeline": launch_line(
                cfg.mode,
                cfg.input_url,
                cfg.output_url,
                tone_hz=cfg.tone_hz,
                latency_ms=cfg.latency_ms,
                encoder=installed(AAC_ENCODERS)
                if cfg.mode in (WorkerMode.TONE, WorkerMode.PROCESS) or cfg.normalise_audio
                else AAC_ENCODERS[0],
                normalise_audio=cfg.normalise_audio,
                sink_factory=installed(RTMP_SINKS)
                if output_protocol(cfg.output_url) is OutputProtocol.RTMP
                else RTMP_SINKS[0],
                **_process_launch(cfg),
            ),
            **_process_fields(cfg),
        },
    )


def _process_launch(cfg: WorkerConfig) -> dict[str, int]:
    p = cfg.processing
    if p is None:
        return {}
    return {
        "fragment_ms": p.fragment_ms,
        "delay_ns": process_delay_ns(p.fragment_ms, p.deadline_ms),
    }


def _process_fields(cfg: WorkerConfig) -> dict[str, Any]:
    p = cfg.processing
    if p is None:
        return {}
    return {
        "backend": p.backend_url,
        "fragmentMs": p.fragment_ms,
        "deadlineMs": p.deadline_ms,
        "maxInFlight": p.max_in_flight,
        "mix": p.mix.value,
        "addedLatencyMs": process_delay_ns(p.fragment_ms, p.deadline_ms) // 1_000_000,
    }


def run(cfg: WorkerConfig) -> int:
    log = _stream_log(cfg.stream_id)
    if not _init_gstreamer(log, cfg.mode, output_protocol(cfg.output_url)):
        return 1
    metrics = WorkerMetrics(cfg.stream_id, cfg.mode.value)
    stage = (
        ProcessingStage(cfg.stream_id, cfg.processing, cfg.backend_token, metrics)
        if cfg.mode is WorkerMode.PROCESS and cfg.processing is not None
        else None
    )
    pages = {PROCESSING_PATH: lambda: _report(stage)} if stage is not None else None
    try:
        metrics.serve(cfg.metrics_port, get=pages)
    except OSError as exc:
        log.error("cannot serve metrics on port %d: %s", cfg.metrics_port, exc)
        return 1
    announce(cfg, log)
    if stage is not None:
        stage.start()
    try:
        code = Supervisor(cfg, metrics, log, stage).run()
    finally:
        if stage is not None:
            stage.stop()
        metrics.close()
    log.info("worker exiting", extra={"exitCode": code})
    return code


def _report(stage: ProcessingStage) -> Response:
    return Response(200, stage.report().model_dump_json(by_alias=True).encode(), "application/json")


def run_pool(base: WorkerConfig) -> int:
    """A warm pool worker: GStreamer ready, idle until assigned a stream."""
    from .pool import Pool, serve

    log = _stream_log("")
    # Any mode, either output: what the assignment will ask for is unknown.
    if not _init_gstreamer(log, None, None):
        return 1
    metrics = WorkerMetrics("", "")
    metrics.set_state(State.IDLE)
    supervisor = Supervisor(None, metrics, log)
    if not base.pool_token:
        log.warning("no pool token configured: every assignment will be refused")

    def start(cfg: WorkerConfig) -> None:
        GLib.idle_add(supervisor.assign, cfg)

    pool = Pool(base, base.pool_token, start)
    try:
        server = serve(base.metrics_port, metrics, pool)
    except OSError as exc:
        log.error("cannot serve on port %d: %s", base.metrics_port, exc)
        return 1
    log.info("pool worker idle", extra={"metricsPort": base.metrics_port})
    try:
        code = supervisor.run()
    finally:
        server.shutdown()
        server.server_close()
    log.info("worker exiting", extra={"exitCode": code})
    return code
