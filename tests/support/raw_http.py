"""Raw HTTP/1.x over a real socket: the requests aiohttp's client would refuse
to send, and a strict reading of what comes back, for the edge's tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from livestream_operator import http_edge
from livestream_operator.problems import PROBLEM_JSON

# aiohttp answers in the version the request named, HTTP/2.0 or 0.9 included.
_STATUS_LINE = re.compile(rb"HTTP/\d\.\d (\d{3}) [^\r\n]*")


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes
    raw: bytes  # the status line, headers and body as they came

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()

    def problem(self) -> dict[str, Any]:
        """The RFC 9457 document a 4xx or 5xx must be; fails the test if it is not."""
        assert self.content_type == PROBLEM_JSON, self.raw[:300]
        document = json.loads(self.body)
        assert isinstance(document, dict), document
        assert {"type", "title", "status", "detail"} <= document.keys(), document
        assert document["status"] == self.status, document
        for member in ("title", "detail"):
            assert isinstance(document[member], str), document
            assert document[member], document
        return document


async def exchange(port: int, data: bytes, *, idle: float = 0.3, total: float = 5.0) -> bytes:
    """Send `data`, then read until the server closes or is silent for `idle` seconds."""
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    chunks: list[bytes] = []
    try:
        writer.write(data)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        deadline = loop.time() + total
        while (left := deadline - loop.time()) > 0:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), min(idle, left))
            except (TimeoutError, ConnectionError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return b"".join(chunks)


def responses(raw: bytes, *, head: bool = False) -> list[RawResponse]:
    """Every response in `raw`, framed by its Content-Length (or the connection's
    end); anything that is not a well-formed response fails the test. `head`: the
    answers to HEAD, which carry a Content-Length and no body."""
    found = []
    while raw:
        header_block, end, rest = raw.partition(b"\r\n\r\n")
        assert end, f"no end of the headers in {raw[:300]!r}"
        status_line, *lines = header_block.split(b"\r\n")
        match = _STATUS_LINE.fullmatch(status_line)
        assert match, f"not a status line: {status_line[:200]!r}"
        headers = {}
        for line in lines:
            name, colon, value = line.partition(b":")
            assert colon, f"not a header: {line[:200]!r}"
            assert name, f"not a header: {line[:200]!r}"
            headers[name.decode("latin-1").lower()] = value.decode("latin-1").strip()
        status = int(match[1])
        if status < 200 or status in (204, 304) or (head and not rest.startswith(b"{")):
            length = 0  # HEAD's answer has none, but a refusal before the method parsed does
        elif "content-length" in headers:
            length = int(headers["content-length"])
        else:
            assert "transfer-encoding" not in headers, headers
            length = len(rest)
        assert len(rest) >= length, f"a body shorter than its Content-Length: {raw[:300]!r}"
        consumed = len(raw) - len(rest) + length
        found.append(RawResponse(status, headers, rest[:length], raw[:consumed]))
        raw = raw[consumed:]
    return found


@contextlib.asynccontextmanager
async def served(*apps: web.Application) -> AsyncIterator[list[int]]:
    """Each app on its own 127.0.0.1 port through the edge's runner, as in production."""
    runners = [http_edge.AppRunner(app, access_log=None, shutdown_timeout=1) for app in apps]
    ports = []
    try:
        for runner in runners:
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            ports.append(runner.addresses[0][1])
        yield ports
    finally:
        for runner in runners:
            await runner.cleanup()
