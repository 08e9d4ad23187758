"""The HTTP edge of the receiver's two listeners, over real sockets: each kind of
request aiohttp's parser refuses gets a problem+json 4xx that echoes nothing of
it, and at most one log line, at INFO or below, without its bytes.

Both of aiohttp's parsers are tried (the C one, which production runs, and the
pure-Python one aiohttp falls back to): they refuse different things in
different words.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import http_exceptions, http_parser, web, web_protocol

from livestream_operator import http_edge
from livestream_operator.ingest.receiver import make_app
from livestream_operator.settings import Settings
from livestream_operator.userapi import app as userapi
from tests.conftest import require
from tests.support.raw_http import exchange, responses, served
from tests.unit.ingest.test_receiver import MemoryAPI

MARK = "sk_SECRET5f3a9c2e71d04b86"  # stands for a stream key anywhere in a request
M = MARK.encode()
TOKEN = "edge-hook-token"
READY = b"POST /v1/mediamtx/events/ready HTTP/1.1\r\nHost: x\r\n"
JSON_TO_READY = READY + b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
JSON_TO_READY += b"Content-Type: application/json\r\nX-Key: " + M + b"\r\n"

REFUSED = {
    "request line too long": b"GET /live/" + M + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "header too long": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Key: " + M * 400 + b"\r\n\r\n",
    "too many headers": b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    + b"".join(b"X-%d: %s\r\n" % (i, M) for i in range(200))
    + b"\r\n",
    "control character in a header value": b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    b"Authorization: Bearer " + M + b"\x01\r\n\r\n",
    "raw non-ASCII byte in the path": b"GET /v1/streams/" + M + b"\xff/snapshot HTTP/1.1\r\n"
    b"Host: x\r\n\r\n",
    "unknown method": b"FROB /live/" + M + b"/in HTTP/1.1\r\nHost: x\r\n\r\n",
    "method with a control character": b"GE\x01T /live/" + M + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad version": b"GET /live/" + M + b" HTTP/9.Q\r\nHost: x\r\n\r\n",
    "HTTP/2.0 as text": b"GET /healthz?key=" + M + b" HTTP/2.0\r\nHost: x\r\n\r\n",
    "HTTP/0.9 with a version": b"GET /healthz?key=" + M + b" HTTP/0.9\r\n\r\n",
    "negative Content-Length": READY + b"Authorization: Bearer " + M + b"\r\n"
    b"Content-Length: -5\r\n\r\n",
    "Content-Length and Transfer-Encoding": READY + b"Authorization: Bearer " + M + b"\r\n"
    b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "HTTP/1.1 without Host": b"GET /live/" + M + b" HTTP/1.1\r\n\r\n",
    "invalid chunk size": JSON_TO_READY + b"Transfer-Encoding: chunked\r\n\r\nzz" + M + b"\r\n",
    "body that is not the gzip it claims": JSON_TO_READY
    + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(M), M),
    "TLS on the plain port": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + M + b"\r\n\r\n",
}

READ_BODIES = {"invalid chunk size", "body that is not the gzip it claims"}


@pytest.fixture(params=["c", "python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which of aiohttp's request parsers the connections opened in the test use."""
    name: str = request.param
    if name == "c":
        require(hasattr(http_parser, "HttpRequestParserC"), "aiohttp's C parser (its wheel)")
        monkeypatch.setattr(web_protocol, "HttpRequestParser", http_parser.HttpRequestParserC)
    else:
        monkeypatch.setattr(web_protocol, "HttpRequestParser", http_parser.HttpRequestParserPy)
    return name


async def _ok(_: web.Request) -> web.Response:
    return web.Response(text="served")


@pytest.fixture
async def listeners(parser: str) -> AsyncIterator[dict[str, int]]:
    """The hooks' listener and the users' one, each on its port, as in cmd/hook_receiver."""
    hooks = make_app(MemoryAPI(), Settings(hook_token=TOKEN))
    async with served(hooks, userapi.make_app(_ok, _ok)) as (hooks_port, users_port):
        yield {"hooks": hooks_port, "users": users_port}


def _edge_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == http_edge.log.name and "refused" in r.msg]


@pytest.mark.parametrize("case", REFUSED)
async def test_a_refused_request_gets_a_problem_that_echoes_nothing(
    listeners: dict[str, int], case: str, caplog: pytest.LogCaptureFixture, parser: str
) -> None:
    caplog.set_level(logging.DEBUG)
    for listener, port in listeners.items():
        caplog.clear()
        raw = await exchange(port, REFUSED[case])
        [response] = responses(raw)
        assert M not in raw
        await asyncio.sleep(0.05)  # what the server logs after its answer (draining a body)
        assert [r.getMessage() for r in caplog.records if r.levelno > logging.INFO] == []
        assert MARK not in caplog.text
        refused = response.status >= 400 and response.problem()["type"].endswith(
            "/malformed-request"
        )
        # The edge's refusals say so in one line. The Python parser lets some of
        # these through (FROB is a token; it decodes a raw byte in the path):
        # then the application answers, and no 5xx either. A body only matters
        # where a route reads it (the users' listener has no POST: a 404).
        assert len(_edge_lines(caplog)) == refused
        if parser == "c" and (listener == "hooks" or case not in READ_BODIES):
            assert refused, raw[:300]
        assert response.status < 500, raw[:300]
        if refused:
            assert response.status == 400
            assert b"GET" not in response.body


async def test_the_log_line_names_the_status_and_the_kind(
    listeners: dict[str, int], caplog: pytest.LogCaptureFixture, parser: str
) -> None:
    caplog.set_level(logging.DEBUG)
    await exchange(listeners["hooks"], REFUSED["too many headers"])
    [line] = _edge_lines(caplog)
    assert line.levelno == logging.INFO
    assert line.getMessage() == "refused a malformed HTTP request: 400 Too many headers"
    assert line.__dict__["refusal"] == "BadHttpMessage"


async def test_tls_and_other_protocols_are_logged_at_debug(
    listeners: dict[str, int], caplog: pytest.LogCaptureFixture, parser: str
) -> None:
    caplog.set_level(logging.DEBUG)
    raw = await exchange(listeners["users"], REFUSED["TLS on the plain port"])
    [response] = responses(raw)
    assert response.problem()["title"] == "TLS on a plain HTTP port"
    assert [r.levelno for r in _edge_lines(caplog)] == [logging.DEBUG]


async def test_a_client_gone_mid_body_is_no_error(
    listeners: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    partial = JSON_TO_READY + b"Content-Length: 100\r\n\r\n{"
    _, writer = await asyncio.open_connection("127.0.0.1", listeners["hooks"])
    writer.write(partial)
    await writer.drain()
    await asyncio.sleep(0.1)  # the handler is reading the body
    writer.close()
    for _ in range(100):
        if any("closed the connection" in r.msg for r in caplog.records):
            break
        await asyncio.sleep(0.01)
    assert [r.getMessage() for r in caplog.records if r.levelno > logging.INFO] == []
    assert MARK not in caplog.text
    [ok] = responses(await exchange(listeners["hooks"], b"GET /healthz HTTP/1.0\r\n\r\n"))
    assert ok.status == 200


async def test_an_x_request_id_the_response_cannot_carry_is_replaced(
    listeners: dict[str, int],
) -> None:
    for port in listeners.values():
        request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: \xe9\xff" + M
        raw = await exchange(port, request + b"\r\nConnection: close\r\n\r\n")
        [response] = responses(raw)
        assert response.status == 200
        assert len(response.headers["x-request-id"]) == 32  # a new one
        assert M not in raw


async def test_a_valid_request_still_reaches_its_route(listeners: dict[str, int]) -> None:
    body = b'{"path": "live/cam/in", "query": "", "sourceType": "rtmpConn", "sourceId": "1"}'
    request = JSON_TO_READY + b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (
        len(body),
        body,
    )
    [created] = responses(await exchange(listeners["hooks"], request))
    assert created.status == 201
    raw = await exchange(listeners["users"], b"GET /v1/streams/cam/snapshot HTTP/1.0\r\n\r\n")
    [served_] = responses(raw)
    assert (served_.status, served_.body) == (200, b"served")


async def test_aiohttp_still_has_what_the_edge_overrides() -> None:
    """The internals http_edge relies on (pyproject.toml pins the range they hold in):
    if this fails, aiohttp changed them and the edge must follow."""
    parameters = list(inspect.signature(web.RequestHandler.handle_error).parameters)
    assert parameters == ["self", "request", "status", "exc", "message"]
    assert list(inspect.signature(web.RequestHandler.log_exception).parameters) == [
        "self",
        "args",
        "kw",
    ]
    assert inspect.iscoroutinefunction(web.AppRunner._make_server)
    runner = http_edge.AppRunner(web.Application())
    await runner.setup()
    try:
        server = runner.server
        assert isinstance(server, web.Server)
        assert server._loop is asyncio.get_running_loop()
        assert isinstance(server._kwargs, dict)
        handler = server()  # what a connection gets
        assert isinstance(handler, web.RequestHandler)
        assert type(handler).handle_error is not web.RequestHandler.handle_error
    finally:
        await runner.cleanup()


def test_every_parser_error_class_gets_a_problem_without_its_message() -> None:
    """The pure choice: the exception's message (which quotes the request) never shows."""
    errors = [
        http_exceptions.LineTooLong(M, 8190),
        http_exceptions.BadStatusLine(MARK),
        http_exceptions.BadHttpMethod(MARK),
        http_exceptions.InvalidHeader(M),
        http_exceptions.InvalidURLError(MARK),
        http_exceptions.TransferEncodingError(MARK),
        http_exceptions.BadHttpMessage(f"Invalid header value char:\n\n  b'{MARK}\\x01'\n   ^"),
        http_exceptions.BadHttpMessage(MARK),
    ]
    for exc in errors:
        refusal = http_edge.parser_refusal(exc)
        assert refusal.status == 400
        assert MARK not in refusal.title + refusal.detail
        assert refusal.body().startswith(b'{"type": "https://livestream-operator.dev/problems/')
    assert http_edge.parser_refusal(errors[6]).detail == "a header value holds a control character"
    assert http_edge.parser_refusal(errors[0], 431).status == 431
    assert http_edge.parser_refusal(errors[0], 500).status == 400  # never a 5xx for a request
