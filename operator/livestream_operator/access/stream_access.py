"""Who may read a stream's recordings and snapshots through the receiver (pure,
plus `admit`, the aiohttp side that answers with a problem).

In streamKey mode a caller proves itself with the stream's key, as
`Authorization: Bearer sk_...`, and in no other way: a key in the URL would end
up in browser history, Referer headers and proxy logs. In open mode anyone may.
The same key lets its holder publish the stream, so it is the natural credential
for what that stream produced.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from ..api import naming
from ..api.stream_keys import StreamKey
from ..api.v1alpha1 import LiveStream
from ..http_edge import problem
from ..settings import AuthMode
from .auth_endpoint import AuthService
from .policy import key_matches


@dataclass(frozen=True)
class Refusal:
    status: int
    slug: str
    title: str
    detail: str

    def response(self) -> web.Response:
        return problem(
            self.status,
            self.slug,
            self.title,
            self.detail,
            errors=[{"field": _FIELDS.get(self.slug, "streamId"), "reason": self.detail}],
        )


_FIELDS = {"unauthenticated": "Authorization", "forbidden": "Authorization"}


def offered_key(authorization: str) -> str:
    """The key a caller sent as `Authorization: Bearer <key>`, else ""."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    return ""


def check(
    stream_id: str,
    livestream: LiveStream | None,
    mode: AuthMode,
    expected: StreamKey | None,
    offered: str,
) -> Refusal | None:
    """None when the caller may see the stream; otherwise why not, as a problem.

    The key is checked before existence, so that without the key nobody learns
    which streams exist: a stream without a key costs a comparison with a dummy
    key, as long as a wrong key takes.
    """
    if not naming.is_stream_id(stream_id):
        return Refusal(404, "unknown-stream", "No such stream", naming.STREAM_ID_RULE)
    if mode is AuthMode.STREAM_KEY:
        if not offered:
            return Refusal(
                401,
                "unauthenticated",
                "Unauthenticated",
                "send the stream's key: Authorization: Bearer <key>",
            )
        if not key_matches([offered], expected):
            return Refusal(403, "forbidden", "Forbidden", "not this stream's key")
    if livestream is None:
        return Refusal(404, "unknown-stream", "No such stream", f"no LiveStream for {stream_id}")
    return None


def admit(request: web.Request, auth: AuthService) -> tuple[str, LiveStream] | web.Response:
    """The request's stream id and LiveStream when the caller may see them;
    otherwise the problem to answer: 503 while the receiver's key and stream
    views load (a refusal then could be wrong), 401, 403 or 404."""
    if not auth.ready:
        return problem(503, "not-ready", "Not ready", "the stream views are still loading")
    stream_id = request.match_info["streamId"]
    livestream = auth.publishing.object_of(stream_id)
    offered = offered_key(request.headers.get("Authorization", ""))
    refusal = check(
        stream_id, livestream, auth.policy.mode, auth.keys.by_stream.get(stream_id), offered
    )
    if refusal is not None:
        return refusal.response()
    assert livestream is not None  # check() refuses with 404 otherwise
    return stream_id, livestream
