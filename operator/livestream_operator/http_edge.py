"""What every HTTP listener of the project answers a request its application
never sees: one that the HTTP parser refused (an over-long line, a control
character in a header, an unknown method, a broken body framing).

aiohttp answers those itself, before any middleware runs, with a text/plain 400
that quotes the offending bytes, and logs an error-level traceback that quotes
them again: a stream key in a header or a path would land in both. Here the
answer is an RFC 9457 problem chosen from the kind of error alone, and the log
one info line with the status and that kind, never the request's bytes. The
standard library's server (health_endpoint.py) answers with the same problems
(http_refusals.py).

aiohttp offers no hook for this (aio-libs/aiohttp#3287, #9882), so the edge
overrides `RequestHandler.handle_error` and installs it through
`AppRunner._make_server`: both unchanged from aiohttp 3.10 to 3.14, the range
pyproject.toml allows; tests/unit/test_http_edge.py fails if either changes.
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import uuid
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from aiohttp import HttpVersion10, HttpVersion11, web
from aiohttp.http_exceptions import (
    BadHttpMethod,
    BadStatusLine,
    HttpProcessingError,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
    PayloadEncodingError,
)

from . import logs
from .http_refusals import Refusal
from .problems import PROBLEM_JSON, document

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_REQUEST_ID = re.compile(r"[!-~]+")


# The kind of parser error -> (title, detail) told to the client. A phrase
# refines a kind when it appears in the error's description (its message up to
# the first colon or line end: where the C parser's own words end and its quote
# of the request begins). Only these constants are shown or logged, never the
# message: a phrase found in quoted bytes only picks a wrong constant.
_LONG = ("Line too long", "the request line or a header is longer than accepted")
_TARGET = ("Invalid target", "the request target is not a valid URL path")
_METHOD = ("Invalid method", "the request does not start with an HTTP method")
_HEADER = ("Invalid header", "a header is not a token, a colon and a visible value")
_BODY = (
    "Invalid body",
    "the body does not match its Content-Length, Transfer-Encoding or Content-Encoding",
)
_VERSION = ("Invalid version", "only HTTP/1.0 and HTTP/1.1 are served")
_MALFORMED = ("Malformed request", "the request is not valid HTTP/1.1")
_KINDS: tuple[tuple[type[HttpProcessingError], str, tuple[str, str]], ...] = (
    (LineTooLong, "", _LONG),
    (InvalidURLError, "", _TARGET),
    (BadHttpMethod, "https", ("TLS on a plain HTTP port", "this port speaks HTTP without TLS")),
    (BadHttpMethod, "", _METHOD),
    (
        BadStatusLine,
        "",
        ("Invalid request line", "the request line is not: method target HTTP/1.x"),
    ),
    (InvalidHeader, "", _HEADER),
    (PayloadEncodingError, "", _BODY),
    # The C parser raises the base class for most of what it refuses.
    (HttpProcessingError, "too many headers", ("Too many headers", "the request has too many")),
    (HttpProcessingError, "host", ("Invalid Host", "an HTTP/1.1 request needs one Host header")),
    (
        HttpProcessingError,
        "header value",
        ("Invalid header", "a header value holds a control character"),
    ),
    (HttpProcessingError, "header", _HEADER),
    (
        HttpProcessingError,
        "content-length",
        (
            "Invalid Content-Length",
            "Content-Length must be one non-negative integer, without Transfer-Encoding",
        ),
    ),
    (
        HttpProcessingError,
        "transfer-encoding",
        ("Invalid Transfer-Encoding", "only chunked is accepted, and not with Content-Length"),
    ),
    (HttpProcessingError, "chunk", _BODY),
    (HttpProcessingError, "version", _VERSION),
    (HttpProcessingError, "method", _METHOD),
    (HttpProcessingError, "url", _TARGET),
)


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind a request id (from X-Request-Id or new) to every log line of the request."""
    request_id = request.headers.get("X-Request-Id", "")[:64]
    if not _REQUEST_ID.fullmatch(request_id):  # echoed in a header: visible ASCII only
        request_id = uuid.uuid4().hex
    token = logs.bind(requestId=request_id)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        # aiohttp's own 404/405/413 become problem+json too.
        response = problem(exc.status, "http-error", exc.reason, exc.text or exc.reason)
    except Exception:
        log.exception("unexpected error handling a request")
        response = problem(
            500,
            "internal-error",
            "Internal error",
            "the request was not carried out; see the server's logs",
        )
    finally:
        logs.reset(token)
    response.headers["X-Request-Id"] = request_id
    return response


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> web.Response:
    """A problem+json response (problems.document)."""
    body = document(status, slug, title, detail, **extensions)
    return web.json_response(body, status=status, content_type=PROBLEM_JSON, headers=headers)


def parser_refusal(exc: HttpProcessingError, status: int = 400) -> Refusal:
    """What to answer a request the parser refused with `exc`: a 4xx, the request's fault."""
    status = status if 400 <= status < 500 else 400
    description = exc.message.split("\n", 1)[0].split(":", 1)[0].lower()
    for kind, phrase, (title, detail) in _KINDS:
        if isinstance(exc, kind) and phrase in description:
            return Refusal(status, title, detail)
    return Refusal(status, *_MALFORMED)


def _response(refusal: Refusal) -> web.Response:
    """The problem, on a connection that closes after it: what follows on the
    wire cannot be trusted to start a request."""
    response = web.Response(status=refusal.status, body=refusal.body(), content_type=PROBLEM_JSON)
    response.force_close()
    return response


def log_refusal(refusal: Refusal, kind: str, remote: str | None, *, debug: bool = False) -> None:
    """One line that says what was refused: the status and the kind, no bytes of the request."""
    log.log(
        logging.DEBUG if debug else logging.INFO,
        "refused a malformed HTTP request: %d %s",
        refusal.status,
        refusal.title,
        extra={"status": refusal.status, "refusal": kind, "remote": remote or ""},
    )


_INTERNAL = Refusal(500, "Internal error", "the server failed; see its logs", "internal-error")
_TIMEOUT = Refusal(504, "Handler timeout", "the server did not answer in time", "timeout")
_INCOMPLETE = Refusal(400, "Incomplete request", "the connection closed mid-request")


class _EdgeRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, with the edge's answers and log lines."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        # `message` is aiohttp's text for the client, quoting the request: unused.
        if isinstance(exc, HttpProcessingError):
            refusal = parser_refusal(exc, status)
            # Not HTTP at all (TLS, scanners) is debug: the internet does that all day.
            debug = isinstance(exc, BadHttpMethod)
            log_refusal(refusal, type(exc).__name__, request.remote, debug=debug)
        else:  # a handler's failure or timeout, not the request's fault
            refusal = _TIMEOUT if status == HTTPStatus.GATEWAY_TIMEOUT else _INTERNAL
            if exc is not None:
                self.log_exception("Error handling request from %s", request.remote, exc_info=exc)
        if request.writer.output_size > 0:  # as aiohttp: too late for another response
            raise ConnectionError("a response was already started; cannot send the error")
        return _response(refusal)

    def log_exception(self, *args: Any, **kw: Any) -> None:
        # A body that breaks its framing fails again when aiohttp drains it after
        # the response: the request was answered already.
        exc = kw.get("exc_info")
        if isinstance(exc, HttpProcessingError | web.RequestPayloadError):
            log.debug("dropped the rest of a malformed request body (%s)", type(exc).__name__)
            return
        super().log_exception(*args, **kw)


_SERVED_VERSIONS = (HttpVersion10, HttpVersion11)


class _EdgeServer(web.Server):
    def __call__(self) -> web.RequestHandler:
        return _EdgeRequestHandler(self, loop=self._loop, **self._kwargs)


@web.middleware
async def _body_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """What the parser lets through but is still the request's doing gets a 4xx,
    not the application's answer or its 500 with a traceback: a version other
    than HTTP/1.0 and 1.1 (both parsers take HTTP/2.0 and 0.9 as text, aiohttp
    then answers as if it spoke them), a body that breaks its framing or
    encoding, a client gone mid-request. Innermost, so the app's own
    middlewares see the response."""
    if request.version not in _SERVED_VERSIONS:
        refusal = Refusal(400, *_VERSION)
        log_refusal(refusal, "HttpVersion", request.remote)
        return _response(refusal)
    try:
        return await handler(request)
    except web.RequestPayloadError as exc:
        cause = exc.__cause__
        if isinstance(cause, HttpProcessingError):
            refusal = parser_refusal(cause)
        else:
            refusal = Refusal(400, *_BODY)
        log_refusal(refusal, type(cause or exc).__name__, request.remote)
        return _response(refusal)
    except ConnectionError:
        transport = request.transport
        if transport is not None and not transport.is_closing():
            raise  # not the client's connection: the application's error
        log.debug("the client closed the connection before it was answered")
        return _response(_INCOMPLETE)


class AppRunner(web.AppRunner):
    """aiohttp's AppRunner with the edge: parser refusals and broken bodies answered
    as problems and logged without the request's bytes. Use it for every listener."""

    async def _make_server(self) -> web.Server:
        if _body_errors not in self.app.middlewares:
            self.app.middlewares.append(_body_errors)  # before the app freezes
        server = await super()._make_server()
        # The same Server, whose connections get the edge's handler; it adds no state.
        server.__class__ = _EdgeServer
        return server


def run_app(
    app: web.Application | Awaitable[web.Application],
    *,
    host: str,
    port: int,
    shutdown_timeout: float,
) -> None:
    """web.run_app through the edge: serve until SIGINT or SIGTERM, then shut down
    (the app's on_shutdown and on_cleanup), without an access log."""
    asyncio.run(_serve(app, host, port, shutdown_timeout))


async def _serve(
    app: web.Application | Awaitable[web.Application],
    host: str,
    port: int,
    shutdown_timeout: float,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    application = app if isinstance(app, web.Application) else await app
    runner = AppRunner(application, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        await stop.wait()
    finally:
        await runner.cleanup()
