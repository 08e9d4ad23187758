"""The backends' server through aiohttp's test client: the protocol as a worker
sees it (hello, ready, frames), every refusal (HTTP problems, Error + 1008),
the metrics; the CLI's flags; and the fault backend the media tests use."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from livestream_operator import backend, cli, http_edge
from livestream_operator.api.backend_protocol import (
    CLOSE_POLICY,
    HEADER_SIZE,
    SUBPROTOCOL,
    Error,
    Hello,
    Ready,
    decode_frame,
    encode_frame,
)
from livestream_operator.backend.loudness import LoudnessProcessor
from livestream_operator.backend.processor import Pcm
from livestream_operator.backend.server import MAX_MESSAGE_BYTES, BackendMetrics, make_app
from livestream_operator.backend.tone import ToneProcessor, tone
from tests.support.fault_backend import FaultBackend, Garbage, Refuse

TOKEN = "backend-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PATH = "/v1/audio"
HELLO = Hello(stream_id="cam", sample_rate=48_000, channels=2, fragment_ms=100)

Client = TestClient[web.Request, web.Application]


def frame(seq: int, samples: int, hello: Hello = HELLO, pts_ns: int | None = None) -> bytes:
    pcm = np.random.default_rng(seq).integers(-3000, 3000, (samples, hello.channels))
    pts = seq * 100_000_000 if pts_ns is None else pts_ns
    return encode_frame(seq, pts, pcm.astype("<i2").tobytes())


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


class Processors:
    """A processor whose sessions a test can make fail."""

    name = "test"

    def __init__(self, answer: str = "tone") -> None:
        self.answer = answer
        self.closed = 0

    def open(self, hello: Hello) -> Processors:
        if "refuse" in hello.params:
            raise ValueError("params.refuse is not welcome")
        return self

    async def process(self, pcm: Pcm) -> Pcm:
        if self.answer == "raise":
            raise RuntimeError("broken processor")
        if self.answer == "short":
            return pcm[:-1].copy()
        if self.answer == "float":
            return pcm.astype(np.float32)
        return pcm.copy()

    async def close(self) -> None:
        self.closed += 1


@pytest.fixture
def metrics() -> BackendMetrics:
    return BackendMetrics()


@pytest.fixture
async def client(metrics: BackendMetrics) -> AsyncIterator[Client]:
    app = make_app(ToneProcessor(), token=TOKEN, metrics=metrics, hello_timeout=0.5)
    async with TestClient(TestServer(app)) as c:
        yield c


async def connect(client: Client, headers: dict[str, str] | None = None) -> Any:
    return await client.ws_connect(
        PATH, protocols=[SUBPROTOCOL], headers=AUTH if headers is None else headers
    )


async def open_session(client: Client, hello: Hello = HELLO) -> Any:
    ws = await connect(client)
    await ws.send_str(hello.wire())
    assert Ready.model_validate_json(await ws.receive_str(timeout=5)) == Ready(name="tone")
    return ws


async def refused(ws: Any) -> str:
    """The Error the server sends before it closes with 1008."""
    msg = await ws.receive(timeout=5)
    assert msg.type is WSMsgType.TEXT, msg
    error = Error.model_validate_json(msg.data)
    closing = await ws.receive(timeout=5)
    assert closing.type is WSMsgType.CLOSE
    assert ws.close_code == CLOSE_POLICY
    return error.message


async def assert_problem(resp: aiohttp.ClientResponse, status: int) -> dict[str, Any]:
    assert resp.status == status
    assert resp.content_type == "application/problem+json"
    body: dict[str, Any] = json.loads(await resp.read())
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body


# -- the protocol


async def test_hello_then_frames_answered_with_their_seq_pts_and_length(client: Client) -> None:
    ws = await open_session(client)
    sizes = [4_800, 4_800, 1, 0, 4_799]
    for seq, samples in enumerate(sizes):
        await ws.send_bytes(frame(seq, samples, pts_ns=10**18 + seq))
    answers = [await ws.receive_bytes(timeout=5) for _ in sizes]
    position = 0
    for seq, (samples, answer) in enumerate(zip(sizes, answers, strict=True)):
        header, pcm = decode_frame(answer, HELLO)
        assert (header.seq, header.pts_ns) == (seq, 10**18 + seq)
        assert len(pcm) == HELLO.frame_bytes(samples)
        expected = tone(position, samples, 48_000, 440.0, 2)
        assert np.frombuffer(pcm, "<i2").reshape(-1, 2).tolist() == expected.tolist()
        position += samples
    await ws.close()


async def test_a_session_shows_in_the_metrics(client: Client) -> None:
    ws = await open_session(client)
    await ws.send_bytes(frame(1, 4_800))
    await ws.receive_bytes(timeout=5)
    text = await (await client.get("/metrics")).text()
    assert metric(text, "lso_backend_sessions") == 1
    assert metric(text, "lso_backend_fragments_total") == 1
    assert metric(text, "lso_backend_process_seconds_count") == 1
    assert metric(text, 'lso_backend_errors_total{kind="protocol"}') == 0
    await ws.close()
    for _ in range(100):
        text = await (await client.get("/metrics")).text()
        if metric(text, "lso_backend_sessions") == 0:
            break
        await asyncio.sleep(0.01)
    assert metric(text, "lso_backend_sessions") == 0


async def test_the_hello_params_reach_the_processor() -> None:
    app = make_app(LoudnessProcessor())  # no token: anyone may connect
    async with TestClient(TestServer(app)) as c:
        ws = await c.ws_connect(PATH, protocols=[SUBPROTOCOL])
        await ws.send_str(
            Hello(stream_id="cam", fragment_ms=100, params={"targetLufs": "x"}).wire()
        )
        assert "params.targetLufs" in await refused(ws)
        ws = await c.ws_connect(PATH, protocols=[SUBPROTOCOL])
        await ws.send_str(
            Hello(stream_id="cam", fragment_ms=100, params={"targetLufs": "-23"}).wire()
        )
        assert Ready.model_validate_json(await ws.receive_str(timeout=5)).name == "loudness"
        await ws.send_bytes(frame(3, 4_800))
        header, pcm = decode_frame(await ws.receive_bytes(timeout=5), HELLO)
        assert header.seq == 3
        assert len(pcm) == HELLO.frame_bytes(4_800)
        await ws.close()


async def test_the_workers_error_messages_are_taken_and_the_session_goes_on(
    client: Client,
) -> None:
    ws = await open_session(client)
    await ws.send_str(Error(message="deadline missed").wire())
    await ws.send_bytes(frame(9, 480))
    header, _ = decode_frame(await ws.receive_bytes(timeout=5), HELLO)
    assert header.seq == 9
    await ws.close()


# -- refusals at the upgrade


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": ""},
    ],
    ids=["missing", "wrong", "other-scheme", "empty"],
)
async def test_a_missing_or_wrong_token_is_401(
    client: Client, metrics: BackendMetrics, headers: dict[str, str]
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await connect(client, headers)
    assert caught.value.status == 401
    resp = await client.get(PATH, headers=headers)
    body = await assert_problem(resp, 401)
    assert TOKEN not in json.dumps(body)
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert metrics.errors.labels("unauthorized")._value.get() == 2


async def test_a_plain_get_is_a_4xx_problem(client: Client) -> None:
    body = await assert_problem(await client.get(PATH, headers=AUTH), 426)
    assert SUBPROTOCOL in body["detail"]


@pytest.mark.parametrize("protocols", [[], ["lso.audio.v0"]])
async def test_a_wrong_subprotocol_is_a_400_problem(client: Client, protocols: list[str]) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect(PATH, protocols=protocols, headers=AUTH)
    assert caught.value.status == 400


async def test_other_methods_and_paths_are_problems(client: Client) -> None:
    resp = await client.post(PATH, headers=AUTH, data=b"x")
    await assert_problem(resp, 405)
    assert "GET" in resp.headers["Allow"]
    await assert_problem(await client.get("/v2/audio"), 404)


async def test_healthz(client: Client) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.text() == "ok"


# -- refusals in the conversation


@pytest.mark.parametrize(
    ("hello", "field"),
    [
        ('{"type": "hello", "fragmentMs": 100}', "streamId"),
        ('{"streamId": "cam", "fragmentMs": 5}', "fragmentMs"),
        ('{"streamId": "cam", "fragmentMs": 100, "sampleRate": "48000"}', "sampleRate"),
        ('{"streamId": "cam", "fragmentMs": 100, "channels": 9}', "channels"),
        ('{"streamId": "cam", "fragmentMs": 100, "format": "f32le"}', "format"),
        ('{"streamId": "cam", "fragmentMs": 100, "protocol": "v2"}', "protocol"),
        ('{"streamId": "cam", "fragmentMs": 100, "extra": 1}', "extra"),
        ('{"streamId": "cam/../x", "fragmentMs": 100}', "streamId"),
        ('{"streamId": "cam", "fragmentMs": 100, "params": {"k": 1}}', "params.k"),
        ('{"type": "ready"}', "type"),
        ("hello", "hello"),
        ("[]", "hello"),
    ],
)
async def test_a_bad_hello_gets_an_error_naming_the_field(
    client: Client, metrics: BackendMetrics, hello: str, field: str
) -> None:
    ws = await connect(client)
    await ws.send_str(hello)
    message = await refused(ws)
    assert message.startswith("invalid hello: ")
    assert f" {field}: " in f" {message.removeprefix('invalid hello: ')}"
    assert metrics.errors.labels("hello")._value.get() == 1


async def test_a_frame_before_the_hello_is_refused(client: Client) -> None:
    ws = await connect(client)
    await ws.send_bytes(frame(0, 10))
    assert "hello" in await refused(ws)


async def test_no_hello_in_time_is_refused(client: Client) -> None:
    ws = await connect(client)
    assert "no hello within" in await refused(ws)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "shorter than"),
        (b"\x00" * (HEADER_SIZE - 1), "shorter than"),
        (encode_frame(1, 0, b"\x00" * 3), "whole number"),
        (encode_frame(1, 0, b"\x00" * (HELLO.max_payload + 4)), "longer than one fragment"),
    ],
    ids=["empty", "short-header", "odd", "too-long"],
)
async def test_a_garbage_frame_is_refused_and_the_peer_dropped(
    client: Client, metrics: BackendMetrics, data: bytes, reason: str
) -> None:
    ws = await open_session(client)
    await ws.send_bytes(data)
    assert reason in await refused(ws)
    assert metrics.errors.labels("protocol")._value.get() == 1


async def test_text_other_than_an_error_after_the_hello_is_refused(client: Client) -> None:
    ws = await open_session(client)
    await ws.send_str(HELLO.wire())
    assert "only frames and error messages" in await refused(ws)


async def test_a_message_over_any_fragment_closes_the_connection(
    client: Client, metrics: BackendMetrics
) -> None:
    ws = await open_session(client)
    with contextlib.suppress(ConnectionError):  # closed while the client still writes
        await ws.send_bytes(b"\x00" * (MAX_MESSAGE_BYTES + 1))
    msg = await ws.receive(timeout=5)
    # 1009, unless the client's write broke first (its close code is then 1006).
    assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR)
    assert ws.close_code in (aiohttp.WSCloseCode.MESSAGE_TOO_BIG, 1006)
    assert metrics.errors.labels("protocol")._value.get() == 1


async def test_a_processor_that_refuses_the_hello() -> None:
    processor = Processors()
    async with TestClient(TestServer(make_app(processor))) as c:
        ws = await c.ws_connect(PATH, protocols=[SUBPROTOCOL])
        await ws.send_str(Hello(stream_id="cam", fragment_ms=100, params={"refuse": "1"}).wire())
        assert await refused(ws) == "hello refused: params.refuse is not welcome"
        assert processor.closed == 0


@pytest.mark.parametrize("answer", ["raise", "short", "float"])
async def test_a_failing_processor_ends_the_session_with_1011(answer: str) -> None:
    processor, metrics = Processors(answer), BackendMetrics()
    async with TestClient(TestServer(make_app(processor, metrics=metrics))) as c:
        ws = await c.ws_connect(PATH, protocols=[SUBPROTOCOL])
        await ws.send_str(HELLO.wire())
        await ws.receive_str(timeout=5)
        await ws.send_bytes(frame(1, 480))
        error = Error.model_validate_json(await ws.receive_str(timeout=5))
        assert error.message == "processing failed"
        assert (await ws.receive(timeout=5)).type is WSMsgType.CLOSE
        assert ws.close_code == aiohttp.WSCloseCode.INTERNAL_ERROR
        assert metrics.errors.labels("process")._value.get() == 1
        assert processor.closed == 1


async def test_shutdown_closes_open_sessions(client: Client) -> None:
    ws = await open_session(client)
    await client.app.shutdown()
    msg = await ws.receive(timeout=5)
    assert msg.type is WSMsgType.CLOSE
    assert ws.close_code == aiohttp.WSCloseCode.GOING_AWAY


# -- the CLI


def test_the_flags_and_their_defaults() -> None:
    args = backend.parse_args(["--kind", "tone"], {})
    assert (args.kind, args.host, args.port, args.path) == ("tone", "0.0.0.0", 8080, PATH)
    assert (args.tone_hz, args.target_lufs, args.log_level) == (440.0, -16.0, "INFO")
    args = backend.parse_args(
        ["--kind", "loudness", "--target-lufs", "-23"], {"LSO_LOG_LEVEL": "debug"}
    )
    assert (args.target_lufs, args.log_level) == (-23.0, "DEBUG")
    assert isinstance(backend.build_processor(args), LoudnessProcessor)
    assert backend.build_processor(
        backend.parse_args(["--kind", "tone", "--tone-hz", "1000"], {})
    ) == (ToneProcessor(hz=1000.0))


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--kind", "echo"],
        ["--kind", "tone", "--port", "0"],
        ["--kind", "tone", "--port", "http"],
        ["--kind", "tone", "--path", "v1/audio"],
        ["--kind", "tone", "--path", "/healthz"],
        ["--kind", "tone", "--tone-hz", "-440"],
        ["--kind", "tone", "--tone-hz", "nan"],
        ["--kind", "loudness", "--target-lufs", "3"],
        ["--kind", "tone", "--log-level", "loud"],
        ["--kind", "tone", "--extra"],
    ],
)
def test_bad_flags_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["backend", *argv])
    assert caught.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_a_bad_log_level_from_env_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        backend.parse_args(["--kind", "tone"], {"LSO_LOG_LEVEL": "loud"})
    assert caught.value.code == 2
    assert "LSO_LOG_LEVEL" in capsys.readouterr().err


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What main() would have served: http_edge.run_app recorded, not run."""
    seen: dict[str, Any] = {}

    def run_app(app: web.Application, **kwargs: Any) -> None:
        seen.update(kwargs, app=app)

    monkeypatch.setattr(http_edge, "run_app", run_app)
    return seen


def test_main_serves_with_the_token_from_env(
    served: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LSO_BACKEND_TOKEN", TOKEN + "\n")
    argv = ["backend", "--kind", "tone", "--port", "9000", "--host", "127.0.0.1"]
    assert cli.main(argv) == 0
    assert (served["host"], served["port"]) == ("127.0.0.1", 9000)
    out = capsys.readouterr().out
    assert "backend listening" in out
    assert "anyone" not in out
    assert TOKEN not in out


def test_main_warns_when_anyone_may_connect(
    served: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LSO_BACKEND_TOKEN", raising=False)
    assert cli.main(["backend", "--kind", "loudness"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert any(line["level"] == "warning" and "anyone" in line["msg"] for line in lines)


async def test_the_served_app_wants_the_token(
    served: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LSO_BACKEND_TOKEN", TOKEN)
    assert backend.main(["--kind", "tone"]) == 0
    async with TestClient(TestServer(served["app"])) as c:
        assert (await c.get(PATH)).status == 401
        await open_session(c)


# -- the fault backend (tests/support) speaks the same protocol, badly on demand


@pytest.fixture
def fault() -> Iterator[FaultBackend]:
    with FaultBackend(token=TOKEN) as backend_:
        yield backend_


async def fault_session(fault: FaultBackend) -> tuple[aiohttp.ClientSession, Any]:
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(fault.url, protocols=[SUBPROTOCOL], headers=AUTH)
    await ws.send_str(HELLO.wire())
    assert Ready.model_validate_json(await ws.receive_str(timeout=5)).name == "fault"
    return session, ws


async def test_the_fault_backend_answers_like_the_tone_backend(fault: FaultBackend) -> None:
    session, ws = await fault_session(fault)
    async with session:
        for seq in range(3):
            await ws.send_bytes(frame(seq, 480))
        for seq in range(3):
            header, pcm = decode_frame(await ws.receive_bytes(timeout=5), HELLO)
            assert header.seq == seq
            expected = tone(seq * 480, 480, 48_000, 440.0, 2)
            assert np.frombuffer(pcm, "<i2").reshape(-1, 2).tolist() == expected.tolist()
        assert (fault.connections, fault.sessions, fault.frames_received) == (1, 1, 3)
        assert fault.hellos == [HELLO]


async def test_the_fault_backend_delays(fault: FaultBackend) -> None:
    fault.delay_s = 0.3
    session, ws = await fault_session(fault)
    async with session:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await ws.send_bytes(frame(1, 480))
        await ws.receive_bytes(timeout=5)
        assert loop.time() - started >= 0.3


async def test_the_fault_backend_jitters(fault: FaultBackend) -> None:
    fault.jitter_s = 0.2
    session, ws = await fault_session(fault)
    async with session:
        for seq in range(10):
            await ws.send_bytes(frame(seq, 480))
        answers = [decode_frame(await ws.receive_bytes(timeout=5), HELLO)[0] for _ in range(10)]
        assert sorted(a.seq for a in answers) == list(range(10))


async def test_the_fault_backend_drops_the_connection(fault: FaultBackend) -> None:
    fault.drop_after = 2
    session, ws = await fault_session(fault)
    async with session:
        for seq in range(2):
            await ws.send_bytes(frame(seq, 480))
        assert len([await ws.receive_bytes(timeout=5) for _ in range(2)]) == 2
        msg = await ws.receive(timeout=5)
        assert msg.type in (WSMsgType.CLOSED, WSMsgType.ERROR)  # no close frame
        assert fault.drops == 1


async def test_the_fault_backend_garbles(fault: FaultBackend) -> None:
    fault.garbage = True
    session, ws = await fault_session(fault)
    async with session:
        kinds = [g for g in Garbage if g is not Garbage.CYCLE]
        for seq in range(len(kinds)):
            await ws.send_bytes(frame(seq, 480))
        good = HELLO.frame_bytes(480)
        answers = [(await ws.receive(timeout=5)).data for _ in kinds]
        assert [len(a) for a in answers[:4]] == [
            HEADER_SIZE + good // 2,
            HEADER_SIZE + 2 * good,
            HEADER_SIZE + good + 1,
            HEADER_SIZE // 2,
        ]
        assert decode_frame(answers[4], HELLO)[0].seq == 4 + 1_000_000
        assert answers[5] == "}not json{"


async def test_the_fault_backend_refuses(fault: FaultBackend) -> None:
    fault.refuse = Refuse.UNAUTHORIZED
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await session.ws_connect(fault.url, protocols=[SUBPROTOCOL], headers=AUTH)
        assert caught.value.status == 401
        fault.refuse = Refuse.HELLO
        ws = await session.ws_connect(fault.url, protocols=[SUBPROTOCOL], headers=AUTH)
        await ws.send_str(HELLO.wire())
        assert "refused" in await refused(ws)
        fault.refuse = Refuse.SILENT
        ws = await session.ws_connect(fault.url, protocols=[SUBPROTOCOL], headers=AUTH)
        await ws.send_str(HELLO.wire())
        with pytest.raises(asyncio.TimeoutError):
            await ws.receive(timeout=0.3)
        await ws.close()
    assert (fault.connections, fault.sessions) == (3, 0)
