"""Worker configuration: the Pod contract's environment (api/pod_contract.py),
with flags as overrides for runs by hand."""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..api.pod_contract import MEDIA_PASSWORD_VAR, WORKER_METRICS_PORT, ContractError, WorkerEnv
from ..api.v1alpha1 import WorkerMode
from .pipeline import DEFAULT_LATENCY_MS

DEFAULT_METRICS_PORT = WORKER_METRICS_PORT
_STREAM_PATH = re.compile(r"/live/([^/]+)/(?:in|out)")


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


def stream_id_from_url(url: str) -> str:
    """`rtsp://h:8554/live/<id>/in` -> `<id>`; empty if the path has another shape."""
    match = _STREAM_PATH.fullmatch(urlsplit(url).path)
    return match.group(1) if match else ""


def _check_url(
    parser: argparse.ArgumentParser, what: str, url: str, schemes: tuple[str, ...]
) -> None:
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        parser.error(f"{what} must be a {'/'.join(schemes)}:// URL with a host, got {url!r}")


def parse_args(argv: list[str], env: Mapping[str, str]) -> WorkerConfig:
    parser = argparse.ArgumentParser(
        prog="livestream-operator worker",
        description="Pull live/<id>/in over RTSP, remux (bypass) or replace the audio (tone), "
        "push live/<id>/out over RTMP.",
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
        help="RTMP URL of live/<id>/out (env LSO_OUTPUT_URL)",
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
    parser.add_argument("--log-level", default=env.get("LSO_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)

    if not args.input or not args.output:
        parser.error("--input/LSO_INPUT_URL and --output/LSO_OUTPUT_URL are required")
    _check_url(parser, "--input", args.input, ("rtsp", "rtsps"))
    _check_url(parser, "--output", args.output, ("rtmp", "rtmps"))
    if not 0 <= args.metrics_port <= 65535:
        parser.error("--metrics-port must be between 0 and 65535")
    if not 0 <= args.latency_ms <= 10_000:
        parser.error("--latency-ms must be between 0 and 10000")
    if not 20 <= args.tone_hz <= 20_000:
        parser.error("--tone-hz must be between 20 and 20000")
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
    )


def _int_env(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        raise SystemExit(
            f"livestream-operator worker: {name} must be an integer, got {raw!r}"
        ) from None
