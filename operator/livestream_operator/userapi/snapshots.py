"""GET /v1/streams/{streamId}/snapshot: a current JPEG of a live stream.

The picture comes from MediaMTX over RTSP with the worker's credentials, from
live/<id>/out when the processed output is live, else from live/<id>/in. A
decode (one ffmpeg run: connect, wait for a keyframe, encode one JPEG) costs
about 0.2 s plus the wait for the next keyframe, so pictures are shared: within
`max_age` of a decode every viewer gets its result, and viewers arriving while
one is running wait for that one (single flight). A global semaphore bounds the
decodes running at once, whatever the number of streams, and ffmpeg runs at a
lower CPU priority (nice 10): it shares the receiver's container with the auth
endpoint that MediaMTX waits for on every publish and read.

Who may see a stream's picture is stream_access.admit's to decide (in streamKey
mode, `Authorization: Bearer <key>`).

The pure pieces (choose_path, PictureCache, StatusThrottle, status_change) decide;
Snapshots wires them to aiohttp, ffmpeg and the status writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import web

from .. import logs
from ..access.auth_endpoint import AuthService
from ..access.stream_access import admit
from ..api import naming
from ..api.ownership import FieldManager
from ..api.v1alpha1 import (
    LiveStream,
    LiveStreamStatus,
    RecordedPath,
    SnapshotStatus,
    format_time_precise,
    parse_time,
)
from ..http_edge import problem
from ..ingest.conditional_writer import ConditionalWriter
from ..media_urls import Redactor, with_userinfo_credentials
from ..settings import AuthMode, Settings
from . import metrics

log = logging.getLogger(__name__)

MAX_AGE = 1.0  # a picture is served again for this long: one decode/s/stream at most
TIMEOUT = 10.0  # a decode that takes longer is killed (504)
MAX_DECODES = 2  # ffmpeg processes at once, over all streams (the receiver has ~1 core)
NICENESS = 10  # ffmpeg's CPU priority below the receiver's (0: the same)
STATUS_EVERY = 10.0  # status.snapshot is rewritten at most this often per stream
# A grabber that ignores its timeout is abandoned this much later.
GRACE = 1.0
# Pictures and throttle marks older than this are dropped (scanned at most this often).
STALE = 60.0

# (rtsp_url, timeout) -> one JPEG. Raises GrabFailed, or TimeoutError.
Grabber = Callable[[str, float], Awaitable[bytes]]
Clock = Callable[[], float]
Key = tuple[str, RecordedPath]

# ffmpeg, tuned for a fast cold picture (measured against MediaMTX 1.20 with
# ffmpeg 5.1, 640x360 H.264 with a 1 s GOP: 0.2-1.1 s, mean 0.6 s; the default
# probing took 1.6 s). MediaMTX's SDP carries the codec parameters, so probing a
# few bytes is enough; without it ffmpeg reads ~1 s of stream first. Audio is not
# even set up. skip_frame=nokey: the first picture is a keyframe, never the
# half-grey frame an HEVC decoder makes of a GOP joined in the middle (H.264
# recovery points count as key, so intra-refresh streams work). One decoder
# thread: frame threads add latency and the box runs several decodes at once.
FFMPEG_INPUT = (
    "-hide_banner", "-nostdin", "-loglevel", "error",
    "-rtsp_transport", "tcp", "-allowed_media_types", "video",
    "-probesize", "32", "-analyzeduration", "0",
    "-skip_frame", "nokey", "-threads", "1",
)  # fmt: skip
FFMPEG_OUTPUT = (
    "-map", "0:v:0", "-frames:v", "1",
    "-c:v", "mjpeg", "-q:v", "3", "-f", "image2pipe", "pipe:1",
)  # fmt: skip


# ------------------------------------------------------------------------ pure


@dataclass(frozen=True)
class Picture:
    jpeg: bytes
    path: RecordedPath
    taken: datetime  # wall clock: headers and status
    at: float  # the cache's clock: freshness


@dataclass(frozen=True)
class Failure:
    """A decode that gave no picture; cached like one, so a broken stream costs
    one ffmpeg run per max_age too."""

    status: int
    slug: str
    title: str
    detail: str
    at: float

    def response(self) -> web.Response:
        resp = problem(self.status, self.slug, self.title, self.detail)
        resp.headers["Retry-After"] = "1"
        return resp


Entry = Picture | Failure


class GrabFailed(Exception):
    """The grabber produced no picture; the message never carries credentials."""


def choose_path(status: LiveStreamStatus) -> RecordedPath | None:
    """out when the processed output is live, else in when the ingest is, else None."""
    if status.output is not None and status.output.available:
        return RecordedPath.OUT
    if status.ingest is not None and status.ingest.available:
        return RecordedPath.IN
    return None


class PictureCache:
    """The last picture (or failure) per (stream, path), fresh for max_age."""

    def __init__(self, max_age: float = MAX_AGE, clock: Clock = time.monotonic) -> None:
        self.max_age = max_age
        self._clock = clock
        self._entries: dict[Key, Entry] = {}
        self._pruned = clock()

    def fresh(self, key: Key) -> Entry | None:
        entry = self._entries.get(key)
        if entry is not None and self._clock() - entry.at < self.max_age:
            return entry
        return None

    def put(self, key: Key, entry: Entry) -> None:
        self._entries[key] = entry
        now = self._clock()
        # Streams come and go: drop pictures nobody asked for in a while, with an
        # O(n) scan at most once per STALE rather than at every decode.
        if now - self._pruned >= STALE:
            self._pruned = now
            self._entries = {k: e for k, e in self._entries.items() if now - e.at < STALE}

    def __len__(self) -> int:
        return len(self._entries)


class StatusThrottle:
    """Whether a new picture should be written to status.snapshot: at most once
    per `every` seconds per stream, so that viewers do not rewrite it each second."""

    def __init__(self, every: float = STATUS_EVERY, clock: Clock = time.monotonic) -> None:
        self.every = every
        self._clock = clock
        self._last: dict[str, float] = {}
        self._pruned = clock()

    def due(self, stream_id: str) -> bool:
        """True (and counted as written) when the stream's last write is old enough."""
        now = self._clock()
        last = self._last.get(stream_id)
        if last is not None and now - last < self.every:
            return False
        self._last[stream_id] = now
        if now - self._pruned >= max(STALE, self.every):
            self._pruned = now
            self._last = {s: t for s, t in self._last.items() if now - t < self.every}
        return True


def status_change(picture: Picture) -> Callable[[LiveStream], LiveStreamStatus | None]:
    """The decide function for ConditionalWriter.update: record the picture,
    unless the stored one (another replica's) is as new."""
    when = format_time_precise(picture.taken)

    def decide(current: LiveStream) -> LiveStreamStatus | None:
        old = current.status.snapshot
        stored = parse_time(old.last_time) if old is not None else None
        if stored is not None and stored >= picture.taken:
            return None
        return LiveStreamStatus(snapshot=SnapshotStatus(last_time=when, path=picture.path))

    return decide


def rtsp_url(base: str, path: str, user: str, password: str) -> str:
    """rtsp://user:password@host:port/<path> from the MediaMTX RTSP base URL (no
    credentials unless both are set). For ffmpeg's argv only: never log it."""
    return with_userinfo_credentials(
        f"{base.rstrip('/')}/{path}", user if password else "", password
    )


def is_jpeg(data: bytes) -> bool:
    return len(data) > 4 and data.startswith(b"\xff\xd8") and data.endswith(b"\xff\xd9")


# ---------------------------------------------------------------------- ffmpeg


class FFmpegGrabber:
    """One JPEG of the first keyframe of an RTSP stream, by an ffmpeg subprocess
    that is killed at the timeout (and when the caller is cancelled).

    ffmpeg starts under `nice -n <niceness>`, which execs it: the process asyncio
    waits for and kills is ffmpeg itself, and its threads inherit the priority
    (unlike a setpriority() after the start, and without a preexec_fn, which is
    unsafe in a threaded process)."""

    def __init__(self, ffmpeg: str = "ffmpeg", niceness: int = NICENESS) -> None:
        self.ffmpeg = ffmpeg
        self.niceness = niceness

    def args(self, url: str) -> list[str]:
        nice = ["nice", "-n", str(self.niceness)] if self.niceness else []
        return [*nice, self.ffmpeg, *FFMPEG_INPUT, "-i", url, *FFMPEG_OUTPUT]

    async def __call__(self, url: str, timeout: float) -> bytes:
        # ffmpeg's errors quote the URL, credentials and all.
        redact = Redactor(url)
        args = self.args(url)
        try:
            proc = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise GrabFailed(f"cannot run {args[0]}: {exc.strerror}") from None
        try:
            async with asyncio.timeout(timeout):
                out, err = await proc.communicate()
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if proc.returncode != 0 or not out:
            tail = err.decode(errors="replace").strip()[-500:] or "no picture"
            raise GrabFailed(f"ffmpeg exited with {proc.returncode}: {redact(tail)}")
        return out


# ---------------------------------------------------------------------- handler


class Snapshots:
    """The snapshot endpoint. `handle` is the aiohttp handler; await `close()` on
    cleanup (it cancels status writes and kills running decodes)."""

    def __init__(
        self,
        settings: Settings,
        auth: AuthService,
        writer: ConditionalWriter,
        grab: Grabber | None = None,
        *,
        max_age: float = MAX_AGE,
        timeout: float = TIMEOUT,
        max_decodes: int = MAX_DECODES,
        status_every: float = STATUS_EVERY,
        clock: Clock = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings, self.auth, self.writer = settings, auth, writer
        self.grab: Grabber = grab or FFmpegGrabber()
        self.timeout = timeout
        self.cache = PictureCache(max_age, clock)
        self.throttle = StatusThrottle(status_every, clock)
        self._clock, self._wall = clock, wall
        self._password = settings.worker_password.get_secret_value()
        # Masks the worker's credentials in what is logged outside a decode.
        self._redact = Redactor(
            rtsp_url(settings.mediamtx_rtsp_url, "", settings.worker_user, self._password)
        )
        self._slots = asyncio.Semaphore(max_decodes)
        self._inflight: dict[Key, asyncio.Task[Entry]] = {}
        self._background: set[asyncio.Task[None]] = set()
        logs.never_log(self._password)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        admitted = admit(request, self.auth)
        if isinstance(admitted, web.Response):
            return admitted
        stream_id, livestream = admitted
        path = choose_path(livestream.status)
        if path is None:
            return problem(
                409,
                "not-live",
                "Stream is not live",
                f"stream {stream_id} has no live picture: neither "
                f"{naming.output_path(stream_id)} nor {naming.ingest_path(stream_id)} is live",
                streamId=stream_id,
            )
        # The instance that has the path (several MediaMTX: the stream's own).
        at = livestream.status.output if path is RecordedPath.OUT else livestream.status.ingest
        entry = await self.picture(stream_id, path, (at.instance if at else None) or "")
        if isinstance(entry, Failure):
            return entry.response()
        private = self.auth.policy.mode is AuthMode.STREAM_KEY
        headers = {
            # A key-protected picture is for its holder, not for shared caches.
            "Cache-Control": "private, max-age=1" if private else "max-age=1",
            "Last-Modified": format_datetime(entry.taken, usegmt=True),
            "X-Snapshot-Time": format_time_precise(entry.taken),
            "X-Snapshot-Path": entry.path.value,
        }
        if private:
            headers["Vary"] = "Authorization"
        return web.Response(body=entry.jpeg, content_type="image/jpeg", headers=headers)

    async def picture(self, stream_id: str, path: RecordedPath, instance: str = "") -> Entry:
        """A fresh picture of the path on its MediaMTX instance ("": the default): the
        cached one, the one being decoded, or a new decode."""
        key = (stream_id, path)
        cached = self.cache.fresh(key)
        if cached is not None:
            metrics.SNAPSHOT_CACHE_HITS.labels("cached").inc()
            return cached
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._decode(key, instance))
            self._inflight[key] = task
            task.add_done_callback(self._landed(key))
        else:
            metrics.SNAPSHOT_CACHE_HITS.labels("joined").inc()
        # A viewer that goes away does not cancel the decode the others wait for.
        return await asyncio.shield(task)

    def _landed(self, key: Key) -> Callable[[asyncio.Task[Entry]], None]:
        def forget(task: asyncio.Task[Entry]) -> None:
            if self._inflight.get(key) is task:
                del self._inflight[key]

        return forget

    async def _decode(self, key: Key, instance: str) -> Entry:
        stream_id, path = key
        name = naming.stream_path(stream_id, path)
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        try:
            async with asyncio.timeout(self.timeout):
                await self._slots.acquire()
        except TimeoutError:
            metrics.SNAPSHOT_DECODES.labels(path.value, "busy").inc()
            log.warning("snapshot decodes are all busy", extra={"streamId": stream_id})
            return self._fail(
                key, 503, "snapshots-busy", "Too many snapshots", "every decode slot is busy"
            )
        try:
            base = self.settings.instances().get(instance).rtsp_url
            entry = await self._run(key, base, name, max(deadline - loop.time(), 0.1))
        finally:
            self._slots.release()
        metrics.SNAPSHOT_DECODE_SECONDS.observe(time.perf_counter() - started)
        return entry

    async def _run(self, key: Key, base: str, name: str, timeout: float) -> Entry:
        stream_id, path = key
        url = rtsp_url(base, name, self.settings.worker_user, self._password)
        try:
            # The grabber kills ffmpeg at `timeout`; this bounds one that does not.
            async with asyncio.timeout(timeout + GRACE):
                jpeg = await self.grab(url, timeout)
        except TimeoutError:
            metrics.SNAPSHOT_DECODES.labels(path.value, "timeout").inc()
            log.warning(
                "snapshot timed out",
                extra={"streamId": stream_id, "path": name, "timeout": timeout},
            )
            return self._fail(
                key,
                504,
                "snapshot-timeout",
                "Snapshot timed out",
                f"no picture from {name} within {timeout:.3g} s",
            )
        except Exception as exc:  # GrabFailed, OSError, or a grabber's own
            metrics.SNAPSHOT_DECODES.labels(path.value, "failed").inc()
            reason = Redactor(url)(str(exc) or type(exc).__name__)
            log.warning(
                "snapshot failed", extra={"streamId": stream_id, "path": name, "reason": reason}
            )
            return self._failed(key, name)
        if not is_jpeg(jpeg):
            metrics.SNAPSHOT_DECODES.labels(path.value, "failed").inc()
            log.warning(
                "snapshot failed",
                extra={
                    "streamId": stream_id,
                    "path": name,
                    "reason": f"not a JPEG ({len(jpeg)} bytes)",
                },
            )
            return self._failed(key, name)
        metrics.SNAPSHOT_DECODES.labels(path.value, "ok").inc()
        picture = Picture(jpeg, path, self._wall(), self._clock())
        self.cache.put(key, picture)
        if self.throttle.due(stream_id):
            self._spawn(self._record(stream_id, picture))
        return picture

    def _failed(self, key: Key, name: str) -> Failure:
        # Why is in the receiver's log; the caller learns only that it failed.
        return self._fail(
            key, 502, "snapshot-failed", "Snapshot failed", f"could not decode a picture of {name}"
        )

    def _fail(self, key: Key, status: int, slug: str, title: str, detail: str) -> Failure:
        failure = Failure(status, slug, title, detail, self._clock())
        self.cache.put(key, failure)
        return failure

    async def _record(self, stream_id: str, picture: Picture) -> None:
        try:
            await self.writer.update(stream_id, status_change(picture), FieldManager.SNAPSHOTS)
        except Exception as exc:  # status is best effort; the picture was served
            log.warning(
                "could not record the snapshot in status",
                extra={"streamId": stream_id, "reason": self._redact(str(exc))},
            )

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        """Cancel status writes and decodes (which kills their ffmpeg)."""
        tasks = [*self._inflight.values(), *self._background]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
