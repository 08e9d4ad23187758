"""Who may do what on MediaMTX (pure): the answer to its authHTTPAddress call.

MediaMTX asks before every publish, read, Control API call and metrics scrape,
synchronously inside its path manager: the answer must come from memory, in
microseconds. This module decides from a snapshot of what the receiver holds in
memory (key Secrets, live streams, recent admissions); receiver.py serves it.

Publishers prove themselves with their stream's key, in the query
(`live/<id>/in?key=sk_...`, OBS's stream-key field) or as the password
(`?user=any&pass=sk_...` over RTMP, `rtsp://any:sk_...@host/...` over RTSP,
`streamid=publish:live/<id>/in:any:sk_...` over SRT, where MediaMTX splits the
streamid into path, user, password and query for us). The project's own
components use internal credentials: the operator for the Control API and
metrics, workers to read `in` and publish `out`, forwarders to read `out`; with
several instances, each relays the others' `out` with the operator's.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import parse_qsl, unquote

from pydantic import BaseModel, ConfigDict, StrictStr

from ..api import naming
from ..api.stream_keys import StreamKey, is_key, same_key
from ..api.v1alpha1 import camel
from ..settings import AuthMode, OutputRead, Settings


class Action(StrEnum):
    PUBLISH = "publish"
    READ = "read"
    PLAYBACK = "playback"
    API = "api"
    METRICS = "metrics"
    PPROF = "pprof"


class AuthRequest(BaseModel):
    """What MediaMTX POSTs to authHTTPAddress. Unknown fields are ignored."""

    model_config = ConfigDict(
        alias_generator=camel, populate_by_name=True, extra="ignore", frozen=True
    )

    ip: StrictStr = ""
    user: StrictStr = ""
    password: StrictStr = ""
    token: StrictStr = ""
    action: StrictStr = ""
    path: StrictStr = ""
    protocol: StrictStr = ""
    id: StrictStr | None = None
    query: StrictStr = ""
    user_agent: StrictStr = ""
    # Not MediaMTX's: the instance that asks, from the auth URL's ?instance=
    # (auth_endpoint.py), so that its early signal can say where the stream is.
    instance: StrictStr = ""


class Reason(StrEnum):
    """Why a request was allowed or refused; refusals double as problem types."""

    STREAM_KEY = "stream-key"
    OPEN_MODE = "open-mode"
    INTERNAL = "internal-credentials"
    PUBLIC_OUTPUT = "public-output"
    INVALID_KEY = "invalid-stream-key"
    KEY_REVOKED = "stream-key-revoked"
    KEY_IN_USE = "stream-key-in-use"
    STREAM_LIMIT = "stream-limit"
    IP_LIMIT = "publisher-ip-limit"
    TOO_MANY_ATTEMPTS = "too-many-attempts"
    UNAUTHORIZED = "unauthorized"
    # MediaMTX asks an RTSP client without credentials for them (401 and a
    # challenge, not delayed, not logged) and the client retries with them: the
    # first half of every rtsp://user:key@ publish, not a wrong key.
    CREDENTIALS_REQUIRED = "credentials-required"
    NOT_A_STREAM_PATH = "not-a-stream-path"
    FORBIDDEN_ACTION = "forbidden-action"


@dataclass(frozen=True)
class Credential:
    user: str
    password: str

    def matches(self, user: str, password: str) -> bool:
        # Both compared, always, in constant time.
        ok_user = same_key(user, self.user)
        ok_password = same_key(password, self.password)
        return bool(self.password) and ok_user and ok_password


@dataclass(frozen=True)
class InternalCredentials:
    operator: Credential  # Control API and metrics; an instance's relay reads out with it
    worker: Credential  # read live/<id>/in, publish live/<id>/out
    forwarder: Credential  # read live/<id>/out


@dataclass(frozen=True)
class Policy:
    mode: AuthMode
    credentials: InternalCredentials
    output_read: OutputRead = OutputRead.PUBLIC
    max_streams: int = 0  # concurrent publishing streams; 0: no limit
    max_streams_per_ip: int = 0


def policy_from(settings: Settings) -> Policy:
    return Policy(
        mode=settings.auth_mode,
        credentials=InternalCredentials(
            operator=Credential(
                settings.operator_user, settings.operator_password.get_secret_value()
            ),
            worker=Credential(settings.worker_user, settings.worker_password.get_secret_value()),
            forwarder=Credential(
                settings.forwarder_user, settings.forwarder_password.get_secret_value()
            ),
        ),
        output_read=settings.output_read,
        max_streams=settings.max_streams,
        max_streams_per_ip=settings.max_streams_per_ip,
    )


@dataclass(frozen=True)
class LiveState:
    """What the receiver knows of one stream that is publishing (or about to)."""

    source_id: str | None
    ip: str = ""
    # True once status.ingest shows it; False for an admission not yet available.
    confirmed: bool = True
    # The MediaMTX instance it is on ("" when its hooks did not say).
    instance: str = ""


@dataclass(frozen=True)
class Snapshot:
    keys: Mapping[str, StreamKey]  # by stream id
    revoked: Mapping[str, str]  # key fingerprint -> stream id
    live: Mapping[str, LiveState]  # by stream id
    allow_takeover: Mapping[str, bool] = field(default_factory=dict)
    live_backup: Mapping[str, LiveState] = field(default_factory=dict)  # live/<id>/backup


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: Reason
    detail: str
    stream_id: str | None = None
    action: str = ""
    # The publisher an allowed takeover replaces (spec.ingest.allowTakeover).
    replaces: LiveState | None = None


def fingerprint(key: str) -> str:
    """Identifies a key in memory (revocations, logs) without being the key."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


_KEY_PARAMS = ("key", "pass", "password", "token", "streamKey")


def _query_keys(query: str) -> list[str]:
    """Candidate keys in a query string: its key parameters, or the bare key."""
    # One leading "?" is tolerated: SRT streamids such as
    # "publish:live/<id>/in:?key=sk_..." carry the RTMP habit into the query.
    query = query.removeprefix("?")
    if "=" not in query:
        query = unquote(query)  # ffmpeg may percent-encode "key=..." as a whole
    if "=" not in query:
        return [query]
    return [v for n, v in parse_qsl(query, keep_blank_values=True) if n in _KEY_PARAMS]


def offered_keys(req: AuthRequest) -> list[str]:
    """The stream keys a publisher may have sent, in the forms publishers use.

    OBS puts "in?key=sk_..." in its stream-key field, so the key arrives in the
    query; ffmpeg may percent-encode that query; `?user=x&pass=sk_...`, RTSP URL
    credentials and SRT's `publish:<path>:<user>:<key>` arrive as the password;
    a bare key may be the whole query (SRT's `publish:<path>:<key>`). SRT's
    `publish:<path>::?key=sk_...` puts a query in the password: parsed as one.
    """
    candidates = [req.password, req.token, *_query_keys(req.query)]
    for secret in (req.password, req.token):
        if secret.startswith("?"):
            candidates += _query_keys(secret)
    found: list[str] = []
    for value in candidates:
        if value and is_key(value) and value not in found:
            found.append(value)
    return found


# Where the key goes, per protocol: the hint of a refusal that found none.
_KEY_FORMS = {
    "rtmp": "rtmp://host/live/<id>/in?key=<key> (OBS: stream key in?key=<key>)",
    "rtsp": "rtsp://<any>:<key>@host/live/<id>/in or rtsp://host/live/<id>/in?key=<key>",
    "srt": "srt://host?streamid=publish:live/<id>/in:<any>:<key>",
}


_CHALLENGE = (
    "no credentials yet: MediaMTX asks the RTSP client for them (rtsp://<any>:<key>@host/...)"
)


def _challenge(req: AuthRequest, offered: list[str] | None = None) -> bool:
    """An RTSP request with no credentials and no key: MediaMTX answers it with a
    challenge (as it does whenever user, password and token are empty) and the
    client comes back with its credentials."""
    if req.protocol != "rtsp" or req.user or req.password or req.token:
        return False
    return not (offered_keys(req) if offered is None else offered)


def _unauthorized(req: AuthRequest, detail: str, sid: str, action: str) -> Decision:
    if _challenge(req):
        return _deny(Reason.CREDENTIALS_REQUIRED, _CHALLENGE, sid, action)
    return _deny(Reason.UNAUTHORIZED, detail, sid, action)


def _allow(reason: Reason, detail: str, stream_id: str | None, action: str) -> Decision:
    return Decision(True, reason, detail, stream_id, action)


def _takeover(detail: str, reason: Reason, stream_id: str, current: LiveState) -> Decision:
    return Decision(True, reason, detail, stream_id, Action.PUBLISH.value, replaces=current)


def _deny(reason: Reason, detail: str, stream_id: str | None, action: str) -> Decision:
    return Decision(False, reason, detail, stream_id, action)


def decide(req: AuthRequest, policy: Policy, state: Snapshot) -> Decision:
    """Allow or refuse one MediaMTX auth request."""
    creds = policy.credentials
    action = req.action
    if action in (Action.API, Action.METRICS):
        if creds.operator.matches(req.user, req.password):
            return _allow(Reason.INTERNAL, f"operator credentials for {action}", None, action)
        return _deny(
            Reason.UNAUTHORIZED, f"{action} needs the operator's credentials", None, action
        )
    if action == Action.PLAYBACK:
        return _playback(req, policy, state)
    if action not in (Action.PUBLISH, Action.READ):
        return _deny(Reason.FORBIDDEN_ACTION, f"action {action!r} is not offered", None, action)
    try:
        where = naming.parse_path(req.path)
    except naming.PathError as exc:
        return _deny(Reason.NOT_A_STREAM_PATH, str(exc), None, action)
    sid = where.stream_id
    # live/<id>/in or live/<id>/backup: a publisher's, keyed, read by the worker.
    ingest = where.role.published_by_users

    if action == Action.READ:
        internal = creds.forwarder if not ingest else creds.worker
        if internal.matches(req.user, req.password) or (
            not ingest and creds.worker.matches(req.user, req.password)
        ):
            return _allow(Reason.INTERNAL, "internal reader", sid, action)
        if not ingest and creds.operator.matches(req.user, req.password):
            return _allow(Reason.INTERNAL, "another instance's relay of out", sid, action)
        if policy.mode is AuthMode.OPEN:
            return _allow(Reason.OPEN_MODE, "open mode: anyone may read", sid, action)
        if not ingest and policy.output_read is OutputRead.PUBLIC:
            return _allow(Reason.PUBLIC_OUTPUT, "processed output is public", sid, action)
        if not ingest and key_matches(offered_keys(req), state.keys.get(sid)):
            return _allow(Reason.STREAM_KEY, "stream key", sid, action)
        return _unauthorized(req, f"reading {req.path} needs credentials", sid, action)

    # publish
    if not ingest:
        if creds.worker.matches(req.user, req.password):
            return _allow(Reason.INTERNAL, "the stream's worker", sid, action)
        return _unauthorized(req, f"only the worker publishes {req.path}", sid, action)
    if policy.mode is AuthMode.STREAM_KEY:
        expected = state.keys.get(sid)
        offered = offered_keys(req)  # once: it parses the query
        if not key_matches(offered, expected):
            revoked = any(state.revoked.get(fingerprint(k)) == sid for k in offered)
            if revoked:
                return _deny(Reason.KEY_REVOKED, "this stream key was revoked", sid, action)
            if _challenge(req, offered):
                # Not a wrong key: neither counted by the attempt guard nor an Event.
                return _deny(Reason.CREDENTIALS_REQUIRED, _CHALLENGE, sid, action)
            detail = "wrong stream key"
            if not offered:
                form = _KEY_FORMS.get(req.protocol)
                detail = "no stream key was given" + (f"; {req.protocol}: {form}" if form else "")
            if expected is None:
                detail = f"stream {sid} has no key"
            return _deny(Reason.INVALID_KEY, detail, sid, action)
    return _admit(req, policy, state, sid, where.role)


def _playback(req: AuthRequest, policy: Policy, state: Snapshot) -> Decision:
    """Recordings (MediaMTX's playback server): the receiver lists them with the
    operator's credentials; a user downloads a stream's own with its key
    (`curl -u any:<key>`), as whoever may publish it."""
    action = Action.PLAYBACK.value
    if policy.credentials.operator.matches(req.user, req.password):
        return _allow(Reason.INTERNAL, "operator credentials for playback", None, action)
    try:
        where = naming.parse_path(req.path)
    except naming.PathError as exc:
        return _deny(Reason.NOT_A_STREAM_PATH, str(exc), None, action)
    sid = where.stream_id
    if policy.mode is AuthMode.OPEN:
        return _allow(Reason.OPEN_MODE, "open mode: anyone may play recordings", sid, action)
    if key_matches(offered_keys(req), state.keys.get(sid)):
        return _allow(Reason.STREAM_KEY, "stream key", sid, action)
    return _deny(Reason.UNAUTHORIZED, f"recordings of {req.path} need its stream key", sid, action)


def key_matches(offered: list[str], expected: StreamKey | None) -> bool:
    """Whether any offered key is the expected one, in constant time; with no
    expected key (no such stream, or no key Secret) a dummy is compared, so that
    the answer takes as long as for a wrong key."""
    if expected is None:
        # Compare anyway so that "no such stream" costs what "wrong key" costs.
        same_key(offered[0] if offered else "", "sk_" + "0" * 43)
        return False
    return any(same_key(k, expected.key) for k in offered)


def _admit(
    req: AuthRequest, policy: Policy, state: Snapshot, sid: str, role: naming.PathRole
) -> Decision:
    """A publisher whose key (or open mode) let it in, on `in` or `backup`: one
    publisher at a time on each publish point (allowTakeover applies to both);
    the stream limits for a new stream only, since a backup is the same stream."""
    action = Action.PUBLISH.value
    backup = role is naming.PathRole.BACKUP
    current = (state.live_backup if backup else state.live).get(sid)
    reason = Reason.STREAM_KEY if policy.mode is AuthMode.STREAM_KEY else Reason.OPEN_MODE
    publisher = "backup publisher" if backup else "publisher"
    if current is not None:
        if current.source_id in (None, req.id):
            return _allow(reason, f"reconnect of the current {publisher}", sid, action)
        if not current.confirmed and current.ip == req.ip:
            return _allow(reason, f"a new attempt of the admitted {publisher}", sid, action)
        if policy.mode is AuthMode.STREAM_KEY and not state.allow_takeover.get(sid, False):
            return _deny(
                Reason.KEY_IN_USE,
                f"another {publisher} is live with this key (spec.ingest.allowTakeover is false)",
                sid,
                action,
            )
        return _takeover(f"takes over from the current {publisher}", reason, sid, current)
    if backup:
        return _allow(reason, "backup publisher", sid, action)
    if policy.max_streams and len(state.live) >= policy.max_streams:
        return _deny(
            Reason.STREAM_LIMIT,
            f"{len(state.live)} streams are live; the limit is {policy.max_streams}",
            sid,
            action,
        )
    if policy.max_streams_per_ip and req.ip:
        from_ip = sum(1 for s in state.live.values() if s.ip == req.ip)
        if from_ip >= policy.max_streams_per_ip:
            return _deny(
                Reason.IP_LIMIT,
                f"{from_ip} streams are live from {req.ip}; "
                f"the limit is {policy.max_streams_per_ip}",
                sid,
                action,
            )
    return _allow(reason, "admitted", sid, action)


class AttemptGuard:
    """Slows down key guessing: after `threshold` refused keys from one IP within
    `window` seconds, every publish from it is refused for a lockout that doubles
    each time (up to `max_lockout`). It refuses at once rather than sleeping, as a
    sleeping answer would stall MediaMTX itself."""

    def __init__(
        self,
        threshold: int = 5,
        window: float = 60.0,
        lockout: float = 10.0,
        max_lockout: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold, self.window = threshold, window
        self.lockout, self.max_lockout = lockout, max_lockout
        self._now = clock
        self._failures: dict[str, deque[float]] = {}
        self._locked: dict[str, tuple[float, float]] = {}  # ip -> (until, lockout)

    def locked(self, ip: str) -> float:
        """Seconds left of the IP's lockout; 0 when it may try."""
        until = self._locked.get(ip, (0.0, 0.0))[0]
        return max(until - self._now(), 0.0)

    def failed(self, ip: str) -> None:
        now = self._now()
        recent = self._failures.setdefault(ip, deque())
        recent.append(now)
        while recent and now - recent[0] > self.window:
            recent.popleft()
        if len(recent) >= self.threshold:
            previous = self._locked.get(ip, (0.0, self.lockout / 2))[1]
            lockout = min(previous * 2, self.max_lockout)
            self._locked[ip] = (now + lockout, lockout)
            recent.clear()
        # Bounded memory under a spray of addresses: forget the oldest.
        if len(self._failures) > 10_000:
            self._failures.pop(next(iter(self._failures)))
        if len(self._locked) > 10_000:
            self._locked = {k: v for k, v in self._locked.items() if v[0] > now}

    def succeeded(self, ip: str) -> None:
        self._failures.pop(ip, None)
