"""The reference processing backends: `livestream-operator backend --kind ...`.

    tone      answers every fragment with a 440 Hz sine (--tone-hz): the protocol's
              smallest honest backend, deterministic for tests
    loudness  normalises each stream to a loudness target (BS.1770 / EBU R128;
              --target-lufs, or the stream's params.targetLufs)
    gemini    the Gemini Live adapter (backend/gemini.py; the `gemini` extra)

One WebSocket per stream at --path (server.py speaks the protocol), /healthz
and /metrics on the same port. The token the workers must show comes from env
LSO_BACKEND_TOKEN; without one, anyone who reaches the port may connect.

Exit codes: 0 stopped by SIGTERM/SIGINT, 1 the kind cannot run here (a missing
extra), 2 bad arguments or settings.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import sys
from collections.abc import Callable, Mapping

from .. import http_edge, logs
from ..api.pod_contract import BACKEND_TOKEN_VAR, HEALTH_PATH, METRICS_PATH
from ..api.v1alpha1 import BACKEND_PATH_PATTERN
from .loudness import DEFAULT_TARGET_LUFS, TARGET_PARAM, TARGET_RANGE, LoudnessProcessor
from .processor import Processor
from .server import DEFAULT_PATH, make_app
from .tone import DEFAULT_HZ, ToneProcessor

__all__ = ["build_processor", "main", "parse_args"]

KINDS = ("tone", "loudness", "gemini")
PROG = "livestream-operator backend"
log = logging.getLogger("livestream_operator.backend")


def _number(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"{text!r} is not a number from {low:g} to {high:g}")
        return value

    return parse


def _port(text: str) -> int:
    if not (text.isdigit() and 1 <= int(text) <= 65535):
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (1-65535)")
    return int(text)


def _path(text: str) -> str:
    if not re.fullmatch(BACKEND_PATH_PATTERN, text) or text in (HEALTH_PATH, METRICS_PATH):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a path: /..., of letters, digits and -._~/%, "
            f"not {HEALTH_PATH} or {METRICS_PATH}"
        )
    return text


def _add_gemini_arguments(parser: argparse.ArgumentParser) -> None:
    """backend/gemini.py's own flags, when it can be imported (the gemini extra)."""
    try:
        from .gemini import add_arguments
    except ImportError:
        return
    add_arguments(parser)


def parse_args(argv: list[str], env: Mapping[str, str]) -> argparse.Namespace:
    """The flags; exits 2 with argparse's message when one is wrong."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Run a reference processing backend (protocol lso.audio.v1) on one port: "
        f"the WebSocket at --path, {HEALTH_PATH} and {METRICS_PATH}. Workers must show the "
        f"token in env {BACKEND_TOKEN_VAR} (empty: no authentication).",
    )
    parser.add_argument("--kind", required=True, choices=KINDS, help="the backend to run")
    parser.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    parser.add_argument("--port", type=_port, default=8080, help="port (default 8080)")
    parser.add_argument(
        "--path", type=_path, default=DEFAULT_PATH, help=f"WebSocket path (default {DEFAULT_PATH})"
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=logs.LOG_LEVELS,
        default=env.get("LSO_LOG_LEVEL", "INFO").upper(),
    )
    tone = parser.add_argument_group("tone", "--kind tone")
    tone.add_argument(
        "--tone-hz",
        type=_number(1.0, 20_000.0),
        default=DEFAULT_HZ,
        help=f"the tone's frequency (default {DEFAULT_HZ:g})",
    )
    loudness = parser.add_argument_group("loudness", "--kind loudness")
    loudness.add_argument(
        "--target-lufs",
        type=_number(*TARGET_RANGE),
        default=DEFAULT_TARGET_LUFS,
        help=f"integrated loudness target (default {DEFAULT_TARGET_LUFS:g}); "
        f"a stream's params.{TARGET_PARAM} overrides it",
    )
    _add_gemini_arguments(parser)
    args = parser.parse_args(argv)
    if args.log_level not in logs.LOG_LEVELS:  # argparse checks choices on flags, not defaults
        parser.error(f"LSO_LOG_LEVEL must be one of {', '.join(logs.LOG_LEVELS)}")
    return args


def build_processor(args: argparse.Namespace) -> Processor:
    """The processor of args.kind; ImportError when its extra is not installed."""
    if args.kind == "tone":
        return ToneProcessor(hz=args.tone_hz)
    if args.kind == "loudness":
        return LoudnessProcessor(target_lufs=args.target_lufs)
    from .gemini import GeminiProcessor

    return GeminiProcessor.from_args(args)


def main(argv: list[str]) -> int:
    args = parse_args(argv, os.environ)
    logs.setup("backend", args.log_level)
    token = os.environ.get(BACKEND_TOKEN_VAR, "").strip()
    logs.never_log(token)
    try:
        processor = build_processor(args)
    except ImportError as exc:
        log.error(
            "--kind %s cannot run: %s (install livestream-operator[%s])", args.kind, exc, args.kind
        )
        return 1
    except SystemExit as exc:  # the processor's own check of its settings
        if isinstance(exc.code, int | None):
            raise
        print(exc.code, file=sys.stderr)
        return 2
    if not token:
        log.warning(
            "%s is empty: anyone who can reach port %d may connect", BACKEND_TOKEN_VAR, args.port
        )
    log.info("backend listening", extra={"kind": args.kind, "port": args.port, "path": args.path})
    http_edge.run_app(
        make_app(processor, token=token, path=args.path),
        host=args.host,
        port=args.port,
        shutdown_timeout=5,
    )
    return 0
