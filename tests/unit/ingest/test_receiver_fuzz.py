"""Property-based fuzzing of the hook receiver through aiohttp's test client.

Whatever arrives (any JSON value, any bytes, the four fields with values of any
JSON type, any path string), the receiver answers 2xx or a 4xx RFC 9457 problem,
never a 5xx, and the API server (the in-memory stand-in of test_receiver.py)
only ever holds one LiveStream per valid stream id.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from livestream_operator.api import naming
from livestream_operator.api.v1alpha1 import STREAM_ID_PATTERN
from livestream_operator.ingest.hook_event import MAX_DEPTH
from livestream_operator.ingest.receiver import MAX_BODY, make_app
from livestream_operator.settings import Settings
from tests.unit.ingest.test_receiver import Client, MemoryAPI

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,  # nothing written to the work tree
    # One client (and one store) for all examples of a test: the store invariant
    # then holds across every event the test sent, not just one.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
EVENTS = ["/v1/mediamtx/events/ready", "/v1/mediamtx/events/not-ready"]
SEGMENT = "/v1/mediamtx/events/segment-complete"
TOKEN = "fuzz-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
_STREAM_ID = re.compile(STREAM_ID_PATTERN)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and Infinity too: json.dumps writes them as literals
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
stream_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,127}", fullmatch=True)
paths = st.one_of(
    st.builds(
        lambda lead, sid, role, trail: f"{lead}live/{sid}/{role}{trail}",
        st.sampled_from(["", "/", "//"]),
        stream_ids | st.text(max_size=20),
        st.sampled_from(["in", "out", "IN", "", "in\n", "out/x"]),
        st.sampled_from(["", "/", "\n", "\x00"]),
    ),
    st.builds(lambda sid: f"live/{sid}/in", stream_ids),
    st.text(max_size=60),
    st.text(alphabet=st.characters(codec="ascii"), max_size=20).map(lambda s: f"live/{s}/in"),
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=UTF-8",
        "application/json; charset=latin-1",
        "APPLICATION/JSON",
        "application/problem+json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "",
        ";;;",
    ]
)


@pytest.fixture
async def fuzz_client() -> AsyncIterator[Client]:
    api = MemoryAPI()
    async with Client(TestServer(make_app(api, Settings(hook_token=TOKEN)))) as c:
        c.api = api
        yield c


async def check_response(client: Client, resp: ClientResponse) -> int:
    """The contract for every answer, and the store invariant after it."""
    status = resp.status
    assert status < 500, await resp.text()
    if status >= 400:
        assert resp.content_type == "application/problem+json"
        body = json.loads(await resp.read())
        assert isinstance(body, dict)
        assert {"type", "title", "status", "detail"} <= body.keys()
        assert body["status"] == status
        assert isinstance(body["detail"], str)
        assert body["detail"]
    else:
        assert 200 <= status < 300
        await resp.read()
    stream_ids = []
    for name, obj in client.api.objects.items():
        stream_id = obj["spec"]["streamId"]
        assert _STREAM_ID.fullmatch(stream_id), stream_id
        assert naming.resource_name(stream_id) == name
        stream_ids.append(stream_id)
    assert all(n == 1 for n in Counter(stream_ids).values()), stream_ids
    return status


async def post(client: Client, url: str, body: bytes, content_type: str | None) -> int:
    headers = AUTH if content_type is None else {**AUTH, "Content-Type": content_type}
    resp = await client.post(url, data=body, headers=headers, skip_auto_headers=["Content-Type"])
    return await check_response(client, resp)


@FUZZ
@given(value=json_values, url=st.sampled_from([*EVENTS, SEGMENT]))
async def test_any_json_value(fuzz_client: Client, value: Any, url: str) -> None:
    await post(fuzz_client, url, json.dumps(value).encode(), "application/json")


@FUZZ
@given(
    raw=st.binary(max_size=512),
    ctype=content_types | st.none(),
    url=st.sampled_from([*EVENTS, SEGMENT]),
)
@example(raw=b"[" * 30000 + b"]" * 30000, ctype="application/json", url=EVENTS[0])
@example(raw=b"\xff\xfe{}", ctype="application/json", url=EVENTS[0])
async def test_any_bytes(fuzz_client: Client, raw: bytes, ctype: str | None, url: str) -> None:
    await post(fuzz_client, url, raw, ctype)


@FUZZ
@given(
    fields=st.fixed_dictionaries(
        {},
        optional={
            "path": paths | json_values,
            "query": st.text() | json_values,
            "sourceType": st.sampled_from(["rtmpConn", "rtspSession", "webRTCSession"])
            | json_values,
            "sourceId": st.uuids().map(str) | json_values,
            "extra": json_values,
        },
    ),
    url=st.sampled_from(EVENTS),
)
async def test_four_fields_of_any_type(fuzz_client: Client, fields: Any, url: str) -> None:
    status = await post(fuzz_client, url, json.dumps(fields).encode(), "application/json")
    if any(not isinstance(fields.get(f, ""), str) for f in ("path", "query", "sourceType")):
        assert status in (400, 422)  # refused, never coerced


@FUZZ
@given(
    fields=st.fixed_dictionaries(
        {},
        optional={
            "path": paths | json_values,
            "segmentPath": st.builds(
                lambda p, name: f"/recordings/{p}/{name}",
                paths,
                st.sampled_from(
                    ["2026-12-01_16-50-46-404475.mp4", "x.mp4", "2026-13-01_00-00-00-000000.ts"]
                ),
            )
            | json_values,
            "segmentDuration": st.floats() | json_values,
            "bytes": st.integers() | json_values,
            "freeBytes": st.integers() | json_values,
        },
    ),
)
async def test_segment_fields_of_any_type(fuzz_client: Client, fields: Any) -> None:
    """The segment hook: any field of any type is a 2xx or a 4xx problem, never a 500."""
    await post(fuzz_client, SEGMENT, json.dumps(fields).encode(), "application/json")


def _accepted(path: str) -> bool:
    if not 1 <= len(path) <= 1024:
        return False
    try:
        naming.parse_path(path)
    except naming.PathError:
        return False
    return True


@FUZZ
@given(path=paths, url=st.sampled_from(EVENTS), source=st.sampled_from(["", "s1", "s2"]))
@example(path="live/cam\n/in", url=EVENTS[0], source="s1")
@example(path="live/cam%0A/in", url=EVENTS[0], source="s1")
@example(path="live/cam\x00/in", url=EVENTS[0], source="s1")
@example(path="live/cam/in\n", url=EVENTS[0], source="s1")
async def test_any_path(fuzz_client: Client, path: str, url: str, source: str) -> None:
    body = json.dumps({"path": path, "sourceType": "rtmpConn", "sourceId": source}).encode()
    status = await post(fuzz_client, url, body, "application/json")
    if _accepted(path):
        assert status in (200, 201)
        where = naming.parse_path(path)
        if url == EVENTS[0] and where.role is naming.PathRole.INGEST:
            obj = fuzz_client.api.objects[naming.resource_name(where.stream_id)]
            assert obj["spec"]["streamId"] == where.stream_id
    else:
        assert status == 422


# Regressions: the inputs each of these properties first found or was written for.


@pytest.mark.parametrize(
    ("raw", "ctype", "status", "field"),
    [
        (b"[" * 30000 + b"]" * 30000, "application/json", 400, "body"),  # was RecursionError
        (b'{"x":' * 6000 + b"1" + b"}" * 6000, "application/json", 400, "body"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "application/json", 400, "body"),
        (b"[" * 100000 + b"]" * 100000, "application/json", 413, "body"),
        (b'{"path": "live/\xff/in"}', "application/json", 400, "body"),
        (b'\xef\xbb\xbf{"path": "live/cam/in"}', "application/json", 400, "body"),
        ('{"path": "live/cam/in"}'.encode("utf-16"), "application/json", 400, "body"),
        (b'{"path": "live/cam/in", "x": ' + b"9" * 5000 + b"}", "application/json", 422, "x"),
        (b'{"path": "live/cam/in", "x": 1e999}', "application/json", 422, "x"),
        (b'{"path": "live/cam/in", "x": [NaN]}', "application/json", 400, "x.0"),
        (b'{"path": Infinity}', "application/json", 400, "path"),
        (b'{"path": "live/a/in", "path": "live/b/in"}', "application/json", 422, "path"),
        (b'{"path": 5}', "application/json", 422, "path"),
        (b'{"path": null}', "application/json", 422, "path"),
        (b'{"path": "live/cam/in", "query": []}', "application/json", 422, "query"),
        (b'{"path": "live/cam/in", "sourceId": 7}', "application/json", 422, "sourceId"),
        (b'{"path": "live/cam\\n/in"}', "application/json", 422, "path"),
        (b'{"path": "live/cam%0A/in"}', "application/json", 422, "path"),
        (b'{"path": "live/cam\\u0000/in"}', "application/json", 422, "path"),
        (b'{"path": "live/cam/in"}', "text/plain", 415, "Content-Type"),
        (b'{"path": "live/cam/in"}', "application/json; charset=latin-1", 415, "Content-Type"),
        (b"", "application/json", 400, "body"),
        (
            b'{"path": "live/cam/in", "q": "' + b"a" * MAX_BODY + b'"}',
            "application/json",
            413,
            "body",
        ),
    ],
)
async def test_hostile_bodies_get_a_problem_naming_the_field(
    fuzz_client: Client, raw: bytes, ctype: str, status: int, field: str
) -> None:
    resp = await fuzz_client.post(EVENTS[0], data=raw, headers={**AUTH, "Content-Type": ctype})
    assert resp.status == status
    assert await check_response(fuzz_client, resp) == status
    problem = json.loads(await resp.read())
    assert problem["errors"][0]["field"] == field
    assert problem["errors"][0]["reason"]
    assert fuzz_client.api.objects == {}
