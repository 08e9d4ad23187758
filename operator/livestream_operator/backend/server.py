"""The reference backends' server: one aiohttp application that speaks
`lso.audio.v1` (api/backend_protocol.py) at one WebSocket path and hands each
connection's fragments, in order, to a Session of its Processor.

    GET <path>    the WebSocket (subprotocol lso.audio.v1, Bearer token if set)
    GET /healthz  200 "ok"
    GET /metrics  Prometheus text (the app's own registry)

Every HTTP refusal is an RFC 9457 problem, never a 500; every protocol refusal
is an Error message then close 1008: a peer that breaks the protocol once
cannot be trusted with the framing of what follows. Neither PCM nor the token
ever reaches a log line.
"""

from __future__ import annotations

import contextlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from aiohttp import WSCloseCode, WSMsgType, web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import ValidationError

from .. import logs
from ..api.backend_protocol import (
    CLOSE_POLICY,
    HEADER_SIZE,
    MAX_FRAGMENT_MS,
    SUBPROTOCOL,
    Error,
    Hello,
    ProtocolError,
    Ready,
    decode_frame,
    encode_frame,
)
from ..api.pod_contract import HEALTH_PATH, METRICS_PATH
from ..api.stream_keys import same_key
from ..http_edge import problem
from .processor import Pcm, Processor, Session, pcm_from_bytes, pcm_to_bytes

DEFAULT_PATH = "/v1/audio"
HEARTBEAT_S = 10.0  # a ping every 10 s; no pong within 5 s closes the connection
HELLO_TIMEOUT_S = 10.0
MAX_HELLO_CHARS = 64 * 1024  # a Hello is a few hundred bytes; 16 params of 256 at most
# aiohttp bounds a message before any Hello is read, so the bound is the largest
# frame any valid Hello allows (5 s at 192 kHz, 8 channels: ~15 MB); each
# frame is then held to its own Hello's fragment by decode_frame.
MAX_MESSAGE_BYTES = (
    HEADER_SIZE
    + Hello(
        stream_id="bound", sample_rate=192_000, channels=8, fragment_ms=MAX_FRAGMENT_MS
    ).max_payload
)
ERROR_KINDS = ("unauthorized", "upgrade", "hello", "protocol", "process", "internal")

log = logging.getLogger("livestream_operator.backend")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BackendMetrics:
    """The server's metrics, in a registry of their own (one per app)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.sessions = Gauge(
            "lso_backend_sessions", "Open sessions (past Ready).", registry=self.registry
        )
        self.fragments = Counter(
            "lso_backend_fragments", "Fragments answered.", registry=self.registry
        )
        self.process_seconds = Histogram(
            "lso_backend_process_seconds",
            "Time the processor took for one fragment.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.errors = Counter(
            "lso_backend_errors",
            "Connections and sessions refused or ended by an error, by kind.",
            ["kind"],
            registry=self.registry,
        )
        for kind in ERROR_KINDS:
            self.errors.labels(kind)


def authorized(header: str | None, token: str) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time. An empty token
    matches nothing: whether one is needed at all is the caller's decision."""
    scheme, _, value = (header or "").strip().partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return same_key(value.strip(), token)


def hello_error(exc: ValidationError) -> str:
    """What is wrong with a Hello, by wire field name (a params key is one); never
    the values sent."""
    reasons = [
        f"{'.'.join(str(part) for part in err['loc']) or 'hello'}: {err['msg']}"
        for err in exc.errors(include_input=False, include_url=False)
    ]
    return "invalid hello: " + "; ".join(reasons)


def valid_answer(out: Any, pcm: Pcm) -> bool:
    return isinstance(out, np.ndarray) and out.dtype == np.int16 and out.shape == pcm.shape


class _Refused(Exception):
    """End the session with Error + close: the message and the metric's kind."""

    def __init__(self, kind: str, message: str, code: int = CLOSE_POLICY) -> None:
        super().__init__(message)
        self.kind, self.message, self.code = kind, message, code


class _Backend:
    def __init__(
        self,
        processor: Processor,
        token: str,
        metrics: BackendMetrics,
        heartbeat: float,
        hello_timeout: float,
    ) -> None:
        self.processor, self.token, self.metrics = processor, token, metrics
        self.heartbeat, self.hello_timeout = heartbeat, hello_timeout
        self.sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()

    async def audio(self, request: web.Request) -> web.StreamResponse:
        if self.token and not authorized(request.headers.get("Authorization"), self.token):
            self.metrics.errors.labels("unauthorized").inc()
            return problem(
                401,
                "unauthorized",
                "Unauthorized",
                "connect with Authorization: Bearer <backend token>",
                headers={"WWW-Authenticate": 'Bearer realm="lso-backend"'},
            )
        ws = web.WebSocketResponse(
            protocols=(SUBPROTOCOL,), heartbeat=self.heartbeat, max_msg_size=MAX_MESSAGE_BYTES
        )
        ready = ws.can_prepare(request)
        if not ready.ok:
            self.metrics.errors.labels("upgrade").inc()
            return problem(
                426,
                "websocket-required",
                "WebSocket required",
                f"this path is a WebSocket: GET it with Upgrade: websocket and "
                f"Sec-WebSocket-Protocol: {SUBPROTOCOL}",
                headers={"Upgrade": "websocket"},
            )
        if ready.protocol != SUBPROTOCOL:
            self.metrics.errors.labels("upgrade").inc()
            return problem(
                400,
                "subprotocol-required",
                "Subprotocol required",
                f"offer Sec-WebSocket-Protocol: {SUBPROTOCOL}",
            )
        await ws.prepare(request)
        self.sockets.add(ws)
        context = logs.bind()  # _converse adds the stream's id once it is known
        try:
            await self._converse(ws)
        except _Refused as exc:
            self.metrics.errors.labels(exc.kind).inc()
            log.warning("session refused: %s", exc.message, extra={"kind": exc.kind})
            with contextlib.suppress(ConnectionError):
                await ws.send_str(Error(message=exc.message[:1024]).wire())
            await ws.close(code=exc.code, message=exc.kind.encode())
        except ConnectionError:
            log.info("the worker went away")
        except Exception:
            self.metrics.errors.labels("internal").inc()
            log.exception("unexpected error in a session")
            await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"internal")
        finally:
            logs.reset(context)
        return ws

    async def _converse(self, ws: web.WebSocketResponse) -> None:
        hello = await self._hello(ws)
        if hello is None:
            return
        logs.bind(streamId=hello.stream_id)
        try:
            session = self.processor.open(hello)
        except ValueError as exc:
            raise _Refused("hello", f"hello refused: {exc}") from None
        try:
            await ws.send_str(Ready(name=self.processor.name).wire())
            log.info(
                "session open",
                extra={
                    "sampleRate": hello.sample_rate,
                    "channels": hello.channels,
                    "fragmentMs": hello.fragment_ms,
                },
            )
            self.metrics.sessions.inc()
            try:
                frames = await self._frames(ws, hello, session)
            finally:
                self.metrics.sessions.dec()
            log.info("session closed", extra={"fragments": frames})
        finally:
            await session.close()

    async def _hello(self, ws: web.WebSocketResponse) -> Hello | None:
        """The first message as a Hello; None if the peer left first."""
        try:
            msg = await ws.receive(timeout=self.hello_timeout)
        except TimeoutError:
            raise _Refused("hello", f"no hello within {self.hello_timeout:g} s") from None
        if msg.type is WSMsgType.BINARY:
            raise _Refused("hello", "the first message must be a hello (text), not a frame")
        if msg.type is not WSMsgType.TEXT:
            return None  # closed, closing or a transport error: nobody to answer
        if len(msg.data) > MAX_HELLO_CHARS:
            raise _Refused("hello", f"the hello is longer than {MAX_HELLO_CHARS} characters")
        try:
            return Hello.model_validate_json(msg.data)
        except ValidationError as exc:
            raise _Refused("hello", hello_error(exc)) from None

    async def _frames(self, ws: web.WebSocketResponse, hello: Hello, session: Session) -> int:
        """Answer fragments in order until the peer closes; how many were answered."""
        answered = 0
        async for msg in ws:
            if msg.type is WSMsgType.BINARY:
                try:
                    header, payload = decode_frame(msg.data, hello)
                except ProtocolError as exc:
                    raise _Refused("protocol", str(exc)) from None
                pcm = pcm_from_bytes(payload, hello.channels)
                out = await self._process(session, pcm) if len(pcm) else pcm
                await ws.send_bytes(encode_frame(header.seq, header.pts_ns, pcm_to_bytes(out)))
                self.metrics.fragments.inc()
                answered += 1
            elif msg.type is WSMsgType.TEXT:
                self._peer_error(msg.data)
            elif msg.type is WSMsgType.ERROR:
                # Too large a message, a bad frame: aiohttp has closed already.
                self.metrics.errors.labels("protocol").inc()
                log.warning("connection failed: %s", ws.exception())
                break
        return answered

    async def _process(self, session: Session, pcm: Pcm) -> Pcm:
        started = time.perf_counter()
        try:
            out = await session.process(pcm)
        except Exception:
            log.exception("the %s processor failed on a fragment", self.processor.name)
            raise _Refused("process", "processing failed", WSCloseCode.INTERNAL_ERROR) from None
        self.metrics.process_seconds.observe(time.perf_counter() - started)
        if not valid_answer(out, pcm):
            shape = getattr(out, "shape", None)
            log.error("the %s processor answered %s for %s", self.processor.name, shape, pcm.shape)
            raise _Refused("process", "processing failed", WSCloseCode.INTERNAL_ERROR)
        return out

    def _peer_error(self, text: str) -> None:
        """After the Hello, the worker may only send Errors (logged) besides frames."""
        try:
            error = Error.model_validate_json(text)
        except ValidationError:
            raise _Refused(
                "protocol", "after the hello, only frames and error messages may be sent"
            ) from None
        log.warning("the worker reports an error: %s", error.message[:256])

    async def close_all(self, _: web.Application) -> None:
        for ws in list(self.sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"shutting down")


@web.middleware
async def _problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own refusals (404, 405...) as problems too, and never a bare 500."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return problem(exc.status, "http-error", exc.reason, exc.reason, headers=allow)
    except Exception:
        log.exception("unexpected error handling a request")
        return problem(500, "internal-error", "Internal error", "see the backend's logs")


async def _health(_: web.Request) -> web.Response:
    return web.Response(text="ok")


def make_app(
    processor: Processor,
    *,
    token: str = "",
    path: str = DEFAULT_PATH,
    metrics: BackendMetrics | None = None,
    heartbeat: float = HEARTBEAT_S,
    hello_timeout: float = HELLO_TIMEOUT_S,
) -> web.Application:
    """The backend's application; an empty token lets anyone connect."""
    metrics = metrics or BackendMetrics()
    backend = _Backend(processor, token, metrics, heartbeat, hello_timeout)

    async def expose(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application(middlewares=[_problems])
    app.router.add_get(path, backend.audio)
    app.router.add_get(HEALTH_PATH, _health)
    app.router.add_get(METRICS_PATH, expose)
    app.on_shutdown.append(backend.close_all)
    return app
