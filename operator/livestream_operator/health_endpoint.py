"""The HTTP endpoint of the media processes: /metrics and a /healthz that answers
200 only while media flows, so a Pod's readiness means "streaming".

The operator derives each destination's state from its container's readiness,
hence a real check rather than prometheus_client's server, which answers 200
on every path.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from .api.pod_contract import HEALTH_PATH, METRICS_PATH
from .http_refusals import Refusal, status_refusal
from .problems import PROBLEM_JSON


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


# A POST route: the request's headers and a reader of its body -> the response.
PostHandler = Callable[[Message, Callable[[int], bytes]], Response]
GetHandler = Callable[[], Response]


def authorized(header: str | None, token: str) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time; no token: never.
    How the operator's commands to its Pods (a pool worker's assignment, a
    forwarder's retry-now) are authenticated."""
    if not token or not header:
        return False
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode(), token.encode())


def problem(refusal: Refusal, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(refusal.status, refusal.body(), PROBLEM_JSON, headers)


def _method_not_allowed(path: str) -> Response:
    refusal = Refusal(405, "Method not allowed", f"POST to {path}", "http-error")
    return problem(refusal, (("Allow", "POST"),))


def serve(
    port: int,
    registry: CollectorRegistry,
    healthy: Callable[[], bool],
    addr: str = "0.0.0.0",
    post: Mapping[str, PostHandler] | None = None,
    get: Mapping[str, GetHandler] | None = None,
) -> ThreadingHTTPServer:
    """GET /healthz, /metrics and the `get` routes (a process-mode worker's report)
    on `port`, and the `post` routes (a pool worker's assignment), each request on
    its own thread."""
    routes = dict(post or {})
    pages = dict(get or {})

    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # a client that stalls mid-request does not keep its thread
        # No HTTP/0.9: every answer, a refusal of a garbled line too, has a status line.
        default_request_version = "HTTP/1.0"

        def log_message(self, *_: Any) -> None:
            pass

        def send_error(
            self, code: int, message: str | None = None, explain: str | None = None
        ) -> None:
            # The standard library's page and reason phrase quote the request line.
            self.close_connection = True
            refusal = status_refusal(code)
            headers = [("Connection", "close")]
            if refusal.status == 405:
                headers.append(("Allow", "GET, POST" if routes else "GET"))
            self._reply(problem(refusal, tuple(headers)))

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == HEALTH_PATH:
                ok = healthy()
                body = b"ok\n" if ok else b"not streaming\n"
                self._reply(Response(200 if ok else 503, body, "text/plain"))
            elif path == METRICS_PATH:
                self._reply(Response(200, generate_latest(registry), CONTENT_TYPE_LATEST))
            elif path in pages:
                self._reply(pages[path]())
            elif path in routes:
                self._reply(_method_not_allowed(path))
            else:
                self._reply(problem(status_refusal(404)))

        def do_POST(self) -> None:
            handler = routes.get(self.path.split("?")[0])
            if handler is None:
                self._reply(problem(status_refusal(404)))
                return
            self._reply(handler(self.headers, self.rfile.read))

        def _reply(self, response: Response) -> None:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)

    server = ThreadingHTTPServer((addr, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
