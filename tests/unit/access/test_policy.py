"""Auth decisions: who may publish, read and call the API, from memory."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from livestream_operator.access.cluster_view import KeyRing, Publishing
from livestream_operator.access.policy import (
    AttemptGuard,
    AuthRequest,
    Credential,
    InternalCredentials,
    LiveState,
    Policy,
    Reason,
    Snapshot,
    decide,
    fingerprint,
    offered_keys,
)
from livestream_operator.api import stream_keys
from livestream_operator.api.stream_keys import StreamKey, generate_key, is_key, same_key
from livestream_operator.settings import AuthMode, OutputRead

KEY = generate_key()
OTHER = generate_key()
CREDS = InternalCredentials(
    operator=Credential("lso-operator", "op-pass-123"),
    worker=Credential("lso-worker", "wk-pass-123"),
    forwarder=Credential("lso-forwarder", "fw-pass-123"),
)
KEYED = Policy(AuthMode.STREAM_KEY, CREDS, OutputRead.KEYED)
OPEN = Policy(AuthMode.OPEN, CREDS)


def state(live: dict[str, LiveState] | None = None, **extra: Any) -> Snapshot:
    return Snapshot(
        keys={"cam": StreamKey("cam", KEY, "lso-key-cam")},
        revoked=extra.get("revoked", {}),
        live=live or {},
        allow_takeover=extra.get("takeover", {}),
        live_backup=extra.get("backup", {}),
    )


def publish(path: str = "live/cam/in", **fields: Any) -> AuthRequest:
    return AuthRequest.model_validate(
        {"action": "publish", "path": path, "protocol": "rtmp", "id": "c1", "ip": "1.2.3.4"}
        | fields
    )


def test_keys_are_sk_and_43_base64url_characters_from_a_csprng() -> None:
    assert KEY.startswith("sk_")
    assert len(KEY) == 46
    assert KEY != OTHER
    assert is_key(KEY)
    assert not is_key(KEY + "\n")  # full match: no trailing newline slips through
    assert not is_key(KEY[:-1])
    assert not is_key("sk_" + "!" * 43)
    assert same_key(KEY, KEY)
    assert not same_key(KEY, OTHER)
    # Undecodable header bytes and JSON escapes arrive as lone surrogates.
    assert not same_key("\udc80" + KEY[1:], KEY)
    assert not same_key("\ud800", KEY)


@pytest.mark.parametrize(
    "fields",
    [
        {"query": f"key={KEY}"},  # OBS: stream key field "in?key=sk_..."
        {"query": f"key%3D{KEY}"},  # the same, percent-encoded by ffmpeg
        {"user": "any", "password": KEY},  # ?user=any&pass=sk_... or rtsp://any:sk_...@
        {"query": KEY},  # the bare key as the whole query
        {"query": f"a=1&pass={KEY}&b=2"},
    ],
)
def test_both_url_forms_carry_the_key(fields: dict[str, str]) -> None:
    assert offered_keys(publish(**fields)) == [KEY]
    assert decide(publish(**fields), KEYED, state()).allowed


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({}, "no stream key"),
        ({"query": f"key={OTHER}"}, "wrong stream key"),
        ({"query": "key=sk_short"}, "no stream key"),
        ({"query": f"key={KEY}\n"}, "no stream key"),
    ],
)
def test_a_missing_or_wrong_key_is_invalid(fields: dict[str, str], detail: str) -> None:
    d = decide(publish(**fields), KEYED, state())
    assert (d.allowed, d.reason) == (False, Reason.INVALID_KEY)
    assert detail in d.detail


def test_a_stream_without_a_key_refuses_every_key() -> None:
    d = decide(publish("live/other/in", query=f"key={KEY}"), KEYED, state())
    assert (d.allowed, d.reason, d.stream_id) == (False, Reason.INVALID_KEY, "other")


def test_a_revoked_key_says_so() -> None:
    snap = state(revoked={fingerprint(OTHER): "cam"})
    d = decide(publish(query=f"key={OTHER}"), KEYED, snap)
    assert (d.allowed, d.reason) == (False, Reason.KEY_REVOKED)


def test_a_second_publisher_is_refused_unless_takeover_is_allowed() -> None:
    live = {"cam": LiveState("c0", "9.9.9.9")}
    second = publish(query=f"key={KEY}")
    assert decide(second, KEYED, state(live)).reason is Reason.KEY_IN_USE
    assert decide(second, KEYED, state(live, takeover={"cam": True})).allowed
    # The current publisher reconnecting with its own connection id is not a second one.
    assert decide(publish(query=f"key={KEY}", id="c0"), KEYED, state(live)).allowed
    # Nor is a retry from the address of an admission not yet available.
    retry = {"cam": LiveState("c0", "1.2.3.4", confirmed=False)}
    assert decide(second, KEYED, state(retry)).allowed


def test_a_backup_publisher_is_keyed_like_the_primary_and_not_a_second_stream() -> None:
    live = {"cam": LiveState("c0", "9.9.9.9")}
    backup = publish("live/cam/backup", query=f"key={KEY}")
    # The primary being live is what a backup is for.
    assert decide(backup, KEYED, state(live)).allowed
    assert decide(publish("live/cam/backup"), KEYED, state(live)).reason is Reason.INVALID_KEY
    # Nor do the stream limits count it: it is the same stream.
    limited = Policy(AuthMode.STREAM_KEY, CREDS, max_streams=1)
    assert decide(backup, limited, state(live)).allowed
    # One backup publisher at a time, as on `in`.
    taken = {"cam": LiveState("b0")}
    assert decide(backup, KEYED, state(live, backup=taken)).reason is Reason.KEY_IN_USE
    assert decide(backup, KEYED, state(live, backup=taken, takeover={"cam": True})).allowed
    assert decide(
        publish("live/cam/backup", query=f"key={KEY}", id="b0"), KEYED, state(live, backup=taken)
    ).allowed
    # The worker reads it with its own credentials; nobody else does.
    read = AuthRequest(
        action="read", path="live/cam/backup", user="lso-worker", password="wk-pass-123"
    )
    assert decide(read, KEYED, state()).allowed
    assert not decide(AuthRequest(action="read", path="live/cam/backup"), KEYED, state()).allowed


def test_stream_limits() -> None:
    live = {f"s{i}": LiveState(f"x{i}", "1.2.3.4") for i in range(3)}
    limited = Policy(AuthMode.STREAM_KEY, CREDS, max_streams=3)
    d = decide(publish(query=f"key={KEY}"), limited, state(live))
    assert (d.allowed, d.reason) == (False, Reason.STREAM_LIMIT)
    per_ip = Policy(AuthMode.STREAM_KEY, CREDS, max_streams_per_ip=3)
    assert decide(publish(query=f"key={KEY}"), per_ip, state(live)).reason is Reason.IP_LIMIT
    assert decide(publish(query=f"key={KEY}", ip="5.6.7.8"), per_ip, state(live)).allowed


def test_open_mode_admits_without_a_key_but_keeps_the_limits() -> None:
    assert decide(publish("live/anything/in"), OPEN, state()).allowed
    limited = Policy(AuthMode.OPEN, CREDS, max_streams=1)
    d = decide(publish("live/new/in"), limited, state({"cam": LiveState("c0")}))
    assert d.reason is Reason.STREAM_LIMIT


@pytest.mark.parametrize(
    ("action", "path", "user", "password", "allowed"),
    [
        ("read", "live/cam/in", "lso-worker", "wk-pass-123", True),
        ("read", "live/cam/in", "", "", False),  # outside readers cannot pull `in`
        ("read", "live/cam/in", "lso-worker", "wrong", False),
        ("read", "live/cam/in", "lso-forwarder", "fw-pass-123", False),
        ("read", "live/cam/out", "lso-forwarder", "fw-pass-123", True),
        # Another instance's relay of out reads it as the operator; never `in`.
        ("read", "live/cam/out", "lso-operator", "op-pass-123", True),
        ("read", "live/cam/in", "lso-operator", "op-pass-123", False),
        ("read", "live/cam/backup", "lso-operator", "op-pass-123", False),
        ("read", "live/cam/out", "", "", False),  # keyed output
        ("read", "live/cam/out", "any", KEY, True),
        ("publish", "live/cam/out", "lso-worker", "wk-pass-123", True),
        ("publish", "live/cam/out", "any", KEY, False),  # only the worker publishes out
        ("api", "", "lso-operator", "op-pass-123", True),
        ("api", "", "lso-worker", "wk-pass-123", False),
        ("metrics", "", "", "", False),
        # Recordings: the receiver lists them as the operator; users with the key.
        ("playback", "live/cam/in", "lso-operator", "op-pass-123", True),
        ("playback", "live/cam/out", "any", KEY, True),
        ("playback", "live/cam/in", "", "", False),
        ("playback", "live/cam/in", "lso-worker", "wk-pass-123", False),
        ("playback", "live/other/in", "any", KEY, False),  # another stream's key
        ("playback", "recordings/x", "any", KEY, False),
        ("pprof", "", "lso-operator", "op-pass-123", False),
        ("publish", "other/cam", "any", KEY, False),
    ],
)
def test_internal_credentials(
    action: str, path: str, user: str, password: str, allowed: bool
) -> None:
    req = AuthRequest(action=action, path=path, user=user, password=password)
    assert decide(req, KEYED, state()).allowed is allowed


def test_public_output_and_open_mode_reads() -> None:
    public = Policy(AuthMode.STREAM_KEY, CREDS, OutputRead.PUBLIC)
    assert decide(AuthRequest(action="read", path="live/cam/out"), public, state()).allowed
    assert not decide(AuthRequest(action="read", path="live/cam/in"), public, state()).allowed
    assert decide(AuthRequest(action="read", path="live/cam/in"), OPEN, state()).allowed


def test_no_credential_matches_an_empty_password() -> None:
    empty = Credential("lso-operator", "")
    assert not empty.matches("lso-operator", "")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_repeated_wrong_keys_lock_the_address_out_for_longer_each_time() -> None:
    clock = Clock()
    guard = AttemptGuard(threshold=3, window=60, lockout=10, max_lockout=25, clock=clock)
    for _ in range(3):
        assert not guard.locked("1.2.3.4")
        guard.failed("1.2.3.4")
    assert guard.locked("1.2.3.4") == 10
    assert not guard.locked("5.6.7.8")  # others are not affected
    clock.now = 11
    assert not guard.locked("1.2.3.4")
    for _ in range(3):
        guard.failed("1.2.3.4")
    assert guard.locked("1.2.3.4") == 20  # doubled
    clock.now = 40
    for _ in range(3):
        guard.failed("1.2.3.4")
    assert guard.locked("1.2.3.4") == 25  # capped


def _secret(name: str, stream: str, key: str) -> dict[str, Any]:
    data = {"streamId": stream, "streamKey": key}
    return {
        "metadata": {"name": name},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def test_key_ring_follows_the_secrets_and_remembers_revocations() -> None:
    ring = KeyRing()
    assert ring.apply("LISTED", {"items": [_secret("a", "cam", KEY)]}) == []
    assert ring.by_stream["cam"].key == KEY
    # Rotation: a new key in the same Secret revokes the old one.
    assert ring.apply("MODIFIED", _secret("a", "cam", OTHER)) == ["cam"]
    assert ring.revoked[fingerprint(KEY)] == "cam"
    assert ring.apply("DELETED", _secret("a", "cam", OTHER)) == ["cam"]
    assert "cam" not in ring.by_stream
    # A Secret that is not a key Secret is ignored, not fatal.
    assert ring.apply("ADDED", {"metadata": {"name": "b"}, "data": {"streamId": "!!"}}) == []


def test_key_secret_manifest_round_trips() -> None:
    manifest = stream_keys.to_secret("Cam.1", KEY, "media")
    data = {
        k: base64.b64encode(v.encode()).decode()
        for k, v in manifest["stringData"].items()  # type: ignore[attr-defined]
    }
    key = stream_keys.from_secret("x", data)
    assert (key.stream_id, key.key) == ("Cam.1", KEY)


def test_publishing_counts_admissions_until_the_status_shows_them() -> None:
    clock = Clock()
    pub = Publishing(clock=clock)
    pub.admitted("cam", "c1", "1.2.3.4")
    assert pub.live()["cam"] == LiveState("c1", "1.2.3.4", confirmed=False)
    clock.now = 100
    assert pub.live() == {}  # a publish that never became available stops counting
    pub.admitted("cam", "c1", "1.2.3.4")
    pub.ended("cam", "c1")
    assert pub.live() == {}


def _ls(name: str, available: bool, source: str = "c1", takeover: bool = False) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"streamId": name, "ingest": {"allowTakeover": takeover}},
        "status": {
            "ingest": {"available": available, "sourceId": source, "sourceType": "rtmpConn"}
        },
    }


def test_publishing_follows_the_livestreams_event_by_event() -> None:
    pub = Publishing()
    pub.apply("LISTED", {"items": [_ls("a", True), _ls("b", False, takeover=True)]})
    assert set(pub.live()) == {"a"}
    assert pub.allow_takeover == {"a": False, "b": True}
    pub.apply("MODIFIED", _ls("b", True, "c9", takeover=True))
    assert pub.live()["b"].source_id == "c9"
    assert pub.publishers("b") == [("", "rtmpConn", "c9")]
    pub.apply("MODIFIED", _ls("a", False))
    assert set(pub.live()) == {"b"}
    with_backup = _ls("b", True, "c9", takeover=True)
    with_backup["status"]["backup"] = {"available": True, "sourceId": "b1", "sourceType": "srtConn"}
    pub.apply("MODIFIED", with_backup)
    assert pub.backup_from_status["b"].source_id == "b1"
    assert pub.publishers("b") == [("", "rtmpConn", "c9"), ("", "srtConn", "b1")]
    pub.apply("DELETED", _ls("b", True))
    assert pub.live() == {}
    assert pub.object_of("b") is None
    assert pub.object_of("a") is not None
