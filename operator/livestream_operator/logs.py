"""JSON logs, one object per line, with per-request context fields."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from enum import StrEnum
from typing import Any
from urllib.parse import quote, quote_plus

# Fields bound for the current request or stream (request id, path, streamId...).
_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "log_context", default=None
)
_RESERVED = set(vars(logging.makeLogRecord({})))
# Values no line may show (credentials a process holds), however they got there:
# a library's error message can quote a URL that carries one.
_SECRETS: set[str] = set()
MASK = "****"


class LogLevel(StrEnum):
    """The levels LSO_LOG_LEVEL and the processes' --log-level take (in either case)."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


LOG_LEVELS = tuple(level.value for level in LogLevel)


def never_log(*values: str) -> None:
    """Mask these values (and their URL-encoded forms) in every line from now on."""
    for value in values:
        if len(value) >= 4:
            _SECRETS.update({value, quote(value, safe=""), quote_plus(value)})


def bind(**fields: Any) -> contextvars.Token[dict[str, Any] | None]:
    """Add fields to every log line of the current task until reset with the token."""
    return _context.set({**(_context.get() or {}), **fields})


def reset(token: contextvars.Token[dict[str, Any] | None]) -> None:
    _context.reset(token)


class JsonFormatter(logging.Formatter):
    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "component": self.component,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_context.get() or {})
        # Extra fields of our own calls; kopf attaches objects we do not want.
        entry.update(
            {
                k: v
                for k, v in vars(record).items()
                if k not in _RESERVED and isinstance(v, str | int | float | bool)
            }
        )
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        line = json.dumps(entry, default=str)
        for secret in sorted(_SECRETS, key=len, reverse=True):
            line = line.replace(secret, MASK)
        return line


def setup(component: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(component))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log duplicates our own request lines.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    if logging.getLogger().level > logging.DEBUG:
        # kopf logs every event handler's success and every liveness probe at INFO:
        # a line per Pod or LiveStream change that drowns the reconciler's own.
        for name in ("kopf.objects", "kopf.activities.probe"):
            logging.getLogger(name).setLevel(logging.WARNING)
