#!/usr/bin/env -S python3 -S
"""MediaMTX hook wrapper: POST the path event to the hook receiver.

MediaMTX runs hook commands without a shell and passes the event in MTX_*
environment variables. This file uses the standard library only, and the
project's backoff.py (which imports nothing), so the two can be copied as-is into
the MediaMTX image and run as `mtx-hook ready|not-ready`, or
`mtx-hook segment-create|segment-complete` from runOnRecordSegmentCreate and
runOnRecordSegmentComplete (python3 -S: no site-packages scan, since MediaMTX
starts it for every event). Run as a file, it finds backoff.py one directory
up, where it is in the source tree and where the image puts it.

Environment:
  MTX_PATH, MTX_QUERY, MTX_SOURCE_TYPE, MTX_SOURCE_ID   set by MediaMTX
  MTX_SEGMENT_PATH, MTX_SEGMENT_DURATION                set for recording hooks
  LSO_MEDIAMTX_INSTANCE  the MediaMTX instance (its Pod's name), sent as `instance`
  LSO_HOOK_URL       receiver base URL, e.g. http://livestream-hooks:8080 (required)
  LSO_HOOK_TOKEN     the receiver's hook token, sent as a Bearer token (required)
  LSO_HOOK_TIMEOUT   seconds per attempt (default 2)
  LSO_HOOK_ATTEMPTS  attempts before giving up (default 5)
Exit status: 0 delivered, 1 delivery failed, 2 bad invocation or environment.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

if __package__:  # imported, as livestream_operator.ingest.mtx_hook
    from ..backoff import exponential
else:  # run as a file: MediaMTX's hook, or the tests' subprocess
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
    from backoff import exponential  # type: ignore[import-not-found,no-redef]

EVENTS = {
    "ready": "ready",
    "not-ready": "not-ready",
    "segment-create": "segment-create",
    "segment-complete": "segment-complete",
}
USAGE = "usage: mtx-hook ready|not-ready|segment-create|segment-complete"
# LSO_HOOK_TIMEOUT and LSO_HOOK_ATTEMPTS: (default, lowest, highest); the chart's
# values.schema.json takes its bounds from here.
TIMEOUT_SECONDS = (2.0, 0.1, 60.0)
ATTEMPTS = (5, 1, 20)


class HookError(Exception):
    """Raised with a one-line reason; exit code in .code."""

    def __init__(self, reason: str, code: int) -> None:
        super().__init__(reason)
        self.code = code


def build_payload(env: Mapping[str, str]) -> bytes:
    """The JSON body from MediaMTX's environment. Any bytes in the query survive."""
    path = env.get("MTX_PATH", "")
    if not path:
        raise HookError("MTX_PATH is not set: run mtx-hook from a MediaMTX path hook", 2)
    body = {
        "path": path,
        "query": env.get("MTX_QUERY", ""),
        "sourceType": env.get("MTX_SOURCE_TYPE", ""),
        "sourceId": env.get("MTX_SOURCE_ID", ""),
        "instance": env.get("LSO_MEDIAMTX_INSTANCE", ""),
    }
    # os.environ decodes undecodable bytes as lone surrogates; json escapes them
    # safely only after they are turned back into replacement characters.
    clean = {
        k: v.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for k, v in body.items()
    }
    return json.dumps(clean, ensure_ascii=True).encode()


def build_segment_payload(env: Mapping[str, str]) -> bytes:
    """A complete recording segment: its file, length and size, and the free space
    left on its volume (what the receiver turns into status.recording)."""
    path = env.get("MTX_PATH", "")
    segment = env.get("MTX_SEGMENT_PATH", "")
    if not path or not segment:
        raise HookError(
            "MTX_PATH and MTX_SEGMENT_PATH are not set: run mtx-hook segment-create or "
            "segment-complete from runOnRecordSegmentCreate/runOnRecordSegmentComplete",
            2,
        )
    try:
        duration = float(env.get("MTX_SEGMENT_DURATION", "0"))
    except ValueError:
        duration = 0.0
    if not 0 <= duration < 1e7:  # NaN included: JSON has no such number
        duration = 0.0
    try:
        size = os.stat(segment).st_size
    except OSError:
        size = 0  # deleted already (retention), or never written (a full disk)
    try:
        fs = os.statvfs(os.path.dirname(segment) or ".")
        free: int | None = fs.f_bavail * fs.f_frsize
    except OSError:
        free = None
    body: dict[str, object] = {
        "path": path,
        "segmentPath": segment,
        "segmentDuration": duration,
        "bytes": size,
    }
    if free is not None:
        body["freeBytes"] = free
    clean = {
        k: v.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        if isinstance(v, str)
        else v
        for k, v in body.items()
    }
    return json.dumps(clean, ensure_ascii=True).encode()


def endpoint(env: Mapping[str, str], event: str) -> str:
    base = env.get("LSO_HOOK_URL", "").rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise HookError("LSO_HOOK_URL must be set to the receiver's http(s) URL", 2)
    return f"{base}/v1/mediamtx/events/{event}"


def _number(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise HookError(f"{name} must be a number, got {raw!r}", 2) from None
    if not lo <= value <= hi:
        raise HookError(f"{name} must be between {lo:g} and {hi:g}, got {raw}", 2)
    return value


def post(url: str, payload: bytes, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
    """One HTTP POST; returns (status, body).

    Plain http:// (the in-cluster receiver) goes over a socket: MediaMTX starts
    this process for every event, and urllib's imports alone cost more than the
    whole request. https:// uses http.client.
    """
    parts = urlsplit(url)
    if parts.scheme == "https":
        import http.client

        conn = http.client.HTTPSConnection(parts.netloc, timeout=timeout)
        try:
            conn.request("POST", parts.path, body=payload, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()
    host, port = parts.hostname or "", parts.port or 80
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{head}"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request + payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    raw = b"".join(chunks)
    status_line, _, rest = raw.partition(b"\r\n")
    try:
        status = int(status_line.split()[1])
    except (IndexError, ValueError):
        raise OSError(f"not an HTTP response: {status_line[:60]!r}") from None
    return status, rest.partition(b"\r\n\r\n")[2]


def token(env: Mapping[str, str]) -> str:
    value = env.get("LSO_HOOK_TOKEN", "")
    if not value or any(c in value for c in "\r\n "):
        raise HookError("LSO_HOOK_TOKEN must be set to the receiver's hook token", 2)
    return value


def deliver(
    url: str,
    payload: bytes,
    *,
    timeout: float,
    attempts: int,
    request_id: str,
    bearer: str,
    sleep: float = 0.2,
    max_sleep: float = 2.0,
) -> None:
    """POST with bounded retries and exponential backoff (`sleep` doubling up to
    `max_sleep`); 4xx is final."""
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {bearer}",
        "X-Request-Id": request_id,
        "User-Agent": "mtx-hook/1",
    }
    last = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(exponential(attempt - 1, base=sleep, cap=max_sleep))
        try:
            status, body = post(url, payload, headers, timeout)
        except OSError as exc:
            last = f"{type(exc).__name__}: {exc}"
            continue
        if status < 300:
            return
        detail = _problem_detail(body)
        last = f"HTTP {status}{': ' + detail if detail else ''}"
        if 400 <= status < 500 and status not in (408, 429):
            break
    raise HookError(f"POST {url} failed after {attempt + 1} attempt(s): {last}", 1)


def _problem_detail(body: bytes) -> str:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return ""
    return str(data.get("detail") or data.get("title") or "") if isinstance(data, dict) else ""


def run(argv: list[str], env: Mapping[str, str]) -> int:
    if len(argv) != 1 or argv[0] not in EVENTS:
        raise HookError(USAGE, 2)
    url = endpoint(env, EVENTS[argv[0]])
    bearer = token(env)
    segment = argv[0].startswith("segment-")
    payload = build_segment_payload(env) if segment else build_payload(env)
    timeout = _number(env, "LSO_HOOK_TIMEOUT", *TIMEOUT_SECONDS)
    attempts = int(_number(env, "LSO_HOOK_ATTEMPTS", *ATTEMPTS))
    deliver(
        url,
        payload,
        timeout=timeout,
        attempts=attempts,
        request_id=env.get("LSO_REQUEST_ID") or os.urandom(16).hex(),
        bearer=bearer,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return run(sys.argv[1:] if argv is None else argv, os.environ)
    except HookError as exc:
        print(f"mtx-hook: {exc}", file=sys.stderr)
        return exc.code


if __name__ == "__main__":
    sys.exit(main())
