"""A processing backend that fails on demand, for the faults a real one cannot be
made to produce: slow answers, dropped connections, garbled frames, refusals.

It speaks `lso.audio.v1` with the tone processor (backend/tone.py) on its own
event loop in a thread, so that a test (or a real worker under test) talks to
it over a real socket on 127.0.0.1. The switches are plain attributes, set from
the test's thread at any time; each is read when the next decision is taken:

    delay_s     answer each fragment this long after it arrived
    jitter_s    and up to this much longer, at random (seeded: the same run
                twice jitters the same); answers then come out of order,
                which the protocol allows
    drop_after  N: each connection is aborted (TCP closed, no close frame)
                right after its Nth answer (0: at its first frame); None: never
    garbage     answer with this kind of broken frame; True (or Garbage.CYCLE):
                each kind in turn
    refuse      UNAUTHORIZED: 401 at the upgrade; HELLO: Error + close 1008 after
                the hello; SILENT: read the hello and never answer it

    with FaultBackend(token="t") as backend:
        backend.delay_s = 2.0
        ...  # point a worker at backend.url
        assert backend.frames_received > 0
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import random
import socket
import threading
from dataclasses import dataclass, field
from types import TracebackType

from aiohttp import WSMsgType, web
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
from livestream_operator.backend.processor import pcm_from_bytes, pcm_to_bytes
from livestream_operator.backend.server import authorized
from livestream_operator.backend.tone import ToneProcessor, ToneSession
from livestream_operator.http_edge import problem


class Garbage(enum.Enum):
    SHORT = "short"  # half the fragment's samples
    LONG = "long"  # twice its samples
    ODD = "odd"  # one byte more: not a whole number of samples
    NO_HEADER = "no-header"  # 8 bytes: shorter than the header
    WRONG_SEQ = "wrong-seq"  # the right length, for a sequence number never sent
    TEXT = "text"  # a text message that is not JSON
    CYCLE = "cycle"  # each of the above in turn


class Refuse(enum.Enum):
    UNAUTHORIZED = "unauthorized"
    HELLO = "hello"
    SILENT = "silent"


_KINDS = [g for g in Garbage if g is not Garbage.CYCLE]


def garbled(kind: Garbage, seq: int, pts_ns: int, pcm: bytes, sample_bytes: int) -> bytes | str:
    """The broken answer of `kind` to a frame (CYCLE is resolved by the caller)."""
    if kind is Garbage.SHORT:
        return encode_frame(seq, pts_ns, pcm[: len(pcm) // sample_bytes // 2 * sample_bytes])
    if kind is Garbage.LONG:
        return encode_frame(seq, pts_ns, pcm + pcm)
    if kind is Garbage.ODD:
        return encode_frame(seq, pts_ns, pcm + b"\x00")
    if kind is Garbage.NO_HEADER:
        return encode_frame(seq, pts_ns, b"")[: HEADER_SIZE // 2]
    if kind is Garbage.WRONG_SEQ:
        return encode_frame(seq + 1_000_000, pts_ns, pcm)
    return "}not json{"


@dataclass
class _Connection:
    ws: web.WebSocketResponse
    transport: asyncio.Transport | None
    answered: int = 0
    pending: set[asyncio.Task[None]] = field(default_factory=set)


class FaultBackend:
    def __init__(
        self, *, token: str = "", path: str = "/v1/audio", tone_hz: float = 440.0, seed: int = 0
    ) -> None:
        self.token, self.path = token, path
        self.processor = ToneProcessor(hz=tone_hz)
        # The switches (see the module's docstring).
        self.delay_s = 0.0
        self.jitter_s = 0.0
        self.drop_after: int | None = None
        self.garbage: Garbage | bool | None = None
        self.refuse: Refuse | None = None
        # What happened (written on the server's thread; ints, so reads are safe).
        self.connections = 0  # upgrade requests at the path, refused ones included
        self.sessions = 0  # hellos answered Ready
        self.frames_received = 0
        self.frames_answered = 0  # garbage included
        self.drops = 0
        self.hellos: list[Hello] = []
        self._cycle = itertools.cycle(_KINDS)
        self._random = random.Random(seed)
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fault-backend", daemon=True
        )
        self._runner: web.AppRunner | None = None
        self._sockets: set[web.WebSocketResponse] = set()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{self.path}"

    def start(self) -> FaultBackend:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
            self._runner = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._sock.close()

    def __enter__(self) -> FaultBackend:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get(self.path, self._audio)
        app.on_shutdown.append(self._close_all)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()

    async def _close_all(self, _: web.Application) -> None:
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"stopping")

    async def _audio(self, request: web.Request) -> web.StreamResponse:
        self.connections += 1
        if self.refuse is Refuse.UNAUTHORIZED or (
            self.token and not authorized(request.headers.get("Authorization"), self.token)
        ):
            return problem(401, "unauthorized", "Unauthorized", "refused by the fault backend")
        ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,), heartbeat=10.0)
        if not ws.can_prepare(request).ok:
            return problem(426, "websocket-required", "WebSocket required", "upgrade")
        await ws.prepare(request)
        conn = _Connection(ws, request.transport)
        self._sockets.add(ws)
        try:
            await self._converse(conn)
        finally:
            for task in conn.pending:
                task.cancel()
            self._sockets.discard(ws)
        return ws

    async def _converse(self, conn: _Connection) -> None:
        ws = conn.ws
        msg = await ws.receive()
        if msg.type is not WSMsgType.TEXT:
            await ws.close(code=CLOSE_POLICY)
            return
        try:
            hello = Hello.model_validate_json(msg.data)
        except ValidationError:
            await self._refuse(ws, "invalid hello")
            return
        self.hellos.append(hello)
        if self.refuse is Refuse.HELLO:
            await self._refuse(ws, "refused by the fault backend")
            return
        if self.refuse is not Refuse.SILENT:
            await ws.send_str(Ready(name="fault").wire())
            self.sessions += 1
        session = self.processor.open(hello)
        async for msg in ws:
            if msg.type is not WSMsgType.BINARY or self.refuse is Refuse.SILENT:
                continue
            self.frames_received += 1
            if self._drop_due(conn):
                return
            try:
                header, pcm = decode_frame(msg.data, hello)
            except ProtocolError as exc:
                await self._refuse(ws, str(exc))
                return
            answer = self._answer(session, hello, header.seq, header.pts_ns, pcm)
            delay = self.delay_s + self._random.uniform(0.0, self.jitter_s)
            task = asyncio.create_task(self._send_later(conn, answer, delay))
            conn.pending.add(task)
            task.add_done_callback(conn.pending.discard)

    def _drop_due(self, conn: _Connection) -> bool:
        """Abort the connection (TCP closed, no close frame) once drop_after is reached."""
        if self.drop_after is None or conn.answered < self.drop_after or conn.transport is None:
            return False
        if not conn.transport.is_closing():
            self.drops += 1
            conn.transport.abort()
        return True

    def _answer(
        self, session: ToneSession, hello: Hello, seq: int, pts_ns: int, pcm: bytes
    ) -> bytes | str:
        kind = self.garbage
        if kind is True or kind is Garbage.CYCLE:
            kind = next(self._cycle)
        if isinstance(kind, Garbage):
            return garbled(kind, seq, pts_ns, pcm, hello.channels * 2)
        # Taken at arrival, so the tone stays continuous whatever the delays.
        tone = session.take(len(pcm_from_bytes(pcm, hello.channels)))
        return encode_frame(seq, pts_ns, pcm_to_bytes(tone))

    async def _send_later(self, conn: _Connection, answer: bytes | str, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        if self._drop_due(conn):
            return
        with contextlib.suppress(ConnectionError):
            if isinstance(answer, str):
                await conn.ws.send_str(answer)
            else:
                await conn.ws.send_bytes(answer)
            self.frames_answered += 1
            conn.answered += 1
        self._drop_due(conn)

    async def _refuse(self, ws: web.WebSocketResponse, message: str) -> None:
        with contextlib.suppress(ConnectionError):
            await ws.send_str(Error(message=message).wire())
        await ws.close(code=CLOSE_POLICY, message=b"refused")
