"""Who may read a stream's recordings and snapshots through the receiver."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from livestream_operator.access import policy
from livestream_operator.access.auth_endpoint import AuthService
from livestream_operator.access.cluster_view import KeyRing, Publishing
from livestream_operator.access.policy import policy_from
from livestream_operator.access.stream_access import Refusal, admit, check, offered_key
from livestream_operator.api import naming
from livestream_operator.api.stream_keys import StreamKey, generate_key, same_key
from livestream_operator.settings import AuthMode, Settings
from tests.unit.mediamtx.test_path_config import livestream

KEY = generate_key()
OTHER = generate_key()
EXPECTED = StreamKey("cam", KEY, "lso-key-cam")
CAM = livestream("cam")
OPEN, KEYED = AuthMode.OPEN, AuthMode.STREAM_KEY


@pytest.mark.parametrize(
    ("authorization", "offered"),
    [
        (f"Bearer {KEY}", KEY),
        (f"bearer {KEY}", KEY),  # the scheme is case-insensitive
        (f"BEARER   {KEY}  ", KEY),
        ("Bearer ", ""),
        ("Bearer    ", ""),
        (f"Basic {KEY}", ""),  # another scheme is not a key
        (KEY, ""),  # no scheme at all
        ("", ""),
    ],
)
def test_offered_key(authorization: str, offered: str) -> None:
    assert offered_key(authorization) == offered


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
    ("stream_id", "expected", "offered"),
    [
        ("cam", EXPECTED, OTHER),  # a wrong key
        ("ghost", None, OTHER),  # no such stream
        ("cam", None, KEY),  # a stream without a key Secret
        ("ghost", None, "not-a-key-at-all"),
        ("cam", EXPECTED, "not-a-key-at-all"),
    ],
)
def test_a_refused_key_costs_one_comparison_whether_or_not_the_stream_exists(
    monkeypatch: pytest.MonkeyPatch, stream_id: str, expected: StreamKey | None, offered: str
) -> None:
    compared: list[tuple[str, int]] = []

    def counting(given: str, against: str) -> bool:
        compared.append((given, len(against)))
        return same_key(given, against)

    monkeypatch.setattr(policy, "same_key", counting)
    refusal = check(stream_id, CAM if expected else None, KEYED, expected, offered)
    assert refusal is not None
    assert refusal.status == 403
    # Against the stream's key, or a dummy of a key's length when there is none.
    assert compared == [(offered, len(KEY))]


# ---------------------------------------------------------------------- admit


def _auth(mode: AuthMode = KEYED, *, ready: bool = True) -> AuthService:
    keys, publishing = KeyRing(), Publishing()
    keys.by_stream = {"cam": EXPECTED, "ghost": StreamKey("ghost", OTHER, "lso-key-ghost")}
    publishing.apply(
        "LISTED", {"items": [CAM.model_dump(by_alias=True, exclude_none=True, mode="json")]}
    )
    if ready:
        keys.synced.set()
        publishing.synced.set()
    return AuthService(policy_from(Settings(auth_mode=mode)), keys, publishing, "ns")


def _request(stream_id: str, headers: dict[str, str] | None = None, query: str = "") -> Any:
    return make_mocked_request(
        "GET",
        f"/v1/streams/{stream_id}/recordings{query}",
        headers=headers or {},
        match_info={"streamId": stream_id},
    )


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_admit_gives_the_stream_id_and_its_livestream() -> None:
    admitted = admit(_request("cam", _bearer(KEY)), _auth())
    assert not isinstance(admitted, web.Response)
    stream_id, livestream = admitted
    assert stream_id == "cam"
    assert livestream.spec.stream_id == "cam"
    # open mode: no key needed.
    admitted = admit(_request("cam"), _auth(OPEN))
    assert not isinstance(admitted, web.Response)
    assert admitted[0] == "cam"


@pytest.mark.parametrize(
    ("stream_id", "headers", "query", "status", "slug"),
    [
        ("cam", {}, "", 401, "unauthenticated"),
        ("cam", _bearer(OTHER), "", 403, "forbidden"),
        # Only the header: a key in the URL would end up in logs and histories.
        ("cam", {}, f"?key={KEY}", 401, "unauthenticated"),
        ("cam", _bearer(OTHER), f"?key={KEY}", 403, "forbidden"),
        ("cam", {"Authorization": f"Basic {KEY}"}, "", 401, "unauthenticated"),
        ("nobody", _bearer(KEY), "", 403, "forbidden"),  # no such stream: like a wrong key
        ("ghost", _bearer(OTHER), "", 404, "unknown-stream"),  # a key, no LiveStream
        ("-bad", _bearer(KEY), "", 404, "unknown-stream"),
    ],
)
def test_admit_refuses_with_a_problem(
    stream_id: str, headers: dict[str, str], query: str, status: int, slug: str
) -> None:
    response = admit(_request(stream_id, headers, query), _auth())
    assert isinstance(response, web.Response)
    assert response.status == status
    assert response.content_type == "application/problem+json"
    assert response.text is not None
    assert json.loads(response.text)["type"].endswith("/" + slug)


def test_admit_answers_503_while_the_views_load() -> None:
    # A refusal now could be wrong (the key may not have arrived yet): not 401/403.
    for headers in ({}, _bearer(KEY), _bearer(OTHER)):
        response = admit(_request("cam", headers), _auth(ready=False))
        assert isinstance(response, web.Response)
        assert response.status == 503
        assert response.text is not None
        assert json.loads(response.text)["type"].endswith("/not-ready")
