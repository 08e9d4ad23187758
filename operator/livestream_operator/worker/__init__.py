"""The stream worker: `livestream-operator worker`.

Pulls rtsp://.../live/<id>/in, pushes rtmp://.../live/<id>/out through an
in-process GStreamer pipeline (PyGObject), so that pad probes can count frames
and bytes and measure timestamps. Modes: `bypass` (remux H.264 + AAC, no
re-encode) and `tone` (video untouched, audio replaced by a 440 Hz tone).

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
    logs.never_log(cfg.media_password)
    logs.bind(streamId=cfg.stream_id)
    log = logging.getLogger("livestream_operator.worker")
    try:
        from .runner import run
    except (ImportError, ValueError) as exc:  # ValueError: typelib for Gst 1.0 missing
        log.error(
            "GStreamer bindings unavailable: %s (install PyGObject and gir1.2-gstreamer-1.0)", exc
        )
        return 1
    return run(cfg)
