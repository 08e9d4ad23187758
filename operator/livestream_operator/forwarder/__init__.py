"""`livestream-operator forward`: push live/<id>/out to ONE third-party destination.

One process per destination, so a failing destination never disturbs another.
It supervises `ffmpeg -rtsp_transport tcp -i IN -c copy -f flv DEST`, retrying
it with exponential backoff up to the destination's maxRetries (then it stays up,
Exhausted, until the operator's retry-now), and reports that state on its port.
The destination URL carries the stream key, so it is read only from the
LSO_DESTINATION_URL environment variable (never a flag), and every log line,
ffmpeg's included, passes through a redactor first.

Environment / flags:
  LSO_INPUT_URL / --input            rtsp://mediamtx:8554/live/<id>/out
  LSO_DESTINATION_URL                rtmp(s)://host[:port]/app/<key>  (env only)
  LSO_DESTINATION_NAME / --name      a label for logs and metrics
  LSO_METRICS_PORT / --metrics-port  metrics, health, report and retry-now port (0: none)
  LSO_MAX_RETRIES, LSO_BACKOFF_SECONDS, LSO_BACKOFF_CAP_SECONDS  the retry policy
  LSO_FORWARDER_TOKEN                the operator's token for retry-now (env only)
Exit codes: 0 stopped by SIGTERM/SIGINT, 1 ffmpeg missing, 2 bad configuration.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
from types import FrameType

from .. import logs
from . import endpoint
from .config import ForwarderConfig, parse_args
from .supervisor import Forwarder, ForwarderMetrics

__all__ = ["ForwarderConfig", "main"]
log = logging.getLogger("livestream_operator.forwarder")


def main(argv: list[str]) -> int:
    cfg = parse_args(argv, os.environ)
    logs.setup("forwarder")
    logs.never_log(cfg.media_password)
    logs.never_log(cfg.token)
    logs.bind(destinationName=cfg.name)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        log.error("ffmpeg is not installed")
        return 1
    forwarder = Forwarder(cfg, ForwarderMetrics(cfg.name), ffmpeg)
    if cfg.metrics_port:
        try:
            endpoint.serve(cfg.metrics_port, forwarder)
        except OSError as exc:
            log.error("cannot serve metrics on port %d: %s", cfg.metrics_port, exc)
            return 1

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        forwarder.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return forwarder.run()
