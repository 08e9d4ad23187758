"""Who may read a stream's recordings and snapshots through the receiver (pure,
plus the aiohttp helper that answers with a problem).

In streamKey mode a caller proves itself with the stream's key, as
`Authorization: Bearer sk_...` (or `?key=sk_...` for a browser's <img>); in open
mode anyone may. The same key lets its holder publish the stream, so it is the
natural credential for what that stream produced.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from ..api import naming
from ..api.stream_keys import StreamKey, is_key, same_key
from ..api.v1alpha1 import LiveStream
from ..settings import AuthMode
from .problems import problem


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


def offered_key(authorization: str, query_key: str) -> str:
    """The key a caller sent: a Bearer token, else the key query parameter."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return query_key


def check(
    stream_id: str,
    livestream: LiveStream | None,
    mode: AuthMode,
    expected: StreamKey | None,
    offered: str,
) -> Refusal | None:
    """None when the caller may see the stream; otherwise why not, as a problem.

    The key is checked before existence, so that without a key nobody learns
    which streams exist.
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
        good = is_key(offered) and expected is not None and same_key(offered, expected.key)
        if not good:
            return Refusal(403, "forbidden", "Forbidden", "not this stream's key")
    if livestream is None:
        return Refusal(404, "unknown-stream", "No such stream", f"no LiveStream for {stream_id}")
    return None


def refuse(
    request: web.Request,
    stream_id: str,
    livestream: LiveStream | None,
    mode: AuthMode,
    expected: StreamKey | None,
) -> web.Response | None:
    """The problem response for a caller that may not see the stream, else None."""
    offered = offered_key(request.headers.get("Authorization", ""), request.query.get("key", ""))
    refusal = check(stream_id, livestream, mode, expected, offered)
    return refusal.response() if refusal else None
