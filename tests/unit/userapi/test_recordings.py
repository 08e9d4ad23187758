"""GET /v1/streams/{streamId}/recordings: the playback server's /list answer as
spans, and the handler through aiohttp's test client against a fake playback
server on a local port."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import BaseTestServer, TestServer

from livestream_operator.access.auth_endpoint import AuthService
from livestream_operator.access.cluster_view import KeyRing, Publishing
from livestream_operator.access.policy import policy_from
from livestream_operator.api.stream_keys import generate_key
from livestream_operator.api.v1alpha1 import (
    LiveStream,
    LiveStreamStatus,
    RecordedPath,
    RecordedPathStatus,
    RecordingStatus,
)
from livestream_operator.settings import AuthMode, Settings
from livestream_operator.userapi.app import make_app
from livestream_operator.userapi.recordings import Answer, Recordings, Span, classify, parse_list
from tests.unit.ingest.test_receiver import TOKEN, Client
from tests.unit.mediamtx.test_path_config import livestream, recording
from tests.unit.userapi.test_app import not_served

KEY = generate_key()
OTHER = generate_key()
GHOST_KEY = generate_key()
PUBLIC = "https://recordings.example.com"
START = "2026-12-01T16:50:46.404475Z"
OPERATOR_AUTH = "Basic " + base64.b64encode(b"lso-operator:op-password").decode()


def mediamtx_error(text: str) -> str:
    """The body of a MediaMTX 1.20 playback error (internal/playback/server.go)."""
    return json.dumps({"status": "error", "error": text})


NO_DIRECTORY = mediamtx_error("lstat /recordings/live/cam/out: no such file or directory")
MPEGTS = mediamtx_error("MPEG-TS format is not supported yet")

# ----------------------------------------------------------------------- parse_list


def test_parse_list_reads_spans() -> None:
    data = [
        {"start": START, "duration": 600},
        {"start": "2026-12-01T17:00:46Z", "duration": 12.5, "url": "ignored"},
    ]
    assert parse_list(RecordedPath.OUT, data) == [
        Span(RecordedPath.OUT, START, 600.0),
        Span(RecordedPath.OUT, "2026-12-01T17:00:46Z", 12.5),
    ]


def test_parse_list_skips_malformed_items() -> None:
    data: list[Any] = [
        "junk",
        None,
        [START, 600],
        {"start": 5, "duration": 600},
        {"start": START},
        {"duration": 600},
        {"start": START, "duration": "600"},
        {"start": START, "duration": None},
        {"start": START, "duration": -1},
        {"start": START, "duration": 0},
    ]
    assert parse_list(RecordedPath.IN, data) == [Span(RecordedPath.IN, START, 0.0)]


@pytest.mark.parametrize("data", [None, {}, {"start": START, "duration": 1}, "[]", 42])
def test_parse_list_of_anything_but_a_list_is_empty(data: Any) -> None:
    assert parse_list(RecordedPath.IN, data) == []


def test_span_wire_links_to_the_public_get() -> None:
    span = Span(RecordedPath.IN, START, 600.0)
    assert span.wire(PUBLIC, "cam") == {
        "path": "in",
        "start": START,
        "duration": 600.0,
        "url": f"{PUBLIC}/get?path=live%2Fcam%2Fin"
        "&start=2026-12-01T16%3A50%3A46.404475Z&duration=600.000",
    }


def test_span_wire_rounds_the_duration_and_escapes_the_start() -> None:
    wire = Span(RecordedPath.OUT, "2026-12-01T17:50:46+01:00", 1.23456).wire(PUBLIC, "a.b~c")
    assert wire["duration"] == 1.235
    assert wire["url"] == (
        f"{PUBLIC}/get?path=live%2Fa.b~c%2Fout&start=2026-12-01T17%3A50%3A46%2B01%3A00"
        "&duration=1.235"
    )


@pytest.mark.parametrize(
    ("status", "body", "answer"),
    [
        (404, mediamtx_error("no recording segments found"), Answer.EMPTY),
        (404, "", Answer.EMPTY),
        # A path whose directory does not exist yet: nothing recorded.
        (400, NO_DIRECTORY, Answer.EMPTY),
        # Any other 400 is a bad request of ours, or a MediaMTX misconfiguration.
        (400, mediamtx_error("path 'live/cam/in' is not configured"), Answer.FAILED),
        (400, mediamtx_error("invalid start: parsing time"), Answer.FAILED),
        (400, mediamtx_error("open /recordings/live/cam/in: permission denied"), Answer.FAILED),
        (400, "", Answer.FAILED),
        (500, MPEGTS, Answer.UNSUPPORTED_FORMAT),
        (500, "MPEG-TS format is not supported yet", Answer.UNSUPPORTED_FORMAT),
        (500, mediamtx_error("unexpected EOF"), Answer.FAILED),
        (401, mediamtx_error("authentication error"), Answer.FAILED),
        (502, MPEGTS, Answer.FAILED),
    ],
)
def test_classify_reads_mediamtx_1_20s_answers(status: int, body: str, answer: Answer) -> None:
    assert classify(status, body) is answer


# ------------------------------------------------------------------------- handler


@dataclass
class Playback:
    """The fake playback server's record of /list calls and its answers by path."""

    requests: list[tuple[str, str | None]] = field(default_factory=list)
    answers: dict[str, tuple[int, str]] = field(default_factory=dict)

    async def list(self, request: web.Request) -> web.Response:
        path = request.query.get("path", "")
        self.requests.append((path, request.headers.get("Authorization")))
        status, text = self.answers.get(path, (404, "no recordings"))
        return web.Response(status=status, text=text, content_type="application/json")


@dataclass
class Env:
    client: Client
    playback: Playback
    playback_server: BaseTestServer


def _key_secret(stream_id: str, key: str) -> dict[str, Any]:
    data = {"streamId": stream_id, "streamKey": key}
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"metadata": {"name": f"lso-key-{stream_id}"}, "data": encoded}


CAM = livestream("cam", recording()).model_copy(
    update={
        "status": LiveStreamStatus(
            recording=RecordingStatus(
                paths=[
                    RecordedPathStatus(
                        path=RecordedPath.IN,
                        segments=2,
                        bytes=3500,
                        first_segment_time=START,
                        last_segment_time="2026-12-01T17:00:46.404901Z",
                    )
                ],
                free_bytes=5_000_000_000,
            )
        )
    }
)
PLAIN = livestream("plain")


def _listed(*streams: LiveStream) -> dict[str, Any]:
    return {
        "items": [ls.model_dump(by_alias=True, exclude_none=True, mode="json") for ls in streams]
    }


@asynccontextmanager
async def receiver(
    mode: AuthMode = AuthMode.STREAM_KEY, *, ready: bool = True
) -> AsyncIterator[Env]:
    playback = Playback()
    playback_app = web.Application()
    playback_app.router.add_get("/list", playback.list)
    async with TestServer(playback_app) as playback_server:
        settings = Settings(
            hook_token=TOKEN,
            auth_mode=mode,
            operator_password="op-password",
            mediamtx_playback_url=f"http://{playback_server.host}:{playback_server.port}/",
            playback_public_url=PUBLIC + "/",
        )
        keys, publishing = KeyRing(), Publishing()
        keys.apply("LISTED", {"items": [_key_secret("cam", KEY), _key_secret("ghost", GHOST_KEY)]})
        publishing.apply("LISTED", _listed(CAM, PLAIN))
        if ready:
            keys.synced.set()
            publishing.synced.set()
        auth = AuthService(policy_from(settings), keys, publishing, settings.namespace)
        async with aiohttp.ClientSession() as session:
            handler = Recordings(settings, auth, session, timeout=2.0).handle
            app = make_app(not_served, handler)
            async with Client(TestServer(app)) as client:
                yield Env(client, playback, playback_server)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async with receiver() as e:
        yield e


def bearer(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def problem_of(resp: aiohttp.ClientResponse, status: int, slug: str) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    body: dict[str, Any] = json.loads(await resp.text())
    assert body["type"].endswith("/" + slug)
    assert body["status"] == status
    assert body["detail"]
    return body


async def test_without_a_key_is_401_in_stream_key_mode(env: Env) -> None:
    resp = await env.client.get("/v1/streams/cam/recordings")
    body = await problem_of(resp, 401, "unauthenticated")
    assert body["errors"][0]["field"] == "Authorization"
    # Nor does an unknown stream say that it is unknown.
    await problem_of(await env.client.get("/v1/streams/nope/recordings"), 401, "unauthenticated")
    # A key in the URL is not taken: it would end up in logs and browser histories.
    resp = await env.client.get(f"/v1/streams/cam/recordings?key={KEY}")
    await problem_of(resp, 401, "unauthenticated")
    assert env.playback.requests == []


async def test_while_the_views_load_it_is_503_not_a_refusal() -> None:
    async with receiver(ready=False) as env:
        resp = await env.client.get("/v1/streams/cam/recordings", headers=bearer())
        await problem_of(resp, 503, "not-ready")
        assert env.playback.requests == []


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("/v1/streams/cam/recordings", bearer(OTHER)),
        (f"/v1/streams/cam/recordings?key={KEY}", bearer(OTHER)),  # the query is no key
        ("/v1/streams/cam/recordings", bearer("sk_short")),
        ("/v1/streams/cam/recordings", bearer(GHOST_KEY)),  # another stream's key
        ("/v1/streams/plain/recordings", bearer(KEY)),  # a stream without a key
    ],
)
async def test_a_wrong_key_is_403(env: Env, url: str, headers: dict[str, str]) -> None:
    await problem_of(await env.client.get(url, headers=headers), 403, "forbidden")
    assert env.playback.requests == []


async def test_an_unknown_stream_or_a_bad_id_is_404(env: Env) -> None:
    # ghost has a key Secret but no LiveStream.
    resp = await env.client.get("/v1/streams/ghost/recordings", headers=bearer(GHOST_KEY))
    body = await problem_of(resp, 404, "unknown-stream")
    assert body["errors"][0]["field"] == "streamId"
    resp = await env.client.get("/v1/streams/-bad/recordings", headers=bearer())
    await problem_of(resp, 404, "unknown-stream")
    resp = await env.client.get("/v1/streams/-bad/recordings")  # before any key is asked for
    await problem_of(resp, 404, "unknown-stream")
    assert env.playback.requests == []


async def test_open_mode_needs_no_key_but_a_livestream() -> None:
    async with receiver(AuthMode.OPEN) as env:
        resp = await env.client.get("/v1/streams/plain/recordings")
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["recordings"] == []
        await problem_of(await env.client.get("/v1/streams/nope/recordings"), 404, "unknown-stream")


async def test_a_path_other_than_in_or_out_is_400(env: Env) -> None:
    resp = await env.client.get("/v1/streams/cam/recordings?path=sideways", headers=bearer())
    body = await problem_of(resp, 400, "invalid-query")
    assert body["errors"] == [{"field": "path", "reason": "must be in or out"}]
    assert env.playback.requests == []


async def test_spans_and_links_of_both_paths(env: Env) -> None:
    env.playback.answers["live/cam/in"] = (
        200,
        json.dumps(
            [
                {"start": START, "duration": 600.0, "url": "http://mediamtx:9996/get?x"},
                {"start": "2026-12-01T17:00:46.404901Z", "duration": 61.5},
                {"start": "bad"},
            ]
        ),
    )
    env.playback.answers["live/cam/out"] = (400, NO_DIRECTORY)  # nothing recorded yet
    resp = await env.client.get("/v1/streams/cam/recordings", headers=bearer())
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["streamId"] == "cam"
    assert body["recordings"] == [
        {
            "path": "in",
            "start": START,
            "duration": 600.0,
            "url": f"{PUBLIC}/get?path=live%2Fcam%2Fin"
            "&start=2026-12-01T16%3A50%3A46.404475Z&duration=600.000",
        },
        {
            "path": "in",
            "start": "2026-12-01T17:00:46.404901Z",
            "duration": 61.5,
            "url": f"{PUBLIC}/get?path=live%2Fcam%2Fin"
            "&start=2026-12-01T17%3A00%3A46.404901Z&duration=61.500",
        },
    ]
    assert CAM.status.recording is not None
    assert body["status"] == CAM.status.recording.wire()
    # The playback server was asked for each path, with the operator's credentials.
    assert env.playback.requests == [
        ("live/cam/in", OPERATOR_AUTH),
        ("live/cam/out", OPERATOR_AUTH),
    ]
    # The links point at the public address, never at the internal one.
    assert "mediamtx" not in json.dumps(body["recordings"])


async def test_one_path(env: Env) -> None:
    env.playback.answers["live/cam/out"] = (200, json.dumps([{"start": START, "duration": 10}]))
    resp = await env.client.get("/v1/streams/cam/recordings?path=out", headers=bearer())
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert [(r["path"], r["duration"]) for r in body["recordings"]] == [("out", 10.0)]
    assert [path for path, _ in env.playback.requests] == ["live/cam/out"]


async def test_nothing_recorded_is_an_empty_list(env: Env) -> None:
    resp = await env.client.get("/v1/streams/plain/recordings", headers=bearer(KEY))
    assert resp.status == 403  # plain has no key; open mode is tested above
    resp = await env.client.get("/v1/streams/cam/recordings", headers=bearer())
    assert resp.status == 200
    assert (await resp.json())["recordings"] == []  # /list answered 404 for both


@pytest.mark.parametrize(
    "answer",
    [
        (500, "internal"),
        (401, "operator refused"),
        (400, mediamtx_error("path 'live/cam/in' is not configured")),
        (400, mediamtx_error("invalid start: bad")),
    ],
)
async def test_a_failing_playback_server_is_502(env: Env, answer: tuple[int, str]) -> None:
    env.playback.answers["live/cam/in"] = answer
    resp = await env.client.get("/v1/streams/cam/recordings", headers=bearer())
    body = await problem_of(resp, 502, "playback-unavailable")
    assert body["detail"] == (
        f"MediaMTX's playback server could not list live/cam/in (HTTP {answer[0]})"
    )


@pytest.mark.parametrize("answer", [(200, "not json"), (200, "{")])
async def test_a_garbled_listing_is_502(env: Env, answer: tuple[int, str]) -> None:
    env.playback.answers["live/cam/in"] = answer
    resp = await env.client.get("/v1/streams/cam/recordings", headers=bearer())
    body = await problem_of(resp, 502, "playback-unavailable")
    assert "try again" in body["detail"]


async def test_mpegts_recordings_are_409_naming_the_format(env: Env) -> None:
    # MediaMTX 1.20 finds the segments, then cannot read them (on_list.go).
    env.playback.answers["live/cam/in"] = (500, MPEGTS)
    resp = await env.client.get("/v1/streams/cam/recordings", headers=bearer())
    body = await problem_of(resp, 409, "playback-unsupported-format")
    assert body["streamId"] == "cam"
    assert body["errors"] == [
        {
            "field": "spec.recording.format",
            "reason": "MediaMTX 1.20 cannot list or serve MPEG-TS recordings; use fmp4",
        }
    ]
    assert "MPEG-TS" in body["detail"]
    assert "try again" not in body["detail"]
    # No use asking for out once in is known to be unlistable.
    assert [path for path, _ in env.playback.requests] == ["live/cam/in"]


async def test_a_playback_server_that_is_down_is_502(env: Env) -> None:
    await env.playback_server.close()
    resp = await env.client.get("/v1/streams/cam/recordings?path=in", headers=bearer())
    body = await problem_of(resp, 502, "playback-unavailable")
    assert "try again" in body["detail"]
