"""Property-based fuzzing of the backends' server through aiohttp's test client.

Whatever a peer sends (any request to the WebSocket path, any first message,
any sequence of messages after a valid hello), the server answers a 101, a 4xx
RFC 9457 problem, Ready, frames of the right shape, or an Error and close 1008;
never a 5xx, never close 1011, and its `internal` error count stays 0.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from livestream_operator.api.backend_protocol import (
    CLOSE_POLICY,
    HEADER_SIZE,
    SUBPROTOCOL,
    Error,
    Hello,
    ProtocolError,
    Ready,
    decode_frame,
    encode_frame,
)
from livestream_operator.api.v1alpha1 import PARAM_KEY_PATTERN, STREAM_ID_PATTERN
from livestream_operator.backend.server import BackendMetrics, make_app
from livestream_operator.backend.tone import ToneProcessor

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,  # nothing written to the work tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TOKEN = "fuzz-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PATH = "/v1/audio"
# A small fragment (10 ms at 8 kHz), so that random bytes are often whole frames.
HELLO = Hello(stream_id="fuzz", sample_rate=8_000, channels=2, fragment_ms=10)

Client = TestClient[web.Request, web.Application]


class Fuzzed:
    def __init__(self, client: Client, metrics: BackendMetrics) -> None:
        self.client, self.metrics = client, metrics

    def internal_errors(self) -> float:
        value: float = self.metrics.errors.labels("internal")._value.get()
        return value


@pytest.fixture
async def fuzzed() -> AsyncIterator[Fuzzed]:
    metrics = BackendMetrics()
    app = make_app(ToneProcessor(), token=TOKEN, metrics=metrics, hello_timeout=2)
    async with TestClient(TestServer(app)) as client:
        yield Fuzzed(client, metrics)


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
stream_ids = st.from_regex(STREAM_ID_PATTERN, fullmatch=True)
hello_fields = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["hello", "ready", "error"]) | json_values,
        "protocol": st.just(SUBPROTOCOL) | json_values,
        "streamId": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,20}", fullmatch=True)
        | json_values,
        "format": st.just("s16le") | json_values,
        "sampleRate": st.sampled_from([8_000, 48_000, 192_000, 7_999, 192_001]) | json_values,
        "channels": st.integers(0, 9) | json_values,
        "fragmentMs": st.integers(0, 6_000) | json_values,
        "params": st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3)
        | json_values,
        "extra": json_values,
    },
)
valid_hellos = st.builds(
    lambda stream_id, rate, channels, ms, params: Hello(
        stream_id=stream_id, sample_rate=rate, channels=channels, fragment_ms=ms, params=params
    ),
    stream_ids,
    st.sampled_from([8_000, 44_100, 48_000, 192_000]),
    st.integers(1, 8),
    st.integers(10, 5_000),
    st.dictionaries(
        st.from_regex(PARAM_KEY_PATTERN, fullmatch=True), st.text(max_size=20), max_size=3
    ),
)
first_messages = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200),
    hello_fields.map(json.dumps),
    valid_hellos.map(lambda h: h.wire()),
)


def is_hello(message: str | bytes) -> bool:
    if isinstance(message, bytes):
        return False
    try:
        Hello.model_validate_json(message)
    except ValidationError:
        return False
    return True


async def send(ws: Any, message: str | bytes) -> None:
    if isinstance(message, str):
        await ws.send_str(message)
    else:
        await ws.send_bytes(message)


async def expect_refusal(ws: Any) -> None:
    msg = await ws.receive(timeout=5)
    assert msg.type is WSMsgType.TEXT, msg
    assert Error.model_validate_json(msg.data).message
    assert (await ws.receive(timeout=5)).type is WSMsgType.CLOSE
    assert ws.close_code == CLOSE_POLICY


@FUZZ
@given(message=first_messages)
@example(message='{"streamId": "a", "fragmentMs": 10, "sampleRate": 1e999}')
@example(message='{"streamId": "a", "fragmentMs": 10, "params": {"k": "' + "v" * 300 + '"}}')
@example(message="[" * 5_000 + "]" * 5_000)
@example(message="\x00")
async def test_any_first_message(fuzzed: Fuzzed, message: str | bytes) -> None:
    ws = await fuzzed.client.ws_connect(PATH, protocols=[SUBPROTOCOL], headers=AUTH)
    await send(ws, message)
    if is_hello(message):
        Ready.model_validate_json(await ws.receive_str(timeout=5))
        await ws.close()
    else:
        await expect_refusal(ws)
    assert fuzzed.internal_errors() == 0


frames = st.builds(
    lambda seq, pts, samples: encode_frame(seq, pts, b"\x01\x02" * HELLO.channels * samples),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**64 - 1),
    st.integers(0, 80),
)
later_messages = st.lists(
    st.one_of(
        frames,
        st.binary(max_size=HEADER_SIZE + HELLO.max_payload + 8),
        st.builds(lambda text: Error(message=text).wire(), st.text(max_size=50)),
        st.text(max_size=50),
    ),
    min_size=1,
    max_size=6,
)


@FUZZ
@given(messages=later_messages)
@example(messages=[encode_frame(2**64 - 1, 2**64 - 1, b"")])
@example(messages=[b"\x00" * (HEADER_SIZE + HELLO.max_payload)])
async def test_any_messages_after_a_hello(fuzzed: Fuzzed, messages: list[str | bytes]) -> None:
    ws = await fuzzed.client.ws_connect(PATH, protocols=[SUBPROTOCOL], headers=AUTH)
    await ws.send_str(HELLO.wire())
    Ready.model_validate_json(await ws.receive_str(timeout=5))
    for message in messages:
        await send(ws, message)
        if isinstance(message, str):
            try:
                Error.model_validate_json(message)
            except ValidationError:
                await expect_refusal(ws)
                break
            continue  # an Error from the worker: logged, no answer
        try:
            header, pcm = decode_frame(message, HELLO)
        except ProtocolError:
            await expect_refusal(ws)
            break
        answer = decode_frame(await ws.receive_bytes(timeout=5), HELLO)
        assert answer[0] == header
        assert len(answer[1]) == len(pcm)
    else:
        await ws.close()
    assert fuzzed.internal_errors() == 0


_KEY = base64.b64encode(b"0123456789abcdef").decode()
header_values = {
    "Upgrade": ["websocket", "WebSocket", "h2c", "", "websocket, h2c"],
    "Connection": ["Upgrade", "keep-alive", "upgrade, keep-alive", "close"],
    "Sec-WebSocket-Version": ["13", "8", "99", "", "x"],
    "Sec-WebSocket-Key": [_KEY, "short", "", "!!!!"],
    "Sec-WebSocket-Protocol": [SUBPROTOCOL, "other", f"other, {SUBPROTOCOL}", "", ","],
    "Authorization": [AUTH["Authorization"], "Bearer nope", "Bearer", "Basic x", ""],
}
requests = st.fixed_dictionaries(
    {},
    optional={
        name: st.sampled_from(values) | st.text(max_size=12)
        for name, values in header_values.items()
    },
)


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
    headers=requests,
    path=st.sampled_from([PATH, PATH + "/", "/healthz", "/metrics", "/", "/v1/audio/x"]),
)
@example(method="GET", headers={**AUTH, "Upgrade": "websocket", "Connection": "Upgrade"}, path=PATH)
async def test_any_request(fuzzed: Fuzzed, method: str, headers: dict[str, str], path: str) -> None:
    headers = {k: v for k, v in headers.items() if "\r" not in v and "\n" not in v}
    try:
        resp = await fuzzed.client.request(method, path, headers=headers)
    except ValueError:  # a header value the client itself will not send
        return
    async with resp:
        assert resp.status < 500, await resp.text()
        if resp.status == 101:
            assert path == PATH
            assert headers.get("Authorization") == AUTH["Authorization"]
        elif resp.status >= 400 and method != "HEAD":
            assert resp.content_type == "application/problem+json"
            body = json.loads(await resp.read())
            assert body["status"] == resp.status
            assert body["detail"]
    assert fuzzed.internal_errors() == 0
