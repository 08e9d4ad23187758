"""The stream worker: `livestream-operator worker`.

Pulls rtsp://.../live/<id>/in, pushes live/<id>/out over RTSP (rtsp://, the
default: MediaMTX has it available as soon as RECORD is answered) or RTMP
(rtmp://: MediaMTX first analyses 2 s of it) through an in-process GStreamer
pipeline (PyGObject), so that pad probes can count frames and bytes and
measure timestamps. Modes: `bypass` (remux H.264 + AAC, no re-encode) and
`tone` (video untouched, audio replaced by a 440 Hz tone).

`--pool` starts a warm pool worker: GStreamer ready, no stream until the
operator POSTs its assignment (worker/pool.py).

Exit codes: 0 stopped by SIGTERM/SIGINT, 1 broken installation or setup,
2 bad arguments, 3 the input's codecs cannot be handled.
"""

from __future__ import annotations

import logging
import os

from .. import logs
from .config import WorkerConfig, parse_args

__all__ = ["WorkerConfig", "main"]


def main(argv: list[str]) -> int:
    cfg = parse_args(argv, os.environ)
    logs.setup("worker", cfg.log_level)
    logs.never_log(cfg.media_password, cfg.pool_token)
    if cfg.stream_id:
        logs.bind(streamId=cfg.stream_id)
    log = logging.getLogger("livestream_operator.worker")
    try:
        from .runner import run, run_pool
    except (ImportError, ValueError) as exc:  # ValueError: typelib for Gst 1.0 missing
        log.error(
            "GStreamer bindings unavailable: %s (install PyGObject and gir1.2-gstreamer-1.0)", exc
        )
        return 1
    return run_pool(cfg) if cfg.pool else run(cfg)
