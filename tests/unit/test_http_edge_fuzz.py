"""Socket-level fuzzing of the HTTP listeners: raw bytes, not what aiohttp's
client would send. Random request lines, headers and bodies, and mutations of
valid hook and users' requests, with a marker (a stand-in for a stream key) in
the target, the headers and the query.

Whatever arrives, each listener answers only 2xx or 4xx problem+json (never a
5xx, never aiohttp's text/plain quote), never shows the marker in an answer or a
log line, logs no error, and keeps serving. The receiver's two listeners are the
subject; the backend's (aiohttp too) and the media processes' (the standard
library's) take the same bytes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from livestream_operator import health_endpoint
from livestream_operator.backend.server import make_app as make_backend_app
from livestream_operator.backend.tone import ToneProcessor
from livestream_operator.health_endpoint import Response
from livestream_operator.ingest.receiver import make_app
from livestream_operator.settings import Settings
from livestream_operator.userapi import app as userapi
from tests.support.raw_http import exchange, responses, served
from tests.unit.ingest.test_receiver import MemoryAPI

MARK = "sk_SECRETd41d8cd98f00b204"
M = MARK.encode()
TOKEN = "fuzz-hook-token"
FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,  # nothing written to the work tree
    # One set of listeners for all examples: they must keep serving through all.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


async def _ok(_: web.Request) -> web.Response:
    return web.Response(text="served")


@dataclass(frozen=True)
class Listeners:
    ports: dict[str, int]

    async def check(self, name: str, request: bytes, caplog: pytest.LogCaptureFixture) -> None:
        """The contract for whatever `request` is, on listener `name`."""
        caplog.clear()
        # Silence: the server waits for the rest of an incomplete request.
        raw = await exchange(self.ports[name], request, idle=0.1)
        assert M not in raw
        for response in responses(raw, head=request.startswith(b"HEAD ")):
            assert 200 <= response.status < 500, response.raw[:300]
            if response.status >= 400:
                response.problem()
        [health] = responses(await exchange(self.ports[name], b"GET /healthz HTTP/1.0\r\n\r\n"))
        assert health.status == 200  # still serving
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
        assert MARK not in caplog.text


@pytest.fixture
async def listeners(caplog: pytest.LogCaptureFixture) -> AsyncIterator[Listeners]:
    caplog.set_level(logging.DEBUG)
    hooks = make_app(MemoryAPI(), Settings(hook_token=TOKEN))
    backend = make_backend_app(ToneProcessor(), token=TOKEN)
    media = health_endpoint.serve(
        0,
        CollectorRegistry(),
        lambda: True,
        "127.0.0.1",
        post={"/assign": lambda _, __: Response(200, b"{}", "application/json")},
    )
    try:
        async with served(hooks, userapi.make_app(_ok, _ok), backend) as ports:
            names = ("hooks", "users", "backend")
            yield Listeners({**dict(zip(names, ports, strict=True)), "media": media.server_port})
    finally:
        media.shutdown()
        media.server_close()


LISTENERS = st.sampled_from(["hooks", "users", "hooks", "users", "backend", "media"])
noise = st.binary(max_size=12)
methods = (
    st.sampled_from(
        [
            "GET",
            "POST",
            "HEAD",
            "PUT",
            "DELETE",
            "OPTIONS",
            "PATCH",
            "TRACE",
            "CONNECT",
            "FROB",
            "get",
        ]
    ).map(str.encode)
    | noise
)
targets = st.builds(
    lambda path, tail: path + tail,
    st.sampled_from(
        [
            b"/healthz",
            b"/metrics",
            b"/v1/mediamtx/events/ready",
            b"/v1/mediamtx/auth",
            b"/v1/streams/cam/snapshot",
            b"/v1/streams/cam/recordings",
            b"/v1/audio",
            b"/assign",
            b"*",
            b"http://x/healthz",
            b"",
        ]
    ),
    st.sampled_from([b"", b"?key=" + M, b"/" + M, b"/%ff" + M, b"/\xff" + M, b"#" + M])
    | noise.map(lambda n: n + M),
)
versions = (
    st.sampled_from(
        [b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.2", b"HTTP/2.0", b"HTTP/9.Q", b"http/1.1", b""]
    )
    | noise
)
header_names = (
    st.sampled_from(
        [
            b"Host",
            b"Content-Length",
            b"Transfer-Encoding",
            b"Content-Type",
            b"Content-Encoding",
            b"Authorization",
            b"X-Key",
            b"Cookie",
            b"Connection",
            b"Upgrade",
            b"Expect",
            b"X Key",
            b"",
        ]
    )
    | noise
)
header_values = st.sampled_from(
    [
        b"x",
        b"0",
        b"-5",
        b"99999999999999999999",
        b"chunked",
        b"gzip",
        b"application/json",
        b"close",
        b"websocket",
        b"100-continue",
        b"Bearer " + M,
        b"Bearer " + TOKEN.encode(),
        M,
        M + b"\x01",
        M + b"\x7f",
        b"\xe9" + M,
        M + b"\r",
    ]
) | noise.map(lambda n: M + n)
headers = st.lists(st.tuples(header_names, header_values), max_size=8)
bodies = st.sampled_from(
    [b"", b"{}", b'{"path": "live/cam/in"}', b"0\r\n\r\n", b"zz\r\n", b"\x1f\x8b\x08"]
) | st.binary(max_size=48)


@st.composite
def raw_requests(draw: st.DrawFn) -> bytes:
    """A request line, headers and a body, each possibly broken, with the marker about."""
    method, target, version = draw(methods), draw(targets), draw(versions)
    line = draw(st.sampled_from([b" ", b" ", b"  ", b"\t"])).join([method, target, version])
    eol = draw(st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n"]))
    body = draw(bodies)
    fields = draw(headers)
    if draw(st.booleans()):
        fields.append((b"Content-Length", str(len(body)).encode()))
    if draw(st.integers(0, 4)):  # mostly: the server closes after its answer
        fields.append((b"Connection", b"close"))
    head = line + eol + b"".join(name + b": " + value + eol for name, value in fields)
    return head + eol + body


def _valid(head: bytes, body: bytes) -> bytes:
    length = b"Content-Length: %d\r\n" % len(body)
    return head + length + b"Connection: close\r\n\r\n" + body


EVENT = b'{"path": "live/cam/in", "query": "", "sourceType": "rtmpConn", "sourceId": "1"}'
VALID = {
    "hooks": _valid(
        b"POST /v1/mediamtx/events/ready?key=" + M + b" HTTP/1.1\r\nHost: receiver\r\n"
        b"Authorization: Bearer " + TOKEN.encode() + b"\r\nX-Key: " + M + b"\r\n"
        b"Content-Type: application/json\r\n",
        EVENT,
    ),
    "users": _valid(
        b"GET /v1/streams/cam/snapshot?key=" + M + b" HTTP/1.1\r\nHost: api\r\n"
        b"Cookie: session=" + M + b"\r\nX-Key: " + M + b"\r\n",
        b"",
    ),
    "backend": _valid(
        b"GET /metrics?key=" + M + b" HTTP/1.1\r\nHost: backend\r\n"
        b"Authorization: Bearer " + TOKEN.encode() + b"\r\nX-Key: " + M + b"\r\n",
        b"",
    ),
}
# A byte replaced, bytes inserted, a span deleted, the rest cut: never the
# marker copied, so that it stays where a key would be (the target, a header).
mutations = st.lists(
    st.tuples(
        st.sampled_from(["replace", "insert", "delete", "truncate"]),
        st.floats(0, 1),
        st.binary(min_size=1, max_size=4) | st.sampled_from([b"\r\n", b"\x00", b"\xff", b":"]),
        st.integers(1, 12),
    ),
    min_size=1,
    max_size=4,
)


def mutate(data: bytes, ops: list[tuple[str, float, bytes, int]]) -> bytes:
    for kind, where, new, span in ops:
        at = int(where * len(data))
        if kind == "replace":
            data = data[:at] + new[:1] + data[at + 1 :]
        elif kind == "insert":
            data = data[:at] + new + data[at:]
        elif kind == "delete":
            data = data[:at] + data[at + span :]
        else:
            data = data[:at]
    return data


@FUZZ
@given(listener=LISTENERS, request=raw_requests())
@example(listener="hooks", request=b"GET /" + M + b"\xff HTTP/1.1\r\nHost: x\r\n\r\n")
@example(listener="users", request=b"GET / HTTP/1.1\r\nHost: x\r\nX-Key: " + M + b"\x01\r\n\r\n")
@example(listener="media", request=b"GET /" + M + b" HTTP/1.1 x\r\n\r\n")
async def test_any_raw_request(
    listeners: Listeners, caplog: pytest.LogCaptureFixture, listener: str, request: bytes
) -> None:
    await listeners.check(listener, request, caplog)


@FUZZ
@given(listener=st.sampled_from(sorted(VALID)), ops=mutations)
async def test_any_mutation_of_a_valid_request(
    listeners: Listeners,
    caplog: pytest.LogCaptureFixture,
    listener: str,
    ops: list[tuple[str, float, bytes, int]],
) -> None:
    await listeners.check(listener, mutate(VALID[listener], ops), caplog)


async def test_the_valid_requests_are_served(
    listeners: Listeners, caplog: pytest.LogCaptureFixture
) -> None:
    """The mutations start from requests the listeners accept."""
    for name, request in VALID.items():
        [response] = responses(await exchange(listeners.ports[name], request))
        assert response.status in (200, 201), response.raw[:300]
    await listeners.check("hooks", VALID["hooks"], caplog)
