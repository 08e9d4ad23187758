"""Who may read a stream's recordings and snapshots through the receiver."""

from __future__ import annotations

import json

import pytest
from aiohttp.test_utils import make_mocked_request

from livestream_operator.api import naming
from livestream_operator.api.stream_keys import StreamKey, generate_key
from livestream_operator.ingest.stream_access import Refusal, check, offered_key, refuse
from livestream_operator.settings import AuthMode
from tests.unit.ingest.test_recording_config import livestream

KEY = generate_key()
OTHER = generate_key()
EXPECTED = StreamKey("cam", KEY, "lso-key-cam")
CAM = livestream("cam")
OPEN, KEYED = AuthMode.OPEN, AuthMode.STREAM_KEY


@pytest.mark.parametrize(
    ("authorization", "query_key", "offered"),
    [
        (f"Bearer {KEY}", "", KEY),
        (f"bearer {KEY}", "", KEY),  # the scheme is case-insensitive
        (f"BEARER   {KEY}  ", "", KEY),
        (f"Bearer {KEY}", OTHER, KEY),  # the header wins over the query
        ("", KEY, KEY),
        ("Bearer ", KEY, KEY),  # an empty token falls back to the query
        ("Bearer    ", KEY, KEY),
        (f"Basic {KEY}", KEY, KEY),  # another scheme is not a key
        (f"Basic {KEY}", "", ""),
        (KEY, "", ""),  # no scheme at all
        ("", "", ""),
    ],
)
def test_offered_key(authorization: str, query_key: str, offered: str) -> None:
    assert offered_key(authorization, query_key) == offered


@pytest.mark.parametrize(
    ("stream_id", "exists", "mode", "expected", "offered", "status", "slug"),
    [
        # A malformed id is unknown, before any key is asked for.
        ("-cam", True, KEYED, EXPECTED, KEY, 404, "unknown-stream"),
        ("a/b", True, OPEN, EXPECTED, "", 404, "unknown-stream"),
        ("", False, KEYED, None, "", 404, "unknown-stream"),
        # streamKey: the key first, so that without one nobody learns what exists.
        ("cam", True, KEYED, EXPECTED, "", 401, "unauthenticated"),
        ("ghost", False, KEYED, None, "", 401, "unauthenticated"),
        ("cam", True, KEYED, EXPECTED, OTHER, 403, "forbidden"),
        ("cam", True, KEYED, EXPECTED, "sk_short", 403, "forbidden"),
        ("cam", True, KEYED, EXPECTED, KEY + "\n", 403, "forbidden"),
        ("cam", True, KEYED, EXPECTED, "not-a-key-at-all", 403, "forbidden"),
        ("cam", True, KEYED, None, KEY, 403, "forbidden"),  # a stream without a key Secret
        ("ghost", False, KEYED, None, KEY, 403, "forbidden"),
        ("cam", False, KEYED, EXPECTED, KEY, 404, "unknown-stream"),  # key, no LiveStream
        ("cam", True, KEYED, EXPECTED, KEY, None, None),
        # open: anyone, for a stream that exists.
        ("cam", True, OPEN, None, "", None, None),
        ("cam", True, OPEN, EXPECTED, OTHER, None, None),
        ("ghost", False, OPEN, None, "", 404, "unknown-stream"),
    ],
)
def test_check(
    stream_id: str,
    exists: bool,
    mode: AuthMode,
    expected: StreamKey | None,
    offered: str,
    status: int | None,
    slug: str | None,
) -> None:
    refusal = check(stream_id, CAM if exists else None, mode, expected, offered)
    if status is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert (refusal.status, refusal.slug) == (status, slug)
        assert refusal.detail


def test_refusals_say_what_to_do() -> None:
    missing = check("cam", CAM, KEYED, EXPECTED, "")
    assert missing is not None
    assert "Authorization: Bearer" in missing.detail
    bad_id = check("-cam", CAM, KEYED, EXPECTED, KEY)
    assert bad_id is not None
    assert bad_id.detail == naming.STREAM_ID_RULE
    gone = check("cam", None, KEYED, EXPECTED, KEY)
    assert gone is not None
    assert "cam" in gone.detail


def _body(refusal: Refusal) -> dict[str, object]:
    response = refusal.response()
    assert response.content_type == "application/problem+json"
    assert response.status == refusal.status
    assert response.text is not None
    data: dict[str, object] = json.loads(response.text)
    return data


@pytest.mark.parametrize(
    ("refusal", "field"),
    [
        (Refusal(401, "unauthenticated", "Unauthenticated", "send the key"), "Authorization"),
        (Refusal(403, "forbidden", "Forbidden", "not this stream's key"), "Authorization"),
        (Refusal(404, "unknown-stream", "No such stream", "no LiveStream"), "streamId"),
    ],
)
def test_a_refusal_is_problem_json_naming_the_field(refusal: Refusal, field: str) -> None:
    body = _body(refusal)
    assert body["status"] == refusal.status
    assert str(body["type"]).endswith("/" + refusal.slug)
    assert body["detail"] == refusal.detail
    assert body["errors"] == [{"field": field, "reason": refusal.detail}]


@pytest.mark.parametrize(
    ("url", "headers", "status"),
    [
        ("/v1/streams/cam/recordings", {}, 401),
        ("/v1/streams/cam/recordings", {"Authorization": f"Bearer {OTHER}"}, 403),
        (f"/v1/streams/cam/recordings?key={OTHER}", {}, 403),
        ("/v1/streams/cam/recordings", {"Authorization": f"Bearer {KEY}"}, None),
        (f"/v1/streams/cam/recordings?key={KEY}", {}, None),
        (f"/v1/streams/cam/recordings?key={OTHER}", {"Authorization": f"Bearer {KEY}"}, None),
    ],
)
def test_refuse_reads_the_header_then_the_query(
    url: str, headers: dict[str, str], status: int | None
) -> None:
    request = make_mocked_request("GET", url, headers=headers)
    response = refuse(request, "cam", CAM, KEYED, EXPECTED)
    assert (response.status if response is not None else None) == status
