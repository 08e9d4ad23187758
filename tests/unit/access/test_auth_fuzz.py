"""Property-based fuzzing of the auth endpoint MediaMTX calls: whatever arrives,
the answer is 200 (allowed) or a 4xx problem (refused), never a 5xx, and nothing
but a well-formed publish with the stream's key is allowed to publish."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livestream_operator.access.auth_endpoint import AuthService
from livestream_operator.access.cluster_view import KeyRing, Publishing
from livestream_operator.access.policy import AuthRequest, Reason, policy_from
from livestream_operator.api import stream_keys
from livestream_operator.ingest.receiver import make_app
from livestream_operator.settings import Settings
from tests.unit.ingest.test_receiver import Client, MemoryAPI
from tests.unit.ingest.test_receiver_fuzz import json_values, paths

KEY = stream_keys.generate_key()
FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SETTINGS = Settings(
    hook_token="t",
    operator_password="op-password",
    worker_password="wk-password",
    forwarder_password="fw-password",
)


@pytest.fixture
async def auth_client() -> AsyncIterator[Client]:
    keys, publishing = KeyRing(), Publishing()
    data = {"streamId": "cam", "streamKey": KEY}
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    keys.apply("LISTED", {"items": [{"metadata": {"name": "k"}, "data": encoded}]})
    publishing.apply("LISTED", {"items": []})
    keys.synced.set()
    publishing.synced.set()
    service = AuthService(policy_from(SETTINGS), keys, publishing, "ns")
    async with Client(TestServer(make_app(MemoryAPI(), SETTINGS, service))) as c:
        yield c


fields = st.fixed_dictionaries(
    {},
    optional={
        name: json_values | st.text(max_size=60)
        for name in ("ip", "user", "password", "token", "action", "path", "protocol", "id")
    }
    | {"query": st.text(max_size=80) | st.just(f"key={KEY}")},
)


async def _post(client: Client, body: bytes) -> tuple[int, dict[str, Any]]:
    resp = await client.post(
        "/v1/mediamtx/auth", data=body, headers={"Content-Type": "application/json"}
    )
    status = resp.status
    assert status < 500, await resp.text()
    payload = json.loads(await resp.read())
    if status >= 400:
        assert resp.content_type == "application/problem+json"
        assert {"type", "title", "status", "detail"} <= payload.keys()
    return status, payload


@FUZZ
@given(body=fields)
async def test_any_request_is_answered_without_a_5xx(auth_client: Client, body: Any) -> None:
    status, _ = await _post(auth_client, json.dumps(body).encode())
    if status == 200:
        req = AuthRequest.model_validate(body)
        if req.action == "publish":
            assert req.path.strip("/") == "live/cam/in"
            assert KEY in (req.query, req.password) or f"key={KEY}" in req.query


@FUZZ
@given(raw=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
async def test_any_bytes_are_answered_without_a_5xx(auth_client: Client, raw: bytes) -> None:
    await _post(auth_client, raw)


@FUZZ
@given(path=paths)
async def test_only_the_keyed_stream_is_published(auth_client: Client, path: str) -> None:
    body = {"action": "publish", "path": path, "query": f"key={KEY}", "ip": "1.2.3.4", "id": "x"}
    status, payload = await _post(auth_client, json.dumps(body).encode())
    if status == 200:
        assert path.strip("/") == "live/cam/in"
        assert payload["reason"] == Reason.STREAM_KEY.value


@pytest.mark.parametrize("user", ["", "op"])
async def test_a_lone_surrogate_in_a_credential_is_refused(auth_client: Client, user: str) -> None:
    """A JSON escape of half a UTF-16 pair is valid JSON and no UTF-8: a 401, not a 500."""
    body = b'{"action": "read", "path": "live/cam/out", "user": "%s", "password": "\\ud800",'
    body += b' "query": "key=\\udc80", "ip": "1.2.3.4", "id": "x"}'
    status, _ = await _post(auth_client, body % user.encode())
    assert status == 401


async def test_deep_nesting_is_a_400(auth_client: Client) -> None:
    status, _ = await _post(auth_client, b"[" * 20000 + b"]" * 20000)
    assert status == 400


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("?instance=Not_A_Pod", "instance: must be a MediaMTX Pod's name (a DNS label)"),
        ("?instance=", "instance: must be a MediaMTX Pod's name (a DNS label)"),
        ("?instance=a&instance=b", "instance: given more than once"),
    ],
)
async def test_an_auth_call_naming_no_instance_is_refused_with_the_reason(
    auth_client: Client, query: str, detail: str
) -> None:
    body = {"action": "publish", "path": "live/cam/in", "query": f"key={KEY}"}
    resp = await auth_client.post(f"/v1/mediamtx/auth{query}", json=body)
    assert resp.status == 400
    assert resp.content_type == "application/problem+json"
    assert (await resp.json())["detail"] == detail
    ok = await auth_client.post("/v1/mediamtx/auth?instance=mediamtx-0", json=body)
    assert ok.status == 200


@FUZZ
@given(instance=st.text(max_size=80))
async def test_any_instance_in_the_auth_url_is_answered_without_a_5xx(
    auth_client: Client, instance: str
) -> None:
    resp = await auth_client.post(
        "/v1/mediamtx/auth", params={"instance": instance}, json={"action": "read"}
    )
    assert resp.status < 500, await resp.text()
