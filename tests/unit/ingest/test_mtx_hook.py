"""The wrapper MediaMTX runs, as a real process against a real local HTTP server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "operator/livestream_operator/ingest/mtx_hook.py"


TOKEN = "hook-token-for-tests"


class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_first = 0
        self.status = 200


@pytest.fixture
def server() -> Iterator[tuple[str, Recorder]]:
    rec = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            rec.requests.append(
                {
                    "path": self.path,
                    "body": json.loads(body),
                    "request_id": self.headers.get("X-Request-Id"),
                    "authorization": self.headers.get("Authorization"),
                }
            )
            status = 503 if rec.fail_first > 0 else rec.status
            rec.fail_first -= 1
            payload = json.dumps({"detail": "nope"} if status >= 400 else {}).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", rec
    srv.shutdown()


def run(args: list[str], env: Mapping[str, str | bytes]) -> subprocess.CompletedProcess[str]:
    # Only what MediaMTX would pass, plus PATH; bytes values test undecodable input.
    full: dict[Any, Any] = {"PATH": os.environ["PATH"], "LSO_HOOK_TOKEN": TOKEN, **env}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], env=full, capture_output=True, text=True, timeout=30
    )


def test_posts_the_event(server: tuple[str, Recorder]) -> None:
    url, rec = server
    r = run(
        ["ready"],
        {
            "LSO_HOOK_URL": url,
            "MTX_PATH": "live/cam/in",
            "MTX_QUERY": 'a="b"&c=\\d\n',
            "MTX_SOURCE_TYPE": "rtmpConn",
            "MTX_SOURCE_ID": "42",
            "LSO_MEDIAMTX_INSTANCE": "mediamtx-1",
        },
    )
    assert r.returncode == 0, r.stderr
    (req,) = rec.requests
    assert req["path"] == "/v1/mediamtx/events/ready"
    assert req["body"] == {
        "path": "live/cam/in",
        "query": 'a="b"&c=\\d\n',
        "sourceType": "rtmpConn",
        "sourceId": "42",
        "instance": "mediamtx-1",
    }
    assert req["request_id"]


def test_undecodable_bytes_in_the_query_still_make_valid_json(server: tuple[str, Recorder]) -> None:
    url, rec = server
    r = run(
        ["not-ready"], {"LSO_HOOK_URL": url, "MTX_PATH": "live/cam/in", "MTX_QUERY": b"k=\xff\xfe"}
    )
    assert r.returncode == 0, r.stderr
    assert rec.requests[0]["body"]["query"] == "k=\ufffd\ufffd"
    assert rec.requests[0]["path"] == "/v1/mediamtx/events/not-ready"


def test_retries_with_backoff_then_succeeds(server: tuple[str, Recorder]) -> None:
    url, rec = server
    rec.fail_first = 2
    r = run(["ready"], {"LSO_HOOK_URL": url, "MTX_PATH": "live/a/in"})
    assert r.returncode == 0
    assert len(rec.requests) == 3
    assert len({q["request_id"] for q in rec.requests}) == 1  # one id across retries


def test_client_errors_are_final_with_a_one_line_reason(server: tuple[str, Recorder]) -> None:
    url, rec = server
    rec.status = 422
    r = run(["ready"], {"LSO_HOOK_URL": url, "MTX_PATH": "bad"})
    assert r.returncode == 1
    assert len(rec.requests) == 1
    assert r.stderr.count("\n") == 1
    assert "HTTP 422: nope" in r.stderr


def test_unreachable_receiver_fails_after_bounded_attempts() -> None:
    r = run(
        ["ready"],
        {
            "LSO_HOOK_URL": "http://127.0.0.1:9",
            "MTX_PATH": "live/a/in",
            "LSO_HOOK_ATTEMPTS": "3",
            "LSO_HOOK_TIMEOUT": "0.5",
        },
    )
    assert r.returncode == 1
    assert "after 3 attempt(s)" in r.stderr


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        ([], {"LSO_HOOK_URL": "http://x", "MTX_PATH": "p"}, "usage"),
        (["started"], {"LSO_HOOK_URL": "http://x", "MTX_PATH": "p"}, "usage"),
        (["ready"], {"MTX_PATH": "live/a/in"}, "LSO_HOOK_URL"),
        (["ready"], {"LSO_HOOK_URL": "http://x", "MTX_PATH": "p", "LSO_HOOK_TOKEN": ""}, "TOKEN"),
        (["ready"], {"LSO_HOOK_URL": "http://x"}, "MTX_PATH"),
        (
            ["ready"],
            {"LSO_HOOK_URL": "http://x", "MTX_PATH": "p", "LSO_HOOK_TIMEOUT": "soon"},
            "LSO_HOOK_TIMEOUT",
        ),
    ],
)
def test_bad_invocation_exits_2_with_a_clear_message(
    args: list[str], env: dict[str, str], words: str
) -> None:
    r = run(args, env)
    assert r.returncode == 2
    assert words in r.stderr
    assert "Traceback" not in r.stderr


def test_authenticates_with_the_hook_token(server: tuple[str, Recorder]) -> None:
    url, rec = server
    r = run(["ready"], {"LSO_HOOK_URL": url, "MTX_PATH": "live/a/in"})
    assert r.returncode == 0, r.stderr
    assert rec.requests[0]["authorization"] == f"Bearer {TOKEN}"
