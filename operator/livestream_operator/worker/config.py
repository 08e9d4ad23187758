"""Worker configuration: the Pod contract's environment (api/pod_contract.py),
with flags as overrides for runs by hand; a pool worker (--pool) gets the stream
part later, from its WorkerAssignment."""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pydantic import ValidationError

from ..api.pod_contract import (
    BACKEND_TOKEN_VAR,
    MEDIA_PASSWORD_VAR,
    POOL_TOKEN_VAR,
    WORKER_METRICS_PORT,
    ContractError,
    WorkerAssignment,
    WorkerEnv,
    WorkerProcessing,
)
from ..api.v1alpha1 import MAX_HOLD_LAST_FRAME_SECONDS, InputLossFill, WorkerMode
from .pipeline import DEFAULT_LATENCY_MS, OUTPUT_SCHEMES

DEFAULT_METRICS_PORT = WORKER_METRICS_PORT
_STREAM_PATH = re.compile(r"/live/([^/]+)/(?:in|out)")
INPUT_SCHEMES = ("rtsp", "rtsps")
OUTPUT_URL_SCHEMES = tuple(OUTPUT_SCHEMES)
BACKEND_SCHEMES = ("ws", "wss")


@dataclass(frozen=True)
class WorkerConfig:
    input_url: str
    output_url: str
    mode: WorkerMode
    stream_id: str
    metrics_port: int = DEFAULT_METRICS_PORT
    latency_ms: int = DEFAULT_LATENCY_MS
    tone_hz: float = 440.0
    # No input frame for this long -> tear down and reconnect.
    stall_timeout: float = 10.0
    # Consecutive attempts that found an unusable codec before exiting non-zero.
    max_unsupported: int = 3
    log_level: str = "INFO"
    # MediaMTX credentials (the password from the Pod's Secret); never logged.
    media_user: str = ""
    media_password: str = field(default="", repr=False)
    # Pool mode: no stream until the operator POSTs one, with this bearer token.
    pool: bool = False
    pool_token: str = field(default="", repr=False)
    # Process mode: the backend and its fragments; the token it is shown.
    processing: WorkerProcessing | None = None
    backend_token: str = field(default="", repr=False)
    # spec.inputLoss.fill: Slate fixes the output's audio format (OUTPUT_AUDIO).
    fill: InputLossFill = InputLossFill.NONE
    # spec.inputLoss.holdLastFrameSeconds: out holds the last keyframe this long (hold.py).
    hold_last_frame_seconds: int = 0

    @property
    def hold_seconds(self) -> int:
        """How long out holds the last picture at an input loss (Slate only)."""
        return self.hold_last_frame_seconds if self.fill is InputLossFill.SLATE else 0

    @property
    def normalise_audio(self) -> bool:
        """Bypass mode re-encodes the input's audio to the format out declares."""
        return self.fill is InputLossFill.SLATE and self.mode is WorkerMode.BYPASS


def stream_id_from_url(url: str) -> str:
    """`rtsp://h:8554/live/<id>/in` -> `<id>`; empty if the path has another shape."""
    match = _STREAM_PATH.fullmatch(urlsplit(url).path)
    return match.group(1) if match else ""


def url_error(what: str, url: str, schemes: tuple[str, ...]) -> str | None:
    """Why `url` cannot be used for `what`, or None. Only its scheme is quoted
    back: the rest may carry credentials."""
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname
    except ValueError:  # e.g. an unterminated IPv6 literal
        scheme, host = "", None
    if scheme not in schemes:
        got = f"{scheme}://" if scheme else "no scheme"
        return f"{what} must be a {'/'.join(schemes)}:// URL with a host, not {got}"
    if not host:
        return f"{what} must be a {'/'.join(schemes)}:// URL with a host; it has none"
    return None


def assignment_errors(assignment: WorkerAssignment) -> list[tuple[str, str]]:
    """(field, message) for what the model accepts but this worker cannot use."""
    errors = [
        ("inputUrl", url_error("inputUrl", assignment.input_url, INPUT_SCHEMES)),
        ("outputUrl", url_error("outputUrl", assignment.output_url, OUTPUT_URL_SCHEMES)),
    ]
    return [(name, message) for name, message in errors if message]


def assigned(base: WorkerConfig, assignment: WorkerAssignment) -> WorkerConfig:
    """The pool worker's configuration once it serves `assignment`."""
    return dataclasses.replace(
        base,
        input_url=assignment.input_url,
        output_url=assignment.output_url,
        mode=assignment.mode,
        stream_id=assignment.stream_id,
        fill=assignment.fill,
        hold_last_frame_seconds=assignment.hold_last_frame_seconds,
    )


def _check_url(
    parser: argparse.ArgumentParser, what: str, url: str, schemes: tuple[str, ...]
) -> None:
    error = url_error(what, url, schemes)
    if error:
        parser.error(error)


def parse_args(argv: list[str], env: Mapping[str, str]) -> WorkerConfig:
    parser = argparse.ArgumentParser(
        prog="livestream-operator worker",
        description="Pull live/<id>/in over RTSP, remux (bypass) or replace the audio (tone), "
        "push live/<id>/out over RTSP (or RTMP).",
    )
    try:
        contract = WorkerEnv.from_env(env)
    except ContractError as exc:
        parser.error(str(exc))
    parser.add_argument(
        "--input",
        default=contract.input_url,
        help="RTSP URL of live/<id>/in (env LSO_INPUT_URL)",
    )
    parser.add_argument(
        "--output",
        default=contract.output_url,
        help="live/<id>/out: rtsp[s]:// or rtmp[s]://, the scheme picks the output "
        "(env LSO_OUTPUT_URL)",
    )
    parser.add_argument(
        "--mode",
        default=contract.mode.value,
        choices=[m.value for m in WorkerMode],
        help="env LSO_MODE (default bypass)",
    )
    parser.add_argument(
        "--stream-id",
        default=contract.stream_id,
        help="for logs and metrics (env LSO_STREAM_ID; default: from --input)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=contract.metrics_port,
        help="Prometheus port, 0 disables (env LSO_METRICS_PORT; default 9100)",
    )
    parser.add_argument(
        "--latency-ms",
        type=int,
        default=_int_env(env, "LSO_LATENCY_MS", DEFAULT_LATENCY_MS),
        help="RTSP jitter-buffer latency (env LSO_LATENCY_MS)",
    )
    parser.add_argument("--tone-hz", type=float, default=440.0, help="tone frequency")
    parser.add_argument(
        "--processing",
        default=contract.processing,
        help="process mode: the backend and fragments as WorkerProcessing JSON, e.g. "
        '\'{"backendUrl": "ws://127.0.0.1:8080/v1/audio", "fragmentMs": 500, "deadlineMs": '
        '1000, "maxInFlight": 4, "mix": "duck", "duckDb": -12}\' (env LSO_PROCESSING; '
        f"the backend token in env {BACKEND_TOKEN_VAR})",
    )
    parser.add_argument(
        "--fill",
        default=contract.fill.value,
        choices=[f.value for f in InputLossFill],
        help="spec.inputLoss.fill (env LSO_FILL): Slate normalises the output's audio "
        "and hands out over to MediaMTX's slate as soon as the input is lost",
    )
    parser.add_argument(
        "--hold-last-frame-seconds",
        type=int,
        default=contract.hold_last_frame_seconds,
        help="spec.inputLoss.holdLastFrameSeconds (env LSO_HOLD_LAST_FRAME_SECONDS; "
        f"0 to {MAX_HOLD_LAST_FRAME_SECONDS}, default 0): with --fill Slate, out holds "
        "the input's last keyframe this long before the slate",
    )
    parser.add_argument("--log-level", default=env.get("LSO_LOG_LEVEL", "INFO"))
    parser.add_argument(
        "--pool",
        action="store_true",
        help="warm pool: idle until the operator POSTs the stream to the metrics port "
        f"(token in env {POOL_TOKEN_VAR})",
    )
    args = parser.parse_args(argv)

    if not 0 <= args.metrics_port <= 65535:
        parser.error("--metrics-port must be between 0 and 65535")
    if args.pool:
        if args.input or args.output:
            parser.error(
                "--pool takes its stream from the assignment: "
                "no --input/LSO_INPUT_URL or --output/LSO_OUTPUT_URL"
            )
        if not args.metrics_port:
            parser.error("--pool receives its assignment on the metrics port: it cannot be 0")
    else:
        if not args.input or not args.output:
            parser.error("--input/LSO_INPUT_URL and --output/LSO_OUTPUT_URL are required")
        _check_url(parser, "--input", args.input, INPUT_SCHEMES)
        _check_url(parser, "--output", args.output, OUTPUT_URL_SCHEMES)
    if not 0 <= args.latency_ms <= 10_000:
        parser.error("--latency-ms must be between 0 and 10000")
    if not 0 <= args.hold_last_frame_seconds <= MAX_HOLD_LAST_FRAME_SECONDS:
        parser.error(f"--hold-last-frame-seconds must be 0 to {MAX_HOLD_LAST_FRAME_SECONDS}")
    if not 20 <= args.tone_hz <= 20_000:
        parser.error("--tone-hz must be between 20 and 20000")
    processing = _processing(parser, args.processing, WorkerMode(args.mode))
    return WorkerConfig(
        input_url=args.input,
        output_url=args.output,
        mode=WorkerMode(args.mode),
        stream_id=args.stream_id or stream_id_from_url(args.input),
        metrics_port=args.metrics_port,
        latency_ms=args.latency_ms,
        tone_hz=args.tone_hz,
        log_level=args.log_level,
        media_user=contract.media_user,
        media_password=env.get(MEDIA_PASSWORD_VAR, ""),
        pool=args.pool,
        pool_token=env.get(POOL_TOKEN_VAR, ""),
        processing=processing,
        backend_token=env.get(BACKEND_TOKEN_VAR, ""),
        fill=InputLossFill(args.fill),
        hold_last_frame_seconds=args.hold_last_frame_seconds,
    )


def _processing(
    parser: argparse.ArgumentParser, raw: str, mode: WorkerMode
) -> WorkerProcessing | None:
    if mode is not WorkerMode.PROCESS:
        return None
    if not raw:
        parser.error("--mode process needs --processing/LSO_PROCESSING")
    try:
        processing = WorkerProcessing.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "value"
        parser.error(f"--processing/LSO_PROCESSING: {where}: {first['msg']}")
    error = url_error("--processing backendUrl", processing.backend_url, BACKEND_SCHEMES)
    if error:
        parser.error(error)
    return processing


def _int_env(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        raise SystemExit(
            f"livestream-operator worker: {name} must be an integer, got {raw!r}"
        ) from None
