"""Process mode's shell around worker/fragments.py: one WebSocket to the backend
(api/backend_protocol.py), on an asyncio loop in a thread of its own.

GStreamer hands over each fragment of PCM from a streaming thread (submit());
the stage sends it, or decides its fallback, and hands what goes out, in order,
to the current pipeline's `emit` callback. The stage outlives pipeline attempts,
so a reconnecting input keeps its backend session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import numpy as np

from ..api import backend_protocol as wire
from ..api.pod_contract import FallbackReason, ProcessingReport, WorkerProcessing
from ..api.v1alpha1 import ProcessingState
from .fragments import Breaker, Health, Mixer, Pcm, Reorder, admit, answer_pcm
from .metrics import WorkerMetrics

log = logging.getLogger("livestream_operator.worker.processing")

# emit(pts_ns, pcm): the fragment's audio, as it goes out, in sequence order.
Emit = Callable[[int, Pcm], None]
CONNECT_TIMEOUT_S = 5.0
HEARTBEAT_S = 10.0


@dataclass
class _Pending:
    pts_ns: int
    original: Pcm
    deadline: asyncio.TimerHandle
    sent_at: float | None = None  # None: waiting for an in-flight slot


class ProcessingStage:
    def __init__(
        self,
        stream_id: str,
        cfg: WorkerProcessing,
        token: str,
        metrics: WorkerMetrics,
        *,
        sample_rate: int = wire.SAMPLE_RATE,
        channels: int = wire.CHANNELS,
    ) -> None:
        self.cfg, self.metrics = cfg, metrics
        self._token = token
        self.hello = wire.Hello(
            stream_id=stream_id,
            sample_rate=sample_rate,
            channels=channels,
            fragment_ms=cfg.fragment_ms,
            params=cfg.params,
        )
        self.mixer = Mixer(cfg.mix, cfg.duck_db, sample_rate)
        # A backend that comes back is tried again within 10 s at most.
        self.breaker = Breaker(max_cooldown_s=10.0)
        self.health = Health(since=time.time())
        # Outcomes wait here for their predecessors; mixed in order (the mixer ramps).
        self._reorder: Reorder[tuple[int, Pcm, Pcm | None]] = Reorder()
        self._seq = 0
        self._pending: dict[int, _Pending] = {}
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._emit: Emit | None = None
        self._lock = threading.Lock()  # health, read by the HTTP thread
        self._loop = asyncio.new_event_loop()
        self._wake = asyncio.Event()
        self._stopping = False
        # Why the backend is not there, for the status of the fragments that
        # fall back meanwhile (a refused hello names the backend's reason).
        self._last_error = ""
        self._tasks: set[asyncio.Task[object]] = set()
        self._thread = threading.Thread(target=self._run, name="processing", daemon=True)

    # --- called from other threads ----------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._loop.call_soon_threadsafe(self._shutdown)
        self._thread.join(timeout=3)

    def attach(self, emit: Emit | None) -> None:
        """The pipeline whose audio output gets the fragments (None: none now).

        A new pipeline starts a new timeline: fragments of the old one that are
        still out are dropped when they are decided.
        """
        self._loop.call_soon_threadsafe(self._attach, emit)

    def submit(self, pts_ns: int, data: bytes) -> None:
        """One fragment of the input's audio (any thread)."""
        unit = self.hello.channels * wire.SAMPLE_WIDTH
        pcm = np.frombuffer(data[: len(data) - len(data) % unit], dtype="<i2")
        pcm = pcm.reshape(-1, self.hello.channels).astype(np.int16)
        self._loop.call_soon_threadsafe(self._on_fragment, pts_ns, pcm, time.monotonic())

    def report(self) -> ProcessingReport:
        with self._lock:
            h = self.health
            fallback = h.state is ProcessingState.FALLBACK
            return ProcessingReport(
                state=h.state,
                # A one-off fallback leaves Processing as it was: no reason then.
                reason=h.reason.condition_reason if fallback and h.reason else None,
                message=(h.message or None) if fallback else None,
                since=datetime.fromtimestamp(h.since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                fragments=h.fragments,
                fallback_fragments=h.fallback_fragments,
            )

    # --- the loop -----------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            while not self._stopping:
                try:
                    self._loop.run_until_complete(self._connection())
                except Exception:
                    # A bug must not stop the audio: fragments keep falling back
                    # while the connection loop starts over.
                    log.exception("processing stage failed; starting over")
                    self._ws = None
                    self._fail_pending(FallbackReason.BACKEND_UNAVAILABLE, "internal error")
                    time.sleep(1.0)
        finally:
            self._loop.close()

    def _shutdown(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._ws is not None:
            self._spawn(self._ws.close())

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        """A task kept until done (the loop holds only weak references to tasks)."""
        task = self._loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _attach(self, emit: Emit | None) -> None:
        self._emit = emit
        self._reorder.restart(self._seq)
        # The old pipeline's fragments have nowhere to go: they must not take
        # the backend's slots from the new one's (their answers count as late).
        for pending in self._pending.values():
            pending.deadline.cancel()
        self._pending.clear()
        self.metrics.inflight_fragments.set(0)

    async def _connection(self) -> None:
        """Keep one connection to the backend while the breaker lets it try."""
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        async with aiohttp.ClientSession() as session:
            while not self._stopping:
                wait = self.breaker.retry_in(time.monotonic())
                if wait > 0:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), wait)
                    continue
                if not self.breaker.allow(time.monotonic()):
                    await asyncio.sleep(0.1)
                    continue
                try:
                    ws = await asyncio.wait_for(
                        session.ws_connect(
                            self.cfg.backend_url,
                            protocols=(wire.SUBPROTOCOL,),
                            headers=headers,
                            heartbeat=HEARTBEAT_S,
                            max_msg_size=wire.HEADER_SIZE + self.hello.max_payload + 1024,
                        ),
                        CONNECT_TIMEOUT_S,
                    )
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    self._connection_failed(f"cannot connect: {_describe(exc)}")
                    continue
                try:
                    await self._handshake(ws)
                except (aiohttp.ClientError, OSError, TimeoutError, wire.ProtocolError) as exc:
                    await ws.close()
                    self._connection_failed(f"hello failed: {_describe(exc)}")
                    continue
                self._ws = ws
                self.breaker.connected()
                self.metrics.backend_connected.set(1)
                log.info(
                    "connected to the processing backend", extra={"backend": self.cfg.backend_url}
                )
                try:
                    await self._receive(ws)
                finally:
                    self._ws = None
                    self.metrics.backend_connected.set(0)
                    self._fail_pending(FallbackReason.BACKEND_UNAVAILABLE, "connection lost")
                if not self._stopping:
                    self._connection_failed(f"connection closed ({ws.close_code})")

    async def _handshake(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        await ws.send_str(self.hello.wire())
        msg = await asyncio.wait_for(ws.receive(), CONNECT_TIMEOUT_S)
        if msg.type is not aiohttp.WSMsgType.TEXT:
            raise wire.ProtocolError(f"expected a ready message, got {msg.type.name}")
        try:
            wire.Ready.model_validate_json(msg.data)
        except ValueError:
            raise wire.ProtocolError(f"the backend refused: {_error_text(msg.data)}") from None

    def _connection_failed(self, why: str) -> None:
        self._last_error = why
        self.breaker.failure(time.monotonic())
        self.metrics.backend_errors.labels("connection").inc()
        log.warning(
            "processing backend unavailable: %s; retrying in %.1f s",
            why,
            self.breaker.retry_in(time.monotonic()),
            extra={"backend": self.cfg.backend_url},
        )

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.BINARY:
                self._on_answer(msg.data)
            elif msg.type is aiohttp.WSMsgType.TEXT:
                log.warning("processing backend says: %s", _error_text(msg.data))
            elif msg.type is aiohttp.WSMsgType.ERROR:
                break

    # --- fragments (loop thread) ------------------------------------------

    def _on_fragment(self, pts_ns: int, pcm: Pcm, arrived: float) -> None:
        seq, self._seq = self._seq, self._seq + 1
        reason = admit(self._ws is not None, self.breaker, arrived)
        if reason is not None:
            self._decide(seq, pts_ns, pcm, None, reason)
            return
        # Every fragment's deadline runs from when it was complete (its `arrived`,
        # on the monotonic clock the loop keeps too), waiting or sent.
        deadline = self._loop.call_at(arrived + self.cfg.deadline_ms / 1000, self._on_deadline, seq)
        self._pending[seq] = _Pending(pts_ns, pcm, deadline)
        self._send_waiting()

    def _send_waiting(self) -> None:
        """Send waiting fragments, oldest first, while an in-flight slot is free.

        The bound is the backpressure: a backend that falls behind gets no more
        than maxInFlight fragments, and the rest wait, at most until their
        deadline; the stream itself never waits.
        """
        ws = self._ws
        inflight = sum(1 for p in self._pending.values() if p.sent_at is not None)
        for seq in sorted(self._pending):
            if ws is None or inflight >= self.cfg.max_in_flight:
                break
            p = self._pending[seq]
            if p.sent_at is None:
                p.sent_at = time.monotonic()
                inflight += 1
                frame = wire.encode_frame(seq, p.pts_ns, p.original.tobytes())
                self._spawn(self._send(ws, frame))
        self.metrics.inflight_fragments.set(inflight)

    async def _send(self, ws: aiohttp.ClientWebSocketResponse, frame: bytes) -> None:
        # A broken connection: the receive loop sees it and fails what is pending.
        with contextlib.suppress(aiohttp.ClientError, ConnectionError, RuntimeError):
            await ws.send_bytes(frame)

    def _on_answer(self, data: bytes) -> None:
        try:
            header, payload = wire.decode_frame(data, self.hello)
        except wire.ProtocolError as exc:
            self.metrics.backend_errors.labels("invalid_frame").inc()
            log.warning("invalid frame from the processing backend: %s", exc)
            return  # its fragment falls back at its deadline
        pending = self._pending.get(header.seq)
        if pending is None or pending.sent_at is None:
            self.metrics.late_answers.inc()
            return
        del self._pending[header.seq]
        pending.deadline.cancel()
        self.metrics.backend_rtt.observe(time.monotonic() - pending.sent_at)
        self._send_waiting()
        processed = answer_pcm(payload, pending.original)
        if processed is None:
            self.breaker.failure(time.monotonic())
            self._decide(
                header.seq,
                pending.pts_ns,
                pending.original,
                None,
                FallbackReason.INVALID_ANSWER,
                f"answer of {len(payload)} bytes for a fragment of {pending.original.nbytes}",
            )
            return
        self.breaker.success()
        self._last_error = ""
        self._decide(header.seq, pending.pts_ns, pending.original, processed, None)

    def _on_deadline(self, seq: int) -> None:
        pending = self._pending.pop(seq, None)
        if pending is None:
            return
        if pending.sent_at is None:  # never got a slot: the backend is behind
            limit, wait = self.cfg.max_in_flight, self.cfg.deadline_ms
            reason = FallbackReason.INFLIGHT_LIMIT
            message = f"{limit} fragments were in flight for {wait} ms"
        else:
            reason, message = FallbackReason.DEADLINE, f"no answer within {self.cfg.deadline_ms} ms"
            self.breaker.failure(time.monotonic())
        self._send_waiting()
        self._decide(seq, pending.pts_ns, pending.original, None, reason, message)

    def _fail_pending(self, reason: FallbackReason, message: str) -> None:
        pending, self._pending = self._pending, {}
        self.metrics.inflight_fragments.set(0)
        for seq in sorted(pending):
            p = pending[seq]
            p.deadline.cancel()
            self._decide(seq, p.pts_ns, p.original, None, reason, message)

    def _decide(
        self,
        seq: int,
        pts_ns: int,
        original: Pcm,
        processed: Pcm | None,
        fallback: FallbackReason | None,
        message: str = "",
    ) -> None:
        if fallback is not None:
            self.metrics.fallback_fragments.labels(fallback.value).inc()
        else:
            self.metrics.processed_fragments.inc()
        with self._lock:
            changed = self.health.record(time.time(), fallback, message or self._why(fallback))
            state = self.health.state
        if changed:
            log.log(
                logging.WARNING if fallback else logging.INFO,
                "processing state %s%s",
                state.value,
                f": {fallback.value} ({self.health.message})" if fallback else "",
                extra={
                    "processingState": state.value,
                    "reason": fallback.value if fallback else None,
                },
            )
        emit = self._emit
        for out_pts, orig, answer in self._reorder.decide(seq, (pts_ns, original, processed)):
            pcm = self.mixer.mix(orig, answer)
            if emit is not None:
                emit(out_pts, pcm)

    def _why(self, fallback: FallbackReason | None) -> str:
        """The status message of a fallback that has no message of its own."""
        if fallback is FallbackReason.BACKEND_UNAVAILABLE:
            return f"the processing backend is not connected: {self._last_error or 'connecting'}"
        if fallback is FallbackReason.BREAKER_OPEN:
            last = f": {self._last_error}" if self._last_error else ""
            return f"the processing backend failed repeatedly; retrying later{last}"
        return ""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        return f"HTTP {exc.status}"
    return str(exc) or type(exc).__name__


def _error_text(data: str) -> str:
    try:
        return wire.Error.model_validate_json(data).message
    except ValueError:
        return "an unexpected message"
