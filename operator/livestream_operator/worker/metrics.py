"""Prometheus metrics of one worker process (one stream)."""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, Info

from .. import health_endpoint
from ..api.pod_contract import INPUT_PATH, FallbackReason, InputReport
from .cadence import Measured


class State(enum.StrEnum):
    IDLE = "idle"  # pool worker waiting for its assignment
    STARTING = "starting"  # process up, no pipeline yet
    CONNECTING = "connecting"  # pipeline built, no frame sent yet
    RUNNING = "running"  # frames are flowing to the output
    RETRYING = "retrying"  # input or output went away; waiting to reconnect
    FAILED = "failed"  # gave up (unsupported input); the process exits non-zero
    STOPPED = "stopped"  # asked to stop


class ErrorKind(enum.StrEnum):
    INPUT = "input"  # rtspsrc error or EOS (publisher gone, MediaMTX down)
    OUTPUT = "output"  # the RTSP or RTMP output failed
    UNSUPPORTED = "unsupported_codec"
    STALL = "stall"  # connected but no frames
    INTERNAL = "internal"


class WorkerMetrics:
    """All worker metrics in one private registry (tests run several workers)."""

    def __init__(
        self, stream_id: str, mode: str, registry: CollectorRegistry | None = None
    ) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.info = Info("lso_worker", "Worker identity", registry=r)
        self.identify(stream_id, mode)
        self.input_bytes = Counter(
            "lso_worker_input_bytes",
            "Elementary-stream bytes received (after RTP depayloading)",
            ["track"],
            registry=r,
        )
        self.input_frames = Counter(
            "lso_worker_input_frames",
            "Frames received (video access units, audio frames)",
            ["track"],
            registry=r,
        )
        self.output_frames = Counter(
            "lso_worker_output_frames", "Frames handed to the output", ["track"], registry=r
        )
        self.output_bytes = Counter(
            "lso_worker_output_bytes",
            "Bytes handed to the output: FLV for RTMP, H.264/AAC frames (before RTP) for RTSP",
            registry=r,
        )
        self.reconnects = Counter(
            "lso_worker_reconnects",
            "Pipeline restarts after the input or output went away",
            registry=r,
        )
        self.errors = Counter(
            "lso_worker_errors", "Pipeline failures by kind", ["kind"], registry=r
        )
        for kind in ErrorKind:
            self.errors.labels(kind.value)
        self.unsupported = Gauge(
            "lso_worker_unsupported_input",
            "1 while the input carries a codec this worker cannot handle",
            ["codec"],
            registry=r,
        )
        # Named as in the seed workflow (docs: "A/V drift", "Dub gaps").
        self.av_sync_delta_ms = Gauge(
            "worker_av_sync_delta_ms",
            "Running time of the newest audio frame minus that of the newest video "
            "frame handed to the output, in ms (smoothed); near 0 in sync, grows when "
            "one track lags",
            registry=r,
        )
        # Process mode.
        self.inflight_fragments = Gauge(
            "worker_inflight_fragments",
            "Audio fragments sent to the processing backend and not answered yet",
            registry=r,
        )
        self.backend_rtt = Histogram(
            "worker_backend_rtt_seconds",
            "Round trip of a fragment to the processing backend and back",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0),
            registry=r,
        )
        self.fallback_fragments = Counter(
            "worker_fallback_fragments",
            "Fragments that went out with their original audio, by reason",
            ["reason"],
            registry=r,
        )
        for reason in FallbackReason:
            self.fallback_fragments.labels(reason.value)
        self.processed_fragments = Counter(
            "worker_processed_fragments",
            "Fragments that went out with the backend's audio",
            registry=r,
        )
        self.late_answers = Counter(
            "worker_backend_late_answers",
            "Backend answers that came after their fragment's deadline (dropped)",
            registry=r,
        )
        self.backend_errors = Counter(
            "worker_backend_errors",
            "Processing backend failures by kind (connection, invalid_frame)",
            ["kind"],
            registry=r,
        )
        self.backend_connected = Gauge(
            "worker_backend_connected",
            "1 while the worker has a session with its processing backend",
            registry=r,
        )
        self.frame_rate = Gauge(
            "worker_input_frame_rate",
            "Frames per second of the input video, from its timestamps over one GOP "
            "(sampled every minute)",
            registry=r,
        )
        self.keyframe_interval = Gauge(
            "worker_input_keyframe_interval_seconds",
            "Seconds between two keyframes of the input video (sampled every minute)",
            registry=r,
        )
        self.cadence = InputReport()
        self.state = Enum(
            "lso_worker_state", "Worker state", states=[s.value for s in State], registry=r
        )
        self.current = State.STARTING
        self.state.state(State.STARTING.value)
        started = time.monotonic()
        self.uptime = Gauge(
            "lso_worker_uptime_seconds", "Seconds since the worker started", registry=r
        )
        self.uptime.set_function(lambda: time.monotonic() - started)
        self._server: Any = None

    def identify(self, stream_id: str, mode: str) -> None:
        """Label the worker (a pool worker learns its stream when assigned)."""
        self.info.info({"stream_id": stream_id, "mode": mode})

    def measured(self, sample: Measured) -> bool:
        """A cadence sample's result (main loop): the gauges and the InputReport."""
        self.cadence = InputReport(
            frame_rate=sample.frame_rate, keyframe_interval=sample.keyframe_interval
        )
        if sample.frame_rate is not None:
            self.frame_rate.set(sample.frame_rate)
        if sample.keyframe_interval is not None:
            self.keyframe_interval.set(sample.keyframe_interval)
        return False

    def input_page(self) -> health_endpoint.Response:
        body = self.cadence.model_dump_json(by_alias=True, exclude_none=True).encode()
        return health_endpoint.Response(200, body, "application/json")

    def set_state(self, state: State) -> None:
        self.current = state
        self.state.state(state.value)

    def serve(
        self,
        port: int,
        addr: str = "0.0.0.0",
        get: Mapping[str, health_endpoint.GetHandler] | None = None,
    ) -> None:
        """Expose /metrics, /healthz (200 while running) and the `get` pages on
        `port` (0 disables)."""
        if port:
            pages = {INPUT_PATH: self.input_page, **(get or {})}
            self._server = health_endpoint.serve(
                port, self.registry, lambda: self.current is State.RUNNING, addr, get=pages
            )

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._server = None
