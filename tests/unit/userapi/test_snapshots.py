"""The snapshot endpoint: its pure policy (path, cache, throttle, status) and the
handler through aiohttp's test client, with a fake grabber and clock (the real
ffmpeg against real MediaMTX is in tests/media/ingest/test_snapshots_media.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from livestream_operator.access.auth_endpoint import AuthService
from livestream_operator.access.cluster_view import KeyRing, Publishing
from livestream_operator.access.policy import policy_from
from livestream_operator.api.ownership import FieldManager
from livestream_operator.api.stream_keys import StreamKey, generate_key
from livestream_operator.api.v1alpha1 import (
    IngestStatus,
    LiveStream,
    LiveStreamStatus,
    OutputStatus,
    RecordedPath,
    SnapshotStatus,
)
from livestream_operator.ingest.conditional_writer import ConditionalWriter
from livestream_operator.ingest.rules import new_livestream
from livestream_operator.media_urls import Redactor
from livestream_operator.settings import AuthMode, Settings
from livestream_operator.userapi import snapshots as snap
from livestream_operator.userapi.app import make_app
from livestream_operator.userapi.snapshots import (
    Failure,
    FFmpegGrabber,
    GrabFailed,
    Picture,
    PictureCache,
    Snapshots,
    StatusThrottle,
    choose_path,
    rtsp_url,
    status_change,
)
from tests.support.waiting import wait_for_async
from tests.unit.ingest.test_receiver import TOKEN, MemoryAPI
from tests.unit.userapi.test_app import not_served

# Characters that URL-encode, so that both forms are checked for leaks.
PASSWORD = "w0rker/p@ss:word"
KEY = generate_key()
JPEG = b"\xff\xd8\xff\xe0" + b"\x10" * 200 + b"\xff\xd9"
T0 = datetime(2025, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeGrabber:
    """Answers `result` (bytes, or an exception to raise); `gate` holds every grab
    until set; `hang` never answers."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []
        self.result: bytes | Exception = JPEG
        self.gate: asyncio.Event | None = None
        self.hang = False
        self.running = 0
        self.most_running = 0
        self._called = asyncio.Event()

    async def called(self, times: int = 1) -> None:
        while len(self.calls) < times:
            self._called.clear()
            await asyncio.wait_for(self._called.wait(), 5)

    async def __call__(self, url: str, timeout: float) -> bytes:
        self.calls.append((url, timeout))
        self._called.set()
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.hang:
                await asyncio.sleep(3600)
        finally:
            self.running -= 1
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


@dataclass
class Env:
    client: TestClient[web.Request, web.Application]
    api: MemoryAPI
    grab: FakeGrabber
    clock: Clock
    snapshots: Snapshots
    auth: AuthService

    @property
    def writes(self) -> list[dict[str, Any]]:
        """The status of each write, all of them the snapshots' own."""
        assert {manager for manager, _ in self.api.applied} <= {FieldManager.SNAPSHOTS}
        return [status for _, status in self.api.applied]

    def stream(self, stream_id: str, *, ingest: bool = True, output: bool = False) -> None:
        """A LiveStream in the API server and in the receiver's watched view."""
        ls = new_livestream(stream_id, "ns", Settings())
        body = ls.manifest()
        body["status"] = LiveStreamStatus(
            ingest=IngestStatus(available=ingest), output=OutputStatus(available=output)
        ).wire()
        self.api.objects[ls.metadata.name] = body
        body["metadata"]["resourceVersion"] = "1"
        self.auth.publishing.apply("ADDED", body)

    async def get(self, path: str, key: str | None = KEY) -> Any:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return await self.client.get(path, headers=headers)

    async def settled(self) -> None:
        """Wait for the background status writes."""
        for _ in range(100):
            if not self.snapshots._background:
                return
            await asyncio.sleep(0.01)


EnvFactory = Callable[..., Awaitable[Env]]


@pytest.fixture
async def make_env() -> AsyncIterator[EnvFactory]:
    made: list[Env] = []

    async def make(mode: AuthMode = AuthMode.STREAM_KEY, **options: Any) -> Env:
        settings = Settings(
            hook_token=TOKEN,
            auth_mode=mode,
            worker_password=SecretStr(PASSWORD),
            mediamtx_rtsp_url="rtsp://mediamtx:8554",
        )
        api = MemoryAPI()
        keys, publishing = KeyRing(), Publishing()
        keys.by_stream = {"cam": StreamKey("cam", KEY, "lso-key-cam")}
        keys.synced.set()
        publishing.synced.set()
        auth = AuthService(policy_from(settings), keys, publishing, "ns")
        grab, clock = FakeGrabber(), Clock()
        snapshots = Snapshots(
            settings, auth, ConditionalWriter(api, "ns", settings), grab, clock=clock, **options
        )
        app = make_app(snapshots.handle, not_served)
        client = TestClient(TestServer(app))
        await client.start_server()
        env = Env(client, api, grab, clock, snapshots, auth)
        made.append(env)
        return env

    yield make
    for env in made:
        await env.snapshots.close()
        await env.client.close()


async def _problem(resp: Any, status: int, slug: str) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    body: dict[str, Any] = json.loads(await resp.text())
    assert body["type"].endswith("/" + slug), body
    assert body["status"] == status
    return body


# ------------------------------------------------------------------ pure policy


def _status(ingest: bool | None, output: bool | None) -> LiveStreamStatus:
    return LiveStreamStatus(
        ingest=None if ingest is None else IngestStatus(available=ingest),
        output=None if output is None else OutputStatus(available=output),
    )


@pytest.mark.parametrize(
    ("ingest", "output", "path"),
    [
        (True, True, RecordedPath.OUT),
        (True, False, RecordedPath.IN),
        (True, None, RecordedPath.IN),
        (False, True, RecordedPath.OUT),  # out is live from the worker: show it
        (False, False, None),
        (None, None, None),
    ],
)
def test_out_is_preferred_then_in(
    ingest: bool | None, output: bool | None, path: RecordedPath | None
) -> None:
    assert choose_path(_status(ingest, output)) is path


def _picture(at: float, taken: datetime = T0, path: RecordedPath = RecordedPath.IN) -> Picture:
    return Picture(JPEG, path, taken, at)


def test_a_picture_is_fresh_for_max_age_then_stale() -> None:
    clock = Clock()
    cache = PictureCache(1.0, clock)
    key = ("cam", RecordedPath.IN)
    assert cache.fresh(key) is None
    cache.put(key, _picture(clock.now))
    clock.now += 0.99
    assert cache.fresh(key) is not None
    assert cache.fresh(("cam", RecordedPath.OUT)) is None  # per path
    clock.now += 0.02
    assert cache.fresh(key) is None


def test_old_pictures_are_dropped() -> None:
    clock = Clock()
    cache = PictureCache(1.0, clock)
    for i in range(50):
        cache.put((f"s{i}", RecordedPath.IN), _picture(clock.now))
    clock.now += snap.STALE + 1
    cache.put(("fresh", RecordedPath.IN), _picture(clock.now))
    assert len(cache) == 1


def test_status_is_due_at_most_once_per_window_per_stream() -> None:
    clock = Clock()
    throttle = StatusThrottle(10.0, clock)
    assert throttle.due("cam")
    assert throttle.due("other")
    for _ in range(9):
        clock.now += 1.0
        assert not throttle.due("cam")
    clock.now += 1.0
    assert throttle.due("cam")


def test_status_change_records_the_picture_unless_a_newer_one_is_stored() -> None:
    ls = new_livestream("cam", "ns", Settings())
    change = status_change(_picture(0, T0, RecordedPath.OUT))(ls)
    assert change == LiveStreamStatus(
        snapshot=SnapshotStatus(last_time="2025-01-01T00:00:00.000000Z", path=RecordedPath.OUT)
    )
    newer = SnapshotStatus(last_time="2025-01-01T00:00:05Z", path=RecordedPath.IN)
    stored = ls.model_copy(update={"status": LiveStreamStatus(snapshot=newer)})
    assert status_change(_picture(0, T0))(stored) is None
    later = _picture(0, T0 + timedelta(seconds=6))
    assert status_change(later)(stored) is not None


def test_rtsp_url_carries_encoded_credentials_and_the_redactor_removes_them() -> None:
    url = rtsp_url("rtsp://mediamtx:8554", "live/cam/out", "lso-worker", PASSWORD)
    assert url == f"rtsp://lso-worker:{quote(PASSWORD, safe='')}@mediamtx:8554/live/cam/out"
    assert rtsp_url("rtsp://h:1/", "live/a/in", "", "") == "rtsp://h:1/live/a/in"
    # A user without a password (no worker password configured): no credentials.
    assert rtsp_url("rtsp://h:1", "live/a/in", "lso-worker", "") == "rtsp://h:1/live/a/in"
    text = f"{url}: 401 Unauthorized (pass {PASSWORD}, {quote(PASSWORD, safe='')})"
    cleaned = Redactor(url)(text)
    assert PASSWORD not in cleaned
    assert quote(PASSWORD, safe="") not in cleaned
    assert cleaned.startswith("rtsp://mediamtx:8554/live/")
    assert "401 Unauthorized" in cleaned


# ---------------------------------------------------------------------- handler


@pytest.mark.parametrize("stream_id", ["-bad", "a" * 129, "x%20y"])
async def test_a_bad_stream_id_is_404(make_env: EnvFactory, stream_id: str) -> None:
    env = await make_env()
    await _problem(await env.get(f"/v1/streams/{stream_id}/snapshot"), 404, "unknown-stream")
    assert env.grab.calls == []


async def test_an_unknown_stream_is_404(make_env: EnvFactory) -> None:
    env = await make_env(AuthMode.OPEN)
    await _problem(await env.get("/v1/streams/nobody/snapshot", None), 404, "unknown-stream")


async def test_stream_key_mode_needs_the_streams_key(make_env: EnvFactory) -> None:
    env = await make_env()
    env.stream("cam")
    await _problem(await env.get("/v1/streams/cam/snapshot", None), 401, "unauthenticated")
    await _problem(await env.get("/v1/streams/cam/snapshot", generate_key()), 403, "forbidden")
    await _problem(await env.get("/v1/streams/cam/snapshot", "not-a-key"), 403, "forbidden")
    # Only as a header: a key in the URL would end up in logs, Referers and histories.
    resp = await env.client.get(f"/v1/streams/cam/snapshot?key={KEY}")
    await _problem(resp, 401, "unauthenticated")
    assert env.grab.calls == []
    assert (await env.get("/v1/streams/cam/snapshot")).status == 200


async def test_a_stream_that_is_not_live_is_409(make_env: EnvFactory) -> None:
    env = await make_env()
    env.stream("cam", ingest=False)
    body = await _problem(await env.get("/v1/streams/cam/snapshot"), 409, "not-live")
    assert body["streamId"] == "cam"
    assert "cam" in body["detail"]
    assert env.grab.calls == []


async def test_a_live_stream_gets_a_jpeg_with_its_time_and_path(make_env: EnvFactory) -> None:
    env = await make_env()
    env.stream("cam")
    resp = await env.get("/v1/streams/cam/snapshot")
    assert resp.status == 200
    assert resp.content_type == "image/jpeg"
    assert await resp.read() == JPEG
    assert resp.headers["X-Snapshot-Path"] == "in"
    assert "max-age=1" in resp.headers["Cache-Control"]
    assert "private" in resp.headers["Cache-Control"]  # it needed a key
    assert resp.headers["Last-Modified"].endswith(" GMT")
    taken = datetime.fromisoformat(resp.headers["X-Snapshot-Time"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - taken).total_seconds()) < 5
    url, timeout = env.grab.calls[0]
    assert url == f"rtsp://lso-worker:{quote(PASSWORD, safe='')}@mediamtx:8554/live/cam/in"
    assert timeout == pytest.approx(snap.TIMEOUT, abs=0.5)


async def test_the_processed_output_is_shown_when_live(make_env: EnvFactory) -> None:
    env = await make_env(AuthMode.OPEN)
    env.stream("cam", output=True)
    resp = await env.get("/v1/streams/cam/snapshot", None)
    assert resp.status == 200
    assert resp.headers["X-Snapshot-Path"] == "out"
    assert resp.headers["Cache-Control"] == "max-age=1"
    assert env.grab.calls[0][0].endswith("/live/cam/out")


async def test_not_ready_views_are_503(make_env: EnvFactory) -> None:
    env = await make_env()
    env.stream("cam")
    env.auth.publishing.synced.clear()
    await _problem(await env.get("/v1/streams/cam/snapshot"), 503, "not-ready")
    env.auth.publishing.synced.set()
    env.auth.keys.synced.clear()  # the key may not have arrived: not a 403
    await _problem(await env.get("/v1/streams/cam/snapshot", generate_key()), 503, "not-ready")
    assert env.grab.calls == []


def test_at_most_two_decodes_run_by_default() -> None:
    assert snap.MAX_DECODES == 2


async def test_concurrent_viewers_share_one_decode(make_env: EnvFactory) -> None:
    env = await make_env()
    env.stream("cam")
    env.grab.gate = asyncio.Event()
    requests = [asyncio.create_task(env.get("/v1/streams/cam/snapshot")) for _ in range(20)]
    await env.grab.called()
    await asyncio.sleep(0.05)  # let the others arrive while it runs
    env.grab.gate.set()
    responses = await asyncio.gather(*requests)
    assert [r.status for r in responses] == [200] * 20
    assert {await r.read() for r in responses} == {JPEG}
    assert len(env.grab.calls) == 1


async def test_a_picture_is_reused_for_a_second_then_taken_again(make_env: EnvFactory) -> None:
    env = await make_env()
    env.stream("cam")
    first = await env.get("/v1/streams/cam/snapshot")
    env.clock.now += 0.5
    again = await env.get("/v1/streams/cam/snapshot")
    assert again.headers["X-Snapshot-Time"] == first.headers["X-Snapshot-Time"]
    assert len(env.grab.calls) == 1
    env.clock.now += 0.6  # 1.1 s after the decode
    later = await env.get("/v1/streams/cam/snapshot")
    assert later.status == 200
    assert len(env.grab.calls) == 2


async def test_decodes_are_bounded_over_all_streams(make_env: EnvFactory) -> None:
    env = await make_env(AuthMode.OPEN, max_decodes=2)
    for i in range(5):
        env.stream(f"s{i}")
    env.grab.gate = asyncio.Event()
    requests = [asyncio.create_task(env.get(f"/v1/streams/s{i}/snapshot", None)) for i in range(5)]
    await env.grab.called(2)
    await asyncio.sleep(0.05)
    assert len(env.grab.calls) == 2  # the others wait for a slot
    env.grab.gate.set()
    assert [r.status for r in await asyncio.gather(*requests)] == [200] * 5
    assert env.grab.most_running == 2


async def test_a_grab_that_hangs_is_a_504_not_a_hang(make_env: EnvFactory) -> None:
    env = await make_env(timeout=0.2)
    env.stream("cam")
    env.grab.hang = True
    started = asyncio.get_running_loop().time()
    body = await _problem(await env.get("/v1/streams/cam/snapshot"), 504, "snapshot-timeout")
    assert asyncio.get_running_loop().time() - started < 0.2 + snap.GRACE + 0.5
    assert "live/cam/in" in body["detail"]
    env.grab.result = TimeoutError()  # a grabber's own timeout counts the same
    env.grab.hang = False
    env.clock.now += 2
    await _problem(await env.get("/v1/streams/cam/snapshot"), 504, "snapshot-timeout")


async def test_a_failed_decode_is_a_502_and_cached_briefly(make_env: EnvFactory) -> None:
    env = await make_env()
    env.stream("cam")
    env.grab.result = GrabFailed("ffmpeg exited with 1: Invalid data")
    await _problem(await env.get("/v1/streams/cam/snapshot"), 502, "snapshot-failed")
    await _problem(await env.get("/v1/streams/cam/snapshot"), 502, "snapshot-failed")
    assert len(env.grab.calls) == 1  # a broken stream costs one decode per second too
    env.grab.result = b"<html>not a picture</html>"
    env.clock.now += 1.5
    await _problem(await env.get("/v1/streams/cam/snapshot"), 502, "snapshot-failed")
    env.grab.result = JPEG
    env.clock.now += 1.5
    assert (await env.get("/v1/streams/cam/snapshot")).status == 200


async def test_every_slot_busy_is_a_503(make_env: EnvFactory) -> None:
    env = await make_env(AuthMode.OPEN, max_decodes=1, timeout=0.2)
    env.stream("a")
    env.stream("b")
    env.grab.hang = True
    first = asyncio.create_task(env.get("/v1/streams/a/snapshot", None))
    await env.grab.called()
    second = await env.get("/v1/streams/b/snapshot", None)
    await _problem(second, 503, "snapshots-busy")
    assert second.headers["Retry-After"] == "1"
    await _problem(await first, 504, "snapshot-timeout")


async def test_status_is_written_at_most_once_per_10_s(make_env: EnvFactory) -> None:
    env = await make_env()
    env.stream("cam")
    for _ in range(5):  # a decode every 1.1 s
        assert (await env.get("/v1/streams/cam/snapshot")).status == 200
        await env.settled()
        env.clock.now += 1.1
    assert len(env.grab.calls) == 5
    assert len(env.writes) == 1
    stored = LiveStream.model_validate(env.api.objects["cam"]).status.snapshot
    assert stored is not None
    assert stored.path is RecordedPath.IN
    assert stored.last_time is not None
    env.clock.now += 10
    await env.get("/v1/streams/cam/snapshot")
    await env.settled()
    assert len(env.writes) == 2
    assert env.writes[-1]["snapshot"]["path"] == "in"


async def test_a_failed_status_write_does_not_fail_the_request(
    make_env: EnvFactory, caplog: pytest.LogCaptureFixture
) -> None:
    env = await make_env()
    env.stream("cam")

    async def broken(*_: Any, **__: Any) -> Any:
        raise OSError(f"connection reset talking to {PASSWORD}")

    env.api.get_livestream = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING):
        assert (await env.get("/v1/streams/cam/snapshot")).status == 200
        await env.settled()
    assert any("could not record" in r.getMessage() for r in caplog.records)
    _no_password(caplog.records)


def _no_password(records: list[logging.LogRecord]) -> None:
    for record in records:
        text = record.getMessage() + " " + " ".join(str(v) for v in vars(record).values())
        assert PASSWORD not in text
        assert quote(PASSWORD, safe="") not in text


async def test_the_password_never_reaches_a_problem_or_a_log(
    make_env: EnvFactory, caplog: pytest.LogCaptureFixture
) -> None:
    env = await make_env()
    env.stream("cam")
    with caplog.at_level(logging.DEBUG):
        # A grabber error quoting the URL, as ffmpeg's do.
        env.grab.result = RuntimeError(f"{rtsp_url('rtsp://m:1', 'x', 'u', PASSWORD)}: 401")
        resp = await env.get("/v1/streams/cam/snapshot")
        text = await resp.text()
        env.grab.result = OSError(f"password {PASSWORD}")
        env.clock.now += 2
        text += await (await env.get("/v1/streams/cam/snapshot")).text()
    assert quote(PASSWORD, safe="") in env.grab.calls[0][0]  # it was in play
    assert PASSWORD not in text
    assert quote(PASSWORD, safe="") not in text
    assert any(r.getMessage() == "snapshot failed" for r in caplog.records)
    _no_password(caplog.records)


async def test_a_viewer_that_leaves_does_not_cancel_the_shared_decode(
    make_env: EnvFactory,
) -> None:
    env = await make_env()
    env.grab.gate = asyncio.Event()
    leaving = asyncio.create_task(env.snapshots.picture("cam", RecordedPath.IN))
    staying = asyncio.create_task(env.snapshots.picture("cam", RecordedPath.IN))
    await env.grab.called()
    leaving.cancel()
    env.grab.gate.set()
    got = await staying
    assert isinstance(got, Picture)
    assert got.jpeg == JPEG
    assert len(env.grab.calls) == 1


async def test_close_cancels_running_decodes(make_env: EnvFactory) -> None:
    env = await make_env()
    env.grab.hang = True
    task = asyncio.create_task(env.snapshots.picture("cam", RecordedPath.IN))
    await env.grab.called()
    await asyncio.wait_for(env.snapshots.close(), 2)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert env.grab.running == 0


# ---------------------------------------------------- the ffmpeg grabber's shell


def _fake_ffmpeg(tmp_path: Path, body: str) -> str:
    script = tmp_path / "ffmpeg"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


async def test_the_grabber_returns_ffmpegs_stdout(tmp_path: Path) -> None:
    ffmpeg = _fake_ffmpeg(tmp_path, "printf '\\377\\330 jpeg \\377\\331'")
    got = await FFmpegGrabber(ffmpeg)("rtsp://h:1/live/a/in", 5)
    assert got == b"\xff\xd8 jpeg \xff\xd9"
    args = FFmpegGrabber().args("rtsp://h:1/live/a/in")
    assert args[:4] == ["nice", "-n", "10", "ffmpeg"]
    assert args[args.index("-i") + 1] == "rtsp://h:1/live/a/in"
    assert args[args.index("-rtsp_transport") + 1] == "tcp"
    assert FFmpegGrabber("ff", niceness=0).args("rtsp://h:1/x")[0] == "ff"


async def test_the_grabber_runs_ffmpeg_at_a_lower_priority(tmp_path: Path) -> None:
    # `nice` without arguments prints the niceness it runs at.
    ffmpeg = _fake_ffmpeg(tmp_path, "printf '\\377\\330'; nice; printf '\\377\\331'")
    got = await FFmpegGrabber(ffmpeg)("rtsp://h:1/live/a/in", 5)
    assert int(got[2:-2]) == min(os.nice(0) + snap.NICENESS, 19)
    got = await FFmpegGrabber(ffmpeg, niceness=0)("rtsp://h:1/live/a/in", 5)
    assert int(got[2:-2]) == os.nice(0)


async def test_the_grabber_redacts_ffmpegs_errors(tmp_path: Path) -> None:
    # ffmpeg quotes the input URL in its errors: credentials and all.
    ffmpeg = _fake_ffmpeg(tmp_path, 'for a; do last="$a"; done; echo "$last: 401" >&2; exit 1')
    url = rtsp_url("rtsp://h:1", "live/a/in", "lso-worker", PASSWORD)
    with pytest.raises(GrabFailed) as err:
        await FFmpegGrabber(ffmpeg)(url, 5)
    assert "401" in str(err.value)
    assert PASSWORD not in str(err.value)
    assert quote(PASSWORD, safe="") not in str(err.value)
    with pytest.raises(GrabFailed, match="cannot run"):
        await FFmpegGrabber(str(tmp_path / "missing"), niceness=0)(url, 5)
    # Under nice, a missing ffmpeg is nice's exit status 127.
    with pytest.raises(GrabFailed, match="exited with 127") as err:
        await FFmpegGrabber(str(tmp_path / "missing"))(url, 5)
    assert "missing" in str(err.value)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_the_grabber_kills_ffmpeg_at_the_timeout_and_on_close(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    ffmpeg = _fake_ffmpeg(tmp_path, f'echo $$ > "{pidfile}"; exec sleep 30')
    with pytest.raises(TimeoutError):
        await FFmpegGrabber(ffmpeg)("rtsp://h:1/live/a/in", 0.3)
    assert _gone(int(pidfile.read_text()))
    pidfile.unlink()

    settings = Settings(worker_password=SecretStr(PASSWORD))
    auth = AuthService(policy_from(settings), KeyRing(), Publishing(), "ns")
    snapshots = Snapshots(
        settings, auth, ConditionalWriter(MemoryAPI(), "ns", settings), FFmpegGrabber(ffmpeg)
    )
    task = asyncio.create_task(snapshots.picture("cam", RecordedPath.IN))
    await wait_for_async(
        lambda: pidfile.exists() and pidfile.read_text().strip(), 5, "ffmpeg", 0.02
    )
    await asyncio.wait_for(snapshots.close(), 5)
    assert _gone(int(pidfile.read_text()))
    with pytest.raises(asyncio.CancelledError):
        await task


def test_failure_responses_say_retry_after() -> None:
    resp = Failure(502, "snapshot-failed", "Snapshot failed", "no", 0.0).response()
    assert resp.status == 502
    assert resp.headers["Retry-After"] == "1"
