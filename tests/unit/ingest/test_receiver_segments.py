"""POST /v1/mediamtx/events/segment-complete through aiohttp's test client, with
the in-memory API server of test_receiver.py behind the app."""

from __future__ import annotations

import json
from typing import Any

import pytest

from livestream_operator.api.ownership import FieldManager
from livestream_operator.kube import KubeError
from tests.unit.ingest import test_receiver
from tests.unit.ingest.test_receiver import Client
from tests.unit.ingest.test_recording_index import FIRST, FIRST_SEGMENT_WIRE, segment_body
from tests.unit.mediamtx.test_path_config import livestream, recording

client = test_receiver.client  # the receiver with the hook token, as a fixture here too

URL = "/v1/mediamtx/events/segment-complete"
SECOND = "/recordings/live/cam/in/2026-12-01_17-00-46-404901.mp4"
segment = segment_body


async def _with_cam(client: Client) -> None:
    await client.api.create_livestream("default", livestream("cam", recording()))


def _recording(client: Client) -> Any:
    return client.api.objects["cam"].get("status", {}).get("recording")


async def _problem(resp: Any, status: int, slug: str) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    body: dict[str, Any] = json.loads(await resp.text())
    assert body["type"].endswith("/" + slug)
    assert body["status"] == status
    return body


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", f"Basic {test_receiver.TOKEN}", "Bearer "]
)
async def test_without_the_hook_token_is_401(client: Client, authorization: str | None) -> None:
    await _with_cam(client)
    resp = await client.post(URL, json=segment(), headers={"Authorization": authorization or ""})
    await _problem(resp, 401, "unauthenticated")
    assert _recording(client) is None


@pytest.mark.parametrize(
    ("body", "status", "slug", "field"),
    [
        (segment(segmentPath="/recordings/live/other/in/2026-12-01_16-50-46-404475.mp4"),
         422, "invalid-segment", "segmentPath"),
        (segment(segmentPath="/etc/passwd"), 422, "invalid-segment", "segmentPath"),
        (segment(segmentPath="/recordings/live/cam/in/2026-13-01_16-50-46-404475.mp4"),
         422, "invalid-segment", "segmentPath"),
        (segment(path="other/thing"), 422, "invalid-path", "path"),
        (segment(path="live/cam/sideways"), 422, "invalid-path", "path"),
        (segment(bytes="1000"), 422, "invalid-event", "bytes"),
        (segment(bytes=-1), 422, "invalid-event", "bytes"),
        (segment(freeBytes="lots"), 422, "invalid-event", "freeBytes"),
        (segment(segmentDuration="600"), 422, "invalid-event", "segmentDuration"),
        ({"path": "live/cam/in"}, 422, "invalid-event", "segmentPath"),
    ],
)  # fmt: skip
async def test_an_invalid_segment_is_422_naming_the_field(
    client: Client, body: dict[str, Any], status: int, slug: str, field: str
) -> None:
    await _with_cam(client)
    problem = await _problem(await client.post(URL, json=body), status, slug)
    assert problem["errors"][0]["field"] == field
    assert problem["detail"].startswith(f"{field}: ")
    assert _recording(client) is None


@pytest.mark.parametrize(
    ("raw", "ctype", "status", "slug"),
    [
        (b"{", "application/json", 400, "invalid-json"),
        (b"[]", "application/json", 422, "invalid-event"),
        (b"{}", "text/plain", 415, "unsupported-media-type"),
    ],
)
async def test_a_body_that_is_not_an_event_is_refused(
    client: Client, raw: bytes, ctype: str, status: int, slug: str
) -> None:
    resp = await client.post(URL, data=raw, headers={"Content-Type": ctype})
    await _problem(resp, status, slug)


async def test_a_valid_segment_updates_status_recording(client: Client) -> None:
    await _with_cam(client)
    resp = await client.post(URL, json=segment())
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"result": "updated", "streamId": "cam"}
    assert _recording(client) == FIRST_SEGMENT_WIRE


async def test_the_same_segment_twice_counts_once(client: Client) -> None:
    await _with_cam(client)
    assert (await (await client.post(URL, json=segment())).json())["result"] == "updated"
    again = await client.post(URL, json=segment())  # the wrapper's retry after a timeout
    assert again.status == 200
    assert (await again.json())["result"] == "unchanged"
    (path,) = _recording(client)["paths"]
    assert (path["segments"], path["bytes"]) == (1, 1000)


async def test_the_next_segment_adds_up(client: Client) -> None:
    await _with_cam(client)
    await client.post(URL, json=segment())
    resp = await client.post(URL, json=segment(segmentPath=SECOND, bytes=2500, freeBytes=None))
    assert (await resp.json())["result"] == "updated"
    rec = _recording(client)
    (path,) = rec["paths"]
    assert (path["segments"], path["bytes"]) == (2, 3500)
    assert path["firstSegmentTime"] == "2026-12-01T16:50:46.404475Z"
    assert path["lastSegmentTime"] == "2026-12-01T17:00:46.404901Z"
    assert rec["freeBytes"] == 5_000_000_000  # kept: the event had none


async def test_an_out_segment_is_counted_beside_in(client: Client) -> None:
    await _with_cam(client)
    await client.post(URL, json=segment())
    out = segment(path="live/cam/out", segmentPath="/recordings/live/cam/out/" + FIRST[-30:])
    assert (await (await client.post(URL, json=out)).json())["result"] == "updated"
    assert [p["path"] for p in _recording(client)["paths"]] == ["in", "out"]


async def test_a_segment_of_an_unknown_stream_is_ignored(client: Client) -> None:
    resp = await client.post(URL, json=segment())
    assert resp.status == 200
    assert await resp.json() == {"result": "ignored", "streamId": "cam"}
    assert client.api.objects == {}


async def test_api_down_is_503_so_the_wrapper_retries(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _with_cam(client)

    async def broken(*_: Any, **__: Any) -> Any:
        raise KubeError(500, "InternalError", "etcd down")

    monkeypatch.setattr(client.api, "get_livestream", broken)
    resp = await client.post(URL, json=segment())
    await _problem(resp, 503, "api-unavailable")
    assert "etcd" not in await resp.text()


async def test_segments_are_the_index_writers_and_leave_the_syncs_fields(client: Client) -> None:
    await _with_cam(client)
    client.api.objects["cam"]["status"] = {"recording": {"applied": True}}  # the sync's answer
    low = segment(freeBytes=1)
    resp = await client.post("/v1/mediamtx/events/segment-create", json=low)
    assert (await resp.json())["result"] == "updated"
    await client.post(URL, json=segment(freeBytes=None))
    assert [manager for manager, _ in client.api.applied] == [FieldManager.RECORDING_INDEX] * 2
    # Each write is all of the index's fields: the free space stays beside the count.
    assert client.api.applied[-1][1] == {"recording": {**FIRST_SEGMENT_WIRE, "freeBytes": 1}}
    assert _recording(client)["applied"] is True
