"""The media processes' HTTP endpoint (the standard library's server) over a real
socket: what it refuses gets the same problem+json as aiohttp's listeners, a 4xx
that quotes nothing of the request (http.server's own page and reason phrase
quote the request line)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from livestream_operator import health_endpoint
from livestream_operator.health_endpoint import Response
from tests.support.raw_http import exchange, responses

MARK = b"sk_SECRET0c1d2e3f4a5b6c7d"


@pytest.fixture(scope="module")  # its shutdown waits out a 0.5 s poll
def port() -> Iterator[int]:
    def assign(_: object, read: object) -> Response:
        return Response(200, b"{}", "application/json")

    server = health_endpoint.serve(
        0, CollectorRegistry(), lambda: True, "127.0.0.1", post={"/assign": assign}
    )
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + MARK + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET /healthz HTTP/1.1\r\nX-Key: " + MARK * 3000 + b"\r\n\r\n", 431),
        (
            b"GET /healthz HTTP/1.1\r\n"
            + b"".join(b"X-%d: %s\r\n" % (i, MARK) for i in range(101))
            + b"\r\n",
            431,
        ),
        (b"FROB /" + MARK + b" HTTP/1.1\r\n\r\n", 405),
        (b"GET /" + MARK + b" HTTP/9.Q\r\n\r\n", 400),
        (b"GET /" + MARK + b" HTTP/2.0\r\n\r\n", 400),
        (b"GET /" + MARK + b" HTTP/1.1 extra\r\n\r\n", 400),
        (b"POST /" + MARK + b"\r\n\r\n", 400),  # HTTP/0.9 has only GET
        (b"GET /" + MARK + b" HTTP/1.1\r\n\r\n", 404),
    ],
)
async def test_a_refused_request_gets_a_problem_that_echoes_nothing(
    port: int, request_bytes: bytes, status: int
) -> None:
    raw = await exchange(port, request_bytes)
    [response] = responses(raw)
    assert response.status == status
    assert response.problem()["status"] == status
    assert MARK not in raw
    if status == 405:
        assert response.headers["allow"] == "GET, POST"


async def test_what_it_serves_is_unchanged(port: int) -> None:
    [health] = responses(await exchange(port, b"GET /healthz HTTP/1.1\r\n\r\n"))
    assert (health.status, health.body) == (200, b"ok\n")
    [wrong] = responses(await exchange(port, b"GET /assign HTTP/1.1\r\n\r\n"))
    assert wrong.status == 405
    assert wrong.problem()["detail"] == "POST to /assign"
    # A bare HTTP/0.9 GET still gets its answer, with a status line now.
    [old] = responses(await exchange(port, b"GET /healthz\r\n\r\n"))
    assert old.status == 200
