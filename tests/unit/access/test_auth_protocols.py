"""Stream keys over RTSP and SRT: the auth requests MediaMTX v1.20.1 sends for
each URL form (observed with ffmpeg 5.1 publishers; MediaMTX's SRT server splits
the streamid into path, user, password and query before it asks), and the RTSP
credential challenge, which is not a wrong key."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livestream_operator.access.auth_endpoint import AuthService
from livestream_operator.access.cluster_view import KeyRing, Publishing
from livestream_operator.access.policy import (
    AttemptGuard,
    AuthRequest,
    Reason,
    Snapshot,
    decide,
    offered_keys,
)
from livestream_operator.api.stream_keys import StreamKey, is_key

from .test_policy import KEY, KEYED, OTHER

STATE = Snapshot(keys={"cam": StreamKey("cam", KEY, "lso-key-cam")}, revoked={}, live={})


def request(
    protocol: str, action: str = "publish", path: str = "live/cam/in", **fields: Any
) -> AuthRequest:
    body = {"action": action, "path": path, "protocol": protocol, "id": "c1", "ip": "1.2.3.4"}
    return AuthRequest.model_validate(body | fields)


# What MediaMTX fills for each SRT streamid (internal/servers/srt/streamid.go):
# 3 parts: the third is the query; 4: user and password; 5: user, password, query;
# the standard "#!::" syntax: u= user, s= password. MediaMTX sets the token to the
# password whenever there is one.
SRT_FORMS = {
    f"publish:live/cam/in:publisher:{KEY}": {"user": "publisher", "password": KEY, "token": KEY},
    f"publish:live/cam/in:{KEY}": {"query": KEY},
    f"publish:live/cam/in:key={KEY}": {"query": f"key={KEY}"},
    f"publish:live/cam/in:?key={KEY}": {"query": f"?key={KEY}"},
    f"publish:live/cam/in:u:p:key={KEY}": {
        "user": "u",
        "password": "p",
        "token": "p",
        "query": f"key={KEY}",
    },
    f"publish:live/cam/in::?key={KEY}": {"password": f"?key={KEY}", "token": f"?key={KEY}"},
    f"#!::m=publish,r=live/cam/in,u=any,s={KEY}": {"user": "any", "password": KEY, "token": KEY},
}


@pytest.mark.parametrize("streamid", list(SRT_FORMS))
def test_every_srt_streamid_form_carries_the_key(streamid: str) -> None:
    req = request("srt", **SRT_FORMS[streamid])
    assert offered_keys(req) == [KEY]
    d = decide(req, KEYED, STATE)
    assert (d.allowed, d.reason) == (True, Reason.STREAM_KEY), d.detail


@pytest.mark.parametrize(
    "fields",
    [
        # rtsp://publisher:sk_...@host/live/cam/in, after the challenge (Basic).
        {"user": "publisher", "password": KEY, "token": KEY},
        {"query": f"key={KEY}"},  # rtsp://host/live/cam/in?key=sk_...
        {"query": f"token={KEY}", "token": KEY},  # ?token=: MediaMTX copies it to token
    ],
)
def test_rtsp_url_forms_carry_the_key(fields: dict[str, str]) -> None:
    d = decide(request("rtsp", **fields), KEYED, STATE)
    assert (d.allowed, d.reason) == (True, Reason.STREAM_KEY), d.detail


def test_the_rtsp_challenge_is_not_a_wrong_key() -> None:
    """MediaMTX asks first without credentials, answers 401 with a challenge, and
    ffmpeg comes back with rtsp://user:key@'s credentials."""
    first = decide(request("rtsp"), KEYED, STATE)
    assert (first.allowed, first.reason) == (False, Reason.CREDENTIALS_REQUIRED)
    retry = request("rtsp", user="publisher", password=KEY, token=KEY)
    assert decide(retry, KEYED, STATE).allowed
    # A key that is there and wrong is a wrong key, over RTSP too.
    wrong = decide(request("rtsp", query=f"key={OTHER}"), KEYED, STATE)
    assert wrong.reason is Reason.INVALID_KEY
    wrong = decide(request("rtsp", user="publisher", password=OTHER), KEYED, STATE)
    assert wrong.reason is Reason.INVALID_KEY
    # Neither RTMP nor SRT has a challenge: no key is no key.
    for protocol in ("rtmp", "srt"):
        assert decide(request(protocol), KEYED, STATE).reason is Reason.INVALID_KEY


def test_internal_rtsp_readers_and_the_worker_output_are_challenged_first() -> None:
    read = decide(request("rtsp", "read"), KEYED, STATE)
    assert read.reason is Reason.CREDENTIALS_REQUIRED
    worker = {"user": "lso-worker", "password": "wk-pass-123"}
    assert decide(request("rtsp", "read", **worker), KEYED, STATE).allowed
    out = decide(request("rtsp", path="live/cam/out"), KEYED, STATE)
    assert out.reason is Reason.CREDENTIALS_REQUIRED
    assert decide(request("rtsp", path="live/cam/out", **worker), KEYED, STATE).allowed
    # With credentials that are wrong, it is a refusal as before.
    bad = decide(request("rtsp", "read", user="x", password="y"), KEYED, STATE)
    assert bad.reason is Reason.UNAUTHORIZED


def test_challenges_are_not_counted_as_guesses() -> None:
    keys, publishing = KeyRing(), Publishing()
    secret = {"streamId": "cam", "streamKey": KEY}
    data = {k: base64.b64encode(v.encode()).decode() for k, v in secret.items()}
    keys.apply("LISTED", {"items": [{"metadata": {"name": "lso-key-cam"}, "data": data}]})
    publishing.apply("LISTED", {"items": []})
    service = AuthService(KEYED, keys, publishing, "ns", guard=AttemptGuard(threshold=3))
    for _ in range(10):  # ten RTSP publishes, each challenged first
        assert service.decide(request("rtsp")).reason is Reason.CREDENTIALS_REQUIRED
    retry = request("rtsp", user="publisher", password=KEY, token=KEY)
    assert service.decide(retry).allowed
    for _ in range(3):  # wrong keys still are
        service.decide(request("srt", query=f"key={OTHER}"))
    assert service.decide(request("srt", query=f"key={KEY}")).reason is Reason.TOO_MANY_ATTEMPTS


@pytest.mark.parametrize(
    ("protocol", "hint"),
    [
        ("rtmp", "?key=<key>"),
        ("rtsp", "rtsp://<any>:<key>@host/live/<id>/in"),
        ("srt", "streamid=publish:live/<id>/in:<any>:<key>"),
    ],
)
def test_a_missing_key_says_where_the_key_goes(protocol: str, hint: str) -> None:
    # (RTSP without any credentials is challenged first: see above.)
    d = decide(request(protocol, user="u", password="not-a-key"), KEYED, STATE)
    assert d.reason is Reason.INVALID_KEY
    assert "no stream key was given" in d.detail
    assert hint in d.detail
    # A malformed key is "no key" too, and never echoed back.
    d = decide(request(protocol, password=KEY[:-1], user="u"), KEYED, STATE)
    assert "no stream key was given" in d.detail
    assert KEY[:-1] not in d.detail


# ------------------------------------------------------------------ fuzzing

FUZZ = settings(max_examples=300, deadline=None, database=None)
# Query parameters around the key: anything but the separators.
word = st.text(st.characters(exclude_characters="&=?#%+", exclude_categories=["Cs"]), max_size=12)
params = st.lists(st.tuples(word, word).map("=".join), max_size=4)
names = st.sampled_from(["key", "pass", "password", "token", "streamKey"])


@FUZZ
@given(
    before=params,
    after=params,
    name=names,
    prefix=st.sampled_from(["", "?"]),
    where=st.sampled_from(["query", "password"]),
)
def test_the_key_is_found_among_any_other_parameters(
    before: list[str], after: list[str], name: str, prefix: str, where: str
) -> None:
    query = prefix + "&".join([*before, f"{name}={KEY}", *after])
    if where == "password":
        query = "?" + query.removeprefix("?")  # a query in the password starts with "?"
    req = request("srt", **{where: query})
    assert KEY in offered_keys(req)
    assert decide(req, KEYED, STATE).allowed


@FUZZ
@given(
    user=st.text(max_size=60),
    password=st.text(max_size=80),
    token=st.text(max_size=80),
    query=st.text(max_size=120) | params.map("&".join),
    protocol=st.sampled_from(["rtmp", "rtsp", "srt", "webrtc", ""]),
)
def test_offered_keys_are_keys_that_were_sent(
    user: str, password: str, token: str, query: str, protocol: str
) -> None:
    req = request(protocol, user=user, password=password, token=token, query=query)
    offered = offered_keys(req)
    assert all(is_key(k) for k in offered)
    sent = " ".join(unquote(v) for v in (password, token, query))
    assert all(k in sent for k in offered)
    d = decide(req, KEYED, STATE)
    # Nothing but the stream's key publishes; a challenge only without credentials.
    assert d.allowed == (KEY in offered)
    if d.reason is Reason.CREDENTIALS_REQUIRED:
        assert protocol == "rtsp"
        assert (user, password, token, offered) == ("", "", "", [])
    assert KEY not in d.detail
